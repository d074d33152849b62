package migration

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestMigration installs each earlier install of migrationCases, adds an
// existing bound (and attached) volume, and runs docs/migrate.md's marked
// blocks for it; see checkMigrated for what must hold afterwards.
func TestMigration(t *testing.T) {
	blocks := loadDocBlocks(t)
	for _, tc := range migrationCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			c := startCluster(t, tc.needsHelm())
			keys := newKeys(t, tc.key)
			c.installEarlier(t, tc, keys)
			vol := c.createVolume(t, tc.attachRequired)
			was := c.record(t, tc, vol)

			// Steps 1 and 2: read-only commands and the overlays.
			c.runBlocks(t, blocks, tc.vars(), tc.prepareBlocks()...)
			if tc.collides() {
				c.checkApplyWithoutStopFails(t)
			}
			// Steps 3 to 6.
			c.runBlocks(t, blocks, tc.vars(), append([]string{"vars"}, tc.stopBlocks()...)...)

			c.checkMigrated(t, tc, keys, was)
			t.Logf("%s migrated and checked in %v", tc.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

// checkApplyWithoutStopFails pins why step 3 exists: with the earlier
// manifests' Deployment and DaemonSet in place, applying this driver fails
// on their immutable selectors (a server-side dry run: nothing changes).
func (c *cluster) checkApplyWithoutStopFails(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.run(ctx, nil, filepath.Join(c.bin, "kubectl"), "apply", "--dry-run=server", "-k", "deploy/overlays/from-earlier")
	if err == nil {
		t.Fatalf("applying this driver over the earlier manifests succeeded; docs/migrate.md says it fails on the immutable selector (then step 3's reason is wrong):\n%s", out)
	}
	// kubectl prints the whole patch before the reason: keep the reasons.
	reasons := immutableSelector.FindAllString(out, -1)
	for _, want := range []string{`Deployment.apps "rds-csi-controller"`, `DaemonSet.apps "rds-csi-node"`} {
		if !slices.ContainsFunc(reasons, func(r string) bool { return strings.HasPrefix(r, want) }) {
			t.Errorf("applying without step 3 failed, but not with %s ... field is immutable:\n%s", want, out)
		}
	}
	t.Logf("as documented, applying without step 3 fails:\n%s", strings.Join(reasons, "\n"))
}

// TestHelmUninstallOfSharedObjects pins what docs/migrate.md says about
// `helm uninstall` and the shared objects of a release (CSIDriver,
// StorageClass, VolumeSnapshotClass), with the helm the tests use:
//   - a live helm.sh/resource-policy=keep annotation does not keep them (helm
//     reads the policy from the manifest it stored at install time);
//   - removing the live ownership metadata does keep them with this helm
//     (helm/helm#31584 made uninstall check ownership first); older helm
//     releases deleted them anyway, which is why the document's steps do not
//     rely on it.
//
// Should helm change either, this fails and the document's warning needs
// revisiting.
func TestHelmUninstallOfSharedObjects(t *testing.T) {
	shared := []string{"csidriver/" + driverName, "storageclass/rds-nvme", "volumesnapshotclass/rds-csi-snapclass"}
	tests := []struct {
		name string
		// mark is run (kubectl, per shared object) before helm uninstall.
		mark func(object string) [][]string
		// kept: the objects survive the uninstall.
		kept bool
	}{
		{
			name: "live-keep-annotation",
			mark: func(o string) [][]string {
				return [][]string{{"annotate", o, "helm.sh/resource-policy=keep"}}
			},
			kept: false,
		},
		{
			name: "live-ownership-removed",
			mark: func(o string) [][]string {
				return [][]string{
					{"label", o, helmManagedBy + "-"},
					{"annotate", o, helmReleaseName + "-", helmReleaseNamespace + "-"},
				}
			},
			kept: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := startCluster(t, true)
			chart := filepath.Join(c.root, "test", "migration", "testdata", "earlier-chart")
			c.kubectl(t, "create", "namespace", "rds-csi")
			c.helmCmd(t, "install", "rds-csi", chart, "-n", "rds-csi")
			for _, o := range shared {
				for _, args := range tt.mark(o) {
					c.kubectl(t, args...)
				}
			}
			out := c.helmCmd(t, "uninstall", "rds-csi", "-n", "rds-csi")
			t.Logf("helm uninstall:\n%s", out)
			for _, o := range shared {
				kind, name, _ := strings.Cut(o, "/")
				_, err := c.dyn.Resource(clusterGVR[kind]).Get(context.Background(), name, metav1.GetOptions{})
				switch {
				case err != nil && !apierrors.IsNotFound(err):
					t.Fatal(err)
				case (err == nil) != tt.kept:
					t.Errorf("%s: kept=%v after helm uninstall (%s), docs/migrate.md says %v: helm changed; revisit the document's warning",
						o, err == nil, tt.name, tt.kept)
				}
			}
		})
	}
}

// immutableSelector matches the API server's refusal to change a selector.
var immutableSelector = regexp.MustCompile(`(Deployment|DaemonSet)\.apps "[^"]+" is invalid: spec\.selector: [^\n]*field is immutable`)

// clusterGVR maps the short kinds used in the tests to resources.
var clusterGVR = map[string]schema.GroupVersionResource{
	"csidriver":           {Group: "storage.k8s.io", Version: "v1", Resource: "csidrivers"},
	"storageclass":        {Group: "storage.k8s.io", Version: "v1", Resource: "storageclasses"},
	"volumesnapshotclass": {Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshotclasses"},
	"namespace":           {Version: "v1", Resource: "namespaces"},
}

// namespacedGVR: the same for namespaced kinds.
var namespacedGVR = map[string]schema.GroupVersionResource{
	"cronjob":        {Group: "batch", Version: "v1", Resource: "cronjobs"},
	"serviceaccount": {Version: "v1", Resource: "serviceaccounts"},
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
