//go:build unix && !linux

package attachment

import "syscall"

// childAttrs puts a child in its own process group so a signal reaches the
// whole group.
func childAttrs() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
