package driver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/rdsfake"
)

func TestSnapshotIDRoundTrip(t *testing.T) {
	cases := []struct{ name, source string }{
		{"snapshot-0f5e0c8a-1b2c-4d3e-8f90-a1b2c3d4e5f6", "pvc-0f5e0c8a-1b2c-4d3e-8f90-a1b2c3d4e5f6"},
		{"x", "pvc-test-123"},
		{strings.Repeat("n", 300), "pvc-" + strings.Repeat("a", maxSnapshotSourceLen-4)},
	}
	for _, tc := range cases {
		t.Run(tc.source, func(t *testing.T) {
			id, err := snapshotIDFor(tc.name, tc.source)
			if err != nil {
				t.Fatal(err)
			}
			if again, _ := snapshotIDFor(tc.name, tc.source); again != id {
				t.Fatalf("id not a pure function of the request: %q then %q", id, again)
			}
			if err := rds.ValidateID(id); err != nil || len(id) > 128 {
				t.Fatalf("id %q invalid: %v", id, err)
			}
			sid, ok := parseSnapshotID(id)
			if !ok {
				t.Fatalf("cannot parse %q", id)
			}
			if sid.SourceVolumeID != tc.source || !sid.Created.IsZero() || sid.NameHash != snapshotNameHash(tc.name) {
				t.Fatalf("parsed %+v", sid)
			}
			if !strings.HasPrefix(id, snapshotLookupPrefix(tc.name)+"-") {
				t.Fatalf("id %q lacks lookup prefix", id)
			}
		})
	}
	t.Run("timedIDsOfEarlierReleases", func(t *testing.T) {
		// snap-<hash>-<created>-<source>: still parsed, with their time.
		created := time.Date(2025, 11, 12, 0, 36, 13, 0, time.UTC)
		for _, src := range []string{"pvc-0f5e0c8a-1b2c-4d3e-8f90-a1b2c3d4e5f6", "pvc-test-123"} {
			id := fmt.Sprintf("snap-%s-%08x-%s", snapshotNameHash("old"), created.Unix(), src)
			sid, ok := parseSnapshotID(id)
			if !ok || sid.SourceVolumeID != src || !sid.Created.Equal(created) || sid.NameHash != snapshotNameHash("old") {
				t.Fatalf("%q parsed %+v, %v", id, sid, ok)
			}
		}
	})
	if _, err := snapshotIDFor("x", "pvc-"+strings.Repeat("a", maxSnapshotSourceLen)); err == nil {
		t.Fatal("overlong source accepted")
	}
	if _, err := snapshotIDFor("x", "vol-1"); err == nil {
		t.Fatal("unmanaged source accepted")
	}
	if id, _ := snapshotIDFor("x", "pvc-0f5e0c8a-1b2c-4d3e-8f90-a1b2c3d4e5f6"); len(id) != 62 {
		t.Fatalf("len(%q) = %d, documented 62", id, len(id))
	}
	for _, bad := range []string{
		"pvc-0f5e0c8a-1b2c-4d3e-8f90-a1b2c3d4e5f6", "snap-", "snap-1234-pvc-x", "snap-0123456789abcdef-vol-x",
		"snap-0123456789abcdeg-00000000-pvc-x", "snap-0123456789abcdef-0000000z-pvc-x", "snap-0123456789abcdef-00000000-",
		"snap-0123456789abcdef-00000000-pvc-x-", "snap-0123456789ABCDEF-00000000-pvc-x", "reallyfakesnapshotid",
		"snap-0123456789abcdef-pvc-x-", "snap-0123456789ABCDEF-pvc-x",
	} {
		if _, ok := parseSnapshotID(bad); ok {
			t.Errorf("parsed %q", bad)
		}
	}
}

