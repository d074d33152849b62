package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a process gets to exit after SIGTERM.
const stopGrace = 10 * time.Second

// process is a child started by the demo, logging to a file. It runs in a
// process group of its own: a Ctrl-C in the terminal reaches only the demo,
// which then stops its children in order instead of all dying at once.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	log     *os.File
	done    chan struct{}
	err     error // Wait's result, valid once done is closed
}

// startProcess runs bin with args and the demo's environment minus the
// variables in drop.
func startProcess(name, logPath string, drop []string, bin string, args ...string) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(drop, name)
	})
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = log.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL, as a crash or a power cut would, and waits for it.
func (p *process) kill() {
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
}

// stop asks the process to exit (SIGTERM), and kills it after grace. An
// exit caused by our own signal is not an error; a process that had died
// before is reported.
func (p *process) stop(grace time.Duration) error {
	if p.exited() {
		if p.err != nil && !signalled(p.err) {
			return fmt.Errorf("%s had exited: %w", p.name, p.err)
		}
		return nil
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not stop within %s after SIGTERM; killed it", p.name, grace)
	}
	if p.err != nil && !signalled(p.err) {
		return fmt.Errorf("%s stopped with %w", p.name, p.err)
	}
	return nil
}

// signalled reports an exit caused by a signal (ours: SIGTERM or SIGKILL).
func signalled(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}
