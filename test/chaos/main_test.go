//go:build linux

package chaos

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/srvlab/rds-csi/test/procs"
)

// Paths of the binaries under test, built once by TestMain.
var (
	simBin string
	csiBin string
)

func TestMain(m *testing.M) {
	os.Exit(procs.RunWithBinaries("chaos", []string{"./cmd/rds-sim", "./cmd/rds-csi"}, func(dir string) int {
		simBin, csiBin = filepath.Join(dir, "rds-sim"), filepath.Join(dir, "rds-csi")
		return m.Run()
	}))
}
