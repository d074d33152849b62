//go:build linux

package procs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// RunWithBinaries is the body of a suite's TestMain: it builds pkgs (see
// BuildBinaries) into a fresh temporary directory, calls run with that
// directory (run records the binaries' paths and returns m.Run()), kills
// every child still running after it and removes the directory. It returns
// the code for os.Exit: run's, or 1 if the build failed or a child was left
// over. Errors go to stderr, prefixed with label.
func RunWithBinaries(label string, pkgs []string, run func(binDir string) int) int {
	// Everything happens in here, not in TestMain: os.Exit would skip the
	// deferred removal.
	dir, err := os.MkdirTemp("", "rds-csi-"+label+"-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", label, err)
		return 1
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", label, err)
		}
	}()
	start := time.Now()
	if err := BuildBinaries(dir, pkgs...); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", label, err)
		return 1
	}
	names := make([]string, len(pkgs))
	for i, pkg := range pkgs {
		names[i] = filepath.Base(pkg)
	}
	fmt.Fprintf(os.Stderr, "%s: built %s in %s\n", label, strings.Join(names, " and "), time.Since(start).Round(time.Millisecond))
	code := run(dir)
	if left := ReapLeftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "%s: children still running after the tests (killed now): %v\n", label, left)
		return 1
	}
	return code
}
