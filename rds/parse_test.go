package rds

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// lineEndings returns out with LF and with CRLF line ends.
func lineEndings(out string) map[string]string {
	lf := strings.ReplaceAll(out, "\r\n", "\n")
	return map[string]string{"LF": lf, "CRLF": strings.ReplaceAll(lf, "\n", "\r\n")}
}

func mustParse(t *testing.T, out string) []Record {
	t.Helper()
	records, err := ParseRecords(out)
	if err != nil {
		t.Fatalf("ParseRecords: %v\n%s", err, out)
	}
	return records
}

// docDiskFields are the fields of the protocol document's disk record.
var docDiskFields = []Field{
	{"type", "file"}, {"slot", "pvc-test-123"}, {"slot-default", ""}, {"parent", ""}, {"fs", "-"},
	{"model", "/storage-pool/test.img"},
	{"size", "53 687 091 200"}, {"mount-filesystem", "yes"}, {"mount-read-only", "no"},
	{"compress", "no"}, {"sector-size", "512"}, {"raid-master", "none"},
	{"nvme-tcp-export", "yes"}, {"nvme-tcp-server-port", "4420"},
	{"nvme-tcp-server-nqn", "nqn.2000-02.com.mikrotik:pvc-test-123"},
	{"nvme-tcp-server-allow-host-name", ""}, {"iscsi-export", "no"},
	{"nfs-sharing", "no"}, {"smb-sharing", "no"}, {"media-sharing", "no"},
	{"media-interface", "none"}, {"swap", "no"},
	{"file-path", "/storage-pool/test.img"},
	{"file-size", "50.0GiB"}, {"file-offset", "0"},
}

func TestParseRecordsDocDiskRecord(t *testing.T) {
	body := readTestdata(t, "disk-body.txt")
	cases := map[string]struct {
		out       string
		wantIndex int
	}{
		// In a listing the body follows its index, padded to the 15-space indent.
		"index prepended":     {" 0             " + body, 0},
		"legend and index":    {"Flags: X - disabled, E - empty\n 0             " + body, 0},
		"two-digit index":     {"12             " + body, 12},
		"body alone (no idx)": {body, -1},
	}
	for name, tc := range cases {
		for ending, out := range lineEndings(tc.out) {
			t.Run(name+"/"+ending, func(t *testing.T) {
				records := mustParse(t, out)
				if len(records) != 1 {
					t.Fatalf("got %d records, want 1", len(records))
				}
				r := records[0]
				if r.Index != tc.wantIndex {
					t.Errorf("index %d, want %d", r.Index, tc.wantIndex)
				}
				if !reflect.DeepEqual(r.Fields, docDiskFields) {
					t.Errorf("fields\n got %q\nwant %q", r.Fields, docDiskFields)
				}
				v, err := volumeFromRecord(r)
				if err != nil {
					t.Fatal(err)
				}
				want := Volume{
					ID: "pvc-test-123", FilePath: "/storage-pool/test.img", SizeBytes: 50 * GiB,
					Exported: true, NVMeTCPPort: 4420, NQN: "nqn.2000-02.com.mikrotik:pvc-test-123",
				}
				if v != want {
					t.Errorf("volume %+v, want %+v", v, want)
				}
			})
		}
	}
}

func TestParseRecordsDocPoolRecord(t *testing.T) {
	for ending, out := range lineEndings(readTestdata(t, "pool.txt")) {
		t.Run(ending, func(t *testing.T) {
			records := mustParse(t, out)
			if len(records) != 1 {
				t.Fatalf("got %d records, want 1", len(records))
			}
			want := []Field{
				{"slot", "storage-pool"}, {"type", "partition"}, {"mount-point", "storage-pool"},
				{"file-system", "btrfs"}, {"size", "7 949 127 950 336"}, {"free", "5 963 595 964 416"}, {"use", "25%"},
			}
			if !reflect.DeepEqual(records[0].Fields, want) {
				t.Errorf("fields\n got %q\nwant %q", records[0].Fields, want)
			}
			c, err := capacityFromRecord(records[0])
			if err != nil {
				t.Fatal(err)
			}
			if c != (Capacity{TotalBytes: 7949127950336, FreeBytes: 5963595964416}) {
				t.Errorf("capacity %+v", c)
			}
		})
	}
}

func TestParseRecordsEmpty(t *testing.T) {
	for name, out := range map[string]string{
		"empty output":         "",
		"only CRLF":            "\r\n",
		"legend only (CRLF)":   readTestdata(t, "empty-listing.txt"),
		"legend only (no EOL)": "Flags: X - disabled",
		"legend wrapped":       "Flags: X - disabled, E - empty, B - block-device, F - formatting,\r\n       M - mounted\r\n",
		"blank lines":          "\r\n\r\n  \r\n",
	} {
		t.Run(name, func(t *testing.T) {
			if records := mustParse(t, out); len(records) != 0 {
				t.Errorf("got %d records: %+v", len(records), records)
			}
		})
	}
}

