package sim_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/rds/sim"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// copyCmd copies the tests' source disk pvc-src into slot at path.
func copyCmd(slot, path string) string {
	return "/disk add type=file copy-from=[find slot=pvc-src] file-path=" + path + " slot=" + slot
}

// TestSlowCopy checks the mid-copy model of doc.go: while a copy runs,
// everything else answers at once and sees the copy's file and space but
// not its disk.
func TestSlowCopy(t *testing.T) {
	const (
		srcSize = 192 << 20
		rate    = 64 << 20 // 3 s for the source
	)
	e := simtest.Start(t, simtest.WithCapacity(1<<30), simtest.WithCopyRate(rate))
	mustRun(t, e, addCmd("pvc-src", "/storage-pool/src.img", "192M"), "")
	marker := []byte("data that must reach the copy")
	writeAt(t, filepath.Join(e.DataDir, "storage-pool/src.img"), marker, 1<<20)
	target := filepath.Join(e.DataDir, "storage-pool/copy.img")

	c := e.Dial(t)
	start := time.Now()
	done := startExec(c, copyCmd("pvc-copy", "/storage-pool/copy.img"))
	waitFor(t, "the copy's target file", func() bool { _, err := os.Lstat(target); return err == nil })

	var done2 <-chan error
	checks := []struct {
		name string
		cmd  string
		exit int
		// want is the whole answer, or with contains a part of it.
		want     string
		contains bool
		before   func(t *testing.T)
	}{
		{name: "identity", cmd: "/system identity print", want: "  name: rds-sim\r\n"},
		{name: "no record yet", cmd: "/disk print detail where slot=pvc-copy", want: legend},
		{name: "listing without the copy", cmd: `/disk print detail where slot~"pvc-"`, want: `slot="pvc-src"`, contains: true},
		// 1 GiB - 2 × 192 MiB: the source and the running copy.
		{name: "pool counts the copy", cmd: "/disk print detail where mount-point=storage-pool", want: "free=671 088 640 use=38%", contains: true},
		{name: "file listed", cmd: `/file print detail where name~"copy"`, want: "name=storage-pool/copy.img", contains: true},
		{name: "same file", cmd: addCmd("pvc-other", "/storage-pool/copy.img", "1G"), exit: 1, want: "failure: file already exists\r\n"},
		{name: "same slot", cmd: addCmd("pvc-copy", "/storage-pool/other.img", "1M"), exit: 1, want: "failure: disk with such slot already exists\r\n"},
		{name: "same slot and file", cmd: copyCmd("pvc-copy", "/storage-pool/copy.img"), exit: 1, want: "failure: disk with such slot already exists\r\n"},
		{name: "copy onto the same file", cmd: copyCmd("pvc-copy3", "/storage-pool/copy.img"), exit: 1, want: "failure: file already exists\r\n"},
		{name: "set finds nothing", cmd: "/disk set [find slot=pvc-copy] nvme-tcp-export=yes", exit: 1, want: "failure: no such item\r\n"},
		{name: "file in use", cmd: `/file remove [find name="storage-pool/copy.img"]`, exit: 1, want: "failure: file is in use by a disk\r\n"},
		{name: "space is taken", cmd: addCmd("pvc-big", "/storage-pool/big.img", "641M"), exit: 1, want: "failure: not enough space\r\n"},
		{name: "other add", cmd: addCmd("pvc-b", "/storage-pool/b.img", "64M"), want: ""},
		{name: "second copy runs alongside", before: func(t *testing.T) {
			done2 = startExec(c, copyCmd("pvc-copy2", "/storage-pool/copy2.img"))
			waitFor(t, "the second copy's target file", func() bool {
				_, err := os.Lstat(filepath.Join(e.DataDir, "storage-pool/copy2.img"))
				return err == nil
			})
		}, cmd: `/disk print detail where slot~"copy"`, want: legend},
	}
	for _, tc := range checks {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			out, exit, err := simtest.Exec(c, tc.cmd)
			if err != nil {
				t.Fatal(err)
			}
			if exit != tc.exit || (tc.contains && !strings.Contains(out, tc.want)) || (!tc.contains && out != tc.want) {
				t.Errorf("%s\n got exit %d, %q\nwant exit %d, %q (contains=%v)", tc.cmd, exit, out, tc.exit, tc.want, tc.contains)
			}
		})
	}
	select {
	case err := <-done:
		t.Fatalf("the copy answered (%v) before the checks ended; they did not run mid-copy", err)
	default:
	}

	for i, ch := range []<-chan error{done, done2} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatalf("copy %d: %v", i+1, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("copy %d did not finish", i+1)
		}
		if i == 0 {
			if d := time.Since(start); d < 3*time.Second {
				t.Errorf("a 192 MiB copy at 64 MiB/s answered after %v, want at least 3s", d)
			}
		}
	}
	out, _ := e.Run(t, `/disk print detail where slot~"copy"`)
	for _, want := range []string{`slot="pvc-copy"`, `slot="pvc-copy2"`, "size=201 326 592 ", "nvme-tcp-export=no"} {
		if !strings.Contains(out, want) {
			t.Errorf("after the copies, the listing lacks %q:\n%s", want, out)
		}
	}
	got := make([]byte, len(marker))
	f, err := os.Open(target)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(got, 1<<20); err != nil || !bytes.Equal(got, marker) {
		t.Errorf("copy holds %q (%v), want %q", got, err, marker)
	}
	if fi, _ := f.Stat(); fi.Size() != srcSize {
		t.Errorf("copy size %d, want %d", fi.Size(), srcSize)
	}
	// Space: source, two copies and b are disks now, nothing else.
	out, _ = e.Run(t, "/disk print detail where mount-point=storage-pool")
	if !strings.Contains(out, "free=402 653 184 use=63%") {
		t.Errorf("pool after the copies:\n%s", out)
	}
}

