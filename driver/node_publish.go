package driver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"

	"github.com/srvlab/rds-csi/driver/device"
)

// NodePublishVolume bind-mounts the staged filesystem onto the target
// directory, or the volume's device node onto the target file (block).
func (ns *NodeServer) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := validateVolumeHandle(id); err != nil {
		return nil, err
	}
	staging, target := req.GetStagingTargetPath(), req.GetTargetPath()
	if err := nodeCheckPath("staging_target_path", staging); err != nil {
		return nil, err
	}
	if err := nodeCheckPath("target_path", target); err != nil {
		return nil, err
	}
	vcap, err := nodeCheckCapability(req.GetVolumeCapability(), req.GetVolumeContext()[CtxFSType])
	if err != nil {
		return nil, err
	}
	readOnly := req.GetReadonly() || vcap.ReadOnly
	ctx, logger, release, err := ns.begin(ctx, "NodePublishVolume", id)
	defer release()
	if err != nil {
		return nil, err
	}
	logger = logger.WithValues("targetPath", target, "readOnly", readOnly)

	dev, err := ns.cfg.Connector.Device(ctx, nodeNQN(id))
	if errors.Is(err, device.ErrNotConnected) {
		return nil, nodeErrorf(codes.FailedPrecondition, id, "not staged on this node (no device)")
	} else if err != nil {
		return nil, nodeInternal(id, "finding the device", err)
	}
	rdev, err := device.BlockRdev(dev)
	if err != nil {
		return nil, nodeInternal(id, "device", err)
	}

	if vcap.SingleTarget {
		if err := ns.checkSingleTarget(id, dev, staging, target); err != nil {
			return nil, err
		}
	}
	if vcap.Block {
		err = ns.publishBlock(ctx, id, dev, rdev, target, readOnly)
	} else {
		err = ns.publishFilesystem(ctx, id, rdev, staging, target, readOnly)
	}
	if err != nil {
		return nil, err
	}
	ns.recordPublished(ctx, id, target, req.GetVolumeContext())
	logger.Info("Published", "device", dev)
	return &csi.NodePublishVolumeResponse{}, nil
}

// checkSingleTarget refuses a second target path for a
// SINGLE_NODE_SINGLE_WRITER volume: any mount of the device other than the
// staging path and this very target (idempotent retry) is another publish.
func (ns *NodeServer) checkSingleTarget(id, dev, staging, target string) error {
	users, err := ns.deviceUsers(dev)
	if err != nil {
		return nodeInternal(id, "listing the device's mounts", err)
	}
	var others []string
	for _, u := range users {
		if u != staging && u != target {
			others = append(others, u)
		}
	}
	if len(others) > 0 {
		return nodeErrorf(codes.FailedPrecondition, id, "access mode SINGLE_NODE_SINGLE_WRITER allows one target, and the volume is already published at %v", others)
	}
	return nil
}

func (ns *NodeServer) publishFilesystem(ctx context.Context, id string, rdev uint64, staging, target string, readOnly bool) error {
	sm, err := ns.mountAt(staging)
	if err != nil {
		return nodeInternal(id, "checking the staging path", err)
	}
	if !nodeSameDev(sm, rdev) {
		return nodeErrorf(codes.FailedPrecondition, id, "staging path %s is not mounted from the volume's device", staging)
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return nodeInternal(id, "creating the target directory", err)
	}
	tm, err := ns.mountAt(target)
	if err != nil {
		return nodeInternal(id, "checking the target", err)
	}
	if tm != nil {
		if !nodeSameDev(tm, rdev) {
			return nodeErrorf(codes.AlreadyExists, id, "target %s is mounted from another device %d:%d", target, tm.Major, tm.Minor)
		}
		if nodeMountReadOnly(tm) != readOnly {
			return nodeErrorf(codes.AlreadyExists, id, "target %s is already published with read-only=%v", target, !readOnly)
		}
		return nil
	}
	if err := ns.bindMount(ctx, staging, target, readOnly); err != nil {
		return nodeInternal(id, "bind-mounting the staging path", err)
	}
	return nil
}

