package driver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/driver/nodehealth"
)

// Defaults of NodeConfig.
const (
	DefaultNodeCommandTimeout = 60 * time.Second
	DefaultNodeFormatTimeout  = 10 * time.Minute
	DefaultNodeResizeWait     = 30 * time.Second
)

// NodeConfig configures the CSI node service.
type NodeConfig struct {
	// NodeID is reported by NodeGetInfo (the Kubernetes node name). Required.
	NodeID string
	// MaxVolumesPerNode is reported by NodeGetInfo; 0 means no limit.
	MaxVolumesPerNode int64
	// Topology is the set of segments this node reaches (--node-topology),
	// reported by NodeGetInfo; empty: none (every RDS unit without a
	// topology is reachable from every node).
	Topology map[string]string
	// Connector attaches volumes (device.NewNVMeTCP or device.NewLoop). Required.
	Connector device.Connector
	// ManagedNQNPrefix: stage refuses, and unstage never disconnects, an NQN
	// outside it. Default device.DefaultManagedPrefix. Must match the connector's.
	ManagedNQNPrefix string
	// Runner executes blkid, mkfs, mount, umount, e2fsck, resize2fs,
	// xfs_growfs and dumpe2fs (default: device.ExecRunner with CommandTimeout).
	// Tests inject failures and count formats through it.
	Runner device.Runner
	// CommandTimeout bounds mount, umount, blkid and dumpe2fs.
	CommandTimeout time.Duration
	// FormatTimeout bounds mkfs, e2fsck and filesystem growth.
	FormatTimeout time.Duration
	// ResizeWait bounds the wait for the kernel to see a grown device after a rescan.
	ResizeWait time.Duration
	// MountInfoPath is read to find what is mounted where (default /proc/self/mountinfo).
	MountInfoPath string
	// Logger is used when a request context carries none (default klog.Background()).
	Logger klog.Logger
	// Health watches staged volumes (node health watcher): stage, publish
	// and their inverses report to it, NodeGetVolumeHealth answers from it.
	// Nil: no health reporting and no GET_VOLUME_HEALTH capability.
	Health *nodehealth.Watcher
	// Locks are the per-volume locks; the health watcher shares them so it
	// never reconnects a volume a node RPC is working on. Default: new ones.
	Locks *VolumeLocks
}

// NodeServer implements the CSI node service.
type NodeServer struct {
	csi.UnimplementedNodeServer

	cfg   NodeConfig
	locks *VolumeLocks
}

var _ csi.NodeServer = (*NodeServer)(nil)

// NewNodeServer validates cfg, fills in defaults and returns the node service.
func NewNodeServer(cfg NodeConfig) (*NodeServer, error) {
	if cfg.NodeID == "" {
		return nil, errors.New("node: NodeID is required")
	}
	if cfg.Connector == nil {
		return nil, errors.New("node: Connector is required")
	}
	if cfg.MaxVolumesPerNode < 0 {
		return nil, fmt.Errorf("node: MaxVolumesPerNode %d must not be negative", cfg.MaxVolumesPerNode)
	}
	if cfg.ManagedNQNPrefix == "" {
		cfg.ManagedNQNPrefix = device.DefaultManagedPrefix
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultNodeCommandTimeout
	}
	if cfg.FormatTimeout <= 0 {
		cfg.FormatTimeout = DefaultNodeFormatTimeout
	}
	if cfg.ResizeWait <= 0 {
		cfg.ResizeWait = DefaultNodeResizeWait
	}
	if cfg.Runner == nil {
		cfg.Runner = device.NewExecRunner(cfg.CommandTimeout)
	}
	if cfg.MountInfoPath == "" {
		cfg.MountInfoPath = "/proc/self/mountinfo"
	}
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = klog.Background()
	}
	if cfg.Locks == nil {
		cfg.Locks = NewVolumeLocks()
	}
	return &NodeServer{cfg: cfg, locks: cfg.Locks}, nil
}

