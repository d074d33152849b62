package driver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/rdsfake"
)

// Cross-cutting contract of every RDS-touching RPC: the connection gate,
// the per-id lock and the error mapping. Each case calls one RPC with a
// valid request against a fixture with one volume and one snapshot.

type fixture struct {
	*harness
	vol, snap string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	h := newHarness(t)
	vol := h.mustCreate(t, "fixture-volume", gib).GetVolumeId()
	snap := h.mustSnapshot(t, "fixture-snapshot", vol).GetSnapshotId()
	h.fake.ResetCalls()
	return &fixture{harness: h, vol: vol, snap: snap}
}

type rpcCase struct {
	name string
	// id must appear in an Internal error's message.
	id   func(f *fixture) string
	call func(ctx context.Context, f *fixture) error
	// locked RPCs answer Aborted to a concurrent request for the same id.
	locked bool
}

var allMethods = []rdsfake.Method{
	rdsfake.MethodCreateVolume, rdsfake.MethodGetVolume, rdsfake.MethodListVolumes, rdsfake.MethodGrowVolume,
	rdsfake.MethodSetExport, rdsfake.MethodDeleteVolume, rdsfake.MethodPoolCapacity, rdsfake.MethodPing,
}

func rdsRPCs() []rpcCase {
	volID := func(f *fixture) string { return f.vol }
	return []rpcCase{
		{name: "CreateVolume", locked: true, id: func(*fixture) string { return volumeIDForName("new-volume") },
			call: func(ctx context.Context, f *fixture) error {
				_, err := f.cs.CreateVolume(ctx, createReq("new-volume", gib))
				return err
			}},
		{name: "CreateVolume/clone", locked: true, id: func(f *fixture) string { return volumeIDForName("clone") },
			call: func(ctx context.Context, f *fixture) error {
				req := createReq("clone", gib)
				req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
					Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: f.vol}}}
				_, err := f.cs.CreateVolume(ctx, req)
				return err
			}},
		{name: "DeleteVolume", locked: true, id: volID,
			call: func(ctx context.Context, f *fixture) error {
				_, err := f.cs.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: f.vol})
				return err
			}},
		{name: "ControllerExpandVolume", locked: true, id: volID,
			call: func(ctx context.Context, f *fixture) error {
				_, err := f.cs.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: f.vol,
					CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib}})
				return err
			}},
		{name: "ControllerPublishVolume", locked: true, id: volID,
			call: func(ctx context.Context, f *fixture) error {
				_, err := f.cs.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: f.vol,
					NodeId: "node-1", VolumeCapability: snw})
				return err
			}},
		{name: "ValidateVolumeCapabilities", id: volID,
			call: func(ctx context.Context, f *fixture) error {
				_, err := f.cs.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: f.vol,
					VolumeCapabilities: []*csi.VolumeCapability{snw}})
				return err
			}},
		{name: "ControllerGetVolume", id: volID,
			call: func(ctx context.Context, f *fixture) error {
				_, err := f.cs.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{VolumeId: f.vol})
				return err
			}},
		{name: "ListVolumes", id: func(*fixture) string { return VolumeIDPrefix },
			call: func(ctx context.Context, f *fixture) error {
				_, err := f.cs.ListVolumes(ctx, &csi.ListVolumesRequest{})
				return err
			}},
		{name: "GetCapacity", id: func(*fixture) string { return rds.DefaultVolumePath },
			call: func(ctx context.Context, f *fixture) error {
				_, err := f.cs.GetCapacity(ctx, &csi.GetCapacityRequest{})
				return err
			}},
		{name: "CreateSnapshot", locked: true, id: func(*fixture) string { return "new-snapshot" },
			call: func(ctx context.Context, f *fixture) error {
				_, err := f.cs.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "new-snapshot", SourceVolumeId: f.vol})
				return err
			}},
		{name: "DeleteSnapshot", locked: true, id: func(f *fixture) string { return f.snap },
			call: func(ctx context.Context, f *fixture) error {
				_, err := f.cs.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: f.snap})
				return err
			}},
		{name: "GetSnapshot", id: func(f *fixture) string { return f.snap },
			call: func(ctx context.Context, f *fixture) error {
				_, err := f.cs.GetSnapshot(ctx, &csi.GetSnapshotRequest{SnapshotId: f.snap})
				return err
			}},
		{name: "ListSnapshots", id: func(*fixture) string { return SnapshotIDPrefix },
			call: func(ctx context.Context, f *fixture) error {
				_, err := f.cs.ListSnapshots(ctx, &csi.ListSnapshotsRequest{})
				return err
			}},
		{name: "ListSnapshots/bySnapshotID", id: func(f *fixture) string { return f.snap },
			call: func(ctx context.Context, f *fixture) error {
				_, err := f.cs.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: f.snap})
				return err
			}},
	}
}

