package helm

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	allValuesFile   = "test/helm/testdata/all-values.yaml"
	switchesOffFile = "test/helm/testdata/switches-off.yaml"
	// The release namespace of the all-values render; its objects go to
	// namespace.name instead.
	releaseNS = "rds-csi-release"
)

// freeMaps are values whose keys are the user's (label and selector maps):
// each is one value, not a tree of values.
var freeMaps = []string{"controller.nodeSelector", "node.nodeSelector", "metrics.serviceMonitor.labels"}

// readValues parses a values file of the repository.
func readValues(t testing.TB, rel string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096).Decode(&v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return v
}

// leaves flattens values into dotted paths; lists and freeMaps are leaves.
func leaves(prefix string, v any, out map[string]any) {
	m, ok := v.(map[string]any)
	if !ok || slices.Contains(freeMaps, prefix) {
		out[prefix] = v
		return
	}
	for k, sub := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		leaves(p, sub, out)
	}
}

// renders of the chart the value checks look at.
type renders struct {
	def, all, off []*unstructured.Unstructured
}

// valueCheck verifies one value (a leaf path of values.yaml) in the renders.
type valueCheck struct {
	path  string
	check func(t *testing.T, r renders)
}

// imageOf is the image a container runs and its pull policy.
func imageOf(t *testing.T, o *unstructured.Unstructured, ctr string) (string, string) {
	c := container(t, o, ctr)
	img, _ := c["image"].(string)
	pol, _ := c["imagePullPolicy"].(string)
	return img, pol
}

