//go:build linux

package procs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long a child gets between SIGTERM and SIGKILL at cleanup.
const stopGrace = 5 * time.Second

// Proc is one child process: its own process group, its output in a log
// file, reaped by a goroutine so that its exit is observable (Exited).
type Proc struct {
	Name    string // label in messages, e.g. "rds-sim#2"
	LogPath string

	cmd      *exec.Cmd
	done     chan struct{} // closed once the child is reaped
	waitErr  error         // valid after done
	exitedAt time.Time     // valid after done
}

// Start starts bin with args, its output (after a header line naming the
// command) in a new file at logPath. A Cleanup registered here stops the
// whole process group and waits for it.
func Start(tb testing.TB, name, logPath, bin string, args ...string) (*Proc, error) {
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
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	register(p)
	go func() {
		p.waitErr = cmd.Wait()
		p.exitedAt = time.Now()
		close(p.done)
	}()
	tb.Cleanup(p.Stop)
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

// Pid is the child's process id, also its process group id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the child's process group (ESRCH once it is gone).
func (p *Proc) Signal(sig syscall.Signal) error {
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Exited reports whether the child has been reaped.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is the child's wait error (nil for exit code 0) once it has exited,
// nil before.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.waitErr
}

// ExitedAt is when the child was reaped; the zero time before.
func (p *Proc) ExitedAt() time.Time {
	if !p.Exited() {
		return time.Time{}
	}
	return p.exitedAt
}

// WaitExit waits up to timeout for the child to exit and returns its exit
// code (-1 when killed by a signal); ok is false on timeout.
func (p *Proc) WaitExit(timeout time.Duration) (code int, ok bool) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		return 0, false
	}
	var ee *exec.ExitError
	switch {
	case p.waitErr == nil:
		return 0, true
	case errors.As(p.waitErr, &ee):
		return ee.ExitCode(), true
	default:
		return -1, true
	}
}

// Kill9 is `kill -9` on the group, returning once the child is reaped (its
// sockets are closed by then), or an error if that takes over timeout.
func (p *Proc) Kill9(timeout time.Duration) error {
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill -9 %s: %w", p.Name, err)
	}
	if _, ok := p.WaitExit(timeout); !ok {
		return fmt.Errorf("%s did not die within %s of SIGKILL", p.Name, timeout)
	}
	return nil
}

// Stop ends the child gracefully if it still runs (SIGCONT in case it is
// stopped, SIGTERM, SIGKILL after stopGrace) and reaps it. It is a no-op
// once the child has exited, so a caller may stop it before the Cleanup
// registered by Start does.
func (p *Proc) Stop() {
	if p.Exited() {
		return
	}
	_ = p.Signal(syscall.SIGCONT)
	_ = p.Signal(syscall.SIGTERM)
	if _, ok := p.WaitExit(stopGrace); ok {
		return
	}
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// DumpLog prints the child's whole log to the test log; after Stop it is
// complete.
func (p *Proc) DumpLog(tb testing.TB) {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		tb.Logf("log of %s: %v", p.Name, err)
		return
	}
	tb.Logf("----- log of %s (%s) -----\n%s----- end of %s -----", p.Name, p.LogPath, data, p.Name)
}
