package driver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	mount "k8s.io/mount-utils"

	"github.com/srvlab/rds-csi/driver/device"
)

// Mount state comes from mountinfo; the helpers live in driver/device,
// shared with the node health watcher. Any failure to read it is an error,
// never "not mounted".

func (ns *NodeServer) mountInfo() ([]mount.MountInfo, error) {
	return device.ReadMountInfo(ns.cfg.MountInfoPath)
}

// nodeMountinfoEscape escapes a path as the kernel writes it in mountinfo.
func nodeMountinfoEscape(p string) string { return device.MountinfoEscape(p) }

// mountAt returns the topmost mount whose mount point is path, or nil.
// path is resolved through symlinks first, as the kernel would.
func (ns *NodeServer) mountAt(path string) (*mount.MountInfo, error) {
	if _, err := filepath.EvalSymlinks(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no need to read the mount table
	}
	mis, err := ns.mountInfo()
	if err != nil {
		return nil, err
	}
	return device.MountAt(mis, path)
}

// nodeSameDev reports whether a mount's filesystem lives on device rdev.
func nodeSameDev(m *mount.MountInfo, rdev uint64) bool { return device.SameDev(m, rdev) }

// deviceUsers lists every mount that still uses the block device at dev:
// filesystems on it, and bind mounts of its device node (block publish).
func (ns *NodeServer) deviceUsers(dev string) ([]string, error) {
	if _, err := device.BlockRdev(dev); err != nil {
		return nil, err
	}
	mis, err := ns.mountInfo()
	if err != nil {
		return nil, err
	}
	return device.Users(mis, dev)
}

// mountCmd runs mount(8) with arguments built by mount-utils, under a deadline.
func (ns *NodeServer) mountCmd(ctx context.Context, source, target, fstype string, options []string) error {
	args := mount.MakeMountArgs(source, target, fstype, options)
	_, err := ns.cfg.Runner.Run(ctx, device.Command{Name: "mount", Args: args, Timeout: ns.cfg.CommandTimeout})
	return err
}

// unmountAll unmounts path until nothing is mounted there (mounts can be
// stacked), verifying through mountinfo each time.
func (ns *NodeServer) unmountAll(ctx context.Context, path string) error {
	for range 8 {
		m, err := ns.mountAt(path)
		if err != nil {
			return err
		}
		if m == nil {
			return nil
		}
		if _, err := ns.cfg.Runner.Run(ctx, device.Command{Name: "umount", Args: []string{path}, Timeout: ns.cfg.CommandTimeout}); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s is still mounted after 8 unmounts", path)
}

// bindMount binds source onto target (never recursively: "bind", not
// "rbind", so nothing mounted below source, such as devtmpfs under /dev,
// comes along) and remounts it read-only when asked, as mount-utils does.
func (ns *NodeServer) bindMount(ctx context.Context, source, target string, readOnly bool) error {
	opts := []string{"bind"}
	if readOnly {
		opts = append(opts, "ro")
	}
	_, bindOpts, remountOpts := mount.MakeBindOpts(opts)
	if err := ns.mountCmd(ctx, source, target, "", bindOpts); err != nil {
		return err
	}
	if !readOnly {
		return nil
	}
	if err := ns.mountCmd(ctx, "", target, "", remountOpts); err != nil {
		// Never leave a writable mount behind a read-only request.
		if uerr := ns.unmountAll(ctx, target); uerr != nil {
			return fmt.Errorf("%w (and undoing the bind failed: %w)", err, uerr)
		}
		return err
	}
	return nil
}

// nodeMountReadOnly reports whether a mount is read-only.
func nodeMountReadOnly(m *mount.MountInfo) bool { return device.ReadOnly(m) }
