package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Driver settings of the demo that differ from the defaults, so that the
// crash step takes seconds: production uses 1s/16s backoff and a 2s check.
var demoDriverFlags = []string{
	"--reconnect-base=250ms",
	"--reconnect-max=1s",
	"--rds-health-interval=1s",
	"--rds-health-timeout=1s",
}

// startTimeout bounds how long each process may take to become ready.
const startTimeout = 15 * time.Second

// binariesAndDir finds the emulator and driver binaries and creates the
// demo's working directory (d.dir, removed at the end).
func (d *demo) binariesAndDir() (simBin, csiBin string, err error) {
	if simBin, err = binary(d.opt.bin, "rds-sim"); err != nil {
		return "", "", err
	}
	if csiBin, err = binary(d.opt.bin, "rds-csi"); err != nil {
		return "", "", err
	}
	d.dir, err = os.MkdirTemp("", "rds-csi-demo-")
	return simBin, csiBin, err
}

// setUp creates the temporary directory and keys, and starts the emulator
// and the controller.
func (d *demo) setUp(ctx context.Context) error {
	d.section("Setting up")
	simBin, csiBin, err := d.binariesAndDir()
	if err != nil {
		return err
	}
	d.say("Working in %s (removed at the end).", d.dir)

	file := func(name string) string { return filepath.Join(d.dir, name) }
	clientPub, err := newKeyFile(file("id_ed25519"), "rds-csi demo")
	if err != nil {
		return err
	}
	hostPub, err := newKeyFile(file("ssh_host_ed25519_key"), "rds-sim demo")
	if err != nil {
		return err
	}
	if err := os.WriteFile(file("authorized_keys"), clientPub, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(file("host_key.pub"), hostPub, 0o644); err != nil {
		return err
	}
	d.say("Generated an SSH key for the driver and a host key for the emulator; the driver pins the host key.")

	sshAddr, err := freePort()
	if err != nil {
		return err
	}
	controlAddr, err := freePort()
	if err != nil {
		return err
	}
	metricsAddr, err := freePort()
	if err != nil {
		return err
	}
	d.simBin = simBin
	d.controlURL = "http://" + controlAddr
	d.simArgs = []string{
		"--listen=" + sshAddr, "--control=" + controlAddr, "--data-dir=" + file("rds-data"),
		"--host-key=" + file("ssh_host_ed25519_key"), "--authorized-keys=" + file("authorized_keys"),
		"--latency=" + d.opt.latency,
	}
	if err := d.startSim(ctx); err != nil {
		return err
	}
	d.say("Started the RDS emulator (pid %d): RouterOS commands over SSH on %s, disks as sparse files in %s.",
		d.sim.pid(), sshAddr, file("rds-data"))

	socket := file("csi.sock")
	d.metricsURL = "http://" + metricsAddr + "/metrics"
	d.readyURL = "http://" + metricsAddr + "/readyz"
	args := append([]string{
		"--mode=controller", "--endpoint=unix://" + socket, "--rds-address=" + sshAddr,
		"--rds-private-key=" + file("id_ed25519"), "--rds-host-key=" + file("host_key.pub"),
		"--metrics-address=" + metricsAddr,
	}, demoDriverFlags...)
	// A CI runner inside a Pod has KUBERNETES_SERVICE_HOST set; the demo's
	// driver must not start working against that cluster.
	if d.driver, err = startProcess("rds-csi", file("rds-csi.log"), []string{"KUBERNETES_SERVICE_HOST"}, csiBin, args...); err != nil {
		return err
	}
	if err := waitFor(ctx, "the controller to connect to the RDS (/readyz)", d.driver, func(ctx context.Context) bool {
		return httpOK(ctx, d.readyURL)
	}); err != nil {
		return err
	}
	d.conn, err = grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	d.ctrl = csi.NewControllerClient(d.conn)
	d.say("Started the CSI controller (pid %d) on %s; it is connected to the RDS. Metrics: %s",
		d.driver.pid(), socket, d.metricsURL)
	return nil
}

// startSim starts (or restarts) the emulator and waits until it answers.
func (d *demo) startSim(ctx context.Context) error {
	var err error
	d.sim, err = startProcess("rds-sim", filepath.Join(d.dir, "rds-sim.log"), nil, d.simBin, d.simArgs...)
	if err != nil {
		return err
	}
	return waitFor(ctx, "the emulator's control endpoint", d.sim, func(ctx context.Context) bool {
		return httpOK(ctx, d.controlURL+"/healthz")
	})
}

// binary returns the absolute path of a built binary, or says how to build it.
func binary(dir, name string) (string, error) {
	p, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is missing or not executable: run 'make build' (or point --bin at the binaries)", p)
	}
	return p, nil
}
