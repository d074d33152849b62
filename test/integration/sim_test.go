//go:build linux

package integration

import (
	"fmt"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/test/procs"
)

// emulator is bin/rds-sim on a fixed address and data directory, so that a
// restart comes back where the driver expects it, with the same host key.
type emulator struct {
	addr    string
	dir     string // holds the data directory, the logs and host_key.pub
	keys    procs.SSHKeys
	control string      // loopback host:port of its control endpoint; "" for none
	args    []string    // extra flags of every start
	proc    *procs.Proc // the current (or last) process
	starts  int
	hostKey string // path of the derived public-key line, once written
}

// newEmulator prepares (but does not start) an emulator on addr whose data
// directory lives in dir.
func newEmulator(dir, addr string, keys procs.SSHKeys) *emulator {
	return &emulator{addr: addr, dir: dir, keys: keys}
}

func (e *emulator) dataDir() string { return filepath.Join(e.dir, "rds-data") }

// start runs a new rds-sim process and returns once it accepts TCP
// connections on addr.
func (e *emulator) start(tb testing.TB) {
	tb.Helper()
	e.starts++
	name := fmt.Sprintf("rds-sim#%d", e.starts)
	logPath := filepath.Join(e.dir, fmt.Sprintf("rds-sim-%d.log", e.starts))
	args := []string{
		"--listen=" + e.addr,
		"--data-dir=" + e.dataDir(),
		"--authorized-keys=" + e.keys.AuthorizedKeys,
	}
	if e.control != "" {
		args = append(args, "--control="+e.control)
	}
	e.proc = startProc(tb, name, logPath, simBin, append(args, e.args...)...)
	p := e.proc
	listening := func() bool {
		if p.Exited() {
			return true // reported below
		}
		c, err := net.DialTimeout("tcp", e.addr, 200*time.Millisecond)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	}
	if _, ok := pollUntil(time.Now(), startupTimeout, listening); !ok {
		tb.Fatalf("%s does not listen on %s after %s", name, e.addr, startupTimeout)
	}
	if p.Exited() {
		tb.Fatalf("%s exited during startup: %v", name, p.Err())
	}
}

// hostKeyFile returns a file holding the emulator's host public key line,
// derived from the key rds-sim created in its data directory (it must have
// been started once).
func (e *emulator) hostKeyFile(tb testing.TB) string {
	tb.Helper()
	if e.hostKey == "" {
		path := filepath.Join(e.dir, "host_key.pub")
		if _, err := procs.EmulatorHostKey(e.dataDir(), path); err != nil {
			tb.Fatal(err)
		}
		e.hostKey = path
	}
	return e.hostKey
}

// kill9 kills the running emulator with SIGKILL and waits until it is gone.
func (e *emulator) kill9(tb testing.TB) {
	tb.Helper()
	if err := e.proc.Kill9(killTimeout); err != nil {
		tb.Fatal(err)
	}
}

// freeze and thaw are SIGSTOP and SIGCONT: the kernel keeps the TCP
// connections (and accepts new ones into the backlog) while nothing answers.
func (e *emulator) freeze(tb testing.TB) { e.sendSignal(tb, syscall.SIGSTOP) }
func (e *emulator) thaw(tb testing.TB)   { e.sendSignal(tb, syscall.SIGCONT) }

func (e *emulator) sendSignal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	if err := e.proc.Signal(sig); err != nil {
		tb.Fatalf("%v to %s: %v", sig, e.proc.Name, err)
	}
}