// valueChecks returns a check for every value of values.yaml, generated for
// the repeated structures (images, log levels) and written out for the rest.
func valueChecks() []valueCheck {
	type comp struct {
		key        string // values path
		workload   string // Deployment or DaemonSet
		containers []string
		image      string // as all-values.yaml renders it
		pullPolicy string
		logLevel   string
	}
	comps := []comp{
		{"controller", "Deployment/rds-csi-controller", []string{"rds-csi"}, "mirror.example.com:5000/storage/rds-csi-controller:v9.9.9-rc1", "Always", "5"},
		{"node", "DaemonSet/rds-csi-node", []string{"rds-csi", "load-nvme-tcp", "nvme-host-identity"}, "mirror.example.com/storage/rds-csi-node:v9.9.9-rc2", "Never", "6"},
		{"sidecars.provisioner", "Deployment/rds-csi-controller", []string{"csi-provisioner"}, "mirror.example.com:5000/csi/provisioner:v6.4.1", "Always", "7"},
		{"sidecars.attacher", "Deployment/rds-csi-controller", []string{"csi-attacher"}, "mirror.example.com:5000/csi/attacher:v4.13.1", "Always", "8"},
		{"sidecars.resizer", "Deployment/rds-csi-controller", []string{"csi-resizer"}, "mirror.example.com:5000/csi/resizer:v2.3.1", "Always", "9"},
		{"sidecars.snapshotter", "Deployment/rds-csi-controller", []string{"csi-snapshotter"}, "mirror.example.com:5000/csi/snapshotter:v8.7.1", "Always", "10"},
		{"sidecars.nodeDriverRegistrar", "DaemonSet/rds-csi-node", []string{"node-driver-registrar"}, "mirror.example.com:5000/csi/node-driver-registrar:v2.18.1", "Always", "3"},
		{"sidecars.livenessProbe", "DaemonSet/rds-csi-node", []string{"liveness-probe"}, "mirror.example.com:5000/csi/livenessprobe:v2.20.1", "Always", "4"},
	}
	var checks []valueCheck
	for _, c := range comps {
		kind, name, _ := strings.Cut(c.workload, "/")
		imageCheck := func(t *testing.T, r renders) {
			w := find(t, r.all, kind, name)
			for _, ctr := range c.containers {
				img, pol := imageOf(t, w, ctr)
				if img != c.image || pol != c.pullPolicy {
					t.Errorf("container %s: image %s (%s), want %s (%s)", ctr, img, pol, c.image, c.pullPolicy)
				}
			}
		}
		for _, f := range []string{"registry", "repository", "tag", "pullPolicy"} {
			checks = append(checks, valueCheck{c.key + ".image." + f, imageCheck})
		}
		checks = append(checks, valueCheck{c.key + ".logLevel", func(t *testing.T, r renders) {
			w := find(t, r.all, kind, name)
			// The init containers run no CSI binary and take no --v.
			a := args(container(t, w, c.containers[0]))
			if !slices.Contains(a, "--v="+c.logLevel) || slices.ContainsFunc(a, func(s string) bool { return strings.HasPrefix(s, "--v=") && s != "--v="+c.logLevel }) {
				t.Errorf("container %s args %q, want exactly one --v=%s", c.containers[0], a, c.logLevel)
			}
		}})
	}

	podField := func(workload string, field string, want any) func(t *testing.T, r renders) {
		kind, name, _ := strings.Cut(workload, "/")
		return func(t *testing.T, r renders) {
			got := podSpec(t, find(t, r.all, kind, name))[field]
			if !reflect.DeepEqual(normalize(t, got), normalize(t, want)) {
				t.Errorf("%s %s: %v, want %v", workload, field, got, want)
			}
		}
	}
	leaderArgs := []string{"--leader-election-lease-duration=30s", "--leader-election-renew-deadline=20s", "--leader-election-retry-period=3s"}
	leaderCheck := func(i int) func(t *testing.T, r renders) {
		return func(t *testing.T, r renders) {
			d := find(t, r.all, "Deployment", "rds-csi-controller")
			for name, c := range containers(t, d) {
				if !slices.Contains(args(c), leaderArgs[i]) {
					t.Errorf("controller container %s lacks %s: %q", name, leaderArgs[i], args(c))
				}
			}
			// Unset: each binary keeps its own default; no flag.
			d = find(t, r.def, "Deployment", "rds-csi-controller")
			flag, _, _ := strings.Cut(leaderArgs[i], "=")
			for name, c := range containers(t, d) {
				if slices.ContainsFunc(args(c), func(s string) bool { return strings.HasPrefix(s, flag) }) {
					t.Errorf("defaults: controller container %s passes %s", name, flag)
				}
			}
		}
	}
	secretCheck := func(t *testing.T, r renders) {
		s := find(t, r.all, "Secret", "rds-ssh-keys")
		v := readValues(t, allValuesFile)["rds"].(map[string]any)["sshSecret"].(map[string]any)
		for key, want := range map[string]any{"rds-private-key": v["privateKey"], "rds-host-key": v["hostKey"]} {
			enc, _, _ := unstructured.NestedString(s.Object, "data", key)
			got, err := base64.StdEncoding.DecodeString(enc)
			if err != nil || string(got) != want {
				t.Errorf("Secret key %s = %q (%v), want %q", key, got, err, want)
			}
		}
		if lookup(r.def, "Secret", "rds-csi-ssh") != nil {
			t.Error("defaults render the SSH Secret: an existing one must be used")
		}
	}
	// The Secret's keys, whatever their names, become the files the
	// driver's flags name.
	secretKeysCheck := func(t *testing.T, r renders) {
		for _, tc := range []struct {
			objs []*unstructured.Unstructured
			want []any
		}{
			{r.all, []any{
				map[string]any{"key": "rds-private-key", "path": "id_ed25519"},
				map[string]any{"key": "rds-host-key", "path": "host_key.pub"},
			}},
			{r.def, []any{
				map[string]any{"key": "id_ed25519", "path": "id_ed25519"},
				map[string]any{"key": "host_key.pub", "path": "host_key.pub"},
			}},
		} {
			d := find(t, tc.objs, "Deployment", "rds-csi-controller")
			var items []any
			for _, v := range podSpec(t, d)["volumes"].([]any) {
				if vm := v.(map[string]any); vm["name"] == "rds-ssh" {
					items, _ = vm["secret"].(map[string]any)["items"].([]any)
				}
			}
			if !reflect.DeepEqual(items, tc.want) {
				t.Errorf("rds-ssh volume items = %v, want %v", items, tc.want)
			}
		}
	}
	configCheck := func(key, want string) func(t *testing.T, r renders) {
		return func(t *testing.T, r renders) {
			got, _, _ := unstructured.NestedString(find(t, r.all, "ConfigMap", "rds-csi-config").Object, "data", key)
			if got != want {
				t.Errorf("rds-csi-config %s = %q, want %q", key, got, want)
			}
		}
	}

	// capacity.enabled: storageCapacity on the CSIDriver and the
	// provisioner's --enable-capacity (with its owner and Pod variables and
	// its RBAC) are on together or off together, never one without the other.
	capacityCheck := func(t *testing.T, r renders) {
		for _, tc := range []struct {
			name string
			objs []*unstructured.Unstructured
			want bool
		}{{"all", r.all, true}, {"defaults", r.def, true}, {"off", r.off, false}} {
			sc, _, _ := unstructured.NestedBool(find(t, tc.objs, "CSIDriver", "rds.csi.srvlab.io").Object, "spec", "storageCapacity")
			p := container(t, find(t, tc.objs, "Deployment", "rds-csi-controller"), "csi-provisioner")
			a := args(p)
			enable := slices.Contains(a, "--enable-capacity")
			owner := slices.Contains(a, "--capacity-ownerref-level=2")
			poll := slices.ContainsFunc(a, func(s string) bool { return strings.HasPrefix(s, "--capacity-poll-interval=") })
			env := map[string]bool{}
			for _, e := range p["env"].([]any) {
				env[e.(map[string]any)["name"].(string)] = true
			}
			rule := hasRule(t, find(t, tc.objs, "ClusterRole", "rds-csi-provisioner"), "csistoragecapacities")
			if sc != tc.want || enable != tc.want || owner != tc.want || poll != tc.want || env["NAMESPACE"] != tc.want || env["POD_NAME"] != tc.want || rule != tc.want {
				t.Errorf("%s: storageCapacity %v, --enable-capacity %v, owner level %v, poll interval %v, NAMESPACE %v, POD_NAME %v, csistoragecapacities rule %v; want all %v",
					tc.name, sc, enable, owner, poll, env["NAMESPACE"], env["POD_NAME"], rule, tc.want)
			}
		}
	}
	// rds.config: the controller reads the units file instead of the
	// single-RDS flags, and mounts it and the units' keys instead of the
	// single RDS's Secret.
	unitsCheck := func(t *testing.T, r renders) {
		content := readValues(t, switchesOffFile)["rds"].(map[string]any)["config"].(map[string]any)["content"]
		cm := find(t, r.off, "ConfigMap", "rds-units-file")
		if got, _, _ := unstructured.NestedString(cm.Object, "data", "rds.yaml"); got != content {
			t.Errorf("ConfigMap rds-units-file rds.yaml = %q, want the content of the values %q", got, content)
		}
		// Only configMapName: an existing ConfigMap, none rendered.
		existing := helmTemplate(t, "rds-csi", "--set", "rds.config.configMapName=my-units", "--set", "rds.config.keysSecretName=my-keys")
		if n := len(ofKind(existing, "ConfigMap")); n != 1 {
			t.Errorf("with only rds.config.configMapName the chart renders %d ConfigMaps, want 1 (rds-csi-config)", n)
		}
		for _, tc := range []struct {
			name       string
			objs       []*unstructured.Unstructured
			cm, secret string
		}{{"off", r.off, "rds-units-file", "rds-unit-keys"}, {"existing", existing, "my-units", "my-keys"}} {
			d := find(t, tc.objs, "Deployment", "rds-csi-controller")
			c := container(t, d, "rds-csi")
			a := args(c)
			if !slices.Contains(a, "--rds-config=/etc/rds-csi/units/rds.yaml") || slices.ContainsFunc(a, func(s string) bool {
				return strings.HasPrefix(s, "--rds-address") || strings.HasPrefix(s, "--rds-user") || strings.HasPrefix(s, "--rds-private-key") || strings.HasPrefix(s, "--rds-host-key")
			}) {
				t.Errorf("%s: controller args %q: want --rds-config and no single-RDS flag", tc.name, a)
			}
			for _, e := range c["env"].([]any) {
				if n := e.(map[string]any)["name"]; n == "RDS_ADDRESS" || n == "RDS_USER" {
					t.Errorf("%s: controller still takes %v from rds-csi-config", tc.name, n)
				}
			}
			vols := map[string]map[string]any{}
			for _, v := range podSpec(t, d)["volumes"].([]any) {
				vm := v.(map[string]any)
				vols[vm["name"].(string)] = vm
			}
			if _, ok := vols["rds-ssh"]; ok {
				t.Errorf("%s: the single RDS's Secret is still mounted", tc.name)
			}
			if cmv, _ := vols["rds-units"]["configMap"].(map[string]any); cmv == nil || cmv["name"] != tc.cm {
				t.Errorf("%s: rds-units volume %v, want ConfigMap %s", tc.name, vols["rds-units"], tc.cm)
			}
			if sv, _ := vols["rds-unit-keys"]["secret"].(map[string]any); sv == nil || sv["secretName"] != tc.secret {
				t.Errorf("%s: rds-unit-keys volume %v, want Secret %s", tc.name, vols["rds-unit-keys"], tc.secret)
			}
		}
		if a := args(container(t, find(t, r.def, "Deployment", "rds-csi-controller"), "rds-csi")); slices.ContainsFunc(a, func(s string) bool { return strings.HasPrefix(s, "--rds-config") }) {
			t.Errorf("defaults: controller args %q pass --rds-config", a)
		}
	}

	checks = append(checks,
		valueCheck{"namespace.name", func(t *testing.T, r renders) {
			n := 0
			for _, o := range r.all {
				if ns := o.GetNamespace(); ns != "" {
					n++
					if ns != "storage-system" {
						t.Errorf("%s %s in namespace %s, want storage-system", o.GetKind(), o.GetName(), ns)
					}
				}
				subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
				for _, s := range subjects {
					if ns := s.(map[string]any)["namespace"]; ns != "storage-system" {
						t.Errorf("%s %s: subject in namespace %v, want storage-system", o.GetKind(), o.GetName(), ns)
					}
				}
			}
			if n < 10 {
				t.Errorf("only %d namespaced objects rendered", n)
			}
			// Empty: the release namespace.
			for _, o := range r.def {
				if ns := o.GetNamespace(); ns != "" && ns != "rds-csi" {
					t.Errorf("defaults: %s %s in namespace %s, want the release namespace rds-csi", o.GetKind(), o.GetName(), ns)
				}
			}
		}},
		valueCheck{"namespace.create", func(t *testing.T, r renders) {
			ns := find(t, r.all, "Namespace", "storage-system")
			if l := ns.GetLabels()["pod-security.kubernetes.io/enforce"]; l != "privileged" {
				t.Errorf("Namespace: Pod Security enforce %q, want privileged (the node plugin)", l)
			}
			if len(ofKind(r.def, "Namespace")) != 0 {
				t.Error("defaults render a Namespace")
			}
		}},
		valueCheck{"kubeletDir", func(t *testing.T, r renders) {
			checkKubeletDir(t, r.all, "/var/lib/k0s/kubelet")
			checkKubeletDir(t, r.def, "/var/lib/kubelet")
		}},
		valueCheck{"rds.address", configCheck("RDS_ADDRESS", "[fd00::10]:2222")},
		valueCheck{"rds.port", configCheck("RDS_ADDRESS", "[fd00::10]:2222")},
		valueCheck{"rds.user", configCheck("RDS_USER", "csi-operator")},
		valueCheck{"rds.sshSecret.name", func(t *testing.T, r renders) {
			d := find(t, r.all, "Deployment", "rds-csi-controller")
			for _, v := range podSpec(t, d)["volumes"].([]any) {
				vm := v.(map[string]any)
				if vm["name"] == "rds-ssh" {
					if got := vm["secret"].(map[string]any)["secretName"]; got != "rds-ssh-keys" {
						t.Errorf("controller mounts Secret %v, want rds-ssh-keys", got)
					}
					return
				}
			}
			t.Error("controller has no rds-ssh volume")
		}},
		valueCheck{"rds.sshSecret.create", secretCheck},
		valueCheck{"rds.sshSecret.privateKey", secretCheck},
		valueCheck{"rds.sshSecret.hostKey", secretCheck},
		valueCheck{"rds.sshSecret.privateKeyKey", secretKeysCheck},
		valueCheck{"rds.sshSecret.hostKeyKey", secretKeysCheck},
		valueCheck{"rds.config.content", unitsCheck},
		valueCheck{"rds.config.configMapName", unitsCheck},
		valueCheck{"rds.config.keysSecretName", unitsCheck},
		valueCheck{"capacity.enabled", capacityCheck},
		valueCheck{"capacity.pollInterval", func(t *testing.T, r renders) {
			a := args(container(t, find(t, r.all, "Deployment", "rds-csi-controller"), "csi-provisioner"))
			if !slices.Contains(a, "--capacity-poll-interval=30s") {
				t.Errorf("provisioner args %q lack --capacity-poll-interval=30s", a)
			}
		}},
		valueCheck{"topology.enabled", func(t *testing.T, r renders) {
			for _, tc := range []struct {
				objs []*unstructured.Unstructured
				want bool
			}{{r.all, true}, {r.def, true}, {r.off, false}} {
				gate := slices.Contains(args(container(t, find(t, tc.objs, "Deployment", "rds-csi-controller"), "csi-provisioner")), "--feature-gates=Topology=true")
				rule := hasRule(t, find(t, tc.objs, "ClusterRole", "rds-csi-provisioner"), "csinodes")
				if gate != tc.want || rule != tc.want {
					t.Errorf("Topology gate %v, csinodes rule %v; want both %v", gate, rule, tc.want)
				}
			}
		}},
		valueCheck{"node.topology", func(t *testing.T, r renders) {
			ds := find(t, r.all, "DaemonSet", "rds-csi-node")
			if a := args(container(t, ds, "rds-csi")); !slices.Contains(a, "--node-topology=topology.rds.csi.srvlab.io/rds=rack-b,topology.rds.csi.srvlab.io/site=west") {
				t.Errorf("node args %q lack the --node-topology of the values", a)
			}
			if a := args(container(t, find(t, r.def, "DaemonSet", "rds-csi-node"), "rds-csi")); slices.ContainsFunc(a, func(s string) bool { return strings.HasPrefix(s, "--node-topology") }) {
				t.Errorf("defaults: node args %q pass --node-topology", a)
			}
		}},
		valueCheck{"imagePullSecrets", func(t *testing.T, r renders) {
			want := []any{map[string]any{"name": "mirror-pull"}}
			podField("Deployment/rds-csi-controller", "imagePullSecrets", want)(t, r)
			podField("DaemonSet/rds-csi-node", "imagePullSecrets", want)(t, r)
		}},
		valueCheck{"controller.replicas", func(t *testing.T, r renders) {
			for _, tc := range []struct {
				objs []*unstructured.Unstructured
				want int64
			}{{r.all, 3}, {r.off, 1}, {r.def, 2}} {
				got, _, _ := unstructured.NestedFieldNoCopy(find(t, tc.objs, "Deployment", "rds-csi-controller").Object, "spec", "replicas")
				if !reflect.DeepEqual(normalize(t, got), normalize(t, tc.want)) {
					t.Errorf("replicas %d, want %d", got, tc.want)
				}
			}
		}},
		valueCheck{"controller.leaderElection.enabled", func(t *testing.T, r renders) {
			for _, tc := range []struct {
				objs []*unstructured.Unstructured
				want bool
			}{{r.all, true}, {r.off, false}} {
				for name, c := range containers(t, find(t, tc.objs, "Deployment", "rds-csi-controller")) {
					if got := slices.Contains(args(c), "--leader-election"); got != tc.want {
						t.Errorf("controller container %s: --leader-election %v, want %v", name, got, tc.want)
					}
				}
			}
		}},
		valueCheck{"controller.leaderElection.leaseDuration", leaderCheck(0)},
		valueCheck{"controller.leaderElection.renewDeadline", leaderCheck(1)},
		valueCheck{"controller.leaderElection.retryPeriod", leaderCheck(2)},
		valueCheck{"controller.nodeSelector", podField("Deployment/rds-csi-controller", "nodeSelector", map[string]any{"kubernetes.io/os": "linux", "node-role.example.com/storage": "true"})},
		valueCheck{"controller.tolerations", podField("Deployment/rds-csi-controller", "tolerations",
			[]any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "storage", "effect": "NoExecute", "tolerationSeconds": 60}})},
		valueCheck{"controller.priorityClassName", podField("Deployment/rds-csi-controller", "priorityClassName", "storage-critical")},
		valueCheck{"node.nodeSelector", podField("DaemonSet/rds-csi-node", "nodeSelector", map[string]any{"kubernetes.io/os": "linux", "node-role.example.com/worker": "true"})},
		valueCheck{"node.tolerations", podField("DaemonSet/rds-csi-node", "tolerations",
			[]any{map[string]any{"key": "storage", "operator": "Exists", "effect": "NoSchedule"}})},
		valueCheck{"node.priorityClassName", podField("DaemonSet/rds-csi-node", "priorityClassName", "node-storage-critical")},
		valueCheck{"sidecars.snapshotter.enabled", func(t *testing.T, r renders) {
			for _, tc := range []struct {
				objs []*unstructured.Unstructured
				want bool
			}{{r.all, true}, {r.off, false}} {
				_, has := containers(t, find(t, tc.objs, "Deployment", "rds-csi-controller"))["csi-snapshotter"]
				role := lookup(tc.objs, "ClusterRole", "rds-csi-snapshotter") != nil
				binding := lookup(tc.objs, "ClusterRoleBinding", "rds-csi-snapshotter") != nil
				if has != tc.want || role != tc.want || binding != tc.want {
					t.Errorf("snapshotter container %v, ClusterRole %v, binding %v; want all %v", has, role, binding, tc.want)
				}
			}
		}},
		valueCheck{"storageClasses", func(t *testing.T, r renders) {
			if n := len(ofKind(r.off, "StorageClass")); n != 0 {
				t.Errorf("storageClasses: [] renders %d classes", n)
			}
			classes := ofKind(r.all, "StorageClass")
			if len(classes) != 1 {
				t.Fatalf("%d StorageClasses rendered, want 1 (rds-xfs)", len(classes))
			}
			sc := classes[0].Object
			want := readValues(t, allValuesFile)["storageClasses"].([]any)[0].(map[string]any)
			if sc["metadata"].(map[string]any)["name"] != want["name"] || sc["reclaimPolicy"] != want["reclaimPolicy"] ||
				sc["allowVolumeExpansion"] != want["allowVolumeExpansion"] || sc["volumeBindingMode"] != want["volumeBindingMode"] ||
				sc["provisioner"] != "rds.csi.srvlab.io" {
				t.Errorf("StorageClass %v does not match %v", sc, want)
			}
			if !reflect.DeepEqual(sc["parameters"], want["parameters"]) {
				t.Errorf("parameters %v, want %v", sc["parameters"], want["parameters"])
			}
			if a := classes[0].GetAnnotations()["storageclass.kubernetes.io/is-default-class"]; a != "true" {
				t.Errorf("isDefault: true renders annotation %q", a)
			}
		}},
		valueCheck{"volumeSnapshotClass.enabled", func(t *testing.T, r renders) {
			if len(ofKind(r.all, "VolumeSnapshotClass")) != 1 || len(ofKind(r.off, "VolumeSnapshotClass")) != 0 {
				t.Errorf("VolumeSnapshotClass: %d when enabled, %d when not", len(ofKind(r.all, "VolumeSnapshotClass")), len(ofKind(r.off, "VolumeSnapshotClass")))
			}
		}},
		valueCheck{"volumeSnapshotClass.name", func(t *testing.T, r renders) { find(t, r.all, "VolumeSnapshotClass", "rds-snap") }},
		valueCheck{"volumeSnapshotClass.deletionPolicy", func(t *testing.T, r renders) {
			if p := find(t, r.all, "VolumeSnapshotClass", "rds-snap").Object["deletionPolicy"]; p != "Retain" {
				t.Errorf("deletionPolicy %v, want Retain", p)
			}
		}},
		valueCheck{"volumeSnapshotClass.isDefault", func(t *testing.T, r renders) {
			if _, ok := find(t, r.all, "VolumeSnapshotClass", "rds-snap").GetAnnotations()["snapshot.storage.kubernetes.io/is-default-class"]; ok {
				t.Error("isDefault: false still renders the default annotation")
			}
			if a := find(t, r.def, "VolumeSnapshotClass", "rds-nvme-snapshot").GetAnnotations()["snapshot.storage.kubernetes.io/is-default-class"]; a != "true" {
				t.Errorf("defaults: VolumeSnapshotClass default annotation %q, want \"true\"", a)
			}
		}},
		valueCheck{"metrics.service.enabled", func(t *testing.T, r renders) {
			// Alone (the ServiceMonitor also turns the Services on).
			objs := helmTemplate(t, "rds-csi", "--set", "metrics.service.enabled=true")
			find(t, objs, "Service", "rds-csi-controller-metrics")
			find(t, objs, "Service", "rds-csi-node-metrics")
			if len(ofKind(objs, "ServiceMonitor")) != 0 || len(ofKind(r.def, "Service")) != 0 {
				t.Errorf("metrics Services and ServiceMonitor must be off by default and independent")
			}
		}},
		valueCheck{"metrics.serviceMonitor.enabled", func(t *testing.T, r renders) {
			find(t, r.all, "ServiceMonitor", "rds-csi")
			if len(ofKind(r.def, "ServiceMonitor")) != 0 {
				t.Error("defaults render a ServiceMonitor")
			}
		}},
		valueCheck{"metrics.serviceMonitor.interval", func(t *testing.T, r renders) {
			eps, _, _ := unstructured.NestedSlice(find(t, r.all, "ServiceMonitor", "rds-csi").Object, "spec", "endpoints")
			if len(eps) == 0 {
				t.Fatal("ServiceMonitor has no endpoints")
			}
			for _, e := range eps {
				if iv := e.(map[string]any)["interval"]; iv != "1m" {
					t.Errorf("endpoint %v: interval %v, want 1m", e.(map[string]any)["port"], iv)
				}
			}
		}},
		valueCheck{"metrics.serviceMonitor.labels", func(t *testing.T, r renders) {
			if l := find(t, r.all, "ServiceMonitor", "rds-csi").GetLabels()["release"]; l != "kube-prometheus-stack" {
				t.Errorf("ServiceMonitor label release=%q", l)
			}
		}},
	)
	return checks
}

