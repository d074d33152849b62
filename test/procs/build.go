package procs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildBinaries runs `go build -o dir/ pkgs...` at the module root, pkgs
// being relative to it ("./cmd/rds-sim"). Plain build, never -race: the
// children's timing is what the suites measure, and the race detector would
// slow them several-fold (the test binary itself may still run with -race).
func BuildBinaries(dir string, pkgs ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the binaries in %s: %w\n%s", root, err, out)
	}
	return nil
}

// moduleRoot is the directory of go.mod, from `go env GOMOD` (go test runs
// the test binary in the package directory, inside the module).
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
