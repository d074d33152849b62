//go:build linux

package chaos

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// The checks themselves are tested here, on RouterOS text as the emulator
// prints it (CRLF, wrapped records, grouped numbers) and on synthetic
// readings, so that a zero figure means "nothing found", never "nothing
// looked at".

const diskListing = "Flags: X - DISABLED; B - BLOCK-DEVICE; M - MOUNTED; t - NVME-TCP-EXPORT\r\n" +
	" 0  BM         slot=storage-pool type=partition mount-point=storage-pool\r\n" +
	"               file-system=btrfs\r\n" +
	"               size=1 099 511 627 776 free=1 096 290 402 304 use=0%\r\n" +
	"\r\n" +
	" 1  B t        type=file slot=\"pvc-0f5e1c2a-0000-4000-8000-000000000001\" slot-default=\"\" parent=\"\" fs=-\r\n" +
	"               model=\"/storage-pool/metal-csi/pvc-0f5e1c2a-0000-4000-8000-000000000001.img\"\r\n" +
	"               size=1 073 741 824 mount-filesystem=yes mount-read-only=no\r\n" +
	"               compress=no sector-size=512 raid-master=none\r\n" +
	"               nvme-tcp-export=yes nvme-tcp-server-port=4420\r\n" +
	"               nvme-tcp-server-nqn=\"nqn.2000-02.com.mikrotik:pvc-0f5e1c2a-0000-4000-8000-000000000001\"\r\n" +
	"               nvme-tcp-server-allow-host-name=\"\" iscsi-export=no\r\n" +
	"               nfs-sharing=no smb-sharing=no media-sharing=no\r\n" +
	"               media-interface=none swap=no\r\n" +
	"               file-path=/storage-pool/metal-csi/pvc-0f5e1c2a-0000-4000-8000-000000000001.img\r\n" +
	"               file-size=1024.0MiB file-offset=0\r\n" +
	"\r\n" +
	" 2  B          type=file slot=\"snap-114a4600583f158d-pvc-0f5e1c2a-0000-4000-8000-0000000\r\n" +
	"               00001\" slot-default=\"\" parent=\"\" fs=-\r\n" +
	"               size=268 435 456 mount-filesystem=yes mount-read-only=no\r\n" +
	"               file-path=/storage-pool/metal-csi/snap-114a4600583f158d-pvc-0f5e1c2a-0000-4000-8\r\n" +
	"               000-000000000001.img\r\n"

const fileListing = "Flags: D - DIRECTORY\r\n" +
	" 0 D name=storage-pool/metal-csi type=directory\r\n" +
	"     creation-time=2026-12-05 21:45:36\r\n" +
	"\r\n" +
	" 1   name=storage-pool/metal-csi/pvc-0f5e1c2a-0000-4000-8000-000000000001.img type=.img file\r\n" +
	"     size=1 073 741 824 creation-time=2026-12-05 21:45:36\r\n"

func TestParseListings(t *testing.T) {
	disks, err := parseDisks(diskListing)
	if err != nil {
		t.Fatal(err)
	}
	want := []rdsDisk{
		{Slot: "pvc-0f5e1c2a-0000-4000-8000-000000000001", FilePath: "/storage-pool/metal-csi/pvc-0f5e1c2a-0000-4000-8000-000000000001.img", Size: 1 << 30},
		{Slot: "snap-114a4600583f158d-pvc-0f5e1c2a-0000-4000-8000-000000000001", FilePath: "/storage-pool/metal-csi/snap-114a4600583f158d-pvc-0f5e1c2a-0000-4000-8000-000000000001.img", Size: 256 << 20},
	}
	if !slices.Equal(disks, want) {
		t.Errorf("parseDisks:\n got %+v\nwant %+v", disks, want)
	}
	files, err := parseFiles(fileListing)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/storage-pool/metal-csi/pvc-0f5e1c2a-0000-4000-8000-000000000001.img"}; !slices.Equal(files, want) {
		t.Errorf("parseFiles: got %v, want %v", files, want)
	}
	if _, err := parseDisks("garbage at the left margin\r\n"); err == nil {
		t.Error("parseDisks accepted garbage")
	}
}

