package driver

import (
	"context"
	"slices"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/rdsfake"
)

func TestControllerGetCapabilities(t *testing.T) {
	h := newHarness(t)
	resp, err := h.cs.ControllerGetCapabilities(context.Background(), &csi.ControllerGetCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []csi.ControllerServiceCapability_RPC_Type
	for _, c := range resp.GetCapabilities() {
		got = append(got, c.GetRpc().GetType())
	}
	for _, want := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME, csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES, csi.ControllerServiceCapability_RPC_LIST_VOLUMES_PUBLISHED_NODES,
		csi.ControllerServiceCapability_RPC_GET_CAPACITY, csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT, csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
		csi.ControllerServiceCapability_RPC_GET_SNAPSHOT, csi.ControllerServiceCapability_RPC_CLONE_VOLUME,
		csi.ControllerServiceCapability_RPC_GET_VOLUME, csi.ControllerServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %s", want)
		}
	}
	if slices.Contains(got, csi.ControllerServiceCapability_RPC_PUBLISH_READONLY) {
		t.Error("PUBLISH_READONLY advertised but not implemented")
	}
}

func TestNewControllerServerValidates(t *testing.T) {
	fake := rdsfake.New()
	for name, cfg := range map[string]ControllerConfig{
		"noRDS":        {DefaultNVMeAddress: testAddress},
		"noAddress":    {RDS: fake},
		"badAddress":   {RDS: fake, DefaultNVMeAddress: "a b"},
		"badPath":      {RDS: fake, DefaultNVMeAddress: testAddress, DefaultVolumePath: "/x/../y"},
		"negativeSize": {RDS: fake, DefaultNVMeAddress: testAddress, MaxVolumeSize: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewControllerServer(cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestValidateVolumeCapabilities(t *testing.T) {
	h := newHarness(t)
	id := h.mustCreate(t, "v", gib).GetVolumeId()
	cases := []struct {
		name      string
		caps      []*csi.VolumeCapability
		params    map[string]string
		confirmed bool
	}{
		{"mount", []*csi.VolumeCapability{snw}, nil, true},
		{"blockMigration", []*csi.VolumeCapability{blockCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)}, nil, true},
		{"multiNodeReader", []*csi.VolumeCapability{snw, mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY, "")}, nil, false},
		{"btrfs", []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, "btrfs")}, nil, false},
		{"badParams", []*csi.VolumeCapability{snw}, map[string]string{"foo": "bar"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.cs.ValidateVolumeCapabilities(context.Background(), &csi.ValidateVolumeCapabilitiesRequest{
				VolumeId: id, VolumeCapabilities: tc.caps, Parameters: tc.params})
			if err != nil {
				t.Fatal(err)
			}
			if (resp.GetConfirmed() != nil) != tc.confirmed {
				t.Fatalf("confirmed = %v, message %q", resp.GetConfirmed(), resp.GetMessage())
			}
			if !tc.confirmed && resp.GetMessage() == "" {
				t.Fatal("unconfirmed without a message")
			}
			if tc.confirmed && len(resp.GetConfirmed().GetVolumeCapabilities()) == 0 {
				t.Fatal("confirmation without capabilities")
			}
		})
	}
	for _, missing := range []string{"pvc-missing", "fake-vol-id-1"} {
		_, err := h.cs.ValidateVolumeCapabilities(context.Background(), &csi.ValidateVolumeCapabilitiesRequest{
			VolumeId: missing, VolumeCapabilities: []*csi.VolumeCapability{snw}})
		wantCode(t, err, codes.NotFound)
	}
}

