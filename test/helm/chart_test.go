package helm

import (
	"strings"
	"testing"
)

// TestLint: helm lint --strict (warnings fail) with the defaults and with
// the values files of the tests.
func TestLint(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"defaults", nil},
		{"all-values", []string{"-f", "test/helm/testdata/all-values.yaml"}},
		{"switches-off", []string{"-f", "test/helm/testdata/switches-off.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := append([]string{"lint", "--strict", chartDir}, tc.extra...)
			out, stderr, err := run(t, repoRoot(t), helmBin(t), a...)
			if err != nil {
				t.Fatalf("helm %s: %v\n%s%s", strings.Join(a, " "), err, out, stderr)
			}
			// --strict already fails on warnings; errors reported without a
			// failing exit status would still be a defect of the chart.
			for _, bad := range []string{"[WARNING]", "[ERROR]"} {
				if strings.Contains(out+stderr, bad) {
					t.Errorf("helm lint reports %s:\n%s%s", bad, out, stderr)
				}
			}
			t.Logf("%s", strings.TrimSpace(out))
		})
	}
}

// TestSchemaRejects: values.schema.json refuses unknown keys and malformed
// values (no additionalProperties anywhere), and helm's message names the
// offending key so that the user finds it.
func TestSchemaRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values string // a values file
		want   []string
	}{
		{"unknown top-level key", "replicas: 3\n", []string{"replicas"}},
		{"misspelt nested key", "controller:\n  replica: 3\n", []string{"/controller", "replica"}},
		{"unknown key in an image", "node:\n  image:\n    digest: sha256:abc\n", []string{"/node/image", "digest"}},
		{"unknown key in a storage class", "storageClasses:\n  - name: x\n    reclaimPolicy: Delete\n    allowVolumeExpansion: true\n    volumeBindingMode: Immediate\n    fstype: xfs\n",
			[]string{"/storageClasses/0", "fstype"}},
		{"StorageClass parameter the driver refuses", "storageClasses:\n  - name: x\n    reclaimPolicy: Delete\n    allowVolumeExpansion: true\n    volumeBindingMode: Immediate\n    parameters:\n      nvmeAddres: 10.0.0.1\n",
			[]string{"/storageClasses/0/parameters", "nvmeAddres"}},
		{"parameter not a string", "storageClasses:\n  - name: x\n    reclaimPolicy: Delete\n    allowVolumeExpansion: true\n    volumeBindingMode: Immediate\n    parameters:\n      nvmePort: 4420\n",
			[]string{"/storageClasses/0/parameters/nvmePort", "string"}},
		{"replicas not a number", "controller:\n  replicas: two\n", []string{"/controller/replicas", "integer"}},
		{"replicas zero", "controller:\n  replicas: 0\n", []string{"/controller/replicas"}},
		{"log level out of range", "sidecars:\n  attacher:\n    logLevel: 11\n", []string{"/sidecars/attacher/logLevel"}},
		{"bad pull policy", "sidecars:\n  resizer:\n    image:\n      pullPolicy: Sometimes\n", []string{"/sidecars/resizer/image/pullPolicy"}},
		{"port out of range", "rds:\n  port: 70000\n", []string{"/rds/port"}},
		{"address with a port", "rds:\n  address: rds.example.com:22\n", []string{"/rds/address"}},
		{"relative kubelet dir", "kubeletDir: var/lib/kubelet\n", []string{"/kubeletDir"}},
		{"kubelet dir with trailing slash", "kubeletDir: /var/lib/kubelet/\n", []string{"/kubeletDir"}},
		{"bad lease duration", "controller:\n  leaderElection:\n    leaseDuration: 15\n", []string{"/controller/leaderElection/leaseDuration"}},
		{"bad deletion policy", "volumeSnapshotClass:\n  deletionPolicy: Keep\n", []string{"/volumeSnapshotClass/deletionPolicy"}},
		{"namespace not a DNS label", "namespace:\n  name: Storage_System\n", []string{"/namespace/name"}},
		{"toleration with an unknown key", "node:\n  tolerations:\n    - operator: Exists\n      effects: NoSchedule\n", []string{"/node/tolerations/0", "effects"}},
		{"secret to create without a key", "rds:\n  sshSecret:\n    create: true\n    hostKey: ssh-ed25519 AAAA\n", []string{"/rds/sshSecret/privateKey"}},
		{"unknown key in rds.config", "rds:\n  config:\n    units: []\n", []string{"/rds/config", "units"}},
		{"capacity poll interval not a duration", "capacity:\n  pollInterval: 60\n", []string{"/capacity/pollInterval"}},
		{"unknown key in capacity", "capacity:\n  enable: false\n", []string{"/capacity", "enable"}},
		{"node topology not key=value", "node:\n  topology: rack-a\n", []string{"/node/topology"}},
		{"ServiceMonitor label not a string", "metrics:\n  serviceMonitor:\n    labels:\n      release: 1\n", []string{"/metrics/serviceMonitor/labels/release"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, "values.yaml", tc.values)
			a := []string{"template", "rds-csi", chartDir, "-f", f}
			out, stderr, err := run(t, repoRoot(t), helmBin(t), a...)
			if err == nil {
				t.Fatalf("helm template accepted\n%s\nand rendered %d bytes", tc.values, len(out))
			}
			if !strings.Contains(stderr, "values don't meet the specifications of the schema") {
				t.Errorf("helm failed, but not on the schema:\n%s", stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("helm's message does not name %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestTemplateRefuses: combinations the schema cannot see that the chart
// refuses with a message, instead of rendering something that misbehaves.
func TestTemplateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ns    string
		extra []string
		want  string
	}{
		{"several replicas without leader election", "rds-csi",
			[]string{"--set", "controller.leaderElection.enabled=false"}, "controller.replicas > 1 needs controller.leaderElection.enabled"},
		{"creating the release namespace", "rds-csi",
			[]string{"--set", "namespace.create=true", "--set", "namespace.name=rds-csi"}, "namespace.create needs namespace.name"},
		{"creating an unnamed namespace", "rds-csi",
			[]string{"--set", "namespace.create=true"}, "namespace.create needs namespace.name"},
		{"units file without the keys Secret", "rds-csi",
			[]string{"--set", "rds.config.content=units: []"}, "rds.config needs rds.config.keysSecretName"},
		{"existing units ConfigMap without the keys Secret", "rds-csi",
			[]string{"--set", "rds.config.configMapName=my-units"}, "rds.config needs rds.config.keysSecretName"},
		{"keys Secret without a units file", "rds-csi",
			[]string{"--set", "rds.config.keysSecretName=keys"}, "rds.config.keysSecretName without"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := append([]string{"template", "rds-csi", chartDir, "--namespace", tc.ns}, tc.extra...)
			_, stderr, err := run(t, repoRoot(t), helmBin(t), a...)
			if err == nil {
				t.Fatalf("helm %s rendered", strings.Join(a, " "))
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("helm failed without saying %q:\n%s", tc.want, stderr)
			}
		})
	}
	// The refusal is about the combination: one replica without leader
	// election renders.
	helmTemplate(t, "rds-csi", "--set", "controller.leaderElection.enabled=false", "--set", "controller.replicas=1")
}
