//go:build linux

package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Paths of the binaries under test, built once by TestMain.
var (
	simBin string
	csiBin string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain builds the binaries, runs the tests and removes the build
// directory (os.Exit in TestMain would skip a defer).
func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "rds-csi-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
		}
	}()
	if err := buildBinaries(dir); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	simBin, csiBin = filepath.Join(dir, "rds-sim"), filepath.Join(dir, "rds-csi")
	code := m.Run()
	if left := reapLeftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "chaos: children still running after the tests (killed now): %v\n", left)
		return 1
	}
	return code
}

// buildBinaries runs `go build -o dir/ ./cmd/rds-sim ./cmd/rds-csi` from the
// module root. Plain build, never -race: the children's timing is part of
// what the suite measures.
func buildBinaries(dir string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/rds-sim", "./cmd/rds-csi")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the binaries in %s: %w\n%s", root, err, out)
	}
	fmt.Fprintf(os.Stderr, "chaos: built rds-sim and rds-csi in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// moduleRoot is the directory of go.mod, from `go env GOMOD`.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside a module (got %q)", gomod)
	}
	return filepath.Dir(gomod), nil
}