func TestRPCsSucceedOnFixture(t *testing.T) {
	for _, tc := range rdsRPCs() {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if err := tc.call(context.Background(), f); err != nil {
				t.Fatalf("valid request failed: %v", err)
			}
		})
	}
}

func TestRPCsNotConnectedAreUnavailableWithoutRDSCall(t *testing.T) {
	for _, tc := range rdsRPCs() {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.connected.Store(false)
			wantCode(t, tc.call(context.Background(), f), codes.Unavailable)
			if n := f.fake.CallCount(""); n != 0 {
				t.Fatalf("RDS calls while disconnected: %v", f.fake.Calls())
			}
			// The refused request must not keep its lock.
			f.connected.Store(true)
			if err := tc.call(context.Background(), f); err != nil {
				t.Fatalf("after reconnect: %v", err)
			}
		})
	}
}

func TestRPCsMapRDSErrors(t *testing.T) {
	cases := []struct {
		err  error
		code codes.Code
	}{
		{fmt.Errorf("dial: %w", rds.ErrUnavailable), codes.Unavailable},
		{&rds.CommandError{Output: "failure: not enough space", Kind: rds.ErrNoSpace}, codes.ResourceExhausted},
		{&rds.CommandError{Output: "failure: weird", Kind: rds.ErrCommandFailed}, codes.Internal},
		{errors.New("plain"), codes.Internal},
		{fmt.Errorf("deadline: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
	}
	for _, tc := range rdsRPCs() {
		for _, ec := range cases {
			t.Run(tc.name+"/"+ec.code.String(), func(t *testing.T) {
				f := newFixture(t)
				for _, m := range allMethods {
					f.fake.SetError(m, ec.err)
				}
				err := tc.call(context.Background(), f)
				wantCode(t, err, ec.code)
				if ec.code == codes.Internal && !strings.Contains(err.Error(), tc.id(f)) {
					t.Fatalf("Internal error does not name %s: %v", tc.id(f), err)
				}
			})
		}
	}
}

// TestRPCsConcurrentSameIDAborted holds the first request inside the RDS
// (a blocking fake method) and sends the same request again.
func TestRPCsConcurrentSameIDAborted(t *testing.T) {
	for _, tc := range rdsRPCs() {
		if !tc.locked {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			entered, release := make(chan struct{}, 1), make(chan struct{})
			hook := func(ctx context.Context) error {
				select {
				case entered <- struct{}{}:
				default:
				}
				<-release
				return nil
			}
			for _, m := range allMethods {
				f.fake.SetHook(m, hook)
			}
			first := make(chan error, 1)
			go func() { first <- tc.call(context.Background(), f) }()
			select {
			case <-entered:
			case <-time.After(5 * time.Second):
				t.Fatal("first request never reached the RDS")
			}
			calls := f.fake.CallCount("")
			wantCode(t, tc.call(context.Background(), f), codes.Aborted)
			if f.fake.CallCount("") != calls {
				t.Fatal("the Aborted request reached the RDS")
			}
			close(release)
			if err := <-first; err != nil {
				t.Fatalf("first request: %v", err)
			}
		})
	}
}
