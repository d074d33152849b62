package helm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/srvlab/rds-csi/test/harness"
)

// serviceMonitorCRD stands in for the Prometheus Operator's CRD, which is
// not part of the tools build: same group, version, kind and scope, schema
// left open. It proves the chart's ServiceMonitor is routable and
// well-formed, not the operator's field validation.
const serviceMonitorCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names:
    kind: ServiceMonitor
    listKind: ServiceMonitorList
    plural: servicemonitors
    singular: servicemonitor
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`

// TestServerDryRun applies every render with server-side apply in dry-run
// mode to a real kube-apiserver (with the snapshot CRDs and a ServiceMonitor
// CRD): schemas, unknown fields (server-side apply is strict), immutable
// and cross-field validation. Nothing is persisted.
func TestServerDryRun(t *testing.T) {
	cp := harness.Start(t, harness.Options{})
	cp.ApplyCRDs("")
	crdDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(crdDir, "servicemonitor.yaml"), []byte(serviceMonitorCRD), 0o644); err != nil {
		t.Fatal(err)
	}
	cp.ApplyCRDs(crdDir)

	for _, tc := range []struct {
		name   string
		render func(t *testing.T) string // YAML stream
	}{
		{"helm defaults", func(t *testing.T) string { return helmYAML(t, "rds-csi") }},
		{"helm all-values", func(t *testing.T) string { return helmYAML(t, releaseNS, "-f", allValuesFile) }},
		{"helm switches-off", func(t *testing.T) string { return helmYAML(t, "rds-csi", "-f", switchesOffFile) }},
		{"kustomize base", func(t *testing.T) string { return kustomizeYAML(t, baseDir) }},
		{"kustomize example overlay", func(t *testing.T) string { return kustomizeYAML(t, exampleOverlay) }},
		{"kustomize servicemonitor", func(t *testing.T) string { return kustomizeYAML(t, "deploy/optional/servicemonitor") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.render(t)
			objs := decode(t, data)
			if len(objs) == 0 {
				t.Fatal("nothing rendered")
			}
			createNamespaces(t, cp, objs)
			file := writeFile(t, "render.yaml", data)
			out, err := cp.Kubectl("apply", "--server-side", "--dry-run=server", "--field-manager=rds-csi-test", "-f", file)
			if err != nil {
				t.Fatalf("server-side dry run: %v", err)
			}
			if n := strings.Count(out, "(server dry run)"); n != len(objs) {
				t.Errorf("%d objects accepted, %d rendered:\n%s", n, len(objs), out)
			}
			t.Logf("%d objects accepted", len(objs))
		})
	}

	// Negative control: the same apply refuses a render with a field the
	// API does not have, so the passes above mean something.
	t.Run("unknown field refused", func(t *testing.T) {
		objs := decode(t, helmYAML(t, "rds-csi"))
		d := find(t, objs, "Deployment", "rds-csi-controller")
		if err := unstructured.SetNestedField(d.Object, int64(1), "spec", "template", "spec", "replicaz"); err != nil {
			t.Fatal(err)
		}
		data, err := d.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cp.Kubectl("apply", "--server-side", "--dry-run=server", "--field-manager=rds-csi-test", "-f", writeFile(t, "bad.json", string(data)))
		if err == nil || !strings.Contains(out, "replicaz") {
			t.Errorf("a Deployment with spec.template.spec.replicaz was not refused (%v):\n%s", err, out)
		}
	})
}

func helmYAML(t *testing.T, ns string, extra ...string) string {
	t.Helper()
	a := append([]string{"template", "rds-csi", chartDir, "--namespace", ns}, extra...)
	out, stderr, err := run(t, repoRoot(t), helmBin(t), a...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(a, " "), err, stderr)
	}
	return out
}

func kustomizeYAML(t *testing.T, dir string) string {
	t.Helper()
	out, stderr, err := run(t, repoRoot(t), toolsBin(t, harness.BinKubectl), "kustomize", dir)
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr)
	}
	return out
}

// createNamespaces creates what a dry run cannot: the namespaces the
// objects live in (a Namespace applied in dry-run mode does not exist for
// the objects inside it).
func createNamespaces(t *testing.T, cp *harness.ControlPlane, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		ns := o.GetNamespace()
		if o.GetKind() == "Namespace" {
			ns = o.GetName()
		}
		if ns == "" {
			continue
		}
		_, err := cp.Clientset.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating namespace %s: %v", ns, err)
		}
	}
}