// normalize round-trips a value through JSON so that numbers compare equal
// whatever their Go type.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkKubeletDir: every kubelet path of the node plugin is below dir, and
// no other kubelet directory appears anywhere in the render.
func checkKubeletDir(t *testing.T, objs []*unstructured.Unstructured, dir string) {
	t.Helper()
	ds := find(t, objs, "DaemonSet", "rds-csi-node")
	vols := map[string]string{}
	for _, v := range podSpec(t, ds)["volumes"].([]any) {
		vm := v.(map[string]any)
		if hp, ok := vm["hostPath"].(map[string]any); ok {
			vols[vm["name"].(string)] = hp["path"].(string)
		}
	}
	for vol, want := range map[string]string{
		"kubelet-dir":      dir,
		"socket-dir":       dir + "/plugins/rds.csi.srvlab.io",
		"registration-dir": dir + "/plugins_registry",
	} {
		if vols[vol] != want {
			t.Errorf("volume %s: hostPath %q, want %q", vol, vols[vol], want)
		}
	}
	mounts := func(ctr string) map[string]string {
		out := map[string]string{}
		vms, _ := container(t, ds, ctr)["volumeMounts"].([]any)
		for _, m := range vms {
			mm := m.(map[string]any)
			out[mm["name"].(string)] = mm["mountPath"].(string)
		}
		return out
	}
	if got := mounts("rds-csi")["kubelet-dir"]; got != dir {
		t.Errorf("rds-csi mounts the kubelet directory at %q, want %q (the kubelet passes host paths)", got, dir)
	}
	if got := mounts("node-driver-registrar")["socket-dir"]; got != dir+"/plugins/rds.csi.srvlab.io" {
		t.Errorf("registrar mounts the socket at %q", got)
	}
	sock := ""
	for _, e := range container(t, ds, "node-driver-registrar")["env"].([]any) {
		if em := e.(map[string]any); em["name"] == "DRIVER_REG_SOCK_PATH" {
			sock, _ = em["value"].(string)
		}
	}
	if want := dir + "/plugins/rds.csi.srvlab.io/csi.sock"; sock != want {
		t.Errorf("registrar DRIVER_REG_SOCK_PATH %q, want %q", sock, want)
	}
	if !slices.Contains(args(container(t, ds, "node-driver-registrar")), "--kubelet-registration-path=$(DRIVER_REG_SOCK_PATH)") {
		t.Errorf("registrar does not take --kubelet-registration-path from DRIVER_REG_SOCK_PATH: %q", args(container(t, ds, "node-driver-registrar")))
	}
	if dir != "/var/lib/kubelet" {
		b, _ := json.Marshal(objectsJSON(objs))
		// The new directory may end in the default (MicroK8s does).
		if strings.Contains(strings.ReplaceAll(string(b), dir, ""), "/var/lib/kubelet") {
			t.Errorf("with kubelet directory %s the render still names /var/lib/kubelet", dir)
		}
	}
}

