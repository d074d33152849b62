package driver

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/srvlab/rds-csi/metrics"
)

func TestIdentity(t *testing.T) {
	var up atomic.Bool
	cases := []struct {
		name          string
		hasController bool
		ready         func() bool
		connected     bool
		wantReady     bool
		wantCtrlCap   bool
	}{
		{"controllerConnected", true, up.Load, true, true, true},
		{"controllerDisconnected", true, up.Load, false, false, true},
		{"nodeOnlyIgnoresFSM", false, up.Load, false, true, false},
		{"controllerWithoutGate", true, nil, false, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up.Store(tc.connected)
			s := NewIdentityServer("rds.csi.srvlab.io", "v1.2.3", tc.hasController, tc.ready)
			info, err := s.GetPluginInfo(context.Background(), &csi.GetPluginInfoRequest{})
			if err != nil || info.GetName() != "rds.csi.srvlab.io" || info.GetVendorVersion() != "v1.2.3" {
				t.Fatalf("info %v %v", info, err)
			}
			probe, err := s.Probe(context.Background(), &csi.ProbeRequest{})
			if err != nil || probe.GetReady() == nil || probe.GetReady().GetValue() != tc.wantReady {
				t.Fatalf("probe %v %v, want ready=%v", probe, err, tc.wantReady)
			}
			caps, err := s.GetPluginCapabilities(context.Background(), &csi.GetPluginCapabilitiesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var ctrl, online bool
			for _, c := range caps.GetCapabilities() {
				ctrl = ctrl || c.GetService().GetType() == csi.PluginCapability_Service_CONTROLLER_SERVICE
				online = online || c.GetVolumeExpansion().GetType() == csi.PluginCapability_VolumeExpansion_ONLINE
			}
			if ctrl != tc.wantCtrlCap || !online {
				t.Fatalf("controller cap %v online expansion %v", ctrl, online)
			}
		})
	}
}

// BenchmarkProbe measures Probe in process (target: well under 10 µs/op):
// it must stay a plain atomic read, never I/O.
func BenchmarkProbe(b *testing.B) {
	var up atomic.Bool
	up.Store(true)
	s := NewIdentityServer("rds.csi.srvlab.io", "dev", true, up.Load)
	ctx, req := context.Background(), &csi.ProbeRequest{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Probe(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProbeIntercepted adds the interceptor (logging at default
// verbosity, metrics), which every real Probe passes through.
func BenchmarkProbeIntercepted(b *testing.B) {
	var up atomic.Bool
	up.Store(true)
	s := NewIdentityServer("rds.csi.srvlab.io", "dev", true, up.Load)
	ops, err := metrics.NewOperations(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	icpt := unaryInterceptor(logr.Discard(), ops)
	info := &grpc.UnaryServerInfo{FullMethod: "/csi.v1.Identity/Probe"}
	handler := func(ctx context.Context, req any) (any, error) { return s.Probe(ctx, req.(*csi.ProbeRequest)) }
	ctx, req := context.Background(), &csi.ProbeRequest{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := icpt(ctx, req, info, handler); err != nil {
			b.Fatal(err)
		}
	}
}
