//go:build linux

package chaos

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/srvlab/rds-csi/test/procs"
)

// startupTimeout bounds a child's startup (listening, answering Probe): far
// above the tens of ms it takes, for a loaded machine.
const startupTimeout = 20 * time.Second

// killTimeout bounds how long a child takes to be reaped after SIGKILL.
const killTimeout = 10 * time.Second

// waitStartup checks cond at once and then every interval until it holds or
// startupTimeout has passed.
func waitStartup(interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(startupTimeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

// emulator is bin/rds-sim on a fixed address, control address and data
// directory, so that a restart comes back where the driver expects it, with
// the same host key and state.
type emulator struct {
	tb       testing.TB
	addr     string
	control  string
	dir      string
	keys     procs.SSHKeys
	copyRate string
	extra    []string // more flags of every start

	mu     sync.Mutex
	proc   *procs.Proc
	starts int
	logs   []string
}

func (e *emulator) dataDir() string { return filepath.Join(e.dir, "rds-data") }

// start runs a new rds-sim process and returns once it accepts TCP
// connections on its SSH address and its control endpoint answers.
func (e *emulator) start() error {
	e.mu.Lock()
	e.starts++
	n := e.starts
	logPath := filepath.Join(e.dir, fmt.Sprintf("rds-sim-%d.log", n))
	e.logs = append(e.logs, logPath)
	e.mu.Unlock()
	p, err := procs.Start(e.tb, fmt.Sprintf("rds-sim#%d", n), logPath, simBin, append([]string{
		"--listen=" + e.addr,
		"--data-dir=" + e.dataDir(),
		"--authorized-keys=" + e.keys.AuthorizedKeys,
		"--control=" + e.control,
		"--copy-rate=" + e.copyRate,
	}, e.extra...)...)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.proc = p
	e.mu.Unlock()
	up := func() bool {
		if p.Exited() {
			return true
		}
		c, err := net.DialTimeout("tcp", e.addr, 200*time.Millisecond)
		if err != nil {
			return false
		}
		_ = c.Close()
		resp, err := controlClient.Get("http://" + e.control + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	if !waitStartup(20*time.Millisecond, up) {
		return fmt.Errorf("rds-sim#%d does not listen on %s after %s", n, e.addr, startupTimeout)
	}
	if p.Exited() {
		return fmt.Errorf("rds-sim#%d exited during startup: %w (log %s)", n, p.Err(), logPath)
	}
	return nil
}

func (e *emulator) current() *procs.Proc {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.proc
}

func (e *emulator) logFiles() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.logs...)
}

// kill9 kills the running emulator with SIGKILL and waits until it is gone.
func (e *emulator) kill9() error { return e.current().Kill9(killTimeout) }

// controlClient is short: the control endpoint is on loopback.
var controlClient = &http.Client{Timeout: 5 * time.Second}

// control sends method path with body to the emulator's control endpoint.
func (e *emulator) controlDo(method, path, body string) error {
	req, err := http.NewRequest(method, "http://"+e.control+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := controlClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s %q: %w", method, path, body, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s %q: %s: %s", method, path, body, resp.Status, msg)
	}
	return nil
}

// faults reads GET /faults.
func (e *emulator) faults() (map[string]any, error) {
	resp, err := controlClient.Get("http://" + e.control + "/faults")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /faults: %s", resp.Status)
	}
	var m map[string]any
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

// driver is bin/rds-csi in controller mode on a fixed socket and metrics
// address, seen from outside: the CSI socket and /metrics.
type driver struct {
	tb          testing.TB
	dir         string
	socket      string
	metricsAddr string
	args        []string

	conn     *grpc.ClientConn
	identity csi.IdentityClient
	ctrl     csi.ControllerClient
	http     *http.Client

	mu        sync.Mutex
	proc      *procs.Proc
	starts    int
	startedAt time.Time
	logs      []string
}

// newDriver prepares the driver and its one gRPC client connection (a
// channel that reconnects within a second after a driver restart, as the
// sidecars' connection does).
func newDriver(tb testing.TB, dir, rdsAddr string, keys procs.SSHKeys, hostKey string, copyTimeout time.Duration) (*driver, error) {
	d := &driver{
		tb:          tb,
		dir:         dir,
		socket:      filepath.Join(dir, "csi.sock"),
		metricsAddr: procs.FreeAddr(tb),
		// No keep-alive: an idle scrape connection would be a goroutine
		// of the driver that the goroutine figure counts.
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	d.args = []string{
		"--mode=controller",
		"--endpoint=unix://" + d.socket,
		"--rds-address=" + rdsAddr,
		"--rds-private-key=" + keys.ClientKey,
		"--rds-host-key=" + hostKey,
		"--metrics-address=" + d.metricsAddr,
		"--rds-copy-timeout=" + copyTimeout.String(),
		// Must not exceed the copy timeout; still far above the longest
		// hang (4 s).
		"--rds-command-timeout=10s",
		"--reconnect-base=250ms",
		"--reconnect-max=4s",
		"-v=2",
	}
	conn, err := grpc.NewClient("unix://"+d.socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 2 * time.Second,
		}))
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { _ = conn.Close() })
	d.conn = conn
	d.identity = csi.NewIdentityClient(conn)
	d.ctrl = csi.NewControllerClient(conn)
	return d, nil
}

