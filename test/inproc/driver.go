package inproc

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	"github.com/srvlab/rds-csi/cmd/rds-csi/app"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
	"github.com/srvlab/rds-csi/test/procs"
)

// stopTimeout bounds how long the driver may take to stop at cleanup.
const stopTimeout = 30 * time.Second

// Driver is a running in-process controller and a client for it.
type Driver struct {
	// Config is what the driver runs with.
	Config app.Config
	// Socket is the CSI unix socket.
	Socket string
	// MetricsURL is http://host:port/metrics, empty unless WithMetrics.
	MetricsURL string
	// Conn is the gRPC connection to Socket; Controller and Identity use it.
	Conn       *grpc.ClientConn
	Controller csi.ControllerClient
	Identity   csi.IdentityClient
}

type settings struct {
	configure []func(*app.Config)
	metrics   bool
	logger    *klog.Logger
}

// Option adjusts how the driver is started.
type Option func(*settings)

// WithConfig changes the driver's configuration after the defaults and the
// emulator's address and keys are filled in.
func WithConfig(f func(*app.Config)) Option {
	return func(s *settings) { s.configure = append(s.configure, f) }
}

// WithMetrics serves /metrics on a free loopback port (Driver.MetricsURL).
func WithMetrics() Option { return func(s *settings) { s.metrics = true } }

// WithLogger replaces the default logger (the test's log at verbosity 5).
// Benchmarks pass logr.Discard(): benchmark logs are always printed.
func WithLogger(l klog.Logger) Option { return func(s *settings) { s.logger = &l } }

// Start runs the controller against env until the test ends and waits until
// it serves and reports ready (connected to the RDS).
func Start(t testing.TB, env *simtest.Env, opts ...Option) *Driver {
	t.Helper()
	// Without a --kubeconfig the driver uses the in-cluster configuration
	// when KUBERNETES_SERVICE_HOST is set: a CI runner inside a Pod must not
	// have the driver under test work against that cluster.
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	var s settings
	for _, o := range opts {
		o(&s)
	}
	// A unix socket path is limited to 107 bytes: t.TempDir() under a long
	// test name can exceed that, so use a short directory of our own.
	dir, err := os.MkdirTemp("", "rdscsi-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	socket := filepath.Join(dir, "csi.sock")

	cfg := app.DefaultConfig()
	cfg.Mode = app.ModeController
	cfg.Endpoint = "unix://" + socket
	cfg.RDSAddress = env.Addr
	cfg.RDSPrivateKey = env.ClientKeyPath
	cfg.RDSHostKey = env.HostKeyPath
	cfg.MetricsAddress = ""
	if s.metrics {
		cfg.MetricsAddress = procs.FreeAddr(t)
	}
	for _, f := range s.configure {
		f(&cfg)
	}

	logger := ktesting.NewLogger(t, ktesting.NewConfig())
	if s.logger != nil {
		logger = *s.logger
	}
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logger))
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("driver stopped with %v", err)
			}
		case <-time.After(stopTimeout):
			t.Errorf("driver did not stop within %s", stopTimeout)
		}
	})
	waitForSocket(t, socket, done)

	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	d := &Driver{
		Config:     cfg,
		Socket:     socket,
		Conn:       conn,
		Controller: csi.NewControllerClient(conn),
		Identity:   csi.NewIdentityClient(conn),
	}
	if s.metrics {
		d.MetricsURL = "http://" + cfg.MetricsAddress + "/metrics"
	}
	d.WaitReady(t, true, 30*time.Second)
	return d
}
