package attachment

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/test/harness"
)

// Paths of the binaries under test, built once by TestMain. Empty when the
// tests are going to skip anyway (no Kubernetes binaries configured).
var (
	simBin string
	csiBin string
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

// runMain builds the binaries, runs the tests and removes the build
// directory (os.Exit in TestMain would skip a defer).
func runMain(m *testing.M) int {
	// Without the control-plane binaries every test skips: do not spend
	// a build on that.
	if os.Getenv(harness.EnvToolsBin) == "" && os.Getenv(harness.EnvRequireK8s) != "1" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "rds-csi-attachment-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "attachment:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if err := buildBinaries(dir); err != nil {
		fmt.Fprintln(os.Stderr, "attachment:", err)
		return 1
	}
	simBin, csiBin = filepath.Join(dir, "rds-sim"), filepath.Join(dir, "rds-csi")
	return m.Run()
}

// buildBinaries runs `go build -o dir/ ./cmd/rds-sim ./cmd/rds-csi` at the
// module root. Never with -race: the children's timing is what the tests
// measure, and the race detector would slow them several-fold on shared
// cores (the test binary itself still runs with -race).
func buildBinaries(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("go env GOMOD: not inside a module (%q)", gomod)
	}
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/rds-sim", "./cmd/rds-csi")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building rds-sim and rds-csi: %w\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "attachment: built rds-sim and rds-csi in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}