// The listing in testdata/disk-listing.txt was wrapped at 80 columns the way
// RouterOS does: inside model=, nvme-tcp-server-nqn= and file-path= values.
func TestParseRecordsWrappedListing(t *testing.T) {
	want := []Volume{{
		ID:        "pvc-3f2a9c1e-7b4d-4e8f-9a6b-1c2d3e4f5a6b",
		FilePath:  "/storage-pool/metal-csi/pvc-3f2a9c1e-7b4d-4e8f-9a6b-1c2d3e4f5a6b.img",
		SizeBytes: 10 * GiB, Exported: true, NVMeTCPPort: 4420,
		NQN: "nqn.2000-02.com.mikrotik:pvc-3f2a9c1e-7b4d-4e8f-9a6b-1c2d3e4f5a6b",
	}, {
		ID:        "pvc-0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f",
		FilePath:  "/storage-pool/metal-csi/pvc-0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f.img",
		SizeBytes: 1536 * MiB, Exported: false, NVMeTCPPort: 4420,
		NQN: "nqn.2000-02.com.mikrotik:pvc-0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f",
	}}
	for ending, out := range lineEndings(readTestdata(t, "disk-listing.txt")) {
		t.Run(ending, func(t *testing.T) {
			records := mustParse(t, out)
			if len(records) != len(want) {
				t.Fatalf("got %d records, want %d", len(records), len(want))
			}
			for i, r := range records {
				if r.Index != i {
					t.Errorf("record %d has index %d", i, r.Index)
				}
				v, err := volumeFromRecord(r)
				if err != nil {
					t.Fatal(err)
				}
				if v != want[i] {
					t.Errorf("record %d\n got %+v\nwant %+v", i, v, want[i])
				}
				if model, _ := r.Get("model"); model != want[i].FilePath {
					t.Errorf("model %q", model)
				}
			}
			if records[0].Flags != "" || records[1].Flags != "X" {
				t.Errorf("flags %q %q", records[0].Flags, records[1].Flags)
			}
		})
	}
}

func TestParseRecordsWraps(t *testing.T) {
	cases := []struct {
		name string
		out  string
		key  string
		want string
	}{{
		name: "continuation starting with digits (wrapped grouped number)",
		out:  " 0    slot=storage-pool type=partition mount-point=storage-pool file-system=btrfs\r\n      size=7 949 127\r\n      950 336 free=5 963 595 964 416 use=25%\r\n",
		key:  "size", want: "7 949 127950 336",
	}, {
		name: "file-path split mid-value",
		out:  " 0  slot=pvc-a file-path=/storage-pool/metal-c\r\n               si/pvc-a.img size=1 048 576\r\n",
		key:  "file-path", want: "/storage-pool/metal-csi/pvc-a.img",
	}, {
		name: "quoted NQN split mid-value",
		out:  " 0  slot=pvc-a nvme-tcp-server-nqn=\"nqn.2000-02.com.mi\r\n               krotik:pvc-a\" size=1 048 576\r\n",
		key:  "nvme-tcp-server-nqn", want: "nqn.2000-02.com.mikrotik:pvc-a",
	}, {
		name: "quoted value split where the rest looks like key=",
		out:  " 0  slot=pvc-a comment=\"x \r\n               size=1\" size=2\r\n",
		key:  "comment", want: "x size=1",
	}, {
		name: "split right after the opening quote",
		out:  " 0  slot=pvc-a model=\"\r\n               /storage-pool/a.img\"\r\n",
		key:  "model", want: "/storage-pool/a.img",
	}, {
		name: "split between escape and escaped quote",
		out:  " 0  slot=pvc-a comment=\"say \\\r\n               \"hi\\\"\"\r\n",
		key:  "comment", want: `say "hi"`,
	}, {
		name: "index alone on its line",
		out:  " 3\r\n      slot=pvc-a size=1\r\n",
		key:  "slot", want: "pvc-a",
	}, {
		name: "deeper continuation indent",
		out:  " 0 slot=pvc-a\r\n                                        size=5\r\n",
		key:  "size", want: "5",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			records := mustParse(t, tc.out)
			if len(records) != 1 {
				t.Fatalf("got %d records", len(records))
			}
			if got, ok := records[0].Get(tc.key); !ok || got != tc.want {
				t.Errorf("%s=%q (present %v), want %q; fields %q", tc.key, got, ok, tc.want, records[0].Fields)
			}
		})
	}
}

