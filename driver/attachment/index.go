package attachment

import (
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/client-go/tools/cache"
)

// Cache indexes. VolumeAttachments are indexed by node and by what names
// their volume (the PV, or the inline volume id) rather than by volume id
// directly: a VA's volume id needs its PV, which sits in another informer
// and may arrive later; an index computed from a missing PV would never be
// recomputed. PVs are indexed by volume id, so volume → PVs → VAs is two
// index lookups that are correct in any arrival order.
const (
	indexVAByNode   = "node"
	indexVAByPV     = "pv"
	indexVAByInline = "inline" // inline volume id
	indexPVByHandle = "handle"
)

// ours reports whether a cached VA belongs to this driver (others are stubs).
func (c *Controller) ours(va *storagev1.VolumeAttachment) bool {
	return va.Spec.Attacher == c.cfg.DriverName
}

func (c *Controller) vaIndexers() cache.Indexers {
	return cache.Indexers{
		indexVAByNode: func(obj any) ([]string, error) {
			if va, ok := obj.(*storagev1.VolumeAttachment); ok && c.ours(va) && va.Spec.NodeName != "" {
				return []string{va.Spec.NodeName}, nil
			}
			return nil, nil
		},
		indexVAByPV: func(obj any) ([]string, error) {
			if va, ok := obj.(*storagev1.VolumeAttachment); ok && c.ours(va) {
				if pv := va.Spec.Source.PersistentVolumeName; pv != nil && *pv != "" {
					return []string{*pv}, nil
				}
			}
			return nil, nil
		},
		indexVAByInline: func(obj any) ([]string, error) {
			if va, ok := obj.(*storagev1.VolumeAttachment); ok && c.ours(va) {
				if id := inlineVolumeID(va); id != "" {
					return []string{id}, nil
				}
			}
			return nil, nil
		},
	}
}

func (c *Controller) pvIndexers() cache.Indexers {
	return cache.Indexers{
		indexPVByHandle: func(obj any) ([]string, error) {
			if pv, ok := obj.(*corev1.PersistentVolume); ok && c.ourPV(pv) {
				return []string{pv.Spec.CSI.VolumeHandle}, nil
			}
			return nil, nil
		},
	}
}

func (c *Controller) ourPV(pv *corev1.PersistentVolume) bool {
	return pv.Spec.CSI != nil && pv.Spec.CSI.Driver == c.cfg.DriverName && pv.Spec.CSI.VolumeHandle != ""
}

func inlineVolumeID(va *storagev1.VolumeAttachment) string {
	if in := va.Spec.Source.InlineVolumeSpec; in != nil && in.CSI != nil {
		return in.CSI.VolumeHandle
	}
	return ""
}

// pvsOf returns the driver's PVs with that volume id (normally one).
func (c *Controller) pvsOf(volumeID string) []*corev1.PersistentVolume {
	objs, _ := c.pvInformer.GetIndexer().ByIndex(indexPVByHandle, volumeID)
	out := make([]*corev1.PersistentVolume, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*corev1.PersistentVolume))
	}
	return out
}

// vasOf returns the driver's VolumeAttachments of a volume. Besides the
// PVs found by volume id it looks at the PV named like the volume: the
// driver's volume ids are their PV names, so a VA is found even in the
// moment its PV has not reached the cache yet. A PV of that name that names
// a different volume is not this volume's.
func (c *Controller) vasOf(volumeID string, pvs []*corev1.PersistentVolume) []*storagev1.VolumeAttachment {
	idx := c.vaInformer.GetIndexer()
	seen := map[string]bool{}
	var out []*storagev1.VolumeAttachment
	add := func(objs []any) {
		for _, o := range objs {
			va := o.(*storagev1.VolumeAttachment)
			if !seen[va.Name] {
				seen[va.Name] = true
				out = append(out, va)
			}
		}
	}
	pvNames := make([]string, 0, len(pvs)+1)
	for _, pv := range pvs {
		pvNames = append(pvNames, pv.Name)
	}
	if !c.pvNamesOtherVolume(volumeID) {
		pvNames = append(pvNames, volumeID)
	}
	for _, name := range pvNames {
		objs, _ := idx.ByIndex(indexVAByPV, name)
		add(objs)
	}
	objs, _ := idx.ByIndex(indexVAByInline, volumeID)
	add(objs)
	return out
}

// pvNamesOtherVolume reports whether the PV named volumeID exists and
// belongs to another volume (or another driver).
func (c *Controller) pvNamesOtherVolume(volumeID string) bool {
	obj, ok, _ := c.pvInformer.GetIndexer().GetByKey(volumeID)
	if !ok {
		return false
	}
	pv := obj.(*corev1.PersistentVolume)
	return !c.ourPV(pv) || pv.Spec.CSI.VolumeHandle != volumeID
}

// volumeOfVA returns the volume id of one of the driver's VAs: the inline
// id, its PV's volume handle, or (PV not cached yet) the PV name, which is
// the volume id of every volume this driver provisions.
func (c *Controller) volumeOfVA(va *storagev1.VolumeAttachment) string {
	if id := inlineVolumeID(va); id != "" {
		return id
	}
	pvName := va.Spec.Source.PersistentVolumeName
	if pvName == nil || *pvName == "" {
		return ""
	}
	if obj, ok, _ := c.pvInformer.GetIndexer().GetByKey(*pvName); ok {
		pv := obj.(*corev1.PersistentVolume)
		if c.ourPV(pv) {
			return pv.Spec.CSI.VolumeHandle
		}
		return "" // a PV of another driver: not ours to reconcile
	}
	return *pvName
}

// volumesOnNode returns the volume ids with a VA (attached or not) or an
// in-flight publish on the node.
func (c *Controller) volumesOnNode(node string) []string {
	objs, _ := c.vaInformer.GetIndexer().ByIndex(indexVAByNode, node)
	ids := make([]string, 0, len(objs))
	for _, o := range objs {
		if id := c.volumeOfVA(o.(*storagev1.VolumeAttachment)); id != "" {
			ids = append(ids, id)
		}
	}
	return append(ids, c.pending.volumesOnNode(node)...)
}

// allVolumes returns every volume id the driver knows: every PV of the
// driver and every VA (some VAs have no PV: inline volumes, or a PV that
// was deleted first). Duplicates are removed.
func (c *Controller) allVolumes(attachedOnly bool) []string {
	seen := map[string]struct{}{}
	var out []string
	add := func(id string) {
		if _, dup := seen[id]; id != "" && !dup {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	for _, o := range c.vaInformer.GetStore().List() {
		va := o.(*storagev1.VolumeAttachment)
		if c.ours(va) && (!attachedOnly || va.Status.Attached) {
			add(c.volumeOfVA(va))
		}
	}
	if !attachedOnly {
		for _, o := range c.pvInformer.GetStore().List() {
			if pv := o.(*corev1.PersistentVolume); c.ourPV(pv) {
				add(pv.Spec.CSI.VolumeHandle)
			}
		}
	}
	return out
}
