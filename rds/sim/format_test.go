package sim

import (
	"strings"
	"testing"
	"time"
)

// hardwareSample is the record body recorded on real RDS hardware, copied
// verbatim from docs (routeros-protocol.md): continuation lines indented 15.
const hardwareSample = `type=file slot="pvc-test-123" slot-default="" parent="" fs=-
               model="/storage-pool/test.img"
               size=53 687 091 200 mount-filesystem=yes mount-read-only=no
               compress=no sector-size=512 raid-master=none
               nvme-tcp-export=yes nvme-tcp-server-port=4420
               nvme-tcp-server-nqn="nqn.2000-02.com.mikrotik:pvc-test-123"
               nvme-tcp-server-allow-host-name="" iscsi-export=no
               nfs-sharing=no smb-sharing=no media-sharing=no
               media-interface=none swap=no
               file-path=/storage-pool/test.img
               file-size=50.0GiB file-offset=0
`

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// checkLines asserts the invariants of every print: CRLF endings, no bare
// LF or CR, at most 80 columns.
func checkLines(t *testing.T, out string) {
	t.Helper()
	if !strings.HasSuffix(out, "\r\n") {
		t.Errorf("output does not end in CRLF: %q", out)
	}
	for i, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		if strings.ContainsAny(l, "\r\n") {
			t.Errorf("line %d has a stray CR or LF: %q", i+1, l)
		}
		if len(l) > lineWidth {
			t.Errorf("line %d is %d columns: %q", i+1, len(l), l)
		}
	}
}

func TestDiskRecordReproducesHardwareSample(t *testing.T) {
	d := disk{Slot: "pvc-test-123", FilePath: "/storage-pool/test.img", Size: 50 << 30,
		Export: true, Port: 4420, NQN: "nqn.2000-02.com.mikrotik:pvc-test-123"}
	got := diskLayout.print([]record{diskRecord(3, d)})
	// Only the first line's prefix is ours: index 3, flags B and t.
	want := diskLayout.legend + "\r\n" + " 3  B t        " + crlf(hardwareSample)
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	checkLines(t, got)
}

func TestWrapInsideValues(t *testing.T) {
	const id = "pvc-0f8b1c9e-5a2d-4c3b-9e7f-123456789abc"
	d := disk{Slot: id, FilePath: "/storage-pool/metal-csi/" + id + ".img", Size: 10 << 30,
		Export: true, Port: 4420, NQN: "nqn.2000-02.com.mikrotik:" + id}
	got := diskLayout.print([]record{diskRecord(1, d)})
	want := crlf(diskLayout.legend + `
 1  B t        type=file slot="pvc-0f8b1c9e-5a2d-4c3b-9e7f-123456789abc"
               slot-default="" parent="" fs=-
               model="/storage-pool/metal-csi/pvc-0f8b1c9e-5a2d-4c3b-9e7f-123456
               789abc.img"
               size=10 737 418 240 mount-filesystem=yes mount-read-only=no
               compress=no sector-size=512 raid-master=none
               nvme-tcp-export=yes nvme-tcp-server-port=4420
               nvme-tcp-server-nqn="nqn.2000-02.com.mikrotik:pvc-0f8b1c9e-5a2d-4
               c3b-9e7f-123456789abc"
               nvme-tcp-server-allow-host-name="" iscsi-export=no
               nfs-sharing=no smb-sharing=no media-sharing=no
               media-interface=none swap=no
               file-path=/storage-pool/metal-csi/pvc-0f8b1c9e-5a2d-4c3b-9e7f-123
               456789abc.img
               file-size=10.0GiB file-offset=0
`)
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	checkLines(t, got)
	// Cut lines are full: a value is split exactly at column 80.
	lines := strings.Split(got, "\r\n")
	for _, i := range []int{3, 8, 13} {
		if len(lines[i]) != lineWidth {
			t.Errorf("line %d is %d columns, want a cut at %d: %q", i, len(lines[i]), lineWidth, lines[i])
		}
	}
	// Removing line break plus indent restores every value.
	joined := strings.ReplaceAll(got, "\r\n"+strings.Repeat(" ", 15), "")
	for _, v := range []string{`model="` + d.FilePath + `"`, `nvme-tcp-server-nqn="` + d.NQN + `"`, "file-path=" + d.FilePath} {
		if !strings.Contains(joined, v) {
			t.Errorf("re-joined output lacks %s", v)
		}
	}
}

func TestWrapKeepsBlankOfGroupedNumber(t *testing.T) {
	// With an indent of 62 a line holds 18 columns: "size=1 234 567 890"
	// and the cut falls on the blank before "123", which must survive as
	// the first character after the next line's indent.
	l := layout{legend: "Flags:", indent: 62}
	r := record{index: 0, groups: [][]field{{bytesField("size", 1234567890123456789)}}}
	got := l.print([]record{r})
	pad := strings.Repeat(" ", 62)
	want := "Flags:\r\n" + " 0" + strings.Repeat(" ", 60) + "size=1 234 567 890\r\n" +
		pad + " 123 456 789\r\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	joined := strings.ReplaceAll(strings.ReplaceAll(got, "\r\n"+pad, ""), "\r\n", "")
	if !strings.Contains(joined, "size=1 234 567 890 123 456 789") {
		t.Errorf("re-joined value lost characters: %q", joined)
	}
}

func TestPoolRecord(t *testing.T) {
	got := diskLayout.print([]record{poolRecord("storage-pool", 7949127950336, 7949127950336-5963595964416)})
	want := crlf(diskLayout.legend + `
 0  BM         slot=storage-pool type=partition mount-point=storage-pool
               file-system=btrfs
               size=7 949 127 950 336 free=5 963 595 964 416 use=25%
`)
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	checkLines(t, got)
}

func TestFileRecords(t *testing.T) {
	at := time.Date(2025, 11, 12, 0, 36, 13, 0, time.UTC)
	const long = "storage-pool/metal-csi/pvc-0f8b1c9e-5a2d-4c3b-9e7f-123456789abc.img"
	got := fileLayout.print([]record{
		fileRecord(0, fileEntry{name: "storage-pool/metal-csi", dir: true, created: at}),
		fileRecord(1, fileEntry{name: long, size: 10 << 30, created: at}),
		fileRecord(2, fileEntry{name: "storage-pool/notes", size: 3, created: at}),
	})
	want := crlf(fileLayout.legend + `
 0 D name=storage-pool/metal-csi type=directory
     creation-time=2025-11-12 00:36:13

 1   name=storage-pool/metal-csi/pvc-0f8b1c9e-5a2d-4c3b-9e7f-123456789abc.img
     type=.img file size=10 737 418 240 creation-time=2025-11-12 00:36:13

 2   name=storage-pool/notes type=file size=3 creation-time=2025-11-12 00:36:13
`)
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	checkLines(t, got)
}

func TestEmptyListingIsLegendOnly(t *testing.T) {
	if got, want := diskLayout.print(nil), diskLayout.legend+"\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestHumanSize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0.0B"}, {512, "512.0B"}, {1024, "1024.0B"}, {1025, "1.0KiB"},
		{1 << 20, "1024.0KiB"}, {1 << 30, "1024.0MiB"}, {1<<30 + 1<<29, "1.5GiB"},
		{50 << 30, "50.0GiB"}, {1 << 40, "1024.0GiB"}, {5 << 40, "5.0TiB"}, {2048 << 40, "2048.0TiB"},
	} {
		if got := humanSize(tc.n); got != tc.want {
			t.Errorf("humanSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestGroupDigits(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 12: "12", 123: "123", 1234: "1 234", 53687091200: "53 687 091 200"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}
