//go:build linux

package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/srvlab/rds-csi/test/harness"
)

// controller is bin/rds-csi --mode=controller as a child process.
type controller struct {
	proc       *harness.Process
	Socket     string // CSI unix socket
	MetricsURL string // http://host:port serving /metrics, /healthz, /readyz
}

// controllerOverrides replace flags of the shipped controller container:
// paths and addresses of this machine, and timings that make the outage
// scenario take seconds instead of minutes without changing behaviour.
func (c *cluster) controllerOverrides(ctl *controller) map[string]string {
	return map[string]string{
		"endpoint":            "unix://" + ctl.Socket,
		"kubeconfig":          c.cp.KubeconfigFor(c.driverUser),
		"rds-address":         c.rds.Addr,
		"rds-user":            "admin", // the emulator accepts any user
		"rds-private-key":     c.rds.ClientKey,
		"rds-host-key":        c.rds.HostKeyPub,
		"metrics-address":     strings.TrimPrefix(ctl.MetricsURL, "http://"),
		"rds-health-interval": "1s",
		"rds-health-timeout":  "2s",
		"reconnect-base":      "250ms",
		"reconnect-max":       "2s",
		// A NotReady node's attachments turn stale after 3 s instead of
		// 30 s (StaleAttachment); the other scenarios keep their nodes Ready.
		"attachment-grace-period": e2eAttachmentGrace.String(),
		"v":                       "2",
	}
}

// startController runs the controller with the arguments of deploy's
// controller container (see controllerOverrides), as the Deployment's
// service account, with the downward-API variables of the controller Pod,
// and waits until it serves CSI and is ready (RDS connected).
func startController(t *testing.T, c *cluster, bin string) *controller {
	t.Helper()
	pod, err := c.kube.CoreV1().Pods(c.driverNamespace).Get(context.Background(), controllerPod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := c.cp.Dir
	ctl := &controller{
		Socket:     filepath.Join(dir, "csi.sock"),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d", harness.FreePort(t)),
	}
	// The harness starts every process with the test's own environment. A
	// tiny launcher gives the controller its Pod identity, as the downward
	// API would, without leaking it into the sidecars; exec keeps the PID
	// (and so the harness's signals) the controller's own.
	launcher := filepath.Join(dir, "rds-csi-controller")
	script := fmt.Sprintf("#!/bin/sh\nexport POD_NAME='%s' POD_NAMESPACE='%s' POD_UID='%s'\nexec '%s' \"$@\"\n",
		pod.Name, pod.Namespace, pod.UID, bin)
	if err := os.WriteFile(launcher, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	overrides := c.controllerOverrides(ctl)
	maps.Copy(overrides, c.controllerExtra)
	args := withArgs(t, c.deploy.container(t, "").Args, overrides)
	t.Logf("rds-csi %s", strings.Join(args, " "))
	ctl.proc = c.cp.StartBinary(launcher, args...)

	eventually(t, waitTimeout, "rds-csi controller ready", func() (bool, string, error) {
		if err := ctl.alive(); err != nil {
			return false, "", err
		}
		if _, err := os.Stat(ctl.Socket); err != nil {
			return false, "no socket yet", nil
		}
		code, err := ctl.Readyz()
		if err != nil {
			return false, err.Error(), nil
		}
		return code == http.StatusOK, fmt.Sprintf("/readyz %d", code), nil
	})
	return ctl
}

// alive returns a fatalError when the controller has exited: no wait for
// anything it does can succeed after that.
func (ctl *controller) alive() error {
	if exited, err := ctl.proc.Exited(); exited {
		return fatalf("rds-csi controller exited (%v); last log lines:\n%s", err, ctl.proc.Tail(30))
	}
	return nil
}

// Readyz returns the status code of /readyz (200 only while the RDS is
// connected).
func (ctl *controller) Readyz() (int, error) {
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get(ctl.MetricsURL + "/readyz")
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// Log returns the controller's whole log so far.
func (ctl *controller) Log(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(ctl.proc.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
