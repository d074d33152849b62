package attachment

import "syscall"

// childAttrs puts a child in its own process group (a signal reaches the
// whole group) and has the kernel SIGKILL it if the test binary dies
// without running its cleanups (timeout panic), so no emulator or driver
// outlives a crashed run on the shared machines.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
