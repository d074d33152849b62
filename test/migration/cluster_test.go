package migration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/test/harness"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

const (
	driverName = "rds.csi.srvlab.io"
	// newNamespace is where this driver runs (deploy/base).
	newNamespace = "rds-csi"
	nodeName     = "node-a"
	// scriptTimeout bounds one run of document blocks: they wait for Pods to
	// go (garbage collection takes seconds here) and apply ~40 objects.
	scriptTimeout = 5 * time.Minute
)

// envHelm names a helm binary; default: the one test/tools/helm.sh prints.
const envHelm = "RDS_CSI_HELM"

// cluster is one control plane with the tools the document's commands use.
type cluster struct {
	cp   *harness.ControlPlane
	dyn  dynamic.Interface
	root string // repository root
	// work is the directory the document's commands run in: a copy of
	// deploy/, where they create deploy/overlays/{mycluster,from-earlier}
	// and earlier-*.yaml.
	work string
	// bin holds kubectl and helm for the commands' PATH.
	bin  string
	home string
	helm string // "" unless the case needs it
}

// controllers of kube-controller-manager: enough for Deployments and
// DaemonSets to make Pods and for deleted workloads' ReplicaSets and Pods to
// be garbage collected (as on a real cluster). Left out on purpose: the PV
// binder and the attach/detach controller, which would rewrite the PV, PVC
// and VolumeAttachment for reasons that have nothing to do with the
// migration (no kubelet reports the volume in use), and the namespace
// controller (a deleted namespace stays Terminating and is caught as such).
var controllers = []string{"garbage-collector-controller", "deployment-controller", "replicaset-controller", "daemonset-controller"}

func startCluster(t *testing.T, needHelm bool) *cluster {
	t.Helper()
	// Skip (or fail) on missing Kubernetes binaries before building helm.
	harness.BinDirOrSkip(t)
	helmBin := ""
	if needHelm {
		helmBin = helmBinary(t) // before the control plane: may skip
	}
	start := time.Now()
	cp := harness.Start(t, harness.Options{ControllerManager: true, Controllers: controllers})
	// Both drivers ship a VolumeSnapshotClass.
	cp.ApplyCRDs("")
	dyn, err := dynamic.NewForConfig(cp.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{cp: cp, dyn: dyn, root: repoRoot(t), work: t.TempDir(), bin: t.TempDir(), home: t.TempDir(), helm: helmBin}
	if err := os.Symlink(filepath.Join(cp.BinDir, harness.BinKubectl), filepath.Join(c.bin, "kubectl")); err != nil {
		t.Fatal(err)
	}
	if helmBin != "" {
		if err := os.Symlink(helmBin, filepath.Join(c.bin, "helm")); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyTree(filepath.Join(c.root, "deploy"), filepath.Join(c.work, "deploy")); err != nil {
		t.Fatal(err)
	}
	// A node, so that the earlier DaemonSet has a Pod to lose.
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName, Labels: map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/hostname": nodeName}}}
	if _, err := cp.Clientset.CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("control plane with snapshot CRDs ready in %v", time.Since(start).Round(time.Millisecond))
	return c
}

// env is the environment of every command: the harness's kubeconfig, our
// kubectl and helm first on PATH, and a private HOME so that neither a
// developer's kubectl preferences nor helm's caches leak in or out.
func (c *cluster) env() []string {
	keep := []string{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "HOME", k == "KUBECONFIG", k == "KUBERC", strings.HasPrefix(k, "HELM_"), strings.HasPrefix(k, "XDG_"):
			continue
		}
		keep = append(keep, kv)
	}
	return append(keep,
		"PATH="+c.bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+c.home,
		"KUBECONFIG="+c.cp.KubeconfigPath,
		"KUBERC=off",
		"XDG_CACHE_HOME="+filepath.Join(c.home, ".cache"),
		"XDG_CONFIG_HOME="+filepath.Join(c.home, ".config"),
		"XDG_DATA_HOME="+filepath.Join(c.home, ".local", "share"),
	)
}

// run runs a program with the commands' environment in the work directory.
func (c *cluster) run(ctx context.Context, stdin io.Reader, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = c.work
	cmd.Env = c.env()
	cmd.Stdin = stdin
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w (deadline exceeded)", err)
	}
	return out.String(), err
}

// kubectl runs kubectl; it fails the test on error.
func (c *cluster) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.run(ctx, nil, filepath.Join(c.bin, "kubectl"), args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// helmCmd runs helm; it fails the test on error.
func (c *cluster) helmCmd(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := c.run(ctx, nil, filepath.Join(c.bin, "helm"), args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// runBlocks runs the named blocks of the document, verbatim, in one bash
// (so the variables of the vars block carry over), after the case's values
// of those variables. bash -x output is logged.
func (c *cluster) runBlocks(t *testing.T, blocks docBlocks, vars map[string]string, names ...string) {
	t.Helper()
	var s strings.Builder
	s.WriteString("set -euo pipefail\nset -x\n")
	for _, name := range names {
		b, ok := blocks.find(name)
		if !ok {
			t.Fatalf("%s has no block %q", docPath, name)
		}
		fmt.Fprintf(&s, "\n# ---- %s:%d %s\n%s", docPath, b.line, name, b.script)
		if name == "vars" {
			// The case's values replace the documented defaults (which are
			// the first case's); printed by -x.
			for _, k := range sortedKeys(vars) {
				fmt.Fprintf(&s, "%s=%s\n", k, vars[k])
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	start := time.Now()
	out, err := c.run(ctx, strings.NewReader(s.String()), "bash", "-s")
	t.Logf("%s blocks %v (%v):\n%s", docPath, names, time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("the commands of %s blocks %v failed: %v", docPath, names, err)
	}
}

// render returns the objects of a kustomization in the work directory.
func (c *cluster) render(t *testing.T, dir string) ([]*unstructured.Unstructured, string) {
	t.Helper()
	out := c.kubectl(t, "kustomize", dir)
	objs, err := decodeObjects([]byte(out))
	if err != nil {
		t.Fatalf("decoding kubectl kustomize %s: %v", dir, err)
	}
	return objs, out
}

func decodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		err := dec.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helmBinary returns RDS_CSI_HELM or the binary test/tools/helm.sh prints
// (which builds it on first use, ~6 min cold). Unavailable: the test skips,
// or fails with RDS_CSI_REQUIRE_K8S=1.
func helmBinary(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		if p := os.Getenv(envHelm); p != "" {
			helmPath = p
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(t), "test", "tools", "helm.sh"))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			helmErr = fmt.Errorf("test/tools/helm.sh: %w\n%s", err, stderr.String())
			return
		}
		helmPath = strings.TrimSpace(stdout.String())
	})
	if helmErr == nil {
		if _, err := os.Stat(helmPath); err != nil {
			helmErr = err
		}
	}
	if helmErr != nil {
		msg := fmt.Sprintf("no helm binary (set %s or make test/tools/helm.sh work): %v", envHelm, helmErr)
		if os.Getenv(harness.EnvRequireK8s) == "1" {
			t.Fatal(msg + "\n(" + harness.EnvRequireK8s + "=1 makes this a failure)")
		}
		t.Skip(msg)
	}
	return helmPath
}

// copyTree copies regular files and directories (deploy/ has nothing else).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// eventually polls cond every 200 ms until it is true or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, state, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after %v (last: %s)", what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
