package procs

import (
	"os"
	"testing"
)

// ShortTempDir is a temporary directory with a short path: a unix socket
// path must fit in 108 bytes, and t.TempDir embeds the (sub)test name. It is
// removed at cleanup, after the children (registered later) are stopped.
func ShortTempDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "rdscsi-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			tb.Errorf("removing %s: %v", dir, err)
		}
	})
	return dir
}
