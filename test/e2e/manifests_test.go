//go:build linux

package e2e

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/srvlab/rds-csi/test/harness"
)

// testManifests: every kustomization under deploy/ (the base, the example
// overlay and the optional add-ons) is accepted by a real API server with
// `kubectl apply --dry-run=server -k`: schemas, unknown fields (kubectl
// validates strictly), RBAC objects, admission. Nothing is persisted. And
// every rds-csi container of the example overlay passes only flags the
// binary knows (the controller's are also run for real by installDriver;
// the node plugin's are only parsed: no node plugin runs here).
func (c *cluster) testManifests(t *testing.T) {
	t.Run("DriverFlags", c.testDriverFlags)
	deploy := filepath.Join(c.root, "deploy")
	dirs := kustomizations(t, deploy)
	for _, want := range []string{"base", filepath.Join("overlays", "example")} {
		if !slices.Contains(dirs, filepath.Join(deploy, want)) {
			t.Errorf("deploy/%s has no kustomization.yaml", want)
		}
	}
	for _, dir := range dirs {
		rel, _ := filepath.Rel(c.root, dir)
		t.Run(strings.ReplaceAll(rel, string(filepath.Separator), "_"), func(t *testing.T) {
			objs := c.kustomize(t, dir)
			if len(objs) == 0 {
				t.Fatalf("%s renders no objects", rel)
			}
			c.prepareFor(t, objs)
			out := c.kubectl(t, "apply", "--dry-run=server", "-k", dir)
			n := strings.Count(out, "(server dry run)")
			if n != len(objs) {
				t.Errorf("kubectl apply --dry-run=server -k %s: %d objects accepted, %d rendered:\n%s", rel, n, len(objs), out)
			}
			t.Logf("%s: %d objects accepted:\n%s", rel, n, strings.TrimSpace(out))
		})
	}
}

// kustomizations returns every directory below root holding a
// kustomization file, sorted.
func kustomizations(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch d.Name() {
		case "kustomization.yaml", "kustomization.yml", "Kustomization":
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("looking for kustomizations in %s: %v", root, err)
	}
	slices.Sort(dirs)
	return dirs
}

// kustomize renders dir with the harness's kubectl and decodes the objects.
func (c *cluster) kustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := harness.DecodeObjects([]byte(c.kubectl(t, "kustomize", dir)))
	if err != nil {
		t.Fatalf("decoding kubectl kustomize %s: %v", dir, err)
	}
	return objs
}

// prepareFor creates what a dry run cannot: the namespaces the objects live
// in (a dry-run Namespace is not there for the objects inside it), and a
// minimal ServiceMonitor CRD for the optional Prometheus-operator add-on.
func (c *cluster) prepareFor(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	for _, o := range objs {
		ns := o.GetNamespace()
		if o.GetKind() == "Namespace" {
			ns = o.GetName()
		}
		if ns == "" {
			continue
		}
		_, err := c.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating namespace %s: %v", ns, err)
		}
	}
	if slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == "ServiceMonitor" }) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "servicemonitor-crd.yaml"), []byte(harness.ServiceMonitorCRD), 0o644); err != nil {
			t.Fatal(err)
		}
		c.cp.ApplyCRDs(dir)
	}
}

// testDriverFlags runs bin/rds-csi with each rendered rds-csi container's
// arguments plus --help: the flags are parsed in order, so an unknown or
// malformed flag exits 2 before --help is reached (exit 0).
func (c *cluster) testDriverFlags(t *testing.T) {
	n := 0
	for _, o := range c.deploy.objs {
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, raw := range containers {
			ctr, _ := raw.(map[string]any)
			args, _, _ := unstructured.NestedStringSlice(ctr, "args")
			if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--mode=") }) {
				continue
			}
			n++
			cmd := exec.Command(c.bins.CSI, append(slices.Clone(args), "--help")...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s %s container %v: rds-csi rejects its arguments %q: %v\n%s",
					o.GetKind(), o.GetName(), ctr["name"], args, err, firstLines(string(out), 5))
			} else {
				t.Logf("%s %s container %v: arguments accepted: %s", o.GetKind(), o.GetName(), ctr["name"], strings.Join(args, " "))
			}
		}
	}
	if n < 2 {
		t.Errorf("%s renders %d rds-csi containers, want the controller and the node plugin", deployOverlay, n)
	}
}
