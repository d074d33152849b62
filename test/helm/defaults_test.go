package helm

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/srvlab/rds-csi/test/harness"
)

// bothRenders: the kustomize base and the chart's defaults, the two things
// a user installs without changing anything.
func bothRenders(t *testing.T) map[string][]*unstructured.Unstructured {
	return map[string][]*unstructured.Unstructured{
		"kustomize": kustomize(t, baseDir),
		"helm":      helmTemplate(t, "rds-csi"),
	}
}

// TestSafeDefaults: the defaults of issue 12, for the base and the chart.
func TestSafeDefaults(t *testing.T) {
	renders := bothRenders(t)
	for _, tc := range []struct {
		name  string
		check func(t *testing.T, objs []*unstructured.Unstructured)
	}{
		{"no default StorageClass", func(t *testing.T, objs []*unstructured.Unstructured) {
			classes := ofKind(objs, "StorageClass")
			if len(classes) == 0 {
				t.Fatal("no StorageClass rendered")
			}
			for _, sc := range classes {
				if v, ok := sc.GetAnnotations()["storageclass.kubernetes.io/is-default-class"]; ok {
					t.Errorf("StorageClass %s has is-default-class=%q: no class may be the default unless asked", sc.GetName(), v)
				}
			}
		}},
		{"SELinux: node Pod runs as spc_t, only the plugin privileged", func(t *testing.T, objs []*unstructured.Unstructured) {
			ds := find(t, objs, "DaemonSet", "rds-csi-node")
			typ, _, _ := unstructured.NestedString(podSpec(t, ds), "securityContext", "seLinuxOptions", "type")
			if typ != "spc_t" {
				t.Errorf("node Pod seLinuxOptions.type %q, want spc_t (registrar and livenessprobe must reach the socket on SELinux nodes)", typ)
			}
			for name, c := range containers(t, ds) {
				priv, _, _ := unstructured.NestedBool(c, "securityContext", "privileged")
				if priv != (name == "rds-csi") {
					t.Errorf("container %s privileged=%v; only rds-csi is", name, priv)
				}
				// A container-level type would override the Pod's.
				if ct, ok, _ := unstructured.NestedString(c, "securityContext", "seLinuxOptions", "type"); ok && ct != "spc_t" {
					t.Errorf("container %s overrides the SELinux type with %q", name, ct)
				}
			}
		}},
		{"nothing created under the host's /etc", func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, w := range append(ofKind(objs, "DaemonSet"), ofKind(objs, "Deployment")...) {
				etcVolumes := map[string]bool{}
				vols, _ := podSpec(t, w)["volumes"].([]any)
				for _, v := range vols {
					vm := v.(map[string]any)
					hp, ok := vm["hostPath"].(map[string]any)
					if !ok {
						continue
					}
					p, _ := hp["path"].(string)
					if p == "/etc" || strings.HasPrefix(p, "/etc/") {
						etcVolumes[vm["name"].(string)] = true
						// "" (unchecked) makes containerd create a missing
						// source; DirectoryOrCreate/FileOrCreate the kubelet:
						// both fail on a read-only /etc.
						if typ, _ := hp["type"].(string); typ != "Directory" && typ != "File" {
							t.Errorf("%s: hostPath %s has type %q: a missing path would be created on the host", w.GetName(), p, typ)
						}
					}
				}
				for name, c := range containers(t, w) {
					mounts, _ := c["volumeMounts"].([]any)
					for _, m := range mounts {
						mm := m.(map[string]any)
						if etcVolumes[mm["name"].(string)] && mm["readOnly"] != true {
							t.Errorf("%s container %s mounts the host's %v writable", w.GetName(), name, mm["mountPath"])
						}
					}
				}
			}
		}},
		{"node plugin's /etc/nvme is the copied identity, not the image's", func(t *testing.T, objs []*unstructured.Unstructured) {
			ds := find(t, objs, "DaemonSet", "rds-csi-node")
			var vol string
			mounts, _ := container(t, ds, "rds-csi")["volumeMounts"].([]any)
			for _, m := range mounts {
				if mm := m.(map[string]any); mm["mountPath"] == "/etc/nvme" {
					vol, _ = mm["name"].(string)
				}
			}
			if vol == "" {
				t.Fatal("rds-csi has nothing mounted at /etc/nvme: it would read a host NQN baked into the image")
			}
			copier := container(t, ds, "nvme-host-identity")
			shared := false
			cm, _ := copier["volumeMounts"].([]any)
			for _, m := range cm {
				if mm := m.(map[string]any); mm["name"] == vol && mm["readOnly"] != true {
					shared = true
				}
			}
			if !shared {
				t.Errorf("the init container nvme-host-identity does not write volume %s", vol)
			}
			script := strings.Join(stringList(copier["command"]), " ")
			for _, want := range []string{"/host/etc/nvme/$f", "hostnqn hostid"} {
				if !strings.Contains(script, want) {
					t.Errorf("nvme-host-identity script lacks %q: %s", want, script)
				}
			}
		}},
		{"every sidecar and the driver log with --v", func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, w := range append(ofKind(objs, "DaemonSet"), ofKind(objs, "Deployment")...) {
				spec := podSpec(t, w)
				list, _ := spec["containers"].([]any)
				for _, c := range list {
					cm := c.(map[string]any)
					if !slices.ContainsFunc(args(cm), func(a string) bool { return regexp.MustCompile(`^--v=[0-9]+$`).MatchString(a) }) {
						t.Errorf("%s container %v has no --v: %q", w.GetName(), cm["name"], args(cm))
					}
				}
			}
		}},
		{"sidecars serve HTTP where they can, on a declared port", func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, w := range append(ofKind(objs, "DaemonSet"), ofKind(objs, "Deployment")...) {
				for name, c := range containers(t, w) {
					if name == "rds-csi" || name == "load-nvme-tcp" || name == "nvme-host-identity" {
						continue
					}
					var port string
					for _, a := range args(c) {
						if v, ok := strings.CutPrefix(a, "--http-endpoint=:"); ok {
							port = v
						}
					}
					if port == "" {
						t.Errorf("%s container %s has no --http-endpoint=:<port>: %q", w.GetName(), name, args(c))
						continue
					}
					declared := false
					ports, _ := c["ports"].([]any)
					for _, p := range ports {
						if pm := p.(map[string]any); normalizeAny(pm["containerPort"]) == normalizeAny(atoi(t, port)) {
							declared = true
						}
					}
					if !declared {
						t.Errorf("%s container %s listens on %s without a containerPort", w.GetName(), name, port)
					}
				}
			}
		}},
	} {
		for which, objs := range renders {
			t.Run(tc.name+"/"+which, func(t *testing.T) { tc.check(t, objs) })
		}
	}
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, s := range list {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			t.Fatalf("port %q is not a number", s)
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// copyTree copies a directory (regular files only).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// userOverlay copies deploy/base and the example overlay into a temp tree
// (same relative layout) and applies edit to the overlay's kustomization.
func userOverlay(t *testing.T, edit func(t *testing.T, kustomization string) string) string {
	t.Helper()
	root := repoRoot(t)
	tmp := t.TempDir()
	copyTree(t, filepath.Join(root, baseDir), filepath.Join(tmp, "deploy", "base"))
	overlay := filepath.Join(tmp, "deploy", "overlays", "mine")
	copyTree(t, filepath.Join(root, exampleOverlay), overlay)
	kf := filepath.Join(overlay, "kustomization.yaml")
	data, err := os.ReadFile(kf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kf, []byte(edit(t, string(data))), 0o644); err != nil {
		t.Fatal(err)
	}
	return overlay
}

// replaceOnce replaces the only occurrence of old: the setting is in one place.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("%q occurs %d times in the overlay's kustomization.yaml, want once (one place to set it)", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// TestKustomizeOnePlace: the kubelet directory and the namespace are each
// set in one place of a user's overlay, and nothing rendered keeps the
// default after changing it.
func TestKustomizeOnePlace(t *testing.T) {
	kubectl := toolsBin(t, harness.BinKubectl)
	render := func(t *testing.T, dir string) []*unstructured.Unstructured {
		out, stderr, err := run(t, dir, kubectl, "kustomize", dir)
		if err != nil {
			t.Fatalf("kubectl kustomize: %v\n%s", err, stderr)
		}
		return decode(t, out)
	}
	t.Run("kubelet directory", func(t *testing.T) {
		const dir = "/var/snap/microk8s/common/var/lib/kubelet"
		overlay := userOverlay(t, func(t *testing.T, k string) string {
			return replaceOnce(t, k, "path=/var/lib/kubelet", "path="+dir)
		})
		objs := render(t, overlay)
		checkKubeletDir(t, objs, dir)
		// The kustomize-only setting is never applied to the cluster.
		if lookup(objs, "ConfigMap", "rds-csi-kubelet-dir") != nil {
			t.Error("the local-config ConfigMap rds-csi-kubelet-dir is rendered")
		}
	})
	t.Run("kubelet directory default", func(t *testing.T) {
		checkKubeletDir(t, kustomize(t, exampleOverlay), "/var/lib/kubelet")
	})
	t.Run("namespace", func(t *testing.T) {
		overlay := userOverlay(t, func(t *testing.T, k string) string {
			return replaceOnce(t, k, "# namespace: rds-csi", "namespace: storage-system")
		})
		objs := render(t, overlay)
		find(t, objs, "Namespace", "storage-system")
		for _, o := range objs {
			if ns := o.GetNamespace(); ns != "" && ns != "storage-system" {
				t.Errorf("%s %s in namespace %s", o.GetKind(), o.GetName(), ns)
			}
			subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
			for _, s := range subjects {
				if ns := s.(map[string]any)["namespace"]; ns != "storage-system" {
					t.Errorf("%s %s: subject %v in namespace %v", o.GetKind(), o.GetName(), s.(map[string]any)["name"], ns)
				}
			}
			if o.GetKind() == "Namespace" && o.GetName() != "storage-system" {
				t.Errorf("also renders Namespace %s", o.GetName())
			}
		}
	})
}

// buildDriver builds rds-csi from the working tree (not a stale bin/).
func buildDriver(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rds-csi")
	out, stderr, err := run(t, repoRoot(t), "go", "build", "-o", bin, "./cmd/rds-csi")
	if err != nil {
		t.Fatalf("go build ./cmd/rds-csi: %v\n%s%s", err, out, stderr)
	}
	return bin
}

// TestSidecarFlags: rds-csi and the controller sidecars accept every flag
// the base and the chart (defaults and all values) pass them: the binaries
// (the driver from this tree, the sidecars of the releases deploy/ runs)
// parse the arguments, then --help (exit 0; an unknown or malformed flag
// exits 2 first). node-driver-registrar and livenessprobe are not buildable
// here; their flags are checked against their documented lists.
func TestSidecarFlags(t *testing.T) {
	documented := map[string][]string{
		"node-driver-registrar": {"csi-address", "kubelet-registration-path", "http-endpoint", "health-port", "plugin-registration-path", "timeout", "mode", "enable-pprof", "v"},
		"liveness-probe":        {"csi-address", "http-endpoint", "health-port", "probe-timeout", "metrics-address", "metrics-path", "v"},
	}
	renders := bothRenders(t)
	renders["helm all-values"] = helmTemplate(t, releaseNS, "-f", allValuesFile)
	driver := buildDriver(t)
	for which, objs := range renders {
		for _, w := range append(ofKind(objs, "Deployment"), ofKind(objs, "DaemonSet")...) {
			for name, c := range containers(t, w) {
				a := args(c)
				switch {
				case name == "rds-csi":
					t.Run(which+"/"+w.GetKind()+"/"+name, func(t *testing.T) {
						out, stderr, err := run(t, t.TempDir(), driver, append(slices.Clone(a), "--help")...)
						if err != nil {
							t.Errorf("rds-csi rejects %q: %v\n%s", a, err, firstLines(out+stderr, 5))
						}
					})
				case strings.HasPrefix(name, "csi-"):
					t.Run(which+"/"+name, func(t *testing.T) {
						bin := toolsBin(t, name)
						out, stderr, err := run(t, t.TempDir(), bin, append(slices.Clone(a), "--help")...)
						if err != nil {
							t.Errorf("%s rejects %q: %v\n%s", name, a, err, firstLines(out+stderr, 5))
						}
					})
				case documented[name] != nil:
					t.Run(which+"/"+name, func(t *testing.T) {
						for _, arg := range a {
							flag, _, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
							if !strings.HasPrefix(arg, "--") || !slices.Contains(documented[name], flag) {
								t.Errorf("%s: %q is not one of its documented flags %v", name, arg, documented[name])
							}
						}
					})
				}
			}
		}
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
