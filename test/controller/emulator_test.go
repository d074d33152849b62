package controller

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// Helpers that look at the emulator directly: its answers to RouterOS
// commands on a connection of our own, its backing files and its command
// log. They never go through the driver.

// sizeField is the exact, space-grouped size= of a disk record; the
// human-readable file-size= is lossy and never used.
var sizeField = regexp.MustCompile(`(?m)^\s*size=([0-9]{1,3}(?: [0-9]{3})*)\s`)

// diskSize returns the size= of the disk with that slot as the emulator
// prints it, and false when it has no such disk.
func diskSize(t *testing.T, env *simtest.Env, slot string) (int64, bool) {
	t.Helper()
	out, exit := env.Run(t, "/disk print detail where slot="+slot)
	if exit != 0 {
		t.Fatalf("/disk print for %s: exit %d: %q", slot, exit, out)
	}
	m := sizeField.FindStringSubmatch(out)
	if m == nil {
		if strings.Contains(out, "slot=") {
			t.Fatalf("disk %s printed without a size= field: %q", slot, out)
		}
		return 0, false
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(m[1], " ", ""), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n, true
}

// hostPath is where a RouterOS file path lives in the emulator's data dir.
func hostPath(env *simtest.Env, rosPath string) string {
	return filepath.Join(env.DataDir, filepath.FromSlash(rosPath))
}

// fileSize is the size of a backing file, or -1 when it does not exist.
func fileSize(t *testing.T, env *simtest.Env, rosPath string) int64 {
	t.Helper()
	fi, err := os.Stat(hostPath(env, rosPath))
	if errors.Is(err, fs.ErrNotExist) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// commandLog lets a test ask "which commands reached the emulator since
// the mark?".
type commandLog struct {
	env  *simtest.Env
	mark int
}

func markCommands(env *simtest.Env) *commandLog {
	return &commandLog{env: env, mark: len(env.Server.Commands())}
}

// since returns the commands received after the mark and moves the mark.
func (l *commandLog) since() []string {
	all := l.env.Server.Commands()
	out := all[min(l.mark, len(all)):]
	l.mark = len(all)
	return out
}
