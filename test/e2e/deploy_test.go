//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/srvlab/rds-csi/test/harness"
)

// The cluster is set up from what we ship: deploy/overlays/example rendered
// by kubectl kustomize. Its cluster objects are installed for real, the
// controller and the sidecars run as the Deployment's service account with
// the Deployment's own arguments (a few replaced, see controllerArgs and
// sidecarArgs). A manifest the driver or the sidecars reject, or RBAC that
// lacks a permission, fails these tests rather than a first installation.

// deployOverlay is the kustomization the e2e cluster is built from.
const deployOverlay = "deploy/overlays/example"

// installedKinds are applied for real. Workloads, Services and ConfigMaps
// are not: no kubelet would run them; their content is used by the tests.
var installedKinds = []string{
	"Namespace", "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding",
	"CSIDriver", "StorageClass", "VolumeSnapshotClass",
}

// rendered is the overlay's output.
type rendered struct {
	objs       []*unstructured.Unstructured
	controller *appsv1.Deployment // the controller Deployment (has our container)
}

// renderDeploy runs `kubectl kustomize` on the overlay (no cluster needed)
// and finds the controller Deployment.
func renderDeploy(t *testing.T, kubectl, root string) *rendered {
	t.Helper()
	cmd := exec.Command(kubectl, "kustomize", filepath.Join(root, deployOverlay))
	cmd.Env = append(os.Environ(), "KUBERC=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", deployOverlay, err, stderr.String())
	}
	objs, err := harness.DecodeObjects(out)
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", deployOverlay, err)
	}
	r := &rendered{objs: objs}
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
			t.Fatalf("Deployment %s: %v", o.GetName(), err)
		}
		if slices.ContainsFunc(d.Spec.Template.Spec.Containers, isDriverContainer) {
			r.controller = &d
		}
	}
	if r.controller == nil {
		t.Fatalf("%s renders no Deployment running rds-csi --mode=controller", deployOverlay)
	}
	return r
}

func isDriverContainer(c corev1.Container) bool {
	return slices.Contains(c.Args, "--mode=controller")
}

// container returns the Deployment's container with the name.
func (r *rendered) container(t testing.TB, name string) corev1.Container {
	t.Helper()
	for _, c := range r.controller.Spec.Template.Spec.Containers {
		if c.Name == name || (name == "" && isDriverContainer(c)) {
			return c
		}
	}
	t.Fatalf("Deployment %s has no container %q", r.controller.Name, name)
	return corev1.Container{}
}

// serviceAccountUser is the API identity of the controller Pod's service
// account, as a token of that account would authenticate.
func (r *rendered) serviceAccountUser() harness.User {
	ns, sa := r.controller.Namespace, r.controller.Spec.Template.Spec.ServiceAccountName
	return harness.User{
		Name:   "system:serviceaccount:" + ns + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
}

// install applies the installedKinds objects with kubectl, unchanged: the
// StorageClasses keep the example's documentation nvmeAddress, which only
// ends up in volume and publish contexts (no node plugin connects here).
func (r *rendered) install(t *testing.T, c *cluster) {
	t.Helper()
	var items []any
	for _, o := range r.objs {
		if slices.Contains(installedKinds, o.GetKind()) {
			items = append(items, o.Object)
		}
	}
	data, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "installed.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out := c.kubectl(t, "apply", "-f", path)
	t.Logf("installed from %s:\n%s", deployOverlay, strings.TrimSpace(out))
}

// objectNamed returns the rendered object of the kind and name, or nil.
func (r *rendered) objectNamed(kind, name string) *unstructured.Unstructured {
	for _, o := range r.objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// defaultClass returns the name of the rendered object of kind annotated as
// the default (StorageClass, VolumeSnapshotClass).
func (r *rendered) defaultClass(t testing.TB, kind, annotation string) string {
	t.Helper()
	for _, o := range r.objs {
		if o.GetKind() == kind && o.GetAnnotations()[annotation] == "true" {
			return o.GetName()
		}
	}
	t.Fatalf("%s renders no default %s (annotation %s)", deployOverlay, kind, annotation)
	return ""
}

// withArgs returns args with every --name[=value] flag named in replace
// substituted (keeping its position) and the remaining replacements
// appended, so the shipped flags are used except where the test must differ.
func withArgs(t testing.TB, args []string, replace map[string]string) []string {
	t.Helper()
	var out []string
	done := map[string]bool{}
	for _, a := range args {
		if !strings.HasPrefix(a, "--") {
			t.Fatalf("argument %q: the e2e tests expect --name=value flags", a)
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		v, ok := replace[name]
		switch {
		case !ok:
			out = append(out, a)
		case v != "":
			out = append(out, "--"+name+"="+v)
		}
		done[name] = true
	}
	var rest []string
	for name, v := range replace {
		if !done[name] && v != "" {
			rest = append(rest, "--"+name+"="+v)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}
