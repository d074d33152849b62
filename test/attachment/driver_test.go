package attachment

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/srvlab/rds-csi/cmd/rds-csi/app"
	"github.com/srvlab/rds-csi/driver/kube"
	"github.com/srvlab/rds-csi/test/controller/scrape"
	"github.com/srvlab/rds-csi/test/harness"
)

// driverOpts is what differs between the rds-csi processes of a test.
type driverOpts struct {
	name           string // log file name and label in messages
	pod            podID  // the controller Pod this process claims to be
	sock           string // socket path; empty: a new one
	leaderElection bool
	extraArgs      []string // appended to the command line
}

// driver is one rds-csi process in --mode=controller with --kubeconfig.
type driver struct {
	name       string
	sock       string
	metricsURL string
	logPath    string
	proc       *child
	startedAt  time.Time
	conn       *grpc.ClientConn // nil until dialled
}

// socketPath returns a path for a CSI socket in a short directory of its
// own: a unix socket path must stay under 108 bytes, test temp dirs do not.
func socketPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rdsatt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return filepath.Join(dir, "csi.sock")
}

// startDriver starts rds-csi against the emulator and the cluster. It does
// not wait: the socket appears only after the startup reconcile pass.
func (env *testEnv) startDriver(t testing.TB, o driverOpts) *driver {
	t.Helper()
	if o.sock == "" {
		o.sock = socketPath(t)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	d := &driver{
		name:       o.name,
		sock:       o.sock,
		metricsURL: "http://" + metricsAddr + "/metrics",
		logPath:    filepath.Join(env.dir, o.name+".log"),
	}
	args := []string{
		"--mode=" + app.ModeController,
		"--endpoint=unix://" + o.sock,
		"--rds-address=" + env.emu.addr,
		"--rds-private-key=" + env.emu.clientKeyPath,
		"--rds-host-key=" + env.emu.hostPubPath,
		"--kubeconfig=" + env.cluster.cp.KubeconfigPath,
		"--metrics-address=" + metricsAddr,
		"-v=2",
	}
	args = append(args, o.extraArgs...)
	if o.leaderElection {
		args = append(args, "--leader-election")
	}
	podEnv := []string{
		kube.EnvPodName + "=" + o.pod.name,
		kube.EnvPodNamespace + "=" + o.pod.namespace,
		kube.EnvPodUID + "=" + string(o.pod.uid),
	}
	d.startedAt = time.Now()
	d.proc = startChild(t, o.name, d.logPath, csiBin, podEnv, args...)
	t.Cleanup(func() {
		if d.conn != nil {
			_ = d.conn.Close()
		}
	})
	return d
}

// socketTimeout bounds process start → socket: informer sync and the
// startup pass, normally well under a second.
const socketTimeout = time.Minute

// waitSocket polls for the CSI socket and returns when the poll first saw
// it. The process exiting first fails the test.
func (d *driver) waitSocket(t testing.TB) time.Time {
	t.Helper()
	const timeout = socketTimeout
	at, ok := pollUntil(finePoll, timeout, func() bool {
		if d.proc.exited() {
			return true
		}
		_, err := os.Lstat(d.sock)
		return err == nil
	})
	if d.proc.exited() {
		t.Fatalf("%s exited before serving: %v", d.name, d.proc.waitErr)
	}
	if !ok {
		t.Fatalf("%s: no socket %s after %v", d.name, d.sock, timeout)
	}
	return at
}

// dial connects the CSI client (once); the socket must exist.
func (d *driver) dial(t testing.TB) *grpc.ClientConn {
	t.Helper()
	if d.conn == nil {
		c, err := grpc.NewClient("unix://"+d.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		d.conn = c
	}
	return d.conn
}

// probe is the CSI Probe as the livenessprobe sidecar sends it.
func (d *driver) probe(t testing.TB) (bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := csi.NewIdentityClient(d.dial(t)).Probe(ctx, &csi.ProbeRequest{})
	if err != nil {
		return false, err
	}
	return resp.GetReady().GetValue(), nil
}

// waitReady waits until Probe answers ready=true (connected to the RDS).
func (d *driver) waitReady(t testing.TB) {
	t.Helper()
	var last error
	if _, ok := pollUntil(coarsePoll, 20*time.Second, func() bool {
		ready, err := d.probe(t)
		last = err
		return err == nil && ready
	}); !ok {
		t.Fatalf("%s: Probe not ready after 20s (last error %v)", d.name, last)
	}
}

// createVolume provisions a volume as the external-provisioner would: the
// name is the PV's name, pvc-<PVC uid>.
func (d *driver) createVolume(t testing.TB, name string) *csi.Volume {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := csi.NewControllerClient(d.dial(t)).CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name:          name,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30},
		VolumeCapabilities: []*csi.VolumeCapability{{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		}},
	})
	if err != nil {
		t.Fatalf("%s: CreateVolume %s: %v", d.name, name, err)
	}
	return resp.GetVolume()
}

// scrape reads the /metrics page.
func (d *driver) scrape() (scrape.Families, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return scrape.Get(ctx, d.metricsURL)
}

// metric is one series' value, or -1 when the page or the series is not
// there (the process is down, or the series does not exist yet).
func (d *driver) metric(name string, labels map[string]string) float64 {
	f, err := d.scrape()
	if err != nil {
		return -1
	}
	v, ok := f.Value(name, labels)
	if !ok {
		return -1
	}
	return v
}

// reconciles is rds_csi_attachment_reconcile_total over every result.
func (d *driver) reconciles() float64 {
	f, err := d.scrape()
	if err != nil {
		return -1
	}
	total := 0.0
	for _, s := range f.Series("rds_csi_attachment_reconcile_total") {
		total += s.Value
	}
	return total
}

// log reads the process's klog lines.
func (d *driver) log(t testing.TB) []logLine {
	t.Helper()
	lines, err := readLog(d.logPath)
	if err != nil {
		t.Fatalf("%s: %v", d.name, err)
	}
	return lines
}