// publishBlock exposes the device at the target file by bind-mounting the
// device node file alone: a single-file, non-recursive bind carries no
// devtmpfs submounts along (the earlier driver's mount explosion).
func (ns *NodeServer) publishBlock(ctx context.Context, id, dev string, rdev uint64, target string, readOnly bool) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return nodeInternal(id, "creating the target's directory", err)
	}
	tm, err := ns.mountAt(target)
	if err != nil {
		return nodeInternal(id, "checking the target", err)
	}
	if tm != nil {
		if cur, err := device.BlockRdev(target); err == nil && cur == rdev {
			if nodeMountReadOnly(tm) != readOnly {
				return nodeErrorf(codes.AlreadyExists, id, "target %s is already published with read-only=%v", target, !readOnly)
			}
			return nil
		}
		// A bind of an older device node (renumbered controller): replace it.
		nodeLog(ctx).Info("Block target is bound to another device: rebinding", "targetPath", target)
		if err := ns.unmountAll(ctx, target); err != nil {
			return nodeInternal(id, "unmounting the stale block target", err)
		}
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o640)
	if err != nil {
		if errors.Is(err, syscall.EISDIR) {
			return nodeErrorf(codes.FailedPrecondition, id, "block target %s is a directory", target)
		}
		return nodeInternal(id, "creating the target file", err)
	}
	f.Close()
	if err := ns.bindMount(ctx, dev, target, readOnly); err != nil {
		return nodeInternal(id, "bind-mounting the device node", err)
	}
	return nil
}

// NodeUnpublishVolume unmounts the target and removes it only if it is what
// publish left: an empty directory, an empty regular file (block target) or
// a device node. It never recurses; a target holding data stays and the call
// fails, since deleting it could destroy user data.
func (ns *NodeServer) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := validateVolumeHandle(id); err != nil {
		return nil, err
	}
	target := req.GetTargetPath()
	if err := nodeCheckPath("target_path", target); err != nil {
		return nil, err
	}
	ctx, logger, release, err := ns.begin(ctx, "NodeUnpublishVolume", id)
	defer release()
	if err != nil {
		return nil, err
	}
	logger = logger.WithValues("targetPath", target)

	if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
		ns.recordUnpublished(ctx, id, target)
		return &csi.NodeUnpublishVolumeResponse{}, nil
	} else if err != nil {
		return nil, nodeInternal(id, "checking the target", err)
	}
	if err := ns.unmountAll(ctx, target); err != nil {
		return nil, nodeInternal(id, "unmounting the target", err)
	}
	if err := nodeRemoveTarget(target); errors.Is(err, errNodeTargetNotEmpty) {
		return nil, nodeErrorf(codes.FailedPrecondition, id, "%v", err)
	} else if err != nil {
		return nil, nodeInternal(id, "removing the target", err)
	}
	ns.recordUnpublished(ctx, id, target)
	logger.Info("Unpublished")
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// errNodeTargetNotEmpty: the unmounted target still holds something.
var errNodeTargetNotEmpty = errors.New("refusing to remove")

// nodeRemoveTarget removes an unmounted target that is an empty directory,
// an empty regular file or a device node. os.Remove never recurses, and
// fails on a non-empty directory by itself; the checks say why.
func nodeRemoveTarget(target string) error {
	st, err := os.Lstat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	switch mode := st.Mode(); {
	case mode.IsDir():
		entries, err := os.ReadDir(target)
		if err != nil {
			return err
		}
		if len(entries) > 0 {
			return fmt.Errorf("%w %s: the unmounted target directory is not empty (holds %q, ...); left in place", errNodeTargetNotEmpty, target, entries[0].Name())
		}
	case mode.IsRegular():
		if st.Size() != 0 {
			return fmt.Errorf("%w %s: the unmounted block target file holds %d bytes; left in place", errNodeTargetNotEmpty, target, st.Size())
		}
	case mode&fs.ModeDevice != 0:
	default:
		return fmt.Errorf("%w %s: unexpected file type %s", errNodeTargetNotEmpty, target, mode.Type())
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
