//go:build linux

package e2e

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/srvlab/rds-csi/test/harness"
)

// sidecarOverrides replace flags of the shipped sidecar containers.
//
//   - csi-address, kubeconfig: this machine's socket, and a token of the
//     controller's service account (so deploy's RBAC is what allows them).
//   - leader-election-namespace: in a Pod the sidecars take it from their
//     service-account mount, which does not exist here.
//   - http-endpoint: dropped; deploy gives each sidecar a fixed port for
//     its metrics and health, which in a Pod is its own, but here every
//     sidecar shares this machine's network with other test runs.
//   - retry-interval-*: the scenarios wait for retries after a refusal
//     (attach) or an outage (provision); a short cap keeps those waits in
//     seconds while running the same code path as the shipped 30 s cap.
func (c *cluster) sidecarOverrides() map[string]string {
	return map[string]string{
		"csi-address":               c.controller.Socket,
		"kubeconfig":                c.cp.KubeconfigFor(c.driverUser),
		"leader-election-namespace": c.driverNamespace,
		"http-endpoint":             "",
		"retry-interval-start":      "500ms",
		"retry-interval-max":        "5s",
		"v":                         "4",
	}
}

// startSidecars starts every sidecar container of deploy's controller
// Deployment from the tools bin directory (a binary of the container's name),
// after checking that it is the version the image tag names, and the
// cluster-wide snapshot-controller (installed separately, docs/install.md).
func (c *cluster) startSidecars(t *testing.T) {
	t.Helper()
	for _, ctr := range c.deploy.controller.Spec.Template.Spec.Containers {
		if isDriverContainer(ctr) {
			continue
		}
		checkSidecarVersion(t, filepath.Join(c.cp.BinDir, ctr.Name), ctr.Image)
		overrides := c.sidecarOverrides()
		if ctr.Name == "csi-attacher" {
			// Its VolumeAttachment reconcile (default 1 min) is what the
			// StaleAttachment scenario counts: more rounds in less time.
			overrides["reconcile-sync"] = e2eReconcileSync()
		}
		bin := ctr.Name
		if ctr.Name == "csi-provisioner" {
			// --enable-capacity: the downward-API variables of its Pod,
			// and the Pod itself as the owner of the capacity objects
			// (no ReplicaSet or Deployment exists here).
			overrides["capacity-ownerref-level"] = "0"
			maps.Copy(overrides, c.provisionerExtra)
			bin = c.launcher(t, ctr.Name, map[string]string{"NAMESPACE": c.driverNamespace, "POD_NAME": controllerPod})
		}
		args := withArgs(t, ctr.Args, overrides)
		t.Logf("%s %s", ctr.Name, strings.Join(args, " "))
		c.sidecars = append(c.sidecars, c.cp.StartBinary(bin, args...))
	}
	c.sidecars = append(c.sidecars, c.cp.StartBinary(harness.BinSnapshotController,
		"--kubeconfig="+c.cp.KubeconfigPath,
		"--leader-election=false",
		"--retry-interval-start=500ms",
		"--retry-interval-max=5s",
		"--v=4",
	))
}

// launcher writes a script that runs the tools binary name with env set, as
// the downward API would, without leaking env into other processes; exec
// keeps the PID (and so the harness's signals) the binary's own.
func (c *cluster) launcher(t *testing.T, name string, env map[string]string) string {
	t.Helper()
	script := "#!/bin/sh\n"
	for k, v := range env {
		script += fmt.Sprintf("export %s='%s'\n", k, v)
	}
	script += fmt.Sprintf("exec '%s' \"$@\"\n", filepath.Join(c.cp.BinDir, name))
	path := filepath.Join(c.cp.Dir, name+"-launcher")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkSidecarVersion fails the test when the binary under test is not the
// release the Deployment's image runs: what is tested must be what ships.
func checkSidecarVersion(t *testing.T, bin, image string) {
	t.Helper()
	_, tag, ok := strings.Cut(image[strings.LastIndex(image, "/")+1:], ":")
	if !ok {
		t.Fatalf("image %s has no tag", image)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s (does test/tools build the sidecar the Deployment runs?)", bin, err, out)
	}
	fields := strings.Fields(string(out))
	if len(fields) < 2 || fields[1] != tag {
		t.Errorf("%s reports %q, deploy runs image %s: test/tools/go.mod and deploy/ disagree", bin, strings.TrimSpace(string(out)), image)
	}
}