func TestParseRecordsMultiple(t *testing.T) {
	out := "Flags: X - disabled\r\n 0    slot=a size=1\r\n 1 X  slot=b size=2\r\n\r\n\r\n 2 XD ;;; made by hand\r\n      slot=c size=3\r\n10    slot=d size=4\r\n"
	records := mustParse(t, out)
	want := []Record{
		{Index: 0, Fields: []Field{{"slot", "a"}, {"size", "1"}}},
		{Index: 1, Flags: "X", Fields: []Field{{"slot", "b"}, {"size", "2"}}},
		{Index: 2, Flags: "XD", Comment: "made by hand", Fields: []Field{{"slot", "c"}, {"size", "3"}}},
		{Index: 10, Fields: []Field{{"slot", "d"}, {"size", "4"}}},
	}
	if !reflect.DeepEqual(records, want) {
		t.Errorf("\n got %+v\nwant %+v", records, want)
	}
}

func TestParseRecordsFileListing(t *testing.T) {
	for ending, out := range lineEndings(readTestdata(t, "file-listing.txt")) {
		t.Run(ending, func(t *testing.T) {
			records := mustParse(t, out)
			if len(records) != 2 {
				t.Fatalf("got %d records", len(records))
			}
			want := []Field{
				{"name", "storage-pool/metal-csi/pvc-3f2a9c1e-7b4d-4e8f-9a6b-1c2d3e4f5a6b.img"},
				{"type", ".img file"},
				{"size", "10 737 418 240"},
				{"creation-time", "2025-11-12 00:36:13"},
				{"last-modified", "jan/02/2025 10:30:45"},
			}
			if !reflect.DeepEqual(records[0].Fields, want) {
				t.Errorf("\n got %q\nwant %q", records[0].Fields, want)
			}
			if n, _ := records[1].Get("name"); n != "storage-pool/metal-csi" {
				t.Errorf("name %q", n)
			}
			if size, err := requiredBytes(records[0], "size"); err != nil || size != 10*GiB {
				t.Errorf("size %d, %v", size, err)
			}
		})
	}
}

func TestParseRecordsQuoting(t *testing.T) {
	out := ` 0 a="x \"y\" \\ z\_w" b=bare c="" d="\41\4D" e="\n\t" f=x"y"` + "\r\n"
	records := mustParse(t, out)
	want := []Field{{"a", `x "y" \ z w`}, {"b", "bare"}, {"c", ""}, {"d", "AM"}, {"e", "\n\t"}, {"f", `x"y"`}}
	if !reflect.DeepEqual(records[0].Fields, want) {
		t.Errorf("\n got %q\nwant %q", records[0].Fields, want)
	}
}

func TestParseRecordsMalformed(t *testing.T) {
	for name, out := range map[string]string{
		"failure text":                    "failure: no such item\r\n",
		"unterminated quote":              " 0 slot=\"pvc-a size=1\r\n",
		"text after closing quote":        " 0 slot=\"pvc-a\"x size=1\r\n",
		"text before first field":         " 0 ju-nk slot=a\r\n",
		"digits before first field":       " 0 B 12 slot=a\r\n",
		"continuation without record":     "      slot=a\r\n",
		"garbage at the left margin":      " 0 slot=a\r\nGarbage\r\n",
		"index too large":                 " 99999999999999999999999 slot=a\r\n",
		"dangling escape at end":          " 0 a=\"x\\",
		"bad command name":                "bad command name prnt (line 1 column 7)\r\n",
		"left-margin text after a record": "Flags: X\r\n 0 slot=a\r\nX - not a continuation\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			records, err := ParseRecords(out)
			if err == nil {
				t.Fatalf("no error, records %+v", records)
			}
			if !errors.Is(err, ErrCommandFailed) {
				t.Errorf("error %v does not wrap ErrCommandFailed", err)
			}
		})
	}
}

func TestVolumeFromRecordRejectsMalformed(t *testing.T) {
	good := []Field{{"slot", "pvc-a"}, {"size", "1 048 576"}, {"nvme-tcp-export", "no"}, {"nvme-tcp-server-port", "4420"}}
	with := func(key, value string) Record {
		r := Record{Index: 0}
		for _, f := range good {
			if f.Key == key {
				if value != "\x00drop" {
					r.Fields = append(r.Fields, Field{key, value})
				}
				continue
			}
			r.Fields = append(r.Fields, f)
		}
		return r
	}
	if _, err := volumeFromRecord(with("", "")); err != nil {
		t.Fatalf("good record: %v", err)
	}
	for name, r := range map[string]Record{
		"no slot":          with("slot", "\x00drop"),
		"empty slot":       with("slot", ""),
		"no size":          with("size", "\x00drop"),
		"human size":       with("size", "1.0MiB"),
		"empty size":       with("size", ""),
		"negative size":    with("size", "-1"),
		"size overflow":    with("size", "9 223 372 036 854 775 808"),
		"size with letter": with("size", "1 048 57x"),
		"export maybe":     with("nvme-tcp-export", "maybe"),
		"port text":        with("nvme-tcp-server-port", "44x"),
		"port range":       with("nvme-tcp-server-port", "70000"),
	} {
		t.Run(name, func(t *testing.T) {
			v, err := volumeFromRecord(r)
			if err == nil {
				t.Fatalf("no error, volume %+v", v)
			}
			if !errors.Is(err, ErrCommandFailed) {
				t.Errorf("%v does not wrap ErrCommandFailed", err)
			}
		})
	}
}

