package migration

// installMethod is how the earlier driver was installed.
type installMethod string

const (
	// viaManifests: kubectl apply -f of the earlier deploy/kubernetes files
	// and examples/storageclass.yaml.
	viaManifests installMethod = "manifests"
	// viaHelm: helm install of the earlier chart rds-csi-driver.
	viaHelm installMethod = "helm"
)

// installTarget is how this driver is installed over it.
type installTarget string

const (
	// withKustomize: kubectl apply -k of an overlay of deploy/base.
	withKustomize installTarget = "kustomize"
	// withChart: helm install of deploy/helm/rds-csi.
	withChart installTarget = "chart"
)

// newRelease is the release name docs/migrate.md gives this driver's chart.
const newRelease = "rds-csi"

// bothEarlierClasses are earlier-chart values with both its StorageClasses
// on (the second is off by default), WaitForFirstConsumer as users set it.
const bothEarlierClasses = `storageClasses:
  - {name: rds-nvme, enabled: true, volumeBindingMode: WaitForFirstConsumer}
  - {name: rds-nvme-rwx, enabled: true, volumeBindingMode: WaitForFirstConsumer}
`

// keyKind is the SSH key type of the earlier Secret (the earlier project
// documents ed25519 for its manifests and RSA in its chart's README).
type keyKind string

const (
	keyEd25519 keyKind = "ed25519"
	keyRSA     keyKind = "rsa"
)

// migrationCase is one earlier install that docs/migrate.md must migrate.
type migrationCase struct {
	name   string
	method installMethod
	target installTarget
	// namespace is OLD_NS: where the earlier driver ran.
	namespace string
	// release is OLD_RELEASE (Helm only).
	release string
	// attachRequired of the earlier CSIDriver: false in the earlier
	// project's older csidriver.yaml (then Kubernetes made no
	// VolumeAttachments, so the case has none).
	attachRequired bool
	key            keyKind
	// helmValues is a values file for the model chart (Helm only).
	helmValues string
	// helmOwnsNamespace: the chart itself creates the namespace
	// (namespace.create=true), so it is part of the release.
	helmOwnsNamespace bool
	// storageClasses the earlier install created; all must be kept.
	storageClasses []string
	// keptExtras are further release objects (kind/name in the release
	// namespace) that must survive, disowned.
	keptExtras []string
}

// vars are the values of the document's variables for this case; the vars
// block's own defaults are the first case's (TestDocBlocks checks that).
func (c migrationCase) vars() map[string]string {
	v := map[string]string{"OLD_NS": c.namespace, "OLD_SECRET": "rds-csi-secret", "OLD_RELEASE": "rds-csi"}
	if c.release != "" {
		v["OLD_RELEASE"] = c.release
	}
	return v
}

// prepareBlocks run before the old driver is stopped (steps 1 and 2),
// stopBlocks after (steps 3 to 6), all in document order.
func (c migrationCase) prepareBlocks() []string {
	b := []string{"vars", "take-stock", "take-stock-" + string(c.method)}
	if c.target == withChart {
		return append(b, "chart-values")
	}
	return append(b, "overlay", "overlay-from-earlier")
}

func (c migrationCase) stopBlocks() []string {
	install := "install"
	if c.target == withChart {
		install = "install-chart"
	}
	secret := []string{"secret"}
	if c.target == withChart {
		secret = append(secret, "secret-chart")
	}
	b := append([]string{"stop-" + string(c.method), "csidriver"}, secret...)
	return append(b, install, "cleanup-"+string(c.method))
}

func (c migrationCase) blocks() []string {
	return append(c.prepareBlocks(), c.stopBlocks()...)
}

// needsHelm: the earlier chart or this driver's chart is installed.
func (c migrationCase) needsHelm() bool {
	return c.method == viaHelm || c.target == withChart
}

// secretName is the Secret the new controller must mount: the earlier one
// itself, with either install (its keys mapped to the files it reads).
func (c migrationCase) secretName() string {
	return "rds-csi-secret"
}

// collides: the earlier workloads have this driver's names in its namespace
// (the case in which applying without step 3 must fail).
func (c migrationCase) collides() bool {
	return c.method == viaManifests && c.namespace == "rds-csi" && c.target == withKustomize
}

// migrationCases are the earlier installs, as the earlier project documents
// them.
func migrationCases() []migrationCase {
	return []migrationCase{
		{
			// The current manifests: everything in rds-csi, same Deployment,
			// DaemonSet and ServiceAccount names as this driver.
			name:           "manifests",
			method:         viaManifests,
			target:         withKustomize,
			namespace:      "rds-csi",
			attachRequired: true,
			key:            keyEd25519,
			storageClasses: []string{"rds-nvme"},
		},
		{
			// Older manifests and docs: kube-system, attachRequired false.
			name:           "manifests-older-kube-system",
			method:         viaManifests,
			target:         withKustomize,
			namespace:      "kube-system",
			attachRequired: false,
			key:            keyEd25519,
			storageClasses: []string{"rds-nvme"},
		},
		{
			// The chart README's install: namespace and Secret made by hand,
			// release rds-csi (objects named rds-csi-rds-csi-driver-*); both
			// StorageClasses (the RWX one is opt-in).
			name:           "helm",
			method:         viaHelm,
			target:         withKustomize,
			namespace:      "rds-csi",
			release:        "rds-csi",
			attachRequired: true,
			key:            keyRSA,
			helmValues:     bothEarlierClasses,
			storageClasses: []string{"rds-nvme", "rds-nvme-rwx"},
		},
		{
			// The chart creates the namespace itself (helm uninstall would
			// delete it, Secret included) and a snapshot schedule; a release
			// name containing the chart name (objects named rds-csi-driver-*).
			name:              "helm-release-owns-namespace",
			method:            viaHelm,
			target:            withKustomize,
			namespace:         "rds-csi",
			release:           "rds-csi-driver",
			attachRequired:    true,
			key:               keyEd25519,
			helmOwnsNamespace: true,
			helmValues: `namespace: {create: true}
scheduledSnapshots: {enabled: true}
`,
			storageClasses: []string{"rds-nvme"},
			keptExtras:     []string{"cronjob/rds-csi-driver-daily-snapshot", "serviceaccount/rds-csi-driver-snapshot-scheduler"},
		},
		{
			// The current manifests, this driver installed with its chart:
			// the release takes over the same-named ServiceAccounts and the
			// CSIDriver, and uses the earlier ConfigMap's name.
			name:           "manifests-to-chart",
			method:         viaManifests,
			target:         withChart,
			namespace:      "rds-csi",
			attachRequired: true,
			key:            keyEd25519,
			storageClasses: []string{"rds-nvme"},
		},
		{
			// The earlier chart replaced by this driver's chart under the
			// same release name in the same namespace.
			name:           "helm-to-chart",
			method:         viaHelm,
			target:         withChart,
			namespace:      "rds-csi",
			release:        "rds-csi",
			attachRequired: true,
			key:            keyRSA,
			helmValues:     bothEarlierClasses,
			storageClasses: []string{"rds-nvme", "rds-nvme-rwx"},
		},
	}
}
