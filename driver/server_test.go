package driver

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	"github.com/srvlab/rds-csi/metrics"
)

// counterValue reads rds_csi_operations_total{method,code} from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, method, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "rds_csi_operations_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["method"] == method && labels["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func klogTestLogger(t *testing.T) klog.Logger {
	logger, _ := ktesting.NewTestContext(t)
	return logger
}

func newOps(t *testing.T) (*metrics.Operations, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	ops, err := metrics.NewOperations(reg)
	if err != nil {
		t.Fatal(err)
	}
	return ops, reg
}

func TestInterceptor(t *testing.T) {
	cases := []struct {
		name    string
		handler grpc.UnaryHandler
		code    codes.Code
	}{
		{"ok", func(context.Context, any) (any, error) { return &csi.ProbeResponse{}, nil }, codes.OK},
		{"status", func(context.Context, any) (any, error) { return nil, status.Error(codes.NotFound, "gone") }, codes.NotFound},
		{"plainError", func(context.Context, any) (any, error) { return nil, errors.New("oops") }, codes.Internal},
		{"panic", func(context.Context, any) (any, error) { panic("boom") }, codes.Internal},
		{"nilDeref", func(context.Context, any) (any, error) {
			var m map[string]*csi.Volume
			return m["x"].VolumeId, nil
		}, codes.Internal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ops, reg := newOps(t)
			icpt := unaryInterceptor(klogTestLogger(t), ops)
			req := &csi.DeleteVolumeRequest{VolumeId: "pvc-x", Secrets: map[string]string{"password": "hunter2"}}
			_, err := icpt(context.Background(), req, &grpc.UnaryServerInfo{FullMethod: "/csi.v1.Controller/DeleteVolume"}, tc.handler)
			wantCode(t, err, tc.code)
			if got := counterValue(t, reg, "DeleteVolume", tc.code.String()); got != 1 {
				t.Fatalf("operations_total{DeleteVolume,%s} = %v", tc.code, got)
			}
			if n := testutil.CollectAndCount(reg, "rds_csi_operation_duration_seconds"); n != 1 {
				t.Fatalf("duration series = %d", n)
			}
		})
	}
}

func TestInterceptorPutsLoggerInContext(t *testing.T) {
	icpt := unaryInterceptor(klogTestLogger(t), nil) // nil metrics must be fine
	var sawLogger bool
	_, err := icpt(context.Background(), &csi.ProbeRequest{}, &grpc.UnaryServerInfo{FullMethod: "/csi.v1.Identity/Probe"},
		func(ctx context.Context, _ any) (any, error) {
			_, err := logr.FromContext(ctx)
			sawLogger = err == nil
			return &csi.ProbeResponse{}, nil
		})
	if err != nil || !sawLogger {
		t.Fatalf("err %v, logger in context %v", err, sawLogger)
	}
}

func TestRequestKeys(t *testing.T) {
	kv := requestKeys("ControllerPublishVolume", &csi.ControllerPublishVolumeRequest{VolumeId: "pvc-1", NodeId: "n1"})
	got := make(map[any]any)
	for i := 0; i+1 < len(kv); i += 2 {
		got[kv[i]] = kv[i+1]
	}
	if got["method"] != "ControllerPublishVolume" || got["volumeID"] != "pvc-1" || got["nodeID"] != "n1" {
		t.Fatalf("keys %v", kv)
	}
	kv = requestKeys("CreateSnapshot", &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: "pvc-2"})
	if !strings.Contains(strings.TrimSpace(strings.Join(strs(kv), " ")), "volumeID pvc-2") {
		t.Fatalf("keys %v", kv)
	}
}

func strs(kv []any) []string {
	out := make([]string, len(kv))
	for i, v := range kv {
		out[i], _ = v.(string)
	}
	return out
}