func objectsJSON(objs []*unstructured.Unstructured) []map[string]any {
	out := make([]map[string]any, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.Object)
	}
	return out
}

// TestValuesCoverage: all-values.yaml and switches-off.yaml together change
// every value of values.yaml, and every value has a check in valueChecks. A
// new value without both fails here.
func TestValuesCoverage(t *testing.T) {
	def, all, off := map[string]any{}, map[string]any{}, map[string]any{}
	leaves("", readValues(t, chartDir+"/values.yaml"), def)
	leaves("", readValues(t, allValuesFile), all)
	leaves("", readValues(t, switchesOffFile), off)
	checked := map[string]bool{}
	for _, c := range valueChecks() {
		checked[c.path] = true
	}
	var paths []string
	for p := range def {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			a, inAll := all[p]
			o, inOff := off[p]
			changed := (inAll && !reflect.DeepEqual(a, def[p])) || (inOff && !reflect.DeepEqual(o, def[p]))
			if !changed {
				t.Errorf("neither %s nor %s changes %s (default %v)", allValuesFile, switchesOffFile, p, def[p])
			}
			if !checked[p] {
				t.Errorf("no check in valueChecks for %s", p)
			}
		})
	}
	// A value in the test files that values.yaml does not have would be
	// refused by the schema; a check for a path that no longer exists is stale.
	for p := range checked {
		if _, ok := def[p]; !ok {
			t.Errorf("valueChecks has a check for %s, which values.yaml does not have", p)
		}
	}
}

// TestValues renders the chart with the defaults, all-values.yaml and
// switches-off.yaml and checks each value where it must land.
func TestValues(t *testing.T) {
	r := renders{
		def: helmTemplate(t, "rds-csi"),
		all: helmTemplate(t, releaseNS, "-f", allValuesFile),
		off: helmTemplate(t, "rds-csi", "-f", switchesOffFile),
	}
	for _, c := range valueChecks() {
		t.Run(c.path, func(t *testing.T) { c.check(t, r) })
	}
	t.Logf("defaults: %s", ids(r.def))
	t.Logf("all-values: %s", ids(r.all))
}

// hasRule: the ClusterRole grants something on resource.
func hasRule(t *testing.T, role *unstructured.Unstructured, resource string) bool {
	t.Helper()
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	for _, r := range rules {
		res, _ := r.(map[string]any)["resources"].([]any)
		for _, x := range res {
			if x == resource {
				return true
			}
		}
	}
	return false
}