func TestCapacityFromRecordRejectsMalformed(t *testing.T) {
	for name, r := range map[string]Record{
		"no free":    {Fields: []Field{{"size", "10"}}},
		"no size":    {Fields: []Field{{"free", "10"}}},
		"human free": {Fields: []Field{{"size", "10"}, {"free", "5.4TiB"}}},
	} {
		t.Run(name, func(t *testing.T) {
			if c, err := capacityFromRecord(r); err == nil || !errors.Is(err, ErrCommandFailed) {
				t.Errorf("capacity %+v, err %v", c, err)
			}
		})
	}
}

func TestParseGroupedInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"512", 512, true},
		{"53 687 091 200", 53687091200, true},
		{"7 949 127950 336", 7949127950336, true},
		{"9 223 372 036 854 775 807", 9223372036854775807, true},
		{"", 0, false},
		{"   ", 0, false},
		{"+5", 0, false},
		{"-5", 0, false},
		{"5.0", 0, false},
		{"50.0GiB", 0, false},
		{"9 223 372 036 854 775 808", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseGroupedInt(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("parseGroupedInt(%q) = %d, %v", tc.in, got, err)
			}
		})
	}
}

func TestParseProperties(t *testing.T) {
	rec, err := ParseProperties("  name: rds-lab-1\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := rec.Get("name"); name != "rds-lab-1" {
		t.Errorf("name %q", name)
	}
	rec, err = ParseProperties("             uptime: 1w2d\r\n            version: 7.16 (stable)\r\n  architecture-name: arm64\r\n          board-name: RDS2216\r\n                      continued\r\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{{"uptime", "1w2d"}, {"version", "7.16 (stable)"}, {"architecture-name", "arm64"}, {"board-name", "RDS2216continued"}}
	if !reflect.DeepEqual(rec.Fields, want) {
		t.Errorf("\n got %q\nwant %q", rec.Fields, want)
	}
	if rec, err := ParseProperties(""); err != nil || len(rec.Fields) != 0 {
		t.Errorf("empty: %+v %v", rec, err)
	}
	for _, bad := range []string{"bad command name prnt (line 1 column 7)", "Name: x", "no colon here", ": x"} {
		if _, err := ParseProperties(bad); !errors.Is(err, ErrCommandFailed) {
			t.Errorf("ParseProperties(%q) error %v", bad, err)
		}
	}
}

// RouterOS prints one column per flag, so an unset middle flag leaves a gap
// and flag letters may be lower case ("t" = NVMe/TCP exported).
func TestParseRecordsFlagColumns(t *testing.T) {
	tests := []struct {
		name      string
		firstLine string
		wantFlags string
	}{
		{"gap between columns", " 1  B t        type=file slot=\"pvc-a\"", "Bt"},
		{"lower case only", " 2     t       type=file slot=\"pvc-a\"", "t"},
		{"mixed case run", " 3  DAc         type=file slot=\"pvc-a\"", "DAc"},
		{"no flags", " 4              type=file slot=\"pvc-a\"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := "Flags: X - DISABLED; B - BLOCK-DEVICE; t - NVME-TCP-EXPORT\r\n" + tt.firstLine + "\r\n" +
				"               size=1 048 576 file-path=/storage-pool/x/pvc-a.img\r\n"
			recs, err := ParseRecords(out)
			if err != nil {
				t.Fatalf("ParseRecords: %v", err)
			}
			if len(recs) != 1 {
				t.Fatalf("got %d records, want 1", len(recs))
			}
			if recs[0].Flags != tt.wantFlags {
				t.Errorf("flags = %q, want %q", recs[0].Flags, tt.wantFlags)
			}
			if v, _ := recs[0].Get("type"); v != "file" {
				t.Errorf("type = %q, want file", v)
			}
			if v, _ := recs[0].Get("size"); v != "1 048 576" {
				t.Errorf("size = %q", v)
			}
		})
	}
}