func TestSocketPath(t *testing.T) {
	for in, want := range map[string]string{"unix:///csi/csi.sock": "/csi/csi.sock", "/tmp/x.sock": "/tmp/x.sock"} {
		if got, err := SocketPath(in); err != nil || got != want {
			t.Errorf("%s → %s %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "tcp://1.2.3.4:5", "unix://relative", "csi.sock"} {
		if _, err := SocketPath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestServerEndToEnd(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "csi.sock")
	// A stale socket from an earlier run is replaced.
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := stale.Close(); err != nil {
		t.Fatal(err)
	}

	h := newHarness(t)
	ops, reg := newOps(t)
	srv, err := NewServer(ServerConfig{
		Endpoint:   "unix://" + sock,
		Identity:   NewIdentityServer("rds.csi.srvlab.io", "dev", true, h.connected.Load),
		Controller: h.cs,
		Metrics:    ops,
		Logger:     klogTestLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	probe, err := csi.NewIdentityClient(conn).Probe(cctx, &csi.ProbeRequest{})
	if err != nil || !probe.GetReady().GetValue() {
		t.Fatalf("probe %v %v", probe, err)
	}
	ctrl := csi.NewControllerClient(conn)
	_, err = ctrl.CreateVolume(cctx, &csi.CreateVolumeRequest{})
	wantCode(t, err, codes.InvalidArgument)
	vol, err := ctrl.CreateVolume(cctx, createReq("over-grpc", gib))
	if err != nil {
		t.Fatal(err)
	}
	if vol.GetVolume().GetCapacityBytes() != gib {
		t.Fatalf("volume %v", vol)
	}
	// The node service is not registered in controller-only mode.
	_, err = csi.NewNodeClient(conn).NodeGetInfo(cctx, &csi.NodeGetInfoRequest{})
	wantCode(t, err, codes.Unimplemented)

	if got := counterValue(t, reg, "CreateVolume", "InvalidArgument"); got != 1 {
		t.Fatalf("InvalidArgument count %v", got)
	}
	if got := counterValue(t, reg, "CreateVolume", "OK"); got != 1 {
		t.Fatalf("OK count %v", got)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func TestServerRefusesToRemoveNonSocket(t *testing.T) {
	p := filepath.Join(t.TempDir(), "csi.sock")
	if err := os.WriteFile(p, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(ServerConfig{Endpoint: p, Identity: NewIdentityServer("d", "v", false, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err == nil {
		t.Fatal("listened over a regular file")
	}
	if b, _ := os.ReadFile(p); string(b) != "data" {
		t.Fatal("regular file clobbered")
	}
}

func TestServerStopTimeoutCutsHungRPC(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "csi.sock")
	h := newHarness(t)
	block := make(chan struct{})
	defer close(block)
	h.fake.SetHook("ListVolumes", func(ctx context.Context) error {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return ctx.Err()
	})
	srv, err := NewServer(ServerConfig{Endpoint: sock, Identity: NewIdentityServer("d", "v", true, nil),
		Controller: h.cs, StopTimeout: 200 * time.Millisecond, Logger: klogTestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	rpcDone := make(chan error, 1)
	go func() {
		_, err := csi.NewControllerClient(conn).ListVolumes(context.Background(), &csi.ListVolumesRequest{})
		rpcDone <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for h.fake.CallCount("ListVolumes") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if h.fake.CallCount("ListVolumes") == 0 {
		t.Fatalf("the RPC never reached the RDS: %v", <-rpcDone)
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve hung on an in-flight RPC")
	}

	if err := <-rpcDone; err == nil {
		t.Fatal("hung RPC succeeded")
	}
}

func TestInterceptorLogsSanitisedPayloadsAndKeys(t *testing.T) {
	logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(6), ktesting.BufferLogs(true)))
	icpt := unaryInterceptor(logger, nil)
	req := &csi.ControllerPublishVolumeRequest{VolumeId: "pvc-x", NodeId: "node-1", Secrets: map[string]string{"password": "hunter2"}}
	_, err := icpt(context.Background(), req, &grpc.UnaryServerInfo{FullMethod: "/csi.v1.Controller/ControllerPublishVolume"},
		func(context.Context, any) (any, error) { return nil, status.Error(codes.NotFound, "gone") })
	wantCode(t, err, codes.NotFound)
	logs := logger.GetSink().(ktesting.Underlier).GetBuffer().String()
	for _, want := range []string{`method="ControllerPublishVolume"`, `volumeID="pvc-x"`, `nodeID="node-1"`, "GRPC call failed", "***stripped***"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "hunter2") {
		t.Fatalf("secret logged:\n%s", logs)
	}
}
