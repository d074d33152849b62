package main

import "syscall"

// sysProcAttr gives the child its own process group and has the kernel kill
// it if the demo itself dies without cleaning up (SIGKILL, a panic), so no
// emulator or driver is left behind holding ports.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
