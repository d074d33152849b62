package driver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	mount "k8s.io/mount-utils"

	"github.com/srvlab/rds-csi/driver/device"
)

// Mount state comes from mountinfo (parsed by mount-utils), which carries
// the device number of every mount: "mounted from the right device" is a
// comparison of numbers, not of device names that renumber. Any failure to
// read it is an error, never "not mounted".

func (ns *NodeServer) mountInfo() ([]mount.MountInfo, error) {
	mi, err := mount.ParseMountInfo(ns.cfg.MountInfoPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ns.cfg.MountInfoPath, err)
	}
	return mi, nil
}

// nodeMountinfoEscape escapes a path as the kernel writes it in mountinfo.
func nodeMountinfoEscape(p string) string {
	r := strings.NewReplacer(`\`, `\134`, " ", `\040`, "\t", `\011`, "\n", `\012`)
	return r.Replace(p)
}

// mountAt returns the topmost mount whose mount point is path, or nil.
// path is resolved through symlinks first, as the kernel would.
func (ns *NodeServer) mountAt(path string) (*mount.MountInfo, error) {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("resolving %s: %w", path, err)
	}
	mis, err := ns.mountInfo()
	if err != nil {
		return nil, err
	}
	want := nodeMountinfoEscape(resolved)
	for i := len(mis) - 1; i >= 0; i-- {
		if mis[i].MountPoint == want {
			m := mis[i]
			return &m, nil
		}
	}
	return nil, nil
}

// nodeSameDev reports whether a mount's filesystem lives on device rdev.
func nodeSameDev(m *mount.MountInfo, rdev uint64) bool {
	return m != nil && uint64(m.Major) == uint64(unix.Major(rdev)) && uint64(m.Minor) == uint64(unix.Minor(rdev))
}

// deviceUsers lists every mount that still uses the block device at dev:
// filesystems on it, and bind mounts of its device node (block publish).
func (ns *NodeServer) deviceUsers(dev string) ([]string, error) {
	rdev, err := device.BlockRdev(dev)
	if err != nil {
		return nil, err
	}
	var node unix.Stat_t
	if err := unix.Stat(dev, &node); err != nil {
		return nil, &os.PathError{Op: "stat", Path: dev, Err: err}
	}
	mis, err := ns.mountInfo()
	if err != nil {
		return nil, err
	}
	base := "/" + filepath.Base(dev)
	var users []string
	for i := range mis {
		m := &mis[i]
		switch {
		case nodeSameDev(m, rdev):
			users = append(users, m.MountPoint)
		case nodeSameDev(m, node.Dev) && strings.HasSuffix(m.Root, base):
			// A bind of the device node file itself (root is the node's
			// path inside the /dev filesystem).
			users = append(users, m.MountPoint)
		}
	}
	return users, nil
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
func nodeMountReadOnly(m *mount.MountInfo) bool {
	for _, o := range m.MountOptions {
		if o == "ro" {
			return true
		}
	}
	return false
}
