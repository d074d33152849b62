package attachment

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/test/harness"
	"github.com/srvlab/rds-csi/test/procs"
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
	start := time.Now()
	if err := procs.BuildBinaries(dir, "./cmd/rds-sim", "./cmd/rds-csi"); err != nil {
		fmt.Fprintln(os.Stderr, "attachment:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "attachment: built rds-sim and rds-csi in %s\n", time.Since(start).Round(time.Millisecond))
	simBin, csiBin = filepath.Join(dir, "rds-sim"), filepath.Join(dir, "rds-csi")
	return m.Run()
}
