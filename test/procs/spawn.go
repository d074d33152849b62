//go:build linux

package procs

import (
	"os/exec"
	"runtime"
	"sync"
)

// Pdeathsig fires when the OS thread that forked the child exits, not the
// process: a child started from an ordinary goroutine could be killed
// whenever the runtime retires that thread. So every child is started from
// one goroutine locked to its thread for the life of the test binary.
var (
	spawnOnce sync.Once
	spawnReqs chan func()
)

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReqs = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives on
			for f := range spawnReqs {
				f()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnReqs <- func() { errc <- cmd.Start() }
	return <-errc
}
