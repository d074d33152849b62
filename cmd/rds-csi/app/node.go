package app

import (
	"fmt"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/driver"
	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/driver/kube"
	"github.com/srvlab/rds-csi/driver/nodehealth"
	"github.com/srvlab/rds-csi/queue"
)

// nodeConnector is what the node needs of a connector: attach and detach,
// and read path health from sysfs. Both connectors are both.
type nodeConnector interface {
	device.Connector
	device.PathReader
}

func newConnector(cfg Config) (nodeConnector, error) {
	if cfg.DeviceConnector == "loop" {
		return device.NewLoop(device.LoopOptions{Root: cfg.LoopRoot, ManagedPrefix: cfg.ManagedNQNPrefix})
	}
	return device.NewNVMeTCP(device.NVMeTCPOptions{ManagedPrefix: cfg.ManagedNQNPrefix})
}

// newNode builds the CSI node service and the health watcher that shares
// its per-volume locks. The watcher must Start before the socket serves
// and then Run (or be Shutdown).
func newNode(cfg Config, recorder kube.Recorder, set *metricsSet, logger klog.Logger) (*driver.NodeServer, *nodehealth.Watcher, error) {
	connector, err := newConnector(cfg)
	if err != nil {
		return nil, nil, err
	}
	locks := driver.NewVolumeLocks()
	watcher, err := nodehealth.New(nodehealth.Config{
		NodeID:        cfg.NodeID,
		ManagedPrefix: cfg.ManagedNQNPrefix,
		Paths:         connector,
		Connector:     connector,
		Store:         nodehealth.NewStore(cfg.NodeStateDir, cfg.ManagedNQNPrefix),
		Locks:         locks,
		Recorder:      recorder,
		Metrics:       nodehealth.NewMetrics(set.registry),
		QueueMetrics:  set.workqueue,
		Interval:      cfg.NodeHealthInterval,
		Backoff:       queue.LimiterConfig{Base: cfg.NodeReconnectBase, Max: cfg.NodeReconnectMax, Jitter: queue.DefaultJitter},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("node health watcher: %w", err)
	}
	topology, err := ParseNodeTopology(cfg.NodeTopology)
	if err != nil {
		watcher.Shutdown()
		return nil, nil, err
	}
	ns, err := driver.NewNodeServer(driver.NodeConfig{
		NodeID:            cfg.NodeID,
		Topology:          topology,
		MaxVolumesPerNode: cfg.MaxVolumesPerNode,
		Connector:         connector,
		ManagedNQNPrefix:  cfg.ManagedNQNPrefix,
		Logger:            logger,
		Health:            watcher,
		Locks:             locks,
	})
	if err != nil {
		watcher.Shutdown()
		return nil, nil, err
	}
	return ns, watcher, nil
}