func TestSlotClass(t *testing.T) {
	for slot, want := range map[string][2]string{
		"pvc-1":                                     {"pvc-1", "pvc-1"},
		"snap-114a4600583f158d-pvc-1":               {"snap:114a4600583f158d", "snap:114a4600583f158d"},
		"snap-114a4600583f158d-0000abcd-pvc-1":      {"snap:114a4600583f158d", "snap:114a4600583f158d"},
		"vsrc-pvc-1-6e152066175c0a29":               {"pvc-1", "vsrc:pvc-1"},
		"vsrc-pvc-1-2-3-6e152066175c0a29":           {"pvc-1-2-3", "vsrc:pvc-1-2-3"},
		"snap-odd":                                  {"", ""},
		"vsrc-pvc-1":                                {"", ""},
		"storage-pool":                              {"", ""},
		"vsrc-snap-114a4600583f158d-6e152066175c0a": {"", ""},
	} {
		owner, group, ok := slotClass(slot)
		if owner != want[0] || group != want[1] || ok != (want[0] != "") {
			t.Errorf("slotClass(%q) = %q %q %v, want %q %q", slot, owner, group, ok, want[0], want[1])
		}
	}
	if got, ok := fileClass("/storage-pool/metal-csi/vsrc-pvc-1-6e152066175c0a29.img"); !ok || got != "pvc-1" {
		t.Errorf("fileClass = %q %v", got, ok)
	}
	if _, ok := fileClass("/storage-pool/other.txt"); ok {
		t.Error("fileClass took a foreign file")
	}
	// The suite's hash is the driver's documented one: sha256 of the CSI
	// name, 16 hex digits.
	if got := snapshotKey("snapshot-8f252c0a-f6ed-4bba-b604-27c788a44aa8"); got != "snap:114a4600583f158d" {
		t.Errorf("snapshotKey = %q", got)
	}
}

// TestCheckReading: every kind of leftover, duplicate and contradiction a
// reading can show is counted in its figure.
func TestCheckReading(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "events")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := &suite{}
	s.events = &eventLog{f: f, start: time.Now()}
	s.find = findings{seen: map[string]bool{}, events: s.events}
	deleted := time.Now()
	snapName := "snapshot-8f252c0a-f6ed-4bba-b604-27c788a44aa8"
	s.reg.register(&object{Key: "pvc-live", Name: "pvc-live", Kind: "volume", Lifecycle: 1, ID: "pvc-live"})
	s.reg.register(&object{Key: "pvc-gone", Name: "pvc-gone", Kind: "volume", Lifecycle: 2, ID: "pvc-gone", DeletedAt: deleted})
	s.reg.register(&object{Key: snapshotKey(snapName), Name: snapName, Kind: "snapshot", Lifecycle: 3})
	st := rdsState{
		Started: deleted.Add(time.Millisecond),
		Disks: []rdsDisk{
			{Slot: "pvc-live"},
			{Slot: "vsrc-pvc-live-6e152066175c0a29"},           // the live volume's record: fine
			{Slot: "pvc-gone"},                                 // deleted OK: figures 1 (final) and 3
			{Slot: "pvc-stranger"},                             // owned by nobody: figure 1
			{Slot: "foreign"},                                  // outside the naming: figure 1
			{Slot: "snap-114a4600583f158d-pvc-live"},           // two disks for one
			{Slot: "snap-114a4600583f158d-pvc-live-elsewhere"}, // snapshot name: figure 2
		},
		Files: []string{
			"/storage-pool/metal-csi/pvc-live.img",
			"/storage-pool/metal-csi/pvc-gone.img",                       // figures 1 (final) and 3
			"/storage-pool/metal-csi/vsrc-pvc-gone-6e152066175c0a29.img", // a deleted volume's record: 1 and 3
			"/storage-pool/metal-csi/snap-odd-x.img",                     // figure 1
			"/storage-pool/metal-csi/not-managed.txt",                    // figure 1
		},
	}
	s.checkReading(st, true)
	figs := s.find.byFigure()
	count := func(fig int) int { return len(figs[fig]) }
	if count(figLeftovers) != 7 || count(figDuplicates) != 1 || count(figContradictions) != 3 {
		var b strings.Builder
		for fig, list := range figs {
			for _, fd := range list {
				b.WriteString("\n" + figureTitles[fig] + ": " + fd.Text)
			}
		}
		t.Errorf("figures 1/2/3 = %d/%d/%d, want 7/1/3:%s", count(figLeftovers), count(figDuplicates), count(figContradictions), b.String())
	}
	// A reading that started before the delete answered proves nothing
	// against it; during the run nothing counts in figure 1 for it.
	s2 := &suite{events: s.events}
	s2.find = findings{seen: map[string]bool{}, events: s.events}
	s2.reg.register(&object{Key: "pvc-gone", Name: "pvc-gone", Kind: "volume", ID: "pvc-gone", DeletedAt: deleted})
	s2.checkReading(rdsState{Started: deleted.Add(-time.Millisecond), Disks: []rdsDisk{{Slot: "pvc-gone"}}}, false)
	if n := len(s2.find.list); n != 0 {
		t.Errorf("a reading from before the delete counted %d findings", n)
	}
}
