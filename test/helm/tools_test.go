package helm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/srvlab/rds-csi/test/harness"
)

// EnvHelm names the helm binary; see the package documentation.
const EnvHelm = "RDS_CSI_HELM"

// chartDir and the kustomizations, relative to the repository root.
const (
	chartDir       = "deploy/helm/rds-csi"
	baseDir        = "deploy/base"
	exampleOverlay = "deploy/overlays/example"
)

// repoRoot is the repository root (two levels above this package).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func required() bool { return os.Getenv(harness.EnvRequireK8s) == "1" }

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helmBin returns the helm binary: RDS_CSI_HELM, or (RDS_CSI_REQUIRE_K8S=1)
// what test/tools/helm.sh builds or finds in its cache. Otherwise the test
// skips: building helm cold takes minutes.
func helmBin(t testing.TB) string {
	t.Helper()
	helmOnce.Do(func() {
		if p := os.Getenv(EnvHelm); p != "" {
			helmPath, helmErr = checkExecutable(p)
			return
		}
		if !required() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(t), "test", "tools", "helm.sh"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			helmErr = fmt.Errorf("test/tools/helm.sh: %w\n%s", err, stderr.String())
			return
		}
		helmPath, helmErr = checkExecutable(strings.TrimSpace(string(out)))
	})
	if helmErr != nil {
		t.Fatalf("helm: %v", helmErr)
	}
	if helmPath == "" {
		t.Skip(EnvHelm + " is not set: export " + EnvHelm + "=\"$(test/tools/helm.sh)\" (builds helm once, minutes cold), or set " +
			harness.EnvRequireK8s + "=1 to let the tests run it")
	}
	return helmPath
}

func checkExecutable(p string) (string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", p)
	}
	return p, nil
}

// toolsBin returns RDS_CSI_TOOLS_BIN after checking that it has name:
// skips when unset (fails with RDS_CSI_REQUIRE_K8S=1), fails when the binary
// is missing.
func toolsBin(t testing.TB, name string) string {
	t.Helper()
	dir := harness.BinDirOrSkip(t)
	p, err := checkExecutable(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("%s=%s: %v (rebuild with test/tools/build.sh)", harness.EnvToolsBin, dir, err)
	}
	return p
}

// run runs a command with a deadline and returns stdout, stderr and the error.
func run(t testing.TB, dir, bin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	// No user configuration may change what is rendered or where.
	cmd.Env = append(os.Environ(), "KUBERC=off", "HELM_CONFIG_HOME="+t.TempDir(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w (deadline exceeded)", err)
	}
	return stdout.String(), stderr.String(), err
}

// helmTemplate renders the chart as release "rds-csi" in namespace ns with
// the extra helm arguments (-f, --set) and decodes the objects.
func helmTemplate(t testing.TB, ns string, extra ...string) []*unstructured.Unstructured {
	t.Helper()
	root := repoRoot(t)
	args := append([]string{"template", "rds-csi", chartDir, "--namespace", ns}, extra...)
	out, stderr, err := run(t, root, helmBin(t), args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return decode(t, out)
}

// kustomize renders a kustomization directory with the harness's kubectl.
func kustomize(t testing.TB, dir string) []*unstructured.Unstructured {
	t.Helper()
	out, stderr, err := run(t, repoRoot(t), toolsBin(t, harness.BinKubectl), "kustomize", dir)
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr)
	}
	return decode(t, out)
}

// decode splits a multi-document YAML stream into objects.
func decode(t testing.TB, data string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		err := dec.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("decoding rendered YAML: %v\n%s", err, data)
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

// find returns the object of the kind and name, or fails.
func find(t testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	if o := lookup(objs, kind, name); o != nil {
		return o
	}
	t.Fatalf("no %s %q rendered (have %s)", kind, name, ids(objs))
	return nil
}

func lookup(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func ids(objs []*unstructured.Unstructured) string {
	var s []string
	for _, o := range objs {
		s = append(s, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(s, ", ")
}

// podSpec returns a workload's Pod spec.
func podSpec(t testing.TB, o *unstructured.Unstructured) map[string]any {
	t.Helper()
	spec, ok, err := unstructured.NestedMap(o.Object, "spec", "template", "spec")
	if err != nil || !ok {
		t.Fatalf("%s %s has no Pod template: %v", o.GetKind(), o.GetName(), err)
	}
	return spec
}

// containers returns a Pod spec's init containers and containers by name.
func containers(t testing.TB, o *unstructured.Unstructured) map[string]map[string]any {
	t.Helper()
	spec := podSpec(t, o)
	out := map[string]map[string]any{}
	for _, field := range []string{"initContainers", "containers"} {
		list, _ := spec[field].([]any)
		for _, c := range list {
			m, _ := c.(map[string]any)
			name, _ := m["name"].(string)
			if _, dup := out[name]; dup {
				t.Fatalf("%s %s: two containers named %q", o.GetKind(), o.GetName(), name)
			}
			out[name] = m
		}
	}
	return out
}

// container returns one container of a workload, or fails.
func container(t testing.TB, o *unstructured.Unstructured, name string) map[string]any {
	t.Helper()
	c, ok := containers(t, o)[name]
	if !ok {
		t.Fatalf("%s %s has no container %q", o.GetKind(), o.GetName(), name)
	}
	return c
}

// args returns a container's args.
func args(c map[string]any) []string {
	list, _ := c["args"].([]any)
	out := make([]string, 0, len(list))
	for _, a := range list {
		s, _ := a.(string)
		out = append(out, s)
	}
	return out
}

// writeFile writes content into a new file of the test's temp dir.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
