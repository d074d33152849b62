package driver

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/rdsfake"
)

const (
	testAddress = "10.0.0.5"
	gib         = int64(1) << 30
	mib         = int64(1) << 20
)

// harness is a controller on a fresh fake with a switchable connection gate.
type harness struct {
	cs        *ControllerServer
	fake      *rdsfake.Fake
	att       *MemoryAttachments
	connected atomic.Bool
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{fake: rdsfake.New(), att: NewMemoryAttachments()}
	h.connected.Store(true)
	cs, err := NewControllerServer(ControllerConfig{
		DriverName:         "rds.csi.srvlab.io",
		RDS:                h.fake,
		Connected:          h.connected.Load,
		Attachments:        h.att,
		DefaultNVMeAddress: testAddress,
		Logger:             klogTestLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.cs = cs
	return h
}

func mountCap(mode csi.VolumeCapability_AccessMode_Mode, fs string) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: fs}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

func blockCap(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

var snw = mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, "")

func createReq(name string, required int64) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{
		Name:               name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: required},
		VolumeCapabilities: []*csi.VolumeCapability{snw},
	}
}

// mustCreate creates a volume and returns its id.
func (h *harness) mustCreate(t *testing.T, name string, size int64) *csi.Volume {
	t.Helper()
	resp, err := h.cs.CreateVolume(context.Background(), createReq(name, size))
	if err != nil {
		t.Fatalf("CreateVolume(%s): %v", name, err)
	}
	return resp.GetVolume()
}

func (h *harness) mustSnapshot(t *testing.T, name, source string) *csi.Snapshot {
	t.Helper()
	resp, err := h.cs.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: source})
	if err != nil {
		t.Fatalf("CreateSnapshot(%s): %v", name, err)
	}
	return resp.GetSnapshot()
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("code = %s, want %s (err: %v)", got, code, err)
	}
	if err != nil {
		if _, ok := status.FromError(err); !ok {
			t.Fatalf("error is not a status: %v", err)
		}
	}
}

// seed puts a 1 GiB disk on the fake as if created by someone else.
func (h *harness) seed(id string) rds.Volume {
	v := rds.Volume{ID: id, FilePath: rds.FilePathFor(rds.DefaultVolumePath, id), SizeBytes: gib,
		Exported: true, NVMeTCPPort: rds.DefaultNVMeTCPPort, NQN: rds.NQNFor(id)}
	h.fake.AddVolume(v)
	return v
}
