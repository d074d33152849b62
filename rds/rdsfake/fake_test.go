package rdsfake

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/rds"
)

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
)

func req(id string, size int64) rds.CreateVolumeRequest {
	return rds.CreateVolumeRequest{ID: id, FilePath: rds.FilePathFor(rds.DefaultVolumePath, id), SizeBytes: size,
		Export: true, Port: rds.DefaultNVMeTCPPort, NQN: rds.NQNFor(id)}
}

func TestRoundUp(t *testing.T) {
	for in, want := range map[int64]int64{1: mib, mib: mib, mib + 1: 2 * mib, gib + gib/2: gib + gib/2, 10*gib + 1: 10*gib + mib, 0: 0, -1: 0} {
		if got := RoundUp(in); got != want {
			t.Errorf("RoundUp(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestCreateGetListDelete(t *testing.T) {
	ctx := context.Background()
	f := New()
	v, err := f.CreateVolume(ctx, req("pvc-a", 1))
	if err != nil {
		t.Fatal(err)
	}
	if v.SizeBytes != mib || !v.Exported || v.NQN != rds.NQNFor("pvc-a") {
		t.Fatalf("created %+v", v)
	}
	if _, err := f.CreateVolume(ctx, req("pvc-a", 1)); !errors.Is(err, rds.ErrAlreadyExists) {
		t.Fatalf("duplicate slot: %v", err)
	}
	if _, err := f.CreateVolume(ctx, req("pvc-b", gib)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateVolume(ctx, rds.CreateVolumeRequest{ID: "snap-1", FilePath: "/storage-pool/metal-csi/snap-1.img", CopyFrom: "pvc-b"}); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.Volume("snap-1"); c.SizeBytes != gib || c.Exported {
		t.Fatalf("copy %+v", c)
	}
	if _, err := f.CreateVolume(ctx, rds.CreateVolumeRequest{ID: "snap-2", FilePath: "/storage-pool/metal-csi/snap-2.img", CopyFrom: "pvc-zz"}); !errors.Is(err, rds.ErrNotFound) {
		t.Fatalf("copy of missing source: %v", err)
	}
	list, err := f.ListVolumes(ctx, "pvc-")
	if err != nil || len(list) != 2 || list[0].ID != "pvc-a" || list[1].ID != "pvc-b" {
		t.Fatalf("list %v %v", list, err)
	}
	if _, err := f.GetVolume(ctx, "pvc-zz"); !errors.Is(err, rds.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	for range 2 {
		if err := f.DeleteVolume(ctx, "pvc-a", rds.FilePathFor(rds.DefaultVolumePath, "pvc-a")); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := f.Volume("pvc-a"); ok {
		t.Fatal("not deleted")
	}
	if len(f.Files()) != 2 {
		t.Fatalf("files %v", f.Files())
	}
}

func TestCapacity(t *testing.T) {
	ctx := context.Background()
	f := New()
	f.SetPool(DefaultPool, 3*gib)
	if _, err := f.CreateVolume(ctx, req("pvc-a", 2*gib)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateVolume(ctx, req("pvc-b", 2*gib)); !errors.Is(err, rds.ErrNoSpace) {
		t.Fatalf("over capacity: %v", err)
	}
	if _, err := f.GrowVolume(ctx, "pvc-a", 4*gib); !errors.Is(err, rds.ErrNoSpace) {
		t.Fatalf("grow over capacity: %v", err)
	}
	v, err := f.GrowVolume(ctx, "pvc-a", 2*gib+1)
	if err != nil || v.SizeBytes != 2*gib+mib {
		t.Fatalf("grow %+v %v", v, err)
	}
	if v, _ := f.GrowVolume(ctx, "pvc-a", gib); v.SizeBytes != 2*gib+mib {
		t.Fatalf("shrunk to %d", v.SizeBytes)
	}
	c, err := f.PoolCapacity(ctx, "/storage-pool/metal-csi")
	if err != nil || c.TotalBytes != 3*gib || c.FreeBytes != gib-mib {
		t.Fatalf("capacity %+v %v", c, err)
	}
	if _, err := f.PoolCapacity(ctx, "/other/x"); !errors.Is(err, rds.ErrNotFound) {
		t.Fatalf("unknown pool: %v", err)
	}
	// A leftover file still takes space after its disk is gone.
	if err := f.DeleteVolume(ctx, "pvc-a", "/storage-pool/elsewhere/pvc-a.img"); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.PoolCapacity(ctx, "/storage-pool"); c.FreeBytes != gib-mib {
		t.Fatalf("free %d", c.FreeBytes)
	}
}

func TestValidation(t *testing.T) {
	ctx := context.Background()
	f := New()
	bad := []rds.CreateVolumeRequest{
		{ID: "pvc-a;b", FilePath: "/storage-pool/x/a.img", SizeBytes: 1},
		{ID: "pvc-a", FilePath: "/storage-pool/../a.img", SizeBytes: 1},
		{ID: "pvc-a", FilePath: "/storage-pool/x/a.img", SizeBytes: 0},
		{ID: "pvc-a", FilePath: "/storage-pool/x/a.img", SizeBytes: 1, Export: true, Port: 4420, NQN: "nqn bad"},
		{ID: "pvc-a", FilePath: "/storage-pool/x/a.img", SizeBytes: 1, Export: true, Port: 0, NQN: rds.NQNFor("pvc-a")},
		{ID: "pvc-a", FilePath: "/storage-pool/x/a.img", CopyFrom: "x y"},
	}
	for _, r := range bad {
		if _, err := f.CreateVolume(ctx, r); !errors.Is(err, rds.ErrInvalidArgument) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	if _, err := f.ListVolumes(ctx, `pvc-"`); !errors.Is(err, rds.ErrInvalidArgument) {
		t.Errorf("list prefix: %v", err)
	}
	if err := f.DeleteVolume(ctx, "pvc-a", ""); !errors.Is(err, rds.ErrInvalidArgument) {
		t.Errorf("delete without path: %v", err)
	}
	if err := f.DeleteVolume(ctx, "pvc-a", "/storage-pool/metal-csi/pvc-b.img"); !errors.Is(err, rds.ErrInvalidArgument) {
		t.Errorf("delete of another disk's file: %v", err)
	}
	if f.CallCount(MethodCreateVolume) != len(bad) {
		t.Errorf("calls not recorded: %v", f.Calls())
	}
}

func TestInjection(t *testing.T) {
	ctx := context.Background()
	f := New()
	f.SetError(MethodPing, rds.ErrUnavailable)
	if err := f.Ping(ctx); !errors.Is(err, rds.ErrUnavailable) {
		t.Fatalf("injected: %v", err)
	}
	f.SetError(MethodPing, nil)
	if err := f.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	f.SetHook(MethodGetVolume, func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	done := make(chan error, 1)
	go func() { _, err := f.GetVolume(ctx, "pvc-x"); done <- err }()
	// Other methods are not blocked by a held hook.
	if err := f.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("hook did not block (returned %v)", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := <-done; !errors.Is(err, rds.ErrNotFound) {
		t.Fatalf("after release: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	f.SetHook(MethodGetVolume, nil)
	if _, err := f.GetVolume(cctx, "pvc-x"); !errors.Is(err, rds.ErrUnavailable) {
		t.Fatalf("cancelled ctx: %v", err)
	}
}

// TestSizeAboveMaximumIsInvalid: like the SSH client (rds.FileSizeArg), the
// fake refuses sizes above rds.MaxFileSizeBytes. It used to round
// math.MaxInt64 up with an overflow, create a disk of negative size and
// report a grow to 8 EiB as done.
func TestSizeAboveMaximumIsInvalid(t *testing.T) {
	ctx := context.Background()
	f := New()
	f.SetPool(DefaultPool, math.MaxInt64)
	for _, size := range []int64{rds.MaxFileSizeBytes + 1, math.MaxInt64} {
		if v, err := f.CreateVolume(ctx, req("pvc-huge", size)); !errors.Is(err, rds.ErrInvalidArgument) {
			t.Errorf("create of %d bytes: %+v, %v; want ErrInvalidArgument", size, v, err)
		}
	}
	if _, ok := f.Volume("pvc-huge"); ok {
		t.Fatal("a disk of an invalid size was created")
	}
	if _, err := f.CreateVolume(ctx, req("pvc-a", gib)); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{rds.MaxFileSizeBytes + 1, math.MaxInt64} {
		if v, err := f.GrowVolume(ctx, "pvc-a", size); !errors.Is(err, rds.ErrInvalidArgument) {
			t.Errorf("grow to %d bytes: %+v, %v; want ErrInvalidArgument", size, v, err)
		}
	}
	if v, _ := f.Volume("pvc-a"); v.SizeBytes != gib {
		t.Errorf("after refused grows: %+v", v)
	}
}
