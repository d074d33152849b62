package harness

import "syscall"

// sysProcAttr puts each process in its own process group (so Stop reaches its
// children) and has the kernel kill it if the test binary dies without running
// its cleanups (timeout panic, SIGKILL), so no etcd or kube-apiserver outlives
// a crashed test on the shared machines.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