func TestCreateSnapshot(t *testing.T) {
	h := newHarness(t)
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h.fake.Now = func() time.Time { return created }
	req := createReq("src", 3*gib+1)
	req.Parameters = map[string]string{ParamVolumePath: "/storage-pool/custom"}
	srcResp, err := h.cs.CreateVolume(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	src := srcResp.GetVolume().GetVolumeId()

	snap := h.mustSnapshot(t, "snapshot-1", src)
	disk, ok := h.fake.Volume(snap.GetSnapshotId())
	if !ok {
		t.Fatal("no snapshot disk")
	}
	if disk.Exported {
		t.Fatal("snapshot disk exported")
	}
	if disk.FilePath != "/storage-pool/custom/"+snap.GetSnapshotId()+".img" {
		t.Fatalf("snapshot file %s not next to the source", disk.FilePath)
	}
	if snap.GetSizeBytes() != disk.SizeBytes || snap.GetSizeBytes() != 3*gib+mib {
		t.Fatalf("size_bytes %d, disk %d", snap.GetSizeBytes(), disk.SizeBytes)
	}
	if snap.GetSourceVolumeId() != src || !snap.GetReadyToUse() || !snap.GetCreationTime().AsTime().Equal(created) {
		t.Fatalf("snapshot %v", snap)
	}

	t.Run("retryIsIdempotent", func(t *testing.T) {
		h.fake.ResetCalls()
		again := h.mustSnapshot(t, "snapshot-1", src)
		if again.String() != snap.String() {
			t.Fatalf("retry answered %v, first %v", again, snap)
		}
		if h.fake.CallCount(rdsfake.MethodCreateVolume) != 0 {
			t.Fatal("retry copied again")
		}
	})
	t.Run("sameNameOtherSource", func(t *testing.T) {
		other := h.mustCreate(t, "other", gib).GetVolumeId()
		_, err := h.cs.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: "snapshot-1", SourceVolumeId: other})
		wantCode(t, err, codes.AlreadyExists)
	})
	t.Run("sourceMissing", func(t *testing.T) {
		for _, id := range []string{"pvc-missing", "fake-vol-id", snap.GetSnapshotId()} {
			_, err := h.cs.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: "s-" + id, SourceVolumeId: id})
			wantCode(t, err, codes.NotFound)
		}
	})
	t.Run("noSpace", func(t *testing.T) {
		h.fake.SetPool(rdsfake.DefaultPool, 8*gib)
		defer h.fake.SetPool(rdsfake.DefaultPool, rdsfake.DefaultPoolBytes)
		_, err := h.cs.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: "no-room", SourceVolumeId: src})
		wantCode(t, err, codes.ResourceExhausted)
	})
	t.Run("sidecarMetadataAccepted", func(t *testing.T) {
		_, err := h.cs.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: "meta", SourceVolumeId: src,
			Parameters: map[string]string{"csi.storage.k8s.io/volumesnapshot/name": "s", "csi.storage.k8s.io/volumesnapshot/namespace": "ns"}})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("getSnapshot", func(t *testing.T) {
		resp, err := h.cs.GetSnapshot(context.Background(), &csi.GetSnapshotRequest{SnapshotId: snap.GetSnapshotId()})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetSnapshot().String() != snap.String() {
			t.Fatalf("GetSnapshot %v, want %v", resp.GetSnapshot(), snap)
		}
		for _, id := range []string{"snap-0000000000000000-00000000-pvc-gone", "reallyfakesnapshotid", src} {
			_, err := h.cs.GetSnapshot(context.Background(), &csi.GetSnapshotRequest{SnapshotId: id})
			wantCode(t, err, codes.NotFound)
		}
	})
	t.Run("deleteSnapshot", func(t *testing.T) {
		for range 3 {
			if _, err := h.cs.DeleteSnapshot(context.Background(), &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshotId()}); err != nil {
				t.Fatal(err)
			}
		}
		if _, ok := h.fake.Volume(snap.GetSnapshotId()); ok {
			t.Fatal("snapshot disk left")
		}
		for _, f := range h.fake.Files() {
			if strings.Contains(f, snap.GetSnapshotId()) {
				t.Fatalf("snapshot file left: %s", f)
			}
		}
		if _, ok := h.fake.Volume(src); !ok {
			t.Fatal("source volume deleted with its snapshot")
		}
	})
	t.Run("deleteForeignIDsIsSuccessWithoutRDS", func(t *testing.T) {
		h.fake.ResetCalls()
		for _, id := range []string{"reallyfakesnapshotid", src} {
			if _, err := h.cs.DeleteSnapshot(context.Background(), &csi.DeleteSnapshotRequest{SnapshotId: id}); err != nil {
				t.Fatal(err)
			}
		}
		if h.fake.CallCount("") != 0 {
			t.Fatalf("RDS calls: %v", h.fake.Calls())
		}
		if _, ok := h.fake.Volume(src); !ok {
			t.Fatal("DeleteSnapshot removed a volume")
		}
	})
}

