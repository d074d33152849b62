//go:build linux

package chaos

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long a child gets between SIGTERM and SIGKILL at cleanup.
const stopGrace = 5 * time.Second

// proc is one child process: its own process group, its output in a log
// file, reaped by a goroutine so that exit is observable (exited).
type proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd

	done     chan struct{} // closed once the child is reaped
	waitErr  error         // valid after done
	exitedAt time.Time     // valid after done
}

// startProc starts bin with args; Cleanup (registered here) stops the whole
// process group and waits for it.
func startProc(tb testing.TB, name, logPath, bin string, args ...string) (*proc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	_, _ = fmt.Fprintf(logFile, "### %s %s %s\n", time.Now().Format("15:04:05.000"), bin, strings.Join(args, " "))

	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// If the test binary dies (timeout panic, crash), so does the child.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := spawn(cmd); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	started.Lock()
	started.procs = append(started.procs, p)
	started.Unlock()
	go func() {
		p.waitErr = cmd.Wait()
		p.exitedAt = time.Now()
		close(p.done)
	}()
	tb.Cleanup(p.stop)
	return p, nil
}

// childEnv is the test's environment without the in-cluster variables, so
// rds-csi never mistakes the test machine for a pod.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KUBERNETES_SERVICE_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// signal sends sig to the child's process group (ESRCH once it is gone).
func (p *proc) signal(sig syscall.Signal) error {
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// exited reports whether the child has been reaped.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitExit waits up to timeout for the child to exit.
func (p *proc) waitExit(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// kill9 is `kill -9` on the group, returning once the child is reaped (its
// sockets are closed by then).
func (p *proc) kill9() error {
	if err := p.signal(syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill -9 %s: %w", p.name, err)
	}
	if !p.waitExit(10 * time.Second) {
		return fmt.Errorf("%s did not die within 10s of SIGKILL", p.name)
	}
	return nil
}

// stop ends the child gracefully if it still runs (SIGCONT in case it is
// stopped, SIGTERM, SIGKILL after stopGrace) and reaps it.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.signal(syscall.SIGCONT)
	_ = p.signal(syscall.SIGTERM)
	if p.waitExit(stopGrace) {
		return
	}
	_ = p.signal(syscall.SIGKILL)
	<-p.done
}

// started lists every child of the test binary, for the leak check.
var started struct {
	sync.Mutex
	procs []*proc
}

// reapLeftovers kills and reaps every child still running and names them.
func reapLeftovers() []string {
	started.Lock()
	defer started.Unlock()
	var left []string
	for _, p := range started.procs {
		if p.exited() {
			continue
		}
		left = append(left, fmt.Sprintf("%s (pid %d)", p.name, p.cmd.Process.Pid))
		_ = p.signal(syscall.SIGKILL)
		<-p.done
	}
	return left
}

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
