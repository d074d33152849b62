package device

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeRunner records every command and answers through a script.
type fakeRunner struct {
	mu     sync.Mutex
	calls  []string
	answer func(c Command) (Result, error)
}

func (f *fakeRunner) Run(_ context.Context, c Command) (Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, c.String())
	f.mu.Unlock()
	if f.answer == nil {
		return Result{}, nil
	}
	return f.answer(c)
}

func (f *fakeRunner) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// fail builds the Result and error of a command that exited with code.
func fail(c Command, code int, stdout, stderr string) (Result, error) {
	res := Result{Stdout: []byte(stdout), Stderr: []byte(stderr), ExitCode: code}
	return res, &ExitError{Command: c.String(), Code: code, Output: res.Output()}
}

func recorded(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeSys is a fake /sys and /dev for NVMe topologies. Real sysfs links
// controllers into subsystems with symlinks; plain directories behave the
// same for a reader that lists names and reads attributes.
type fakeSys struct {
	t        *testing.T
	sys, dev string
}

func newFakeSys(t *testing.T) *fakeSys {
	root := t.TempDir()
	fs := &fakeSys{t: t, sys: filepath.Join(root, "sys"), dev: filepath.Join(root, "dev")}
	fs.mkdir(fs.dev)
	return fs
}

func (f *fakeSys) mkdir(p string) {
	f.t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeSys) write(p, content string) {
	f.t.Helper()
	f.mkdir(filepath.Dir(p))
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// subsystem adds /sys/class/nvme-subsystem/<name> with its NQN and entries
// (controller names nvmeN and multipath heads nvmeNnM).
func (f *fakeSys) subsystem(name, nqn string, entries ...string) {
	d := filepath.Join(f.sys, "class", "nvme-subsystem", name)
	f.write(filepath.Join(d, "subsysnqn"), nqn+"\n")
	for _, e := range entries {
		f.mkdir(filepath.Join(d, e))
	}
}

// controller adds /sys/class/nvme/<name> with NQN, state and children
// (namespaces nvmeNnM, or hidden paths nvmeScCnM).
func (f *fakeSys) controller(name, nqn, state string, children ...string) {
	d := filepath.Join(f.sys, "class", "nvme", name)
	f.write(filepath.Join(d, "subsysnqn"), nqn+"\n")
	f.write(filepath.Join(d, "state"), state+"\n")
	f.write(filepath.Join(d, "transport"), "tcp\n")
	for _, c := range children {
		f.mkdir(filepath.Join(d, c))
	}
}

// devNode creates /dev/<name> (a regular file stands in for the node).
func (f *fakeSys) devNode(names ...string) {
	for _, n := range names {
		f.write(filepath.Join(f.dev, n), "")
	}
}

func (f *fakeSys) removeController(name string) {
	f.t.Helper()
	if err := os.RemoveAll(filepath.Join(f.sys, "class", "nvme", name)); err != nil {
		f.t.Fatal(err)
	}
	subs, _ := os.ReadDir(filepath.Join(f.sys, "class", "nvme-subsystem"))
	for _, s := range subs {
		_ = os.RemoveAll(filepath.Join(f.sys, "class", "nvme-subsystem", s.Name(), name))
	}
}

func (f *fakeSys) reset() {
	f.t.Helper()
	for _, p := range []string{f.sys, f.dev} {
		if err := os.RemoveAll(p); err != nil {
			f.t.Fatal(err)
		}
	}
	f.mkdir(f.dev)
}

func hasCall(calls []string, prefix string) bool {
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}
