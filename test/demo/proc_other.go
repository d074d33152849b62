//go:build unix && !linux

package main

import "syscall"

// sysProcAttr gives the child its own process group (no parent-death signal
// outside Linux: a killed demo may leave its children running).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
