package driver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"

	"github.com/srvlab/rds-csi/driver/device"
)

// nodePublished says how a path exposes a volume's device.
type nodePublished struct {
	dev   string
	block bool // path is the device node (block); otherwise a mount of its filesystem
}

// resolvePublished checks that path exposes the volume: a block device node
// with the volume's device number, or a mount point whose filesystem is on
// the volume's device. Anything else is NotFound.
func (ns *NodeServer) resolvePublished(ctx context.Context, id, path string) (nodePublished, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nodePublished{}, nodeErrorf(codes.NotFound, id, "path %s does not exist", path)
	} else if err != nil {
		return nodePublished{}, nodeInternal(id, "checking the volume path", err)
	}
	dev, err := ns.cfg.Connector.Device(ctx, nodeNQN(id))
	if errors.Is(err, device.ErrNotConnected) {
		return nodePublished{}, nodeErrorf(codes.NotFound, id, "not connected on this node")
	} else if err != nil {
		return nodePublished{}, nodeInternal(id, "finding the device", err)
	}
	rdev, err := device.BlockRdev(dev)
	if err != nil {
		return nodePublished{}, nodeInternal(id, "device", err)
	}
	if cur, err := device.BlockRdev(path); err == nil {
		if cur != rdev {
			return nodePublished{}, nodeErrorf(codes.NotFound, id, "%s is another block device", path)
		}
		return nodePublished{dev: dev, block: true}, nil
	}
	m, err := ns.mountAt(path)
	if err != nil {
		return nodePublished{}, nodeInternal(id, "checking the volume path", err)
	}
	if !nodeSameDev(m, rdev) {
		return nodePublished{}, nodeErrorf(codes.NotFound, id, "%s is not a mount of the volume's device", path)
	}
	return nodePublished{dev: dev}, nil
}

// NodeGetVolumeStats implements csi.NodeServer.
func (ns *NodeServer) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	id := req.GetVolumeId()
	if err := validateVolumeHandle(id); err != nil {
		return nil, err
	}
	path := req.GetVolumePath()
	if err := nodeCheckVolumePath(path); err != nil {
		return nil, err
	}
	// Stats are read-only: no lock, so that kubelet's periodic polling never
	// makes a stage or an expansion answer Aborted. The kubelet's polling
	// also keeps the health watcher's view of the volume fresh; the
	// condition itself is NodeGetVolumeHealth's (CSI v1.13 removed it here).
	ns.touch(id)
	pub, err := ns.resolvePublished(ctx, id, path)
	if err != nil {
		return nil, err
	}
	if pub.block {
		size, err := device.SizeBytes(pub.dev)
		if err != nil {
			return nil, nodeInternal(id, "device size", err)
		}
		return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{{Unit: csi.VolumeUsage_BYTES, Total: size}}}, nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return nil, nodeInternal(id, "statfs", err)
	}
	bs := st.Bsize
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
		{
			Unit:      csi.VolumeUsage_BYTES,
			Total:     int64(st.Blocks) * bs,
			Available: int64(st.Bavail) * bs,
			Used:      int64(st.Blocks-st.Bfree) * bs,
		},
		{
			Unit:      csi.VolumeUsage_INODES,
			Total:     int64(st.Files),
			Available: int64(st.Ffree),
			Used:      int64(st.Files - st.Ffree),
		},
	}}, nil
}