// start runs a new rds-csi process and returns once that process answers
// Probe (ready or not) on the socket.
func (d *driver) start() error {
	d.mu.Lock()
	d.starts++
	n := d.starts
	logPath := filepath.Join(d.dir, fmt.Sprintf("rds-csi-%d.log", n))
	d.logs = append(d.logs, logPath)
	d.mu.Unlock()
	p, err := procs.Start(d.tb, fmt.Sprintf("rds-csi#%d", n), logPath, csiBin, d.args...)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.proc, d.startedAt = p, time.Now()
	d.mu.Unlock()
	// The socket of the killed process may still be there: only an answer
	// tells that this process serves.
	answers := func() bool {
		if p.Exited() {
			return true
		}
		_, err := procs.Probe(d.identity)
		return err == nil
	}
	if !waitStartup(50*time.Millisecond, answers) {
		return fmt.Errorf("rds-csi#%d does not answer Probe on %s after %s", n, d.socket, startupTimeout)
	}
	if p.Exited() {
		return fmt.Errorf("rds-csi#%d exited during startup: %w (log %s)", n, p.Err(), logPath)
	}
	return nil
}

func (d *driver) current() (*procs.Proc, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.proc, d.startedAt
}

func (d *driver) logFiles() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.logs...)
}

func (d *driver) kill9() error {
	p, _ := d.current()
	return p.Kill9(killTimeout)
}

// ready is Probe answering ready=true: connected to the RDS.
func (d *driver) ready() bool {
	r, err := procs.Probe(d.identity)
	return err == nil && r
}

// goroutines scrapes go_goroutines from /metrics.
func (d *driver) goroutines() (int, error) {
	resp, err := d.http.Get("http://" + d.metricsAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return scrapeGoroutines(resp.Body)
}

// scrapeGoroutines returns the value of go_goroutines from the Prometheus
// text format.
func scrapeGoroutines(r io.Reader) (int, error) {
	const name = "go_goroutines"
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == name {
			v, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", name, err)
			}
			return int(v), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New(name + " not exposed")
}

// minGoroutines is the least of 5 scrapes 500 ms apart: the driver's
// health check briefly adds a session goroutine or two every 2 s, a leak
// raises the floor.
func (d *driver) minGoroutines() (int, error) {
	best := -1
	var lastErr error
	for i := range 5 {
		if i > 0 {
			time.Sleep(500 * time.Millisecond)
		}
		g, err := d.goroutines()
		if err != nil {
			lastErr = err
			continue
		}
		if best < 0 || g < best {
			best = g
		}
	}
	if best < 0 {
		return 0, lastErr
	}
	return best, nil
}
