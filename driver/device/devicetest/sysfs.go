// Package devicetest builds fake sysfs and /dev trees for the tests of
// packages that read NVMe topology through driver/device (the node health
// watcher, the node service). Real sysfs links controllers into subsystems
// with symlinks; plain directories behave the same for a reader that lists
// names and reads attributes.
package devicetest

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Sysfs is a fake /sys and /dev under a test's temporary directory.
type Sysfs struct {
	t   testing.TB
	Sys string // pass as NVMeTCPOptions.SysfsRoot
	Dev string // pass as NVMeTCPOptions.DevRoot
}

// NewSysfs creates an empty tree (no NVMe module loaded).
func NewSysfs(t testing.TB) *Sysfs {
	t.Helper()
	root := t.TempDir()
	s := &Sysfs{t: t, Sys: filepath.Join(root, "sys"), Dev: filepath.Join(root, "dev")}
	s.mkdir(s.Dev)
	return s
}

func (s *Sysfs) mkdir(p string) {
	s.t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Sysfs) write(p, content string) {
	s.t.Helper()
	s.mkdir(filepath.Dir(p))
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// Subsystem adds /sys/class/nvme-subsystem/<name> with its NQN and entries
// (controller names nvmeN and multipath heads nvmeNnM).
func (s *Sysfs) Subsystem(name, nqn string, entries ...string) {
	s.t.Helper()
	d := filepath.Join(s.Sys, "class", "nvme-subsystem", name)
	s.write(filepath.Join(d, "subsysnqn"), nqn+"\n")
	for _, e := range entries {
		s.mkdir(filepath.Join(d, e))
	}
}

// Controller adds /sys/class/nvme/<name> with NQN, state, a TCP address
// and children (namespaces nvmeNnM, or hidden paths nvmeScCnM).
func (s *Sysfs) Controller(name, nqn, state string, children ...string) {
	s.t.Helper()
	d := filepath.Join(s.Sys, "class", "nvme", name)
	s.write(filepath.Join(d, "subsysnqn"), nqn+"\n")
	s.write(filepath.Join(d, "state"), state+"\n")
	s.write(filepath.Join(d, "transport"), "tcp\n")
	s.write(filepath.Join(d, "address"), "traddr=10.42.0.1,trsvcid=4420,src_addr=10.42.0.17\n")
	for _, c := range children {
		s.mkdir(filepath.Join(d, c))
	}
}

// SetState rewrites a controller's state, as the kernel does on a transition.
func (s *Sysfs) SetState(name, state string) {
	s.t.Helper()
	s.write(filepath.Join(s.Sys, "class", "nvme", name, "state"), state+"\n")
}

// RemoveController removes a controller from both classes, as the kernel
// does when it deletes one.
func (s *Sysfs) RemoveController(name string) {
	s.t.Helper()
	if err := os.RemoveAll(filepath.Join(s.Sys, "class", "nvme", name)); err != nil {
		s.t.Fatal(err)
	}
	subs, _ := os.ReadDir(filepath.Join(s.Sys, "class", "nvme-subsystem"))
	for _, sub := range subs {
		_ = os.RemoveAll(filepath.Join(s.Sys, "class", "nvme-subsystem", sub.Name(), name))
	}
}

// DevNode creates /dev/<name> as a regular file: enough for a reader that
// only checks that the node exists.
func (s *Sysfs) DevNode(names ...string) {
	s.t.Helper()
	for _, n := range names {
		s.write(filepath.Join(s.Dev, n), "")
	}
}

// BlockNode creates /dev/<name> as a real block device node with the given
// number (needs root), so that mountinfo lines can refer to it by major:minor.
// Pick a major no driver uses (e.g. 240): opening the node then fails with
// ENXIO, like a device that is gone, and nothing real is ever touched.
func (s *Sysfs) BlockNode(name string, major, minor uint32) {
	s.t.Helper()
	p := filepath.Join(s.Dev, name)
	_ = os.Remove(p)
	if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(major, minor))); err != nil {
		s.t.Fatalf("mknod %s: %v", p, err)
	}
}

// RemoveDevNode removes /dev/<name>.
func (s *Sysfs) RemoveDevNode(name string) {
	s.t.Helper()
	if err := os.Remove(filepath.Join(s.Dev, name)); err != nil && !os.IsNotExist(err) {
		s.t.Fatal(err)
	}
}
