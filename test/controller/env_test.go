package controller

import (
	"context"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/cmd/rds-csi/app"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
	"github.com/srvlab/rds-csi/test/inproc"
)

// rpcTimeout bounds one RPC in these tests; the emulator runs without
// injected latency, so anything near it is a hang.
const rpcTimeout = 30 * time.Second

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// setup starts an emulator and the controller connected to it.
func setup(t *testing.T, opts ...inproc.Option) (*simtest.Env, *inproc.Driver) {
	t.Helper()
	env := simtest.Start(t)
	return env, inproc.Start(t, env, opts...)
}

// fastReconnect makes outage tests quick: the default 1 s first backoff
// step would dominate their run time.
func fastReconnect(c *app.Config) {
	c.ReconnectBase = 50 * time.Millisecond
	c.ReconnectMax = 500 * time.Millisecond
	c.HealthInterval = 200 * time.Millisecond
	c.HealthTimeout = time.Second
}

// rpcCtx bounds one RPC of the test body (not of a cleanup: t.Context()
// is cancelled before cleanups run).
func rpcCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), rpcTimeout)
	t.Cleanup(cancel)
	return ctx
}

func mountCap() *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

func createReq(name string, size int64) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{
		Name:               name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{mountCap()},
	}
}

// mustCreate creates a volume and deletes it when the test ends (a no-op if
// the test deleted it already: DeleteVolume is idempotent).
func mustCreate(t *testing.T, d *inproc.Driver, req *csi.CreateVolumeRequest) *csi.Volume {
	t.Helper()
	resp, err := d.Controller.CreateVolume(rpcCtx(t), req)
	if err != nil {
		t.Fatalf("CreateVolume(%q): %v", req.GetName(), err)
	}
	id := resp.GetVolume().GetVolumeId()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
		defer cancel()
		if _, err := d.Controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
			t.Errorf("cleanup DeleteVolume(%s): %v", id, err)
		}
	})
	return resp.GetVolume()
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, err error, code codes.Code, what string) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Errorf("%s: got %v (%v), want %v", what, got, err, code)
	}
}