// NodeGetCapabilities implements csi.NodeServer. GET_VOLUME_HEALTH is
// offered with a health watcher: CSI v1.13 moved volume conditions out of
// NodeGetVolumeStats into NodeGetVolumeHealth.
func (ns *NodeServer) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	types := []csi.NodeServiceCapability_RPC_Type{
		csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
		csi.NodeServiceCapability_RPC_EXPAND_VOLUME,
		csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
		// Stage accepts SINGLE_NODE_SINGLE_WRITER and SINGLE_NODE_MULTI_WRITER;
		// CSI requires advertising that before a CO may send those modes.
		csi.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	}
	if ns.cfg.Health != nil {
		types = append(types, csi.NodeServiceCapability_RPC_GET_VOLUME_HEALTH)
	}
	var caps []*csi.NodeServiceCapability
	for _, t := range types {
		caps = append(caps, &csi.NodeServiceCapability{
			Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: t}},
		})
	}
	return &csi.NodeGetCapabilitiesResponse{Capabilities: caps}, nil
}

// NodeGetInfo implements csi.NodeServer. The topology is what the node
// reaches (--node-topology); without one, none is reported.
func (ns *NodeServer) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	resp := &csi.NodeGetInfoResponse{NodeId: ns.cfg.NodeID, MaxVolumesPerNode: ns.cfg.MaxVolumesPerNode}
	if len(ns.cfg.Topology) > 0 {
		resp.AccessibleTopology = &csi.Topology{Segments: maps.Clone(ns.cfg.Topology)}
	}
	return resp, nil
}

// begin prepares a request: a logger carrying volumeID and nodeID (put back
// into the context so the connector logs with it) and the per-volume lock.
// The returned release must be called; a busy volume answers Aborted.
func (ns *NodeServer) begin(ctx context.Context, op, volumeID string) (context.Context, klog.Logger, func(), error) {
	logger, err := logr.FromContext(ctx)
	if err != nil {
		logger = ns.cfg.Logger
	}
	logger = logger.WithValues("op", op, "volumeID", volumeID, "nodeID", ns.cfg.NodeID)
	ctx = klog.NewContext(ctx, logger)
	if !ns.locks.TryAcquire(volumeID) {
		return ctx, logger, func() {}, status.Errorf(codes.Aborted, "volume %s: another operation is in progress", volumeID)
	}
	return ctx, logger, func() { ns.locks.Release(volumeID) }, nil
}

// nodeConnectError maps a connector error to a status.
func nodeConnectError(volumeID string, err error) error {
	switch {
	case errors.Is(err, device.ErrInvalidTarget), errors.Is(err, device.ErrUnmanagedNQN):
		return status.Errorf(codes.InvalidArgument, "volume %s: %v", volumeID, err)
	case errors.Is(err, device.ErrAttachTimeout), errors.Is(err, device.ErrCommandTimeout),
		errors.Is(err, context.DeadlineExceeded):
		return status.Errorf(codes.Unavailable, "volume %s: %v", volumeID, err)
	case errors.Is(err, context.Canceled):
		return status.Errorf(codes.Canceled, "volume %s: %v", volumeID, err)
	}
	return status.Errorf(codes.Internal, "volume %s: connect: %v", volumeID, err)
}

// nodeInternal wraps an unexpected failure, keeping timeouts retryable.
func nodeInternal(volumeID, what string, err error) error {
	if errors.Is(err, device.ErrCommandTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return status.Errorf(codes.DeadlineExceeded, "volume %s: %s: %v", volumeID, what, err)
	}
	if errors.Is(err, context.Canceled) {
		return status.Errorf(codes.Canceled, "volume %s: %s: %v", volumeID, what, err)
	}
	return status.Errorf(codes.Internal, "volume %s: %s: %v", volumeID, what, err)
}

// nodeLog returns the request logger placed in ctx by begin.
func nodeLog(ctx context.Context) klog.Logger { return klog.FromContext(ctx) }
