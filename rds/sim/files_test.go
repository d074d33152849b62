package sim

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"k8s.io/klog/v2/ktesting"
)

// allocated returns the bytes a file really occupies on disk.
func allocated(t *testing.T, name string) int64 {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

func TestSparseCreateCopyGrow(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a", "b", "src.img")
	if err := createSparse(src, 1<<30); err != nil {
		t.Fatal(err)
	}
	if got := allocated(t, src); got > 1<<20 {
		t.Errorf("1 GiB sparse file allocates %d bytes", got)
	}
	// Data in two places, one past a large hole, one in the last block.
	f, err := os.OpenFile(src, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	head, tail := []byte("head of the volume"), bytes.Repeat([]byte{0xAB}, 4096)
	if _, err := f.WriteAt(head, 4096); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(tail, 1<<30-4096); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "c", "copy.img")
	if err := createSparse(dst, 0); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := fillCopy(dst, in, 2<<30); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dst); fi.Size() != 2<<30 {
		t.Errorf("copy size %d, want %d", fi.Size(), 2<<30)
	}
	if got := allocated(t, dst); got > 1<<20 {
		t.Errorf("copy allocates %d bytes, want it sparse", got)
	}
	c, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for off, want := range map[int64][]byte{4096: head, 1<<30 - 4096: tail, 0: make([]byte, 4096), 1 << 30: make([]byte, 4096)} {
		got := make([]byte, len(want))
		if _, err := c.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("copy at %d differs", off)
		}
	}
	if err := createSparse(dst, 1<<30); !os.IsExist(err) {
		t.Errorf("copy onto an existing file: %v, want exists", err)
	}
	if err := growFile(src, 3<<30); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(src); fi.Size() != 3<<30 {
		t.Errorf("grown size %d", fi.Size())
	}
	if got := allocated(t, src); got > 1<<20 {
		t.Errorf("grown file allocates %d bytes", got)
	}
}

func TestValidFilePath(t *testing.T) {
	for p, want := range map[string]bool{
		"/storage-pool/a.img":                        true,
		"/storage-pool/metal-csi/pvc-a.img":          true,
		"/storage-pool":                              false,
		"storage-pool/a.img":                         false,
		"/storage-pool/../etc/passwd":                false,
		"/storage-pool/./a.img":                      false,
		"/storage-pool/a/../../x":                    false,
		"/storage-pool//a.img":                       false,
		"/storage-pool/a.img/":                       false,
		"/other-pool/a.img":                          false,
		"/storage-pool/a b.img":                      false,
		"/storage-pool/a;b.img":                      false,
		"/storage-pool/..":                           false,
		"/storage-pool/" + string(make([]byte, 250)): false,
	} {
		if got := validFilePath(p, "storage-pool"); got != want {
			t.Errorf("validFilePath(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestStateWriteIsAtomicAndLeftoversIgnored(t *testing.T) {
	dir := t.TempDir()
	log := ktesting.NewLogger(t, ktesting.NewConfig())
	st, err := openStore(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.update(func(s *state) (bool, error) {
		s.Disks = append(s.Disks, disk{Slot: "pvc-a", FilePath: "/storage-pool/a.img", Size: 1 << 30, Port: 4420})
		s.Created["/storage-pool/a.img"] = time.Unix(1700000000, 0).UTC()
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	// A write killed halfway leaves a temp file; the state file is intact.
	leftover := filepath.Join(dir, ".state.json.tmp-12345")
	if err := os.WriteFile(leftover, []byte(`{"version":1,"disks":[{"slot":"half`), 0o600); err != nil {
		t.Fatal(err)
	}
	st2, err := openStore(dir, log)
	if err != nil {
		t.Fatalf("reopen with a leftover temp file: %v", err)
	}
	st2.read(func(s *state) {
		if len(s.Disks) != 1 || s.Disks[0].Slot != "pvc-a" || !s.Created["/storage-pool/a.img"].Equal(time.Unix(1700000000, 0)) {
			t.Errorf("reloaded state %+v", s)
		}
	})
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("leftover temp file still there: %v", err)
	}
	// No temp file survives a successful write.
	if m, _ := filepath.Glob(filepath.Join(dir, ".state.json.tmp-*")); len(m) != 0 {
		t.Errorf("temp files after a write: %v", m)
	}
	// A failed mutation changes nothing, in memory or on disk.
	before, _ := os.ReadFile(filepath.Join(dir, StateFileName))
	_ = st2.update(func(s *state) (bool, error) {
		s.Disks = nil
		return false, cliError(msgNoSpace)
	})
	after, _ := os.ReadFile(filepath.Join(dir, StateFileName))
	if !bytes.Equal(before, after) {
		t.Error("a failed mutation rewrote the state file")
	}
	st2.read(func(s *state) {
		if len(s.Disks) != 1 {
			t.Error("a failed mutation changed the state in memory")
		}
	})
}

func TestCorruptStateRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StateFileName), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openStore(dir, ktesting.NewLogger(t, ktesting.NewConfig())); err == nil {
		t.Error("a corrupt state file was accepted")
	}
}
