package device

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
	mount "k8s.io/mount-utils"
)

// Mount state comes from mountinfo (parsed by mount-utils), which carries
// the device number of every mount: "mounted from the right device" is a
// comparison of numbers, not of device names that renumber. Any failure to
// read it is an error, never "not mounted".

// DefaultMountInfo is the mount table of this process's mount namespace.
const DefaultMountInfo = "/proc/self/mountinfo"

// ReadMountInfo parses the mountinfo file at path.
func ReadMountInfo(path string) ([]mount.MountInfo, error) {
	mi, err := mount.ParseMountInfo(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return mi, nil
}

// MountinfoEscape escapes a path as the kernel writes it in mountinfo.
func MountinfoEscape(p string) string {
	r := strings.NewReplacer(`\`, `\134`, " ", `\040`, "\t", `\011`, "\n", `\012`)
	return r.Replace(p)
}

// MountAt returns the topmost mount of mis whose mount point is path, or
// nil. path is resolved through symlinks first, as the kernel would; a path
// that does not exist is not mounted.
func MountAt(mis []mount.MountInfo, path string) (*mount.MountInfo, error) {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("resolving %s: %w", path, err)
	}
	want := MountinfoEscape(resolved)
	for i := len(mis) - 1; i >= 0; i-- {
		if mis[i].MountPoint == want {
			m := mis[i]
			return &m, nil
		}
	}
	return nil, nil
}

// SameDev reports whether a mount's filesystem lives on device rdev.
func SameDev(m *mount.MountInfo, rdev uint64) bool {
	return m != nil && uint64(m.Major) == uint64(unix.Major(rdev)) && uint64(m.Minor) == uint64(unix.Minor(rdev))
}

// Users lists every mount of mis that still uses the block device at dev:
// filesystems on it, and bind mounts of its device node (block publish).
func Users(mis []mount.MountInfo, dev string) ([]string, error) {
	rdev, err := BlockRdev(dev)
	if err != nil {
		return nil, err
	}
	var node unix.Stat_t
	if err := unix.Stat(dev, &node); err != nil {
		return nil, &os.PathError{Op: "stat", Path: dev, Err: err}
	}
	base := "/" + filepath.Base(dev)
	var users []string
	for i := range mis {
		m := &mis[i]
		switch {
		case SameDev(m, rdev):
			users = append(users, m.MountPoint)
		case SameDev(m, node.Dev) && strings.HasSuffix(m.Root, base):
			// A bind of the device node file itself (root is the node's
			// path inside the /dev filesystem).
			users = append(users, m.MountPoint)
		}
	}
	return users, nil
}

// ReadOnly reports whether a mount is mounted read-only (its own flags).
func ReadOnly(m *mount.MountInfo) bool { return slices.Contains(m.MountOptions, "ro") }

// ReadOnlyAfterError reports a filesystem the kernel switched to read-only
// behind the mount's back, as ext4 does with errors=remount-ro after an I/O
// error: the superblock says ro (before Linux 6.x) or emergency_ro (since),
// while the mount itself still says rw.
func ReadOnlyAfterError(m *mount.MountInfo) bool {
	return !ReadOnly(m) && (slices.Contains(m.SuperOptions, "ro") || slices.Contains(m.SuperOptions, "emergency_ro"))
}
