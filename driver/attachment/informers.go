package attachment

import (
	"fmt"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// setupInformers creates one shared informer factory for Nodes,
// VolumeAttachments and PersistentVolumes, with the slimming transforms,
// the indexes and the event handlers. No informer-level resync: the
// periodic pass is the workqueue's (ResyncPeriod), and an informer resync
// would only replay every object through the handlers' filters.
func (c *Controller) setupInformers() error {
	c.factory = informers.NewSharedInformerFactoryWithOptions(c.cfg.Client, 0)
	c.nodeInformer = c.factory.Core().V1().Nodes().Informer()
	c.vaInformer = c.factory.Storage().V1().VolumeAttachments().Informer()
	c.pvInformer = c.factory.Core().V1().PersistentVolumes().Informer()

	type setup struct {
		name      string
		informer  cache.SharedIndexInformer
		transform cache.TransformFunc
		indexers  cache.Indexers
		handler   cache.ResourceEventHandler
	}
	for _, s := range []setup{
		{"nodes", c.nodeInformer, transformNode, nil, c.nodeHandler()},
		{"volumeattachments", c.vaInformer, transformVA(c.cfg.DriverName), c.vaIndexers(), c.vaHandler()},
		{"persistentvolumes", c.pvInformer, transformPV(c.cfg.DriverName), c.pvIndexers(), c.pvHandler()},
	} {
		if err := s.informer.SetTransform(s.transform); err != nil {
			return fmt.Errorf("attachment: %s informer: %w", s.name, err)
		}
		if s.indexers != nil {
			if err := s.informer.AddIndexers(s.indexers); err != nil {
				return fmt.Errorf("attachment: %s indexers: %w", s.name, err)
			}
		}
		if _, err := s.informer.AddEventHandler(s.handler); err != nil {
			return fmt.Errorf("attachment: %s handler: %w", s.name, err)
		}
	}
	return nil
}
