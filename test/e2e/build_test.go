//go:build linux

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binaries are the programs under test, built from this module.
type binaries struct {
	CSI string // rds-csi
	Sim string // rds-sim
}

// buildBinaries runs `go build -o dir/ ./cmd/rds-csi ./cmd/rds-sim` from
// the module root. It builds what the working tree holds, so the test never
// runs a stale bin/ left by an earlier `make build`.
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	root := moduleRoot(t)
	dir := t.TempDir()
	args := []string{"build"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "-o", dir+string(filepath.Separator), "./cmd/rds-csi", "./cmd/rds-sim")
	start := time.Now()
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s (in %s): %v\n%s", strings.Join(args, " "), root, err, out)
	}
	t.Logf("built rds-csi and rds-sim (race=%v) in %v", raceEnabled, time.Since(start).Round(time.Millisecond))
	return binaries{CSI: filepath.Join(dir, "rds-csi"), Sim: filepath.Join(dir, "rds-sim")}
}

// moduleRoot is the directory of go.mod (go test runs the test binary in
// the package directory, inside the module).
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD: not inside a module (got %q)", gomod)
	}
	return filepath.Dir(gomod)
}
