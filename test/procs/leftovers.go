//go:build linux

package procs

import (
	"fmt"
	"sync"
	"syscall"
)

// started lists every child of the test binary, for the leak check.
var started struct {
	sync.Mutex
	procs []*Proc
}

func register(p *Proc) {
	started.Lock()
	started.procs = append(started.procs, p)
	started.Unlock()
}

// ReapLeftovers kills and reaps every child still running and names them.
// After the tests there must be none: each test stops its own in Cleanup.
func ReapLeftovers() []string {
	started.Lock()
	defer started.Unlock()
	var left []string
	for _, p := range started.procs {
		if p.Exited() {
			continue
		}
		left = append(left, fmt.Sprintf("%s (pid %d)", p.Name, p.cmd.Process.Pid))
		_ = p.Signal(syscall.SIGKILL)
		<-p.done
	}
	return left
}
