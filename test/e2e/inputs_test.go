//go:build linux

package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readInputs reads every file the binaries under test and the cluster setup
// are made from: the module's non-test Go files, go.mod, go.sum and deploy/.
//
// Why: `go test` caches a passing result keyed by the test binary and by
// the files and environment variables the test process itself opened. The
// e2e test builds rds-csi and rds-sim with `go build` and renders deploy/
// with kubectl, in child processes the cache cannot see; without this, a
// change to, say, cmd/rds-csi/app (not imported by the test) or to a
// manifest would replay an old PASS. Reading too much only costs a rerun.
func readInputs(t *testing.T, root string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || rel == "bin" || rel == "test") {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		inDeploy := strings.HasPrefix(rel, "deploy"+string(filepath.Separator))
		isGo := strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")
		if !inDeploy && !isGo && rel != "go.mod" && rel != "go.sum" {
			return nil
		}
		if _, err := os.ReadFile(path); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("reading the inputs of the build: %v", err)
	}
	t.Logf("read %d input files (so go test's cache notices changes in them)", n)
}
