//go:build linux

package procs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// start runs /bin/sh -c script as a child logging into the test's temp dir.
func start(t *testing.T, name, script string) *Proc {
	t.Helper()
	p, err := Start(t, name, filepath.Join(t.TempDir(), name+".log"), "/bin/sh", "-c", script)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitLog waits until the child's log contains want: the child's own
// signal that it got past its setup. want must not occur in the header
// line, which quotes the command.
func waitLog(t *testing.T, p *Proc, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(p.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q in its log after 10s:\n%s", p.Name, want, data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExitCode: the exit code is reported, the log holds the header line and
// the child's output.
func TestExitCode(t *testing.T) {
	p := start(t, "exit3", "echo hello; exit 3")
	code, ok := p.WaitExit(10 * time.Second)
	if !ok {
		t.Fatal("child still running after 10s")
	}
	if code != 3 || p.Err() == nil {
		t.Errorf("exit code %d (err %v), want 3", code, p.Err())
	}
	if !p.Exited() || p.ExitedAt().IsZero() {
		t.Errorf("Exited %v at %v after WaitExit", p.Exited(), p.ExitedAt())
	}
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if log := string(data); !strings.HasPrefix(log, "### ") || !strings.Contains(log, "/bin/sh -c echo hello; exit 3\n") || !strings.HasSuffix(log, "\nhello\n") {
		t.Errorf("log:\n%s", log)
	}
}

// TestKill9: a child killed by SIGKILL is reaped and reported as -1.
func TestKill9(t *testing.T) {
	p := start(t, "sleeper", "exec sleep 60")
	if err := p.Kill9(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if code, ok := p.WaitExit(time.Second); !ok || code != -1 {
		t.Errorf("after Kill9: code %d, exited %v; want -1, true", code, ok)
	}
}

// TestStopIgnoringSIGTERM: Stop gives a child that ignores SIGTERM the
// grace period, then kills it.
func TestStopIgnoringSIGTERM(t *testing.T) {
	// The ignored SIGTERM is inherited by sleep, which gets the group's
	// signal too.
	p := start(t, "stubborn", `trap "" TERM; echo ready; exec sleep 60`)
	waitLog(t, p, "\nready\n")
	begin := time.Now()
	p.Stop()
	took := time.Since(begin)
	if !p.Exited() {
		t.Fatal("child still running after Stop")
	}
	if took < stopGrace {
		t.Errorf("Stop took %s, want the grace of %s first", took, stopGrace)
	}
	if code, ok := p.WaitExit(time.Second); !ok || code != -1 {
		t.Errorf("exit code %d, want -1 (SIGKILL)", code)
	}
}

// TestReapLeftovers: a child still running is named, killed and reaped.
func TestReapLeftovers(t *testing.T) {
	p := start(t, "leftover", "exec sleep 60")
	left := ReapLeftovers()
	if len(left) != 1 || !strings.HasPrefix(left[0], "leftover (pid ") {
		t.Errorf("ReapLeftovers = %q, want the one child", left)
	}
	if !p.Exited() {
		t.Error("child still running after ReapLeftovers")
	}
	if left := ReapLeftovers(); len(left) != 0 {
		t.Errorf("second ReapLeftovers = %q, want none", left)
	}
}
