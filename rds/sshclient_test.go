package rds

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

const legend = "Flags: X - disabled, E - empty, B - block-device, F - formatting, M - mounted\r\n"

// grouped writes n as RouterOS does: digits grouped by spaces.
func grouped(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

type fakeDisk struct {
	slot     string
	size     int64
	exported bool
	port     int    // 0: field absent
	nqn      string // "": field absent
}

// record prints a disk the way RouterOS does (indexed, 15-space indent).
func (d fakeDisk) record(index int) string {
	export := map[bool]string{true: "yes", false: "no"}[d.exported]
	var b strings.Builder
	fmt.Fprintf(&b, "%2d             type=file slot=%q slot-default=\"\" parent=\"\" fs=-\r\n", index, d.slot)
	fmt.Fprintf(&b, "               size=%s mount-filesystem=yes mount-read-only=no\r\n", grouped(d.size))
	fmt.Fprintf(&b, "               nvme-tcp-export=%s", export)
	if d.port != 0 {
		fmt.Fprintf(&b, " nvme-tcp-server-port=%d", d.port)
	}
	b.WriteString("\r\n")
	if d.nqn != "" {
		fmt.Fprintf(&b, "               nvme-tcp-server-nqn=%q\r\n", d.nqn)
	}
	fmt.Fprintf(&b, "               file-path=/storage-pool/metal-csi/%s.img\r\n", d.slot)
	fmt.Fprintf(&b, "               file-size=%.1fGiB file-offset=0\r\n", float64(d.size)/float64(GiB))
	return b.String()
}

func listing(disks ...fakeDisk) string {
	out := legend
	for i, d := range disks {
		if i > 0 {
			out += "\r\n"
		}
		out += d.record(i)
	}
	return out
}

func exportedDisk(id string, size int64) fakeDisk {
	return fakeDisk{slot: id, size: size, exported: true, port: 4420, nqn: NQNFor(id)}
}

func TestCreateVolume(t *testing.T) {
	ctx := context.Background()
	t.Run("exported, 1.5 GiB rounded exactly", func(t *testing.T) {
		add := "/disk add type=file file-path=" + testPath + " file-size=1536M slot=" + testID +
			" nvme-tcp-export=yes nvme-tcp-server-port=4420 nvme-tcp-server-nqn=" + testNQN
		get := "/disk print detail where slot=" + testID
		srv := newFakeRDS(t, answers(map[string]reply{add: {}, get: {Stdout: listing(exportedDisk(testID, 1536*MiB))}}))
		c := connected(t, srv)
		v, err := c.CreateVolume(ctx, CreateVolumeRequest{
			ID: testID, FilePath: testPath, SizeBytes: GiB + GiB/2, Export: true, Port: 4420, NQN: testNQN,
		})
		if err != nil {
			t.Fatal(err)
		}
		want := Volume{ID: testID, FilePath: testPath, SizeBytes: 1536 * MiB, Exported: true, NVMeTCPPort: 4420, NQN: testNQN}
		if v != want {
			t.Errorf("got %+v\nwant %+v", v, want)
		}
		if got := srv.received(); !reflect.DeepEqual(got, []string{add, get}) {
			t.Errorf("commands %q", got)
		}
	})
	t.Run("snapshot copy keeps the source size", func(t *testing.T) {
		add := "/disk add type=file copy-from=[find slot=" + testID + "] file-path=/storage-pool/metal-csi/snap-1.img slot=snap-1"
		get := "/disk print detail where slot=snap-1"
		srv := newFakeRDS(t, answers(map[string]reply{add: {}, get: {Stdout: listing(fakeDisk{slot: "snap-1", size: 10 * GiB})}}))
		c := connected(t, srv)
		v, err := c.CreateVolume(ctx, CreateVolumeRequest{ID: "snap-1", FilePath: "/storage-pool/metal-csi/snap-1.img", CopyFrom: testID})
		if err != nil {
			t.Fatal(err)
		}
		if v.SizeBytes != 10*GiB || v.Exported {
			t.Errorf("got %+v", v)
		}
	})
	t.Run("existing slot", func(t *testing.T) {
		srv := newFakeRDS(t, func(string) reply {
			return reply{Stdout: "failure: disk with such slot already exists\r\n", Exit: 1}
		})
		c := connected(t, srv)
		_, err := c.CreateVolume(ctx, CreateVolumeRequest{ID: testID, FilePath: testPath, SizeBytes: GiB})
		if !errors.Is(err, ErrAlreadyExists) {
			t.Fatalf("got %v", err)
		}
		if n := len(srv.received()); n != 1 {
			t.Errorf("%d commands after a refused add", n)
		}
	})
	t.Run("no space", func(t *testing.T) {
		srv := newFakeRDS(t, func(string) reply { return reply{Stderr: "failure: not enough space\r\n", Exit: 1} })
		c := connected(t, srv)
		if _, err := c.CreateVolume(ctx, CreateVolumeRequest{ID: testID, FilePath: testPath, SizeBytes: TiB}); !errors.Is(err, ErrNoSpace) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("RouterOS reports less than asked", func(t *testing.T) {
		srv := newFakeRDS(t, func(cmd string) reply {
			if strings.HasPrefix(cmd, "/disk print") {
				return reply{Stdout: listing(fakeDisk{slot: testID, size: GiB})}
			}
			return reply{}
		})
		c := connected(t, srv)
		if _, err := c.CreateVolume(ctx, CreateVolumeRequest{ID: testID, FilePath: testPath, SizeBytes: 2 * GiB}); !errors.Is(err, ErrCommandFailed) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("disk missing after add", func(t *testing.T) {
		srv := newFakeRDS(t, func(cmd string) reply {
			if strings.HasPrefix(cmd, "/disk print") {
				return reply{Stdout: legend}
			}
			return reply{}
		})
		c := connected(t, srv)
		_, err := c.CreateVolume(ctx, CreateVolumeRequest{ID: testID, FilePath: testPath, SizeBytes: GiB})
		if !errors.Is(err, ErrCommandFailed) || errors.Is(err, ErrNotFound) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestGetAndListVolumes(t *testing.T) {
	ctx := context.Background()
	disks := []fakeDisk{
		exportedDisk("pvc-a", GiB),
		{slot: "snap-1-of-pvc-b", size: GiB}, // matches slot~"pvc-" but is no pvc- volume
		exportedDisk("pvc-c", 53687091200),
	}
	srv := newFakeRDS(t, answers(map[string]reply{
		`/disk print detail where slot~"pvc-"`:  {Stdout: listing(disks...)},
		`/disk print detail where slot~"snap-"`: {Stdout: legend},
		"/disk print detail where slot=pvc-a":   {Stdout: listing(disks[0])},
		"/disk print detail where slot=pvc-x":   {Stdout: legend},
		"/disk print detail where slot=pvc-bad": {Stdout: listing(fakeDisk{slot: "pvc-bad", size: 1}) + "Garbage\r\n"},
		"/disk print detail where slot=pvc-odd": {Stdout: listing(fakeDisk{slot: "pvc-other", size: 1})},
	}))
	c := connected(t, srv)

	vols, err := c.ListVolumes(ctx, "pvc-")
	if err != nil {
		t.Fatal(err)
	}
	if len(vols) != 2 || vols[0].ID != "pvc-a" || vols[1].ID != "pvc-c" || vols[1].SizeBytes != 53687091200 {
		t.Errorf("ListVolumes = %+v", vols)
	}
	if vols, err := c.ListVolumes(ctx, "snap-"); err != nil || len(vols) != 0 {
		t.Errorf("empty listing: %+v %v", vols, err)
	}
	v, err := c.GetVolume(ctx, "pvc-a")
	if err != nil || v.ID != "pvc-a" || v.SizeBytes != GiB || !v.Exported || v.NQN != NQNFor("pvc-a") {
		t.Errorf("GetVolume = %+v, %v", v, err)
	}
	for id, want := range map[string]error{"pvc-x": ErrNotFound, "pvc-odd": ErrNotFound, "pvc-bad": ErrCommandFailed} {
		if _, err := c.GetVolume(ctx, id); !errors.Is(err, want) {
			t.Errorf("GetVolume(%s) = %v, want %v", id, err, want)
		}
	}
}

// diskTable is a stateful fake of the few /disk and /file commands the
// grow, export and delete paths use.
type diskTable struct {
	disks map[string]*fakeDisk
	files map[string]bool
	fail  map[string]reply // scripted answers by exact command
}

func (d *diskTable) handle(cmd string) reply {
	if r, ok := d.fail[cmd]; ok {
		return r
	}
	find := func(rest string) *fakeDisk {
		id, _, _ := strings.Cut(strings.TrimPrefix(rest, "[find slot="), "]")
		return d.disks[id]
	}
	switch {
	case strings.HasPrefix(cmd, "/disk print detail where slot="):
		if disk := d.disks[strings.TrimPrefix(cmd, "/disk print detail where slot=")]; disk != nil {
			return reply{Stdout: listing(*disk)}
		}
		return reply{Stdout: legend}
	case strings.HasPrefix(cmd, "/disk set "):
		rest := strings.TrimPrefix(cmd, "/disk set ")
		disk := find(rest)
		if disk == nil {
			return reply{} // [find] matched nothing: a silent no-op
		}
		for _, arg := range strings.Fields(rest)[1:] {
			k, v, _ := strings.Cut(arg, "=")
			switch k {
			case "file-size":
				n, _ := strconv.ParseInt(strings.TrimRight(v, "MG"), 10, 64)
				disk.size = n * map[bool]int64{true: GiB, false: MiB}[strings.HasSuffix(v, "G")]
			case "nvme-tcp-export":
				disk.exported = v == "yes"
			case "nvme-tcp-server-port":
				disk.port, _ = strconv.Atoi(v)
			case "nvme-tcp-server-nqn":
				disk.nqn = v
			}
		}
		return reply{}
	case strings.HasPrefix(cmd, "/disk remove "):
		disk := find(strings.TrimPrefix(cmd, "/disk remove "))
		if disk == nil {
			return reply{Stdout: "failure: no such item\r\n", Exit: 1}
		}
		delete(d.disks, disk.slot)
		return reply{}
	case strings.HasPrefix(cmd, `/file remove [find name="`):
		name := strings.TrimSuffix(strings.TrimPrefix(cmd, `/file remove [find name="`), `"]`)
		if !d.files[name] {
			return reply{} // [find] matched nothing
		}
		delete(d.files, name)
		return reply{}
	}
	return reply{Stdout: "bad command name\r\n", Exit: 1}
}

func TestGrowVolume(t *testing.T) {
	ctx := context.Background()
	table := &diskTable{disks: map[string]*fakeDisk{"pvc-a": {slot: "pvc-a", size: 10 * GiB, exported: true}}}
	srv := newFakeRDS(t, table.handle)
	c := connected(t, srv)

	v, err := c.GrowVolume(ctx, "pvc-a", 5*GiB)
	if err != nil || v.SizeBytes != 10*GiB {
		t.Fatalf("no-op grow: %+v %v", v, err)
	}
	if got := srv.received(); len(got) != 1 {
		t.Errorf("a disk already large enough got %q", got)
	}
	v, err = c.GrowVolume(ctx, "pvc-a", 10*GiB+1)
	if err != nil || v.SizeBytes != 10*GiB+MiB {
		t.Fatalf("grow: %+v %v", v, err)
	}
	want := []string{
		"/disk print detail where slot=pvc-a",
		"/disk print detail where slot=pvc-a",
		"/disk set [find slot=pvc-a] file-size=10241M",
		"/disk print detail where slot=pvc-a",
	}
	if got := srv.received(); !reflect.DeepEqual(got, want) {
		t.Errorf("commands\n got %q\nwant %q", got, want)
	}
	if _, err := c.GrowVolume(ctx, "pvc-missing", GiB); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing disk: %v", err)
	}
	table.fail = map[string]reply{"/disk set [find slot=pvc-a] file-size=20G": {Stdout: "failure: not enough space\r\n", Exit: 1}}
	if _, err := c.GrowVolume(ctx, "pvc-a", 20*GiB); !errors.Is(err, ErrNoSpace) {
		t.Errorf("no space: %v", err)
	}
	for _, size := range []int64{-1, PiB + 1} {
		if _, err := c.GrowVolume(ctx, "pvc-a", size); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("size %d: %v", size, err)
		}
	}
}

func TestSetExport(t *testing.T) {
	ctx := context.Background()
	table := &diskTable{disks: map[string]*fakeDisk{
		"pvc-a": {slot: "pvc-a", size: GiB, exported: true, port: 4420, nqn: NQNFor("pvc-a")},
		"pvc-b": {slot: "pvc-b", size: GiB}, // created without export: no port, no NQN
	}}
	srv := newFakeRDS(t, table.handle)
	c := connected(t, srv)

	for _, step := range []struct {
		id       string
		exported bool
		wantSet  string // "" = no set command
		wantErr  error
	}{
		{"pvc-a", true, "", nil},
		{"pvc-a", false, "/disk set [find slot=pvc-a] nvme-tcp-export=no", nil},
		{"pvc-a", false, "", nil},
		{"pvc-a", true, "/disk set [find slot=pvc-a] nvme-tcp-export=yes", nil},
		{"pvc-b", true, "/disk set [find slot=pvc-b] nvme-tcp-export=yes nvme-tcp-server-port=4420 nvme-tcp-server-nqn=" + NQNFor("pvc-b"), nil},
		{"pvc-missing", true, "", ErrNotFound},
	} {
		before := len(srv.received())
		err := c.SetExport(ctx, step.id, step.exported)
		if !errors.Is(err, step.wantErr) || (step.wantErr == nil && err != nil) {
			t.Fatalf("SetExport(%s, %v) = %v, want %v", step.id, step.exported, err, step.wantErr)
		}
		var sets []string
		for _, cmd := range srv.received()[before:] {
			if strings.HasPrefix(cmd, "/disk set") {
				sets = append(sets, cmd)
			}
		}
		if (step.wantSet == "" && len(sets) != 0) || (step.wantSet != "" && !reflect.DeepEqual(sets, []string{step.wantSet})) {
			t.Errorf("SetExport(%s, %v) sent %q, want %q", step.id, step.exported, sets, step.wantSet)
		}
	}
	if d := table.disks["pvc-b"]; !d.exported || d.port != 4420 || d.nqn != NQNFor("pvc-b") {
		t.Errorf("pvc-b after export: %+v", d)
	}
}

func TestDeleteVolume(t *testing.T) {
	ctx := context.Background()
	path := "/storage-pool/metal-csi/pvc-a.img"
	table := &diskTable{
		disks: map[string]*fakeDisk{"pvc-a": {slot: "pvc-a", size: GiB}},
		files: map[string]bool{"storage-pool/metal-csi/pvc-a.img": true},
	}
	srv := newFakeRDS(t, table.handle)
	c := connected(t, srv)

	for i := range 2 { // the second call finds nothing: still success
		if err := c.DeleteVolume(ctx, "pvc-a", path); err != nil {
			t.Fatalf("delete #%d: %v", i+1, err)
		}
	}
	want := []string{
		"/disk remove [find slot=pvc-a]", `/file remove [find name="storage-pool/metal-csi/pvc-a.img"]`,
		"/disk remove [find slot=pvc-a]", `/file remove [find name="storage-pool/metal-csi/pvc-a.img"]`,
	}
	if got := srv.received(); !reflect.DeepEqual(got, want) {
		t.Errorf("commands\n got %q\nwant %q", got, want)
	}
	if len(table.disks) != 0 || len(table.files) != 0 {
		t.Errorf("left behind: %v %v", table.disks, table.files)
	}

	// A file answer of "no such item" is fine too.
	table.fail = map[string]reply{`/file remove [find name="storage-pool/metal-csi/pvc-a.img"]`: {Stdout: "failure: no such item\r\n"}}
	if err := c.DeleteVolume(ctx, "pvc-a", path); err != nil {
		t.Errorf("file no such item: %v", err)
	}
	// Any other failure of the disk removal stops before the file.
	table.fail = map[string]reply{"/disk remove [find slot=pvc-a]": {Stdout: "failure: disk is in use\r\n", Exit: 1}}
	before := len(srv.received())
	if err := c.DeleteVolume(ctx, "pvc-a", path); !errors.Is(err, ErrCommandFailed) {
		t.Errorf("disk busy: %v", err)
	}
	if got := srv.received()[before:]; len(got) != 1 {
		t.Errorf("the file was touched after the disk removal failed: %q", got)
	}
	// The path must be this volume's backing file.
	before = len(srv.received())
	for _, p := range []string{"/storage-pool/metal-csi/pvc-b.img", "/storage-pool/metal-csi/pvc-a", "/storage-pool/system.img"} {
		if err := c.DeleteVolume(ctx, "pvc-a", p); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("DeleteVolume(pvc-a, %s) = %v", p, err)
		}
	}
	if got := srv.received()[before:]; len(got) != 0 {
		t.Errorf("commands sent for a foreign path: %q", got)
	}
}

func TestPoolCapacityAndIdentity(t *testing.T) {
	ctx := context.Background()
	srv := newFakeRDS(t, answers(map[string]reply{
		`/disk print detail where mount-point="storage-pool"`: {Stdout: " 0    slot=storage-pool type=partition mount-point=storage-pool file-system=btrfs\r\n      size=7 949 127 950 336 free=5 963 595 964 416 use=25%\r\n"},
		`/disk print detail where mount-point="other-pool"`:   {Stdout: legend},
		identityCommand: {Stdout: "  name: rds-lab-1\r\n"},
	}))
	c := connected(t, srv)
	capacity, err := c.PoolCapacity(ctx, "/storage-pool/metal-csi")
	if err != nil || capacity != (Capacity{TotalBytes: 7949127950336, FreeBytes: 5963595964416}) {
		t.Errorf("PoolCapacity = %+v, %v", capacity, err)
	}
	if _, err := c.PoolCapacity(ctx, "/other-pool/x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing pool: %v", err)
	}
	if name, err := c.Identity(ctx); err != nil || name != "rds-lab-1" {
		t.Errorf("Identity = %q, %v", name, err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if c.Address() != srv.addr() {
		t.Errorf("Address %q", c.Address())
	}
}

// TestHostileInputNeverReachesTheServer drives every Client method with
// hostile ids, paths, NQNs, prefixes, ports and sizes over a live
// connection and proves that the server received nothing.
func TestHostileInputNeverReachesTheServer(t *testing.T) {
	srv := newFakeRDS(t, func(string) reply { return reply{} })
	c := connected(t, srv)
	ctx := context.Background()
	calls := map[string]func() error{}
	add := func(name string, f func() error) { calls[name] = f }
	for _, v := range hostileValues {
		add("CreateVolume id "+v, func() error {
			_, err := c.CreateVolume(ctx, CreateVolumeRequest{ID: v, FilePath: testPath, SizeBytes: GiB})
			return err
		})
		if v != "" { // an empty CopyFrom means "no copy"
			add("CreateVolume copy-from "+v, func() error {
				_, err := c.CreateVolume(ctx, CreateVolumeRequest{ID: testID, FilePath: testPath, CopyFrom: v})
				return err
			})
			add("CreateVolume sized copy-from "+v, func() error {
				_, err := c.CreateVolume(ctx, CreateVolumeRequest{ID: testID, FilePath: testPath, CopyFrom: v, SizeBytes: GiB})
				return err
			})
		}
		add("GetVolume "+v, func() error { _, err := c.GetVolume(ctx, v); return err })
		add("ListVolumes "+v, func() error { _, err := c.ListVolumes(ctx, v); return err })
		add("GrowVolume "+v, func() error { _, err := c.GrowVolume(ctx, v, GiB); return err })
		add("SetExport "+v, func() error { return c.SetExport(ctx, v, true) })
		add("DeleteVolume id "+v, func() error { return c.DeleteVolume(ctx, v, "/storage-pool/metal-csi/"+v+".img") })
	}
	for _, p := range hostilePaths {
		add("CreateVolume path "+p, func() error {
			_, err := c.CreateVolume(ctx, CreateVolumeRequest{ID: testID, FilePath: p, SizeBytes: GiB})
			return err
		})
		add("DeleteVolume path "+p, func() error { return c.DeleteVolume(ctx, testID, p) })
		if p != "/storage-pool" { // a pool root is a valid volume path
			add("PoolCapacity "+p, func() error { _, err := c.PoolCapacity(ctx, p); return err })
		}
	}
	for _, n := range hostileNQNs {
		add("CreateVolume NQN "+n, func() error {
			_, err := c.CreateVolume(ctx, CreateVolumeRequest{ID: testID, FilePath: testPath, SizeBytes: GiB, Export: true, Port: 4420, NQN: n})
			return err
		})
	}
	for _, port := range []int{-1, 0, 65536} {
		add(fmt.Sprint("CreateVolume port ", port), func() error {
			_, err := c.CreateVolume(ctx, CreateVolumeRequest{ID: testID, FilePath: testPath, SizeBytes: GiB, Export: true, Port: port, NQN: testNQN})
			return err
		})
	}
	for _, size := range []int64{0, -1, PiB + 1, -1 << 63} {
		add(fmt.Sprint("CreateVolume size ", size), func() error {
			_, err := c.CreateVolume(ctx, CreateVolumeRequest{ID: testID, FilePath: testPath, SizeBytes: size})
			return err
		})
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("got %v, want ErrInvalidArgument", err)
			}
		})
	}
	if got := srv.received(); len(got) != 0 {
		t.Fatalf("hostile input reached the server: %q", got)
	}
}