// NodeExpandVolume rescans the namespace, waits for the kernel to see the
// new size and grows the filesystem (ext4: resize2fs, xfs: xfs_growfs on the
// mount point). Block volumes need no more than the rescan.
func (ns *NodeServer) NodeExpandVolume(ctx context.Context, req *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := validateVolumeHandle(id); err != nil {
		return nil, err
	}
	path := req.GetVolumePath()
	if err := nodeCheckVolumePath(path); err != nil {
		return nil, err
	}
	if c := req.GetVolumeCapability(); c != nil {
		if _, err := nodeCheckCapability(c, ""); err != nil {
			return nil, err
		}
	}
	required := req.GetCapacityRange().GetRequiredBytes()
	ctx, logger, release, err := ns.begin(ctx, "NodeExpandVolume", id)
	defer release()
	if err != nil {
		return nil, err
	}
	pub, err := ns.resolvePublished(ctx, id, path)
	if err != nil {
		return nil, err
	}
	// The filesystem grows only once the device shows the new size: first
	// the rescan, then the wait. Both fail retryably: the namespace may be
	// unreachable for a moment (an RDS outage), or the kernel slow to
	// re-read it, and the resizer must come back rather than give up.
	if err := ns.cfg.Connector.Rescan(ctx, nodeNQN(id)); err != nil {
		return nil, nodeRescanError(id, err)
	}
	size, err := ns.waitDeviceSize(ctx, pub.dev, required)
	if errors.Is(err, errNodeDeviceTooSmall) {
		return nil, nodeErrorf(codes.Unavailable, id, "%v", err)
	} else if err != nil {
		// nodeInternal: a deadline or cancellation stays retryable.
		return nil, nodeInternal(id, "waiting for the grown device", err)
	}
	if pub.block {
		logger.Info("Expanded block volume", "bytes", size)
		return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
	}

	format, err := ns.probe(ctx, pub.dev)
	if err != nil {
		return nil, nodeInternal(id, "probing the filesystem", err)
	}
	switch format.FSType {
	case "ext4", "ext3", "ext2":
		need, err := ns.extNeedsGrowth(ctx, pub.dev)
		if err != nil {
			return nil, nodeInternal(id, "reading the filesystem size", err)
		}
		if !need {
			break
		}
		if err := ns.growFS(ctx, pub.dev, format.FSType, path); err != nil {
			if errors.Is(err, errNodeOnlineResizeDenied) {
				return nil, nodeErrorf(codes.FailedPrecondition, id, "%v", err)
			}
			return nil, nodeInternal(id, "growing the filesystem", err)
		}
	case "xfs":
		if err := ns.growFS(ctx, pub.dev, "xfs", path); err != nil {
			return nil, nodeInternal(id, "growing the filesystem", err)
		}
	default:
		return nil, nodeErrorf(codes.FailedPrecondition, id, "cannot grow %s", format)
	}
	logger.Info("Expanded filesystem volume", "bytes", size, "fsType", format.FSType)
	return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
}

// errNodeDeviceTooSmall: the rescan did not (yet) show the new size.
var errNodeDeviceTooSmall = errors.New("the device is still smaller than requested")

// nodeRescanError maps a failed rescan: a volume that cannot be rescanned
// now (no live controller, nvme-cli failing, a timeout) is retried.
func nodeRescanError(id string, err error) error {
	switch {
	case errors.Is(err, device.ErrUnmanagedNQN), errors.Is(err, device.ErrInvalidTarget):
		return nodeErrorf(codes.InvalidArgument, id, "rescanning the namespace: %v", err)
	case errors.Is(err, context.Canceled):
		return nodeErrorf(codes.Canceled, id, "rescanning the namespace: %v", err)
	case errors.Is(err, device.ErrCommandTimeout), errors.Is(err, context.DeadlineExceeded):
		return nodeErrorf(codes.DeadlineExceeded, id, "rescanning the namespace: %v", err)
	}
	return nodeErrorf(codes.Unavailable, id, "rescanning the namespace failed, the filesystem was not grown: %v", err)
}

// waitDeviceSize polls the device size until it reaches required (NVMe
// ns-rescan completes asynchronously) or ResizeWait passes.
func (ns *NodeServer) waitDeviceSize(ctx context.Context, dev string, required int64) (int64, error) {
	deadline := time.Now().Add(ns.cfg.ResizeWait)
	for {
		size, err := device.SizeBytes(dev)
		if err != nil {
			return 0, err
		}
		if size >= required {
			return size, nil
		}
		if time.Now().After(deadline) {
			return size, fmt.Errorf("%w: %s shows %d bytes, %d requested, %s after the rescan", errNodeDeviceTooSmall, dev, size, required, ns.cfg.ResizeWait)
		}
		select {
		case <-ctx.Done():
			return size, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
