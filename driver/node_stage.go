package driver

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/driver/device"
)

// NodeStageVolume connects the volume and, for filesystem volumes, mounts it
// at the staging path, formatting it first only when it is proven blank.
// Block volumes are only connected: publish resolves the device by NQN.
func (ns *NodeServer) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := validateVolumeHandle(id); err != nil {
		return nil, err
	}
	staging := req.GetStagingTargetPath()
	if err := nodeCheckPath("staging_target_path", staging); err != nil {
		return nil, err
	}
	vcap, err := nodeCheckCapability(req.GetVolumeCapability(), req.GetVolumeContext()[CtxFSType])
	if err != nil {
		return nil, err
	}
	target, err := nodeTarget(id, ns.cfg.ManagedNQNPrefix, req.GetPublishContext(), req.GetVolumeContext())
	if err != nil {
		return nil, err
	}
	ctx, logger, release, err := ns.begin(ctx, "NodeStageVolume", id)
	defer release()
	if err != nil {
		return nil, err
	}

	dev, err := ns.cfg.Connector.Connect(ctx, target)
	if err != nil {
		return nil, nodeConnectError(id, err)
	}
	logger = logger.WithValues("device", dev)
	if !vcap.Block {
		if err := ns.stageFilesystem(ctx, id, dev, staging, vcap); err != nil {
			return nil, err
		}
	}
	if err := ns.recordStaged(id, target, staging, vcap); err != nil {
		return nil, err
	}
	if vcap.Block {
		logger.Info("Staged block volume")
	}
	return &csi.NodeStageVolumeResponse{}, nil
}

func (ns *NodeServer) stageFilesystem(ctx context.Context, id, dev, staging string, vcap nodeVolumeCap) error {
	logger := nodeLog(ctx).WithValues("device", dev, "stagingPath", staging)
	rdev, err := device.BlockRdev(dev)
	if err != nil {
		return nodeInternal(id, "device", err)
	}
	if err := os.MkdirAll(staging, 0o750); err != nil {
		return nodeInternal(id, "creating staging path", err)
	}
	m, err := ns.mountAt(staging)
	if err != nil {
		return nodeInternal(id, "checking staging path", err)
	}
	if m != nil {
		if nodeSameDev(m, rdev) {
			logger.V(2).Info("Already staged")
			return nil
		}
		// Mounted from another device: the controller was renumbered after a
		// reconnect. Remount, but only if the old filesystem is mounted
		// nowhere else: mounting one filesystem through two block devices
		// corrupts it.
		if err := ns.unstageStale(ctx, id, staging, m.Major, m.Minor); err != nil {
			return err
		}
	}

	format, err := ns.probe(ctx, dev)
	if err != nil {
		if errors.Is(err, errNodeNotBlank) {
			return nodeErrorf(codes.FailedPrecondition, id, "%v", err)
		}
		return nodeInternal(id, "probing the device (never formatted on a failed probe)", err)
	}
	switch {
	case format.Blank:
		if vcap.ReadOnly {
			return nodeErrorf(codes.FailedPrecondition, id, "device %s is blank and the access mode is read-only: not formatting", dev)
		}
		logger.Info("Device is blank: formatting", "fsType", vcap.FSType)
		if err := ns.mkfs(ctx, dev, vcap.FSType); err != nil {
			return nodeInternal(id, "mkfs."+vcap.FSType, err)
		}
		if format, err = ns.probe(ctx, dev); err != nil {
			return nodeInternal(id, "probing after mkfs", err)
		}
		if format.FSType != vcap.FSType {
			return nodeErrorf(codes.Internal, id, "after mkfs.%s the device shows %s", vcap.FSType, format)
		}
	case format.FSType != vcap.FSType || format.PTType != "":
		return nodeErrorf(codes.FailedPrecondition, id, "device %s holds %s, the volume asks for %s: refusing to mount or format", dev, format, vcap.FSType)
	default:
		if !vcap.ReadOnly && vcap.FSType == "ext4" {
			ns.growExtOffline(ctx, dev)
		}
	}

	opts := append([]string{}, vcap.MountFlags...)
	if vcap.ReadOnly {
		opts = append(opts, "ro")
	}
	if vcap.FSType == "xfs" {
		// Clones and snapshots share the XFS UUID of their source; without
		// nouuid the second one would not mount on the same node.
		opts = append(opts, "nouuid")
	}
	if err := ns.mountCmd(ctx, dev, staging, vcap.FSType, opts); err != nil {
		return nodeInternal(id, "mounting at the staging path", err)
	}
	logger.Info("Staged filesystem volume", "fsType", vcap.FSType, "options", opts)
	return nil
}

