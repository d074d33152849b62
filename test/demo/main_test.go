package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// demoBudget is the README's promise for make demo.
const demoBudget = 60 * time.Second

// binaries builds rds-csi and rds-sim once per test binary, as make build
// does, so the demo runs against the current source. Linking the driver
// takes seconds: the tests share one build.
var binaries = sync.OnceValues(func() (string, error) {
	bin, err := os.MkdirTemp("", "rds-csi-demo-bin-")
	if err != nil {
		return "", err
	}
	binDir = bin
	// go test puts the go command it runs under first in PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is needed to build the binaries: %w", err)
	}
	cmd := exec.Command(goTool, "build", "-o", bin+string(filepath.Separator), "./cmd/rds-csi", "./cmd/rds-sim")
	cmd.Dir = filepath.Join("..", "..") // tests run in their package directory; build from the module root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

// binDir is removed by TestMain once every test is done with it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func buildBinaries(t *testing.T) string {
	t.Helper()
	bin, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestDemo runs the whole demo against freshly built binaries and checks
// that it succeeds within its budget, narrates the crash, and leaves
// nothing behind.
func TestDemo(t *testing.T) {
	bin := buildBinaries(t)
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(t.Context(), []string{"--bin", bin}, &stdout, &stderr)
	took := time.Since(start)
	t.Logf("demo output (%s):\n%s", took.Round(time.Millisecond), stdout.String())
	if code != exitOK {
		t.Fatalf("demo exited %d:\n%s", code, stderr.String())
	}
	if took > demoBudget {
		t.Errorf("demo took %s, budget %s", took, demoBudget)
	}
	out := stdout.String()
	for _, want := range []string{
		"FSM Connected    → Disconnected",
		"FSM Disconnected → Backoff",
		"FSM Backoff      → Reconnecting",
		"FSM Reconnecting → Connected",
		"one more outage observed",
		"ListVolumes → no volumes.",
		"Demo finished",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	assertNothingLeft(t, out)
}

// TestDemoInterrupted cancels the demo in the middle of the crash step,
// which is what Ctrl-C does through signal.NotifyContext: it must exit with
// the interrupt status, stop both processes and remove its directory.
func TestDemoInterrupted(t *testing.T) {
	bin := buildBinaries(t)
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	go func() {
		for !strings.Contains(stdout.String(), "Killing the RDS emulator") {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	code := run(ctx, []string{"--bin", bin}, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if code != exitInterrupted {
		t.Errorf("exit status %d, want %d", code, exitInterrupted)
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr does not say it was interrupted")
	}
	assertNothingLeft(t, stdout.String())
}

// TestDemoWithoutBinaries fails with a message that says what to do.
func TestDemoWithoutBinaries(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"--bin", t.TempDir()}, &stdout, &stderr)
	if code != exitFailed || !strings.Contains(stderr.String(), "make build") {
		t.Errorf("exit %d, stderr %q: want %d and advice to run make build", code, stderr.String(), exitFailed)
	}
}

var (
	workDirLine = regexp.MustCompile(`Working in (\S+) \(removed`)
	pidLine     = regexp.MustCompile(`\(pid (\d+)\)`)
)

// assertNothingLeft checks that the demo's directory is gone and that no
// process it started still runs.
func assertNothingLeft(t *testing.T, out string) {
	t.Helper()
	m := workDirLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatal("the output does not name the working directory")
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("working directory %s still exists (%v)", m[1], err)
	}
	for _, p := range pidLine.FindAllStringSubmatch(out, -1) {
		pid, _ := strconv.Atoi(p[1])
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d started by the demo still exists (kill 0: %v)", pid, err)
		}
	}
}