func TestControllerGetVolume(t *testing.T) {
	h := newHarness(t)
	vol := h.mustCreate(t, "v", gib+1)
	resp, err := h.cs.ControllerGetVolume(context.Background(), &csi.ControllerGetVolumeRequest{VolumeId: vol.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetVolume().GetCapacityBytes() != gib+mib || resp.GetVolume().GetVolumeId() != vol.GetVolumeId() {
		t.Fatalf("volume %v", resp.GetVolume())
	}
	if resp.GetVolume().GetVolumeContext()[CtxNQN] != rds.NQNFor(vol.GetVolumeId()) {
		t.Fatalf("context %v", resp.GetVolume().GetVolumeContext())
	}
	if len(resp.GetStatus().GetPublishedNodeIds()) != 0 {
		t.Fatal("published without publish")
	}
	for _, missing := range []string{"pvc-missing", "fake-vol-id"} {
		_, err := h.cs.ControllerGetVolume(context.Background(), &csi.ControllerGetVolumeRequest{VolumeId: missing})
		wantCode(t, err, codes.NotFound)
	}
}

func TestGetCapacity(t *testing.T) {
	h := newHarness(t)
	h.fake.SetPool(rdsfake.DefaultPool, 100*gib)
	h.fake.SetPool("other-pool", 40*gib)
	h.mustCreate(t, "v", 10*gib)
	cases := []struct {
		name      string
		req       *csi.GetCapacityRequest
		available int64
		maxSize   int64
		code      codes.Code
	}{
		{"default", &csi.GetCapacityRequest{}, 90 * gib, 90 * gib, codes.OK},
		{"otherPool", &csi.GetCapacityRequest{Parameters: map[string]string{ParamVolumePath: "/other-pool/x"}}, 40 * gib, 40 * gib, codes.OK},
		{"unknownPool", &csi.GetCapacityRequest{Parameters: map[string]string{ParamVolumePath: "/nope/x"}}, 0, 0, codes.NotFound},
		{"supportedCaps", &csi.GetCapacityRequest{VolumeCapabilities: []*csi.VolumeCapability{snw}}, 90 * gib, 90 * gib, codes.OK},
		{"unsupportedCaps", &csi.GetCapacityRequest{VolumeCapabilities: []*csi.VolumeCapability{
			mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER, "")}}, 0, 0, codes.OK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.cs.GetCapacity(context.Background(), tc.req)
			wantCode(t, err, tc.code)
			if err != nil {
				return
			}
			if resp.GetAvailableCapacity() != tc.available || resp.GetMaximumVolumeSize().GetValue() != tc.maxSize {
				t.Fatalf("available %d max %d", resp.GetAvailableCapacity(), resp.GetMaximumVolumeSize().GetValue())
			}
		})
	}
	t.Run("maxBoundedByConfig", func(t *testing.T) {
		h.cs.cfg.MaxVolumeSize = 5 * gib
		defer func() { h.cs.cfg.MaxVolumeSize = DefaultMaxVolumeSize }()
		resp, err := h.cs.GetCapacity(context.Background(), &csi.GetCapacityRequest{})
		if err != nil || resp.GetMaximumVolumeSize().GetValue() != 5*gib || resp.GetAvailableCapacity() != 90*gib {
			t.Fatalf("%v %v", resp, err)
		}
	})
}

func TestListVolumes(t *testing.T) {
	h := newHarness(t)
	var ids []string
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		ids = append(ids, h.mustCreate(t, n, gib).GetVolumeId())
	}
	slices.Sort(ids)
	src := ids[0]
	h.mustSnapshot(t, "snap", src) // snapshots are not volumes
	if _, err := h.cs.ControllerPublishVolume(context.Background(), publishReq(ids[1], "node-a", snw)); err != nil {
		t.Fatal(err)
	}
	list := func(max int32, token string) ([]string, string, *csi.ListVolumesResponse) {
		t.Helper()
		r, err := h.cs.ListVolumes(context.Background(), &csi.ListVolumesRequest{MaxEntries: max, StartingToken: token})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range r.GetEntries() {
			out = append(out, e.GetVolume().GetVolumeId())
		}
		return out, r.GetNextToken(), r
	}

	t.Run("all", func(t *testing.T) {
		got, next, r := list(0, "")
		if !slices.Equal(got, ids) || next != "" {
			t.Fatalf("got %v next %q, want %v", got, next, ids)
		}
		if n := r.GetEntries()[1].GetStatus().GetPublishedNodeIds(); !slices.Equal(n, []string{"node-a"}) {
			t.Fatalf("published nodes %v", n)
		}
		if r.GetEntries()[0].GetVolume().GetCapacityBytes() != gib {
			t.Fatal("capacity missing")
		}
	})
	t.Run("pages", func(t *testing.T) {
		p1, t1, _ := list(2, "")
		p2, t2, _ := list(2, t1)
		p3, t3, _ := list(2, t2)
		if !slices.Equal(slices.Concat(p1, p2, p3), ids) || t3 != "" || len(p1) != 2 || len(p2) != 2 {
			t.Fatalf("pages %v %v %v tokens %q %q %q", p1, p2, p3, t1, t2, t3)
		}
	})
	t.Run("stableAcrossDeleteAndCreate", func(t *testing.T) {
		p1, t1, _ := list(2, "")
		// The token's own volume goes away and a new one appears.
		if _, err := h.cs.ControllerUnpublishVolume(context.Background(), &csi.ControllerUnpublishVolumeRequest{VolumeId: p1[1]}); err != nil {
			t.Fatal(err)
		}
		h.mustCreate(t, "new-after-token", gib)
		if _, err := h.cs.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: p1[1]}); err != nil {
			t.Fatal(err)
		}
		rest, _, _ := list(0, t1)
		for _, id := range ids[2:] {
			if !slices.Contains(rest, id) {
				t.Fatalf("after deleting the token's volume: %v lacks %s", rest, id)
			}
		}
		for _, id := range rest {
			if id <= t1 || slices.Contains(p1, id) {
				t.Fatalf("page after %s repeats %s", t1, id)
			}
		}
	})
	t.Run("badToken", func(t *testing.T) {
		for _, tok := range []string{"invalid-token", "snap-0123", "pvc-a b", "pvc-;"} {
			_, err := h.cs.ListVolumes(context.Background(), &csi.ListVolumesRequest{StartingToken: tok})
			wantCode(t, err, codes.Aborted)
		}
	})
	t.Run("tokenPastEnd", func(t *testing.T) {
		got, next, _ := list(0, "pvc-zzzz")
		if len(got) != 0 || next != "" {
			t.Fatalf("got %v %q", got, next)
		}
	})
}
