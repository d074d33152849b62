//go:build unix && !linux

package harness

import "syscall"

// sysProcAttr puts each process in its own process group so Stop reaches its
// children.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
