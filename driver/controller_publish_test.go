package driver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/rdsfake"
)

func publishReq(vol, node string, c *csi.VolumeCapability) *csi.ControllerPublishVolumeRequest {
	return &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: node, VolumeCapability: c}
}

func TestControllerPublishVolume(t *testing.T) {
	h := newHarness(t)
	req := createReq("v", gib)
	req.Parameters = map[string]string{ParamNVMeAddress: "storage.example.com", ParamNVMePort: "4421"}
	created, err := h.cs.CreateVolume(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	vol := created.GetVolume()
	id := vol.GetVolumeId()
	pub := publishReq(id, "node-a", snw)
	pub.VolumeContext = vol.GetVolumeContext()
	for range 2 { // idempotent
		resp, err := h.cs.ControllerPublishVolume(context.Background(), pub)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{PubNVMeAddress: "storage.example.com", PubNVMePort: "4421", PubNQN: rds.NQNFor(id)}
		if fmt.Sprint(resp.GetPublishContext()) != fmt.Sprint(want) {
			t.Fatalf("publish context %v, want %v", resp.GetPublishContext(), want)
		}
	}
	if got := h.att.PublishedNodes(id); !slices.Equal(got, []string{"node-a"}) {
		t.Fatalf("tracked nodes %v", got)
	}

	t.Run("otherNodeRefused", func(t *testing.T) {
		_, err := h.cs.ControllerPublishVolume(context.Background(), publishReq(id, "node-b", snw))
		wantCode(t, err, codes.FailedPrecondition)
		if !strings.Contains(err.Error(), "node-a") {
			t.Fatalf("message does not name the holder: %v", err)
		}
	})
	t.Run("unpublishThenOtherNode", func(t *testing.T) {
		for range 2 { // idempotent
			if _, err := h.cs.ControllerUnpublishVolume(context.Background(), &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: "node-a"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := h.cs.ControllerPublishVolume(context.Background(), publishReq(id, "node-b", snw)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("defaultAddressWithoutContext", func(t *testing.T) {
		resp, err := h.cs.ControllerPublishVolume(context.Background(), publishReq(id, "node-b", snw))
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetPublishContext()[PubNVMeAddress] != testAddress {
			t.Fatalf("address %q", resp.GetPublishContext()[PubNVMeAddress])
		}
	})
	t.Run("exportTurnedBackOn", func(t *testing.T) {
		if err := h.fake.SetExport(context.Background(), id, false); err != nil {
			t.Fatal(err)
		}
		h.fake.ResetCalls()
		if _, err := h.cs.ControllerPublishVolume(context.Background(), publishReq(id, "node-b", snw)); err != nil {
			t.Fatal(err)
		}
		if d, _ := h.fake.Volume(id); !d.Exported || h.fake.CallCount(rdsfake.MethodSetExport) != 1 {
			t.Fatalf("export not restored: %+v, calls %v", d, h.fake.Calls())
		}
		h.fake.ResetCalls()
		if _, err := h.cs.ControllerPublishVolume(context.Background(), publishReq(id, "node-b", snw)); err != nil {
			t.Fatal(err)
		}
		if h.fake.CallCount(rdsfake.MethodSetExport) != 0 {
			t.Fatal("export set although on")
		}
	})
	t.Run("exportFailureLeavesNoAttachment", func(t *testing.T) {
		h2 := newHarness(t)
		v := h2.seed("pvc-unexported")
		_ = h2.fake.SetExport(context.Background(), v.ID, false)
		h2.fake.SetError(rdsfake.MethodSetExport, rds.ErrUnavailable)
		_, err := h2.cs.ControllerPublishVolume(context.Background(), publishReq(v.ID, "node-a", snw))
		wantCode(t, err, codes.Unavailable)
		if n := h2.att.PublishedNodes(v.ID); len(n) != 0 {
			t.Fatalf("attachment recorded: %v", n)
		}
	})
	t.Run("unpublishUnknown", func(t *testing.T) {
		for _, r := range []*csi.ControllerUnpublishVolumeRequest{
			{VolumeId: "pvc-unknown", NodeId: "node-x"},
			{VolumeId: id, NodeId: "node-x"},
			{VolumeId: "fake-vol-id", NodeId: "node-x"},
		} {
			if _, err := h.cs.ControllerUnpublishVolume(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("unpublishAllNodes", func(t *testing.T) {
		if _, err := h.cs.ControllerUnpublishVolume(context.Background(), &csi.ControllerUnpublishVolumeRequest{VolumeId: id}); err != nil {
			t.Fatal(err)
		}
		if n := h.att.PublishedNodes(id); len(n) != 0 {
			t.Fatalf("still published to %v", n)
		}
	})
	t.Run("unpublishWorksWhileDisconnected", func(t *testing.T) {
		h.connected.Store(false)
		defer h.connected.Store(true)
		if _, err := h.cs.ControllerUnpublishVolume(context.Background(), &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: "node-b"}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestControllerPublishNotFound(t *testing.T) {
	h := newHarness(t)
	v := h.seed("pvc-existing")
	h.cs.cfg.NodeExists = func(_ context.Context, node string) (bool, error) {
		switch node {
		case "broken":
			return false, errors.New("lister failed")
		case "node-a":
			return true, nil
		}
		return false, nil
	}
	cases := []struct {
		name, vol, node string
		code            codes.Code
	}{
		{"volumeMissing", "pvc-missing", "node-a", codes.NotFound},
		{"volumeNotOurs", "fake-vol-id-1234", "node-a", codes.NotFound},
		{"nodeMissing", v.ID, "fake-node-id-1234", codes.NotFound},
		{"nodeLookupFails", v.ID, "broken", codes.Internal},
		{"ok", v.ID, "node-a", codes.OK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.cs.ControllerPublishVolume(context.Background(), publishReq(tc.vol, tc.node, snw))
			wantCode(t, err, tc.code)
		})
	}
}

func TestMemoryAttachmentsRules(t *testing.T) {
	ctx := context.Background()
	type step struct {
		op         string // "pub" or "unpub"
		node       string
		multi      bool
		wantRefuse bool
	}
	cases := []struct {
		name  string
		steps []step
		final []string
	}{
		{"sameNodeAgain", []step{{op: "pub", node: "a"}, {op: "pub", node: "a"}}, []string{"a"}},
		{"secondNodeSingle", []step{{op: "pub", node: "a"}, {op: "pub", node: "b", wantRefuse: true}}, []string{"a"}},
		{"secondNodeMultiOverSingle", []step{{op: "pub", node: "a"}, {op: "pub", node: "b", multi: true, wantRefuse: true}}, []string{"a"}},
		{"singleOverMulti", []step{{op: "pub", node: "a", multi: true}, {op: "pub", node: "b", wantRefuse: true}}, []string{"a"}},
		{"migrationTwoNodes", []step{{op: "pub", node: "a", multi: true}, {op: "pub", node: "b", multi: true}}, []string{"a", "b"}},
		{"migrationThirdRefused", []step{
			{op: "pub", node: "a", multi: true}, {op: "pub", node: "b", multi: true}, {op: "pub", node: "c", multi: true, wantRefuse: true},
		}, []string{"a", "b"}},
		{"migrationCompletes", []step{
			{op: "pub", node: "a", multi: true}, {op: "pub", node: "b", multi: true}, {op: "unpub", node: "a"},
			{op: "pub", node: "c", multi: true},
		}, []string{"b", "c"}},
		{"unpublishUnknown", []step{{op: "unpub", node: "x"}}, []string{}},
		{"unpublishAll", []step{{op: "pub", node: "a", multi: true}, {op: "pub", node: "b", multi: true}, {op: "unpub", node: ""}}, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemoryAttachments()
			for i, s := range tc.steps {
				var err error
				if s.op == "pub" {
					err = m.Publish(ctx, "v", s.node, s.multi)
				} else {
					err = m.Unpublish(ctx, "v", s.node)
				}
				if refused := errors.Is(err, ErrAttachedElsewhere); refused != s.wantRefuse || (err != nil && !refused) {
					t.Fatalf("step %d %+v: err %v", i, s, err)
				}
			}
			got := m.PublishedNodes("v")
			if len(got) != len(tc.final) || (len(got) > 0 && !slices.Equal(got, tc.final)) {
				t.Fatalf("nodes %v, want %v", got, tc.final)
			}
		})
	}
}

func TestPublishMultiNodeBlockThroughController(t *testing.T) {
	h := newHarness(t)
	v := h.seed("pvc-vm-disk")
	mnmw := blockCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)
	for _, node := range []string{"src-node", "dst-node"} {
		if _, err := h.cs.ControllerPublishVolume(context.Background(), publishReq(v.ID, node, mnmw)); err != nil {
			t.Fatalf("%s: %v", node, err)
		}
	}
	_, err := h.cs.ControllerPublishVolume(context.Background(), publishReq(v.ID, "third", mnmw))
	wantCode(t, err, codes.FailedPrecondition)
	resp, err := h.cs.ControllerGetVolume(context.Background(), &csi.ControllerGetVolumeRequest{VolumeId: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetStatus().GetPublishedNodeIds(); !slices.Equal(got, []string{"dst-node", "src-node"}) {
		t.Fatalf("published nodes %v", got)
	}
}
