package bench

import (
	"context"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"

	"github.com/srvlab/rds-csi/cmd/rds-csi/app"
	"github.com/srvlab/rds-csi/rds/sim"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
	"github.com/srvlab/rds-csi/test/inproc"
)

const gib = int64(1) << 30

// rpcTimeout bounds one RPC; realistic latency makes a create take about a
// second, so anything near this is a hang.
const rpcTimeout = time.Minute

// start runs an emulator with the given latency model and the controller on
// it, both silent: benchmark logs are always printed, and logging every
// command would also cost time that is not the driver's.
func start(b *testing.B, latency sim.Latency, configure func(*app.Config)) (*simtest.Env, *inproc.Driver) {
	b.Helper()
	env := simtest.Start(b, simtest.WithLatency(latency), simtest.WithConfig(func(c *sim.Config) {
		c.Logger = logr.Discard()
	}))
	opts := []inproc.Option{inproc.WithLogger(logr.Discard())}
	if configure != nil {
		opts = append(opts, inproc.WithConfig(configure))
	}
	return env, inproc.Start(b, env, opts...)
}

func createReq(name string, size int64) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{
		Name:          name,
		CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		}},
	}
}

func rpcCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), rpcTimeout)
}
