package driver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/rds"
)

// ControllerConfig wires the controller service.
type ControllerConfig struct {
	// DriverName is the CSI driver name (logged at start).
	DriverName string
	// RDS is the control-plane client.
	RDS rds.Client
	// Connected is the connection FSM's gate: an atomic read, no I/O. While
	// it reports false every RDS-touching RPC fails with Unavailable before
	// sending anything. Nil means always connected (tests).
	Connected func() bool
	// Attachments tracks which nodes a volume is published to. Nil: a
	// fresh MemoryAttachments.
	Attachments Attachments
	// BackingFiles returns the backing-file paths the cluster records for a
	// volume (its PVs' volume context), so that a DeleteVolume whose disk is
	// already gone finds a file under a custom volumePath. It must not do
	// slow I/O (an informer cache). Nil: none known.
	BackingFiles func(volumeID string) []string
	// NodeExists tells ControllerPublishVolume whether a CSI node id belongs
	// to a known node (CSI wants NotFound otherwise). It must not do slow
	// I/O (an informer lister). Nil: every well-formed node id exists.
	NodeExists func(ctx context.Context, nodeID string) (bool, error)
	// DefaultNVMeAddress is the NVMe/TCP target address for StorageClasses
	// without nvmeAddress/rdsAddress: the host part of --rds-address.
	// Required.
	DefaultNVMeAddress string
	// DefaultVolumePath is the backing-file directory for StorageClasses
	// without volumePath. Empty: rds.DefaultVolumePath.
	DefaultVolumePath string
	// MaxVolumeSize bounds every volume. Zero: DefaultMaxVolumeSize.
	MaxVolumeSize int64
	// CopyTimeout is the RDS client's bound on one copy-from (snapshot,
	// clone, restore), the longest any of our commands may run. A target's
	// backing file without its disk, created longer ago than this (by the
	// RDS clock), is taken for the remains of a dead command
	// (controller_leftover.go). Zero: rds.DefaultCopyTimeout.
	CopyTimeout time.Duration
	// Logger is the fallback logger; RPCs log through the logger the gRPC
	// interceptor puts in their context.
	Logger klog.Logger
}

// DefaultMaxVolumeSize is the largest volume unless configured otherwise.
const DefaultMaxVolumeSize int64 = 16 << 40

// ControllerServer implements the CSI controller service on an RDS.
type ControllerServer struct {
	csi.UnimplementedControllerServer

	cfg   ControllerConfig
	locks *VolumeLocks
	caps  []*csi.ControllerServiceCapability
	now   func() time.Time // ages running copies; tests replace it
	// copies runs copy-from work detached from the RPC that asked for it.
	copies *copyTracker
}

// WaitCopies blocks until every copy started by this server has ended.
func (cs *ControllerServer) WaitCopies() { cs.copies.Wait() }

var _ csi.ControllerServer = (*ControllerServer)(nil)

// controllerCapabilities are advertised by ControllerGetCapabilities.
// SINGLE_NODE_MULTI_WRITER is required by CSI for the SINGLE_NODE_SINGLE_WRITER
// and SINGLE_NODE_MULTI_WRITER access modes, which the driver accepts.
var controllerCapabilities = []csi.ControllerServiceCapability_RPC_Type{
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
	csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
	csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
	csi.ControllerServiceCapability_RPC_LIST_VOLUMES_PUBLISHED_NODES,
	csi.ControllerServiceCapability_RPC_GET_CAPACITY,
	csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
	csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
	csi.ControllerServiceCapability_RPC_GET_SNAPSHOT,
	csi.ControllerServiceCapability_RPC_CLONE_VOLUME,
	csi.ControllerServiceCapability_RPC_GET_VOLUME,
	csi.ControllerServiceCapability_RPC_GET_VOLUME_HEALTH,
	csi.ControllerServiceCapability_RPC_LIST_VOLUME_HEALTH,
	csi.ControllerServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
}

// NewControllerServer validates cfg, applies defaults and returns the service.
func NewControllerServer(cfg ControllerConfig) (*ControllerServer, error) {
	var errs []error
	if cfg.RDS == nil {
		errs = append(errs, errors.New("controller: RDS client is required"))
	}
	if err := validateHost(cfg.DefaultNVMeAddress); err != nil {
		errs = append(errs, fmt.Errorf("controller: default NVMe/TCP address: %w", err))
	}
	if cfg.DefaultVolumePath == "" {
		cfg.DefaultVolumePath = rds.DefaultVolumePath
	}
	if err := rds.ValidateVolumePath(cfg.DefaultVolumePath); err != nil {
		errs = append(errs, fmt.Errorf("controller: default volume path: %w", err))
	}
	if cfg.MaxVolumeSize == 0 {
		cfg.MaxVolumeSize = DefaultMaxVolumeSize
	}
	if cfg.CopyTimeout == 0 {
		cfg.CopyTimeout = rds.DefaultCopyTimeout
	}
	if cfg.CopyTimeout < 0 {
		errs = append(errs, fmt.Errorf("controller: copy timeout %s is negative", cfg.CopyTimeout))
	}
	if cfg.MaxVolumeSize < 0 {
		errs = append(errs, fmt.Errorf("controller: max volume size %d is negative", cfg.MaxVolumeSize))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Connected == nil {
		cfg.Connected = func() bool { return true }
	}
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = klog.Background()
	}
	if cfg.Attachments == nil {
		cfg.Attachments = NewMemoryAttachments()
	}
	cfg.Logger.V(2).Info("Controller service configured", "driver", cfg.DriverName,
		"defaultNVMeAddress", cfg.DefaultNVMeAddress, "defaultVolumePath", cfg.DefaultVolumePath, "maxVolumeSize", cfg.MaxVolumeSize)
	cs := &ControllerServer{cfg: cfg, locks: NewVolumeLocks(), now: time.Now}
	cs.copies = newCopyTracker(func() time.Time { return cs.now() })
	for _, c := range controllerCapabilities {
		cs.caps = append(cs.caps, &csi.ControllerServiceCapability{
			Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: c}},
		})
	}
	return cs, nil
}

// ControllerGetCapabilities implements csi.ControllerServer.
func (cs *ControllerServer) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: cs.caps}, nil
}

// begin is the common prologue of an RPC that touches the RDS, run after
// request validation: take the per-id lock (a concurrent request for the
// same id is Aborted at once), then check the connection gate (not
// Connected is Unavailable at once, before any RDS call). The returned
// release must be called when the RPC ends.
func (cs *ControllerServer) begin(lockID string) (release func(), err error) {
	if !cs.locks.TryAcquire(lockID) {
		return nil, busy(lockID)
	}
	if !cs.cfg.Connected() {
		cs.locks.Release(lockID)
		return nil, errNotConnected
	}
	return func() { cs.locks.Release(lockID) }, nil
}

// gate is begin without a lock, for RPCs that span many ids (lists, capacity).
func (cs *ControllerServer) gate() error {
	if !cs.cfg.Connected() {
		return errNotConnected
	}
	return nil
}

// logger returns the request-scoped logger the interceptor stored in ctx,
// or the configured one.
func (cs *ControllerServer) logger(ctx context.Context) klog.Logger {
	if l, err := logr.FromContext(ctx); err == nil {
		return l
	}
	return cs.cfg.Logger
}