func TestCopyRateAtRunTime(t *testing.T) {
	e := simtest.Start(t)
	mustRun(t, e, addCmd("pvc-src", "/storage-pool/src.img", "256M"), "")
	for _, tc := range []struct {
		name, body string
		rate       int64
		min, max   time.Duration
	}{
		{"slow", "128M", 128 << 20, 2 * time.Second, 15 * time.Second},
		{"instant again", "0", 0, 0, 1500 * time.Millisecond},
		{"off", "off", 0, 0, 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := control(t, e, "PUT", "/faults/copy-rate", tc.body); code != 204 {
				t.Fatalf("PUT copy-rate %q: %d %q", tc.body, code, body)
			}
			_, body := control(t, e, "GET", "/faults", "")
			var faults struct {
				Rate int64 `json:"copy-rate"`
			}
			if err := json.Unmarshal([]byte(body), &faults); err != nil || faults.Rate != tc.rate || e.Server.CopyRate() != tc.rate {
				t.Errorf("GET /faults %q (%v), CopyRate() %d; want copy-rate %d", body, err, e.Server.CopyRate(), tc.rate)
			}
			slot := "pvc-" + strings.ReplaceAll(tc.name, " ", "-")
			start := time.Now()
			mustRun(t, e, copyCmd(slot, "/storage-pool/"+slot+".img"), "")
			if d := time.Since(start); d < tc.min || d > tc.max {
				t.Errorf("copy took %v, want between %v and %v", d, tc.min, tc.max)
			}
		})
	}
}

// TestRestartMidCopyLeavesFileWithoutDisk: the emulator dying mid-copy is
// a power loss; the partial file stays, no disk exists, and a retry of the
// add fails until the file is removed.
func TestRestartMidCopyLeavesFileWithoutDisk(t *testing.T) {
	e := simtest.Start(t, simtest.WithCopyRate(1<<10)) // never finishes here
	mustRun(t, e, addCmd("pvc-src", "/storage-pool/src.img", "1G"), "")
	c := e.Dial(t)
	cmd := copyCmd("pvc-copy", "/storage-pool/copy.img")
	done := startExec(c, cmd)
	target := filepath.Join(e.DataDir, "storage-pool/copy.img")
	waitFor(t, "the copy's target file", func() bool { _, err := os.Lstat(target); return err == nil })
	e.Restart(t)
	if err := <-done; err == nil {
		t.Fatal("the cut copy answered success")
	}
	if _, err := os.Lstat(target); err != nil {
		t.Fatalf("partial backing file after restart: %v", err)
	}
	state, err := os.ReadFile(filepath.Join(e.DataDir, sim.StateFileName))
	if err != nil || bytes.Contains(state, []byte("pvc-copy")) {
		t.Errorf("state file mentions the cut copy (%v):\n%s", err, state)
	}
	mustRun(t, e, "/disk print detail where slot=pvc-copy", legend)
	if out, _ := e.Run(t, `/file print detail where name~"copy"`); !strings.Contains(out, "name=storage-pool/copy.img") {
		t.Errorf("partial file not listed:\n%s", out)
	}
	if err := e.Server.SetCopyRate(0); err != nil {
		t.Fatal(err)
	}
	if out, exit := e.Run(t, cmd); exit != 1 || out != "failure: file already exists\r\n" {
		t.Errorf("retry onto the partial file: %q %d", out, exit)
	}
	mustRun(t, e, `/file remove [find name="storage-pool/copy.img"]`, "")
	mustRun(t, e, cmd, "")
}