// growExtOffline grows an unmounted ext4 filesystem to its device, because
// online ext4 growth needs CAP_SYS_RESOURCE, which node plugins often lack.
// A failure is logged, not fatal: the volume still mounts at its old size
// and NodeExpandVolume reports the problem.
func (ns *NodeServer) growExtOffline(ctx context.Context, dev string) {
	logger := nodeLog(ctx).WithValues("device", dev)
	need, err := ns.extNeedsGrowth(ctx, dev)
	if err != nil {
		logger.Error(err, "Cannot tell whether the filesystem needs growth; mounting as is")
		return
	}
	if !need {
		return
	}
	logger.Info("Filesystem is smaller than its device: growing it offline before mounting")
	if err := ns.growFS(ctx, dev, "ext4", ""); err != nil {
		logger.Error(err, "Offline growth failed; mounting at the old size")
	}
}

// unstageStale unmounts a staging path mounted from device major:minor that
// is no longer the volume's device, unless that filesystem is in use elsewhere.
func (ns *NodeServer) unstageStale(ctx context.Context, id, staging string, major, minor int) error {
	mis, err := ns.mountInfo()
	if err != nil {
		return nodeInternal(id, "reading mounts", err)
	}
	var others []string
	for _, m := range mis {
		if m.Major == major && m.Minor == minor && m.MountPoint != nodeMountinfoEscape(staging) {
			others = append(others, m.MountPoint)
		}
	}
	if len(others) > 0 {
		return nodeErrorf(codes.FailedPrecondition, id,
			"staging path is mounted from stale device %d:%d which is still mounted at %v; unpublish those first", major, minor, others)
	}
	nodeLog(ctx).Info("Staging path is mounted from a stale device: remounting", "stale", fmt.Sprintf("%d:%d", major, minor))
	if err := ns.unmountAll(ctx, staging); err != nil {
		return nodeInternal(id, "unmounting the stale staging mount", err)
	}
	return nil
}

// NodeUnstageVolume unmounts the staging path (which stays: the kubelet owns
// it) and disconnects the volume. A failed disconnect fails the call so that
// it is retried. Only the volume's own managed NQN is ever disconnected.
func (ns *NodeServer) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := validateVolumeHandle(id); err != nil {
		return nil, err
	}
	staging := req.GetStagingTargetPath()
	if err := nodeCheckPath("staging_target_path", staging); err != nil {
		return nil, err
	}
	nqn := nodeNQN(id)
	if err := device.CheckManaged(ns.cfg.ManagedNQNPrefix, nqn); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "volume %s: %v", id, err)
	}
	ctx, logger, release, err := ns.begin(ctx, "NodeUnstageVolume", id)
	defer release()
	if err != nil {
		return nil, err
	}

	if err := ns.unmountAll(ctx, staging); err != nil {
		return nil, nodeInternal(id, "unmounting the staging path", err)
	}

	dev, err := ns.cfg.Connector.Device(ctx, nqn)
	switch {
	case errors.Is(err, device.ErrNotConnected):
		if err := ns.recordUnstaged(id); err != nil {
			return nil, err
		}
		logger.Info("Unstaged (was not connected)")
		return &csi.NodeUnstageVolumeResponse{}, nil
	case err != nil:
		return nil, nodeInternal(id, "finding the device", err)
	}
	// Disconnecting a device that something still mounts would turn that
	// mount into I/O errors: refuse and let the caller retry after cleanup.
	users, err := ns.deviceUsers(dev)
	if err != nil {
		return nil, nodeInternal(id, "checking device users", err)
	}
	if len(users) > 0 {
		return nil, nodeErrorf(codes.FailedPrecondition, id, "device %s is still mounted at %v; not disconnecting", dev, users)
	}
	// Forgotten first: from here on the health watcher must not reconnect
	// it. Should the disconnect fail, the kubelet retries the unstage; should
	// it never, the next start finds an unused orphan and disconnects it.
	if err := ns.recordUnstaged(id); err != nil {
		return nil, err
	}
	if err := ns.cfg.Connector.Disconnect(ctx, nqn); err != nil {
		return nil, nodeInternal(id, "disconnecting", err)
	}
	logger.Info("Unstaged", "device", dev)
	return &csi.NodeUnstageVolumeResponse{}, nil
}