func TestListSnapshots(t *testing.T) {
	h := newHarness(t)
	a := h.mustCreate(t, "a", gib).GetVolumeId()
	b := h.mustCreate(t, "b", gib).GetVolumeId()
	var all []string
	for i, src := range []string{a, a, a, b, b} {
		all = append(all, h.mustSnapshot(t, "s"+string(rune('0'+i)), src).GetSnapshotId())
	}
	// A disk that looks snapshot-ish but is not ours is never listed.
	h.seed("snap-foreign")

	list := func(req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
		return h.cs.ListSnapshots(context.Background(), req)
	}
	ids := func(r *csi.ListSnapshotsResponse) []string {
		var out []string
		for _, e := range r.GetEntries() {
			out = append(out, e.GetSnapshot().GetSnapshotId())
		}
		return out
	}

	t.Run("all", func(t *testing.T) {
		r, err := list(&csi.ListSnapshotsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(r); len(got) != 5 || r.GetNextToken() != "" {
			t.Fatalf("got %v next %q", got, r.GetNextToken())
		}
	})
	t.Run("bySource", func(t *testing.T) {
		r, err := list(&csi.ListSnapshotsRequest{SourceVolumeId: b})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range r.GetEntries() {
			if e.GetSnapshot().GetSourceVolumeId() != b {
				t.Fatalf("foreign source in %v", r)
			}
		}
		if len(r.GetEntries()) != 2 {
			t.Fatalf("got %v", ids(r))
		}
	})
	t.Run("byID", func(t *testing.T) {
		r, err := list(&csi.ListSnapshotsRequest{SnapshotId: all[3]})
		if err != nil || len(r.GetEntries()) != 1 || ids(r)[0] != all[3] {
			t.Fatalf("got %v, %v", ids(r), err)
		}
		r, err = list(&csi.ListSnapshotsRequest{SnapshotId: all[3], SourceVolumeId: a})
		if err != nil || len(r.GetEntries()) != 0 {
			t.Fatalf("mismatching source: got %v, %v", ids(r), err)
		}
	})
	t.Run("emptyForUnknown", func(t *testing.T) {
		for _, req := range []*csi.ListSnapshotsRequest{
			{SnapshotId: "none-exist-id"},
			{SnapshotId: "snap-0000000000000000-00000000-pvc-gone"},
			{SourceVolumeId: "fake-vol-id-123"},
		} {
			r, err := list(req)
			if err != nil || len(r.GetEntries()) != 0 {
				t.Fatalf("%v: got %v, %v", req, ids(r), err)
			}
		}
	})
	t.Run("pagination", func(t *testing.T) {
		var seen []string
		token := ""
		for page := 0; ; page++ {
			r, err := list(&csi.ListSnapshotsRequest{MaxEntries: 2, StartingToken: token})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.GetEntries()) > 2 {
				t.Fatalf("page %d has %d entries", page, len(r.GetEntries()))
			}
			seen = append(seen, ids(r)...)
			if token = r.GetNextToken(); token == "" {
				break
			}
		}
		if len(seen) != 5 {
			t.Fatalf("pages gave %v", seen)
		}
		for i := 1; i < len(seen); i++ {
			if seen[i-1] >= seen[i] {
				t.Fatalf("not sorted / duplicated: %v", seen)
			}
		}
	})
	t.Run("badToken", func(t *testing.T) {
		for _, tok := range []string{"invalid-token", "pvc-0f5e", "snap-a b"} {
			_, err := list(&csi.ListSnapshotsRequest{StartingToken: tok})
			wantCode(t, err, codes.Aborted)
		}
	})
}
