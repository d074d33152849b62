//go:build linux

package integration

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/srvlab/rds-csi/test/procs"
)

// driver is bin/rds-csi in controller mode, seen from outside: the CSI
// socket and the metrics address.
type driver struct {
	proc        *procs.Proc
	socket      string
	metricsAddr string
	rdsAddr     string
	identity    csi.IdentityClient
	controller  csi.ControllerClient
	http        *http.Client
}

// startDriver runs rds-csi against the RDS at rdsAddr, pinning the host key
// in hostKey, and returns once its CSI socket answers Probe (ready or not).
// extra flags come last and so override the defaults set here.
func startDriver(tb testing.TB, dir, rdsAddr string, keys procs.SSHKeys, hostKey string, extra ...string) *driver {
	tb.Helper()
	rdsArgs := []string{
		"--rds-address=" + rdsAddr,
		"--rds-private-key=" + keys.ClientKey,
		"--rds-host-key=" + hostKey,
	}
	return startDriverWith(tb, dir, rdsAddr, append(rdsArgs, extra...)...)
}

// startDriverWith is startDriver with the RDS flags (the single-RDS ones or
// --rds-config) given by the caller in args.
func startDriverWith(tb testing.TB, dir, rdsAddr string, args ...string) *driver {
	tb.Helper()
	d := &driver{
		socket:      filepath.Join(dir, "csi.sock"),
		metricsAddr: procs.FreeAddr(tb),
		rdsAddr:     rdsAddr,
		http:        &http.Client{Timeout: time.Second},
	}
	base := []string{
		"--mode=controller",
		"--endpoint=unix://" + d.socket,
		"--metrics-address=" + d.metricsAddr,
		"-v=2", // state changes and connection attempts, not every Probe
	}
	d.proc = startProc(tb, "rds-csi", filepath.Join(dir, "rds-csi.log"), csiBin, append(base, args...)...)

	// Connect only once the socket exists: a gRPC channel whose first dial
	// fails waits out its own reconnect backoff (1 s) before trying again.
	listening := func() bool { return d.proc.Exited() || d.socketExists() }
	if _, ok := pollUntil(time.Now(), startupTimeout, listening); !ok {
		tb.Fatalf("rds-csi has not created %s after %s", d.socket, startupTimeout)
	}
	conn, err := grpc.NewClient("unix://"+d.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	d.identity = csi.NewIdentityClient(conn)
	d.controller = csi.NewControllerClient(conn)

	answers := func() bool {
		if d.proc.Exited() {
			return true // reported below
		}
		_, err := procs.Probe(d.identity)
		return err == nil
	}
	if _, ok := pollUntil(time.Now(), startupTimeout, answers); !ok {
		tb.Fatalf("rds-csi does not answer Probe on %s after %s", d.socket, startupTimeout)
	}
	if d.proc.Exited() {
		tb.Fatalf("rds-csi exited during startup: %v", d.proc.Err())
	}
	return d
}

// ready is Probe answering ready=true; notReady is Probe answering
// ready=false. An RPC error is neither: an outage must never make Probe fail.
func (d *driver) ready() bool {
	r, err := procs.Probe(d.identity)
	return err == nil && r
}

func (d *driver) notReady() bool {
	r, err := procs.Probe(d.identity)
	return err == nil && !r
}

// waitReady fails the test unless Probe reports ready within
// startupTimeout, and returns how long it took.
func (d *driver) waitReady(tb testing.TB) time.Duration {
	tb.Helper()
	took, ok := pollUntil(time.Now(), startupTimeout, d.ready)
	if !ok {
		r, err := procs.Probe(d.identity)
		tb.Fatalf("Probe not ready after %s: ready=%v err=%v", took, r, err)
	}
	return took
}

// httpStatus returns the HTTP status of GET path on the metrics address
// (/readyz follows the RDS connection, /healthz only the process).
func (d *driver) httpStatus(path string) (int, error) {
	resp, err := d.http.Get("http://" + d.metricsAddr + path)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// metrics scrapes /metrics.
func (d *driver) metrics(tb testing.TB) metricSet {
	tb.Helper()
	resp, err := d.http.Get("http://" + d.metricsAddr + "/metrics")
	if err != nil {
		tb.Fatalf("scraping metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("scraping metrics: %s", resp.Status)
	}
	set, err := parseMetrics(resp.Body)
	if err != nil {
		tb.Fatalf("scraping metrics: %v", err)
	}
	return set
}

// metric returns one series' value from a fresh scrape; a missing series
// fails the test (the FSM initialises every series it uses).
func (d *driver) metric(tb testing.TB, name string, labels ...string) float64 {
	tb.Helper()
	v, ok := d.metrics(tb).get(name, labels...)
	if !ok {
		tb.Fatalf("metric %s missing", seriesKey(name, labels...))
	}
	return v
}

// Series the tests read.
const (
	mConnectionState   = "rds_csi_rds_connection_state"
	mReconnects        = "rds_csi_rds_reconnect_total"
	mReconnectDuration = "rds_csi_rds_reconnect_duration_seconds"
	mFSMState          = "rds_csi_rds_connection_fsm_state"
	mTransitions       = "rds_csi_fsm_transitions_total"
)

func (d *driver) connectionState(tb testing.TB) float64 {
	tb.Helper()
	return d.metric(tb, mConnectionState, "address", d.rdsAddr)
}

func (d *driver) reconnects(tb testing.TB, status string) float64 {
	tb.Helper()
	return d.metric(tb, mReconnects, "status", status)
}

// socketExists reports whether the CSI socket file is still there.
func (d *driver) socketExists() bool {
	_, err := os.Lstat(d.socket)
	return err == nil
}
