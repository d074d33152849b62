package attachment

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

// stopGrace is how long a child gets between SIGTERM and SIGKILL.
const stopGrace = 10 * time.Second

// child is one process under test, in its own process group, its output
// in a log file. A goroutine reaps it so that its exit is observable.
type child struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once reaped
	waitErr error         // valid after done
}

// startChild starts bin with args and extra environment. Cleanup stops the
// group and, if the test failed, prints the log (after the stop, so it is
// complete).
func startChild(t testing.TB, name, logPath, bin string, env []string, args ...string) *child {
	t.Helper()
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close() // the child holds its own descriptor
	_, _ = fmt.Fprintf(lf, "### %s start %s %s\n", time.Now().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(childEnv(), env...)
	cmd.SysProcAttr = childAttrs()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	c := &child{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			c.dumpLog(t)
		}
	})
	return c
}

// childEnv is the test's environment without the in-cluster variables, so
// rds-csi never mistakes the test machine for a Pod, and without any POD_*
// identity the caller did not set explicitly.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KUBERNETES_SERVICE_") || strings.HasPrefix(kv, "POD_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// kill9 SIGKILLs the group and returns once the child is reaped, so its
// sockets are closed by then. It returns the moment the signal was sent.
func (c *child) kill9(t testing.TB) time.Time {
	t.Helper()
	at := time.Now()
	if err := syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("kill -9 %s: %v", c.name, err)
	}
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not die within 5s of SIGKILL", c.name)
	}
	return at
}

// stop ends the child gracefully if it still runs (SIGTERM, SIGKILL after
// stopGrace) and reaps it; it reports whether SIGTERM sufficed.
func (c *child) stop() bool {
	if c.exited() {
		return true
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.done:
		return true
	case <-time.After(stopGrace):
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.done
	return false
}

// dumpLog prints the last lines of the child's log.
func (c *child) dumpLog(t testing.TB) {
	const tail = 80
	data, err := os.ReadFile(c.logPath)
	if err != nil {
		t.Logf("%s: cannot read log: %v", c.name, err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > tail {
		lines = lines[len(lines)-tail:]
	}
	t.Logf("----- last %d lines of %s (%s) -----\n%s", len(lines), c.name, c.logPath, strings.Join(lines, "\n"))
}
