package migration

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/test/harness"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Helm's ownership metadata: a release adopts, overwrites or deletes an
// existing object only when it carries these.
const (
	helmManagedBy        = "app.kubernetes.io/managed-by"
	helmReleaseName      = "meta.helm.sh/release-name"
	helmReleaseNamespace = "meta.helm.sh/release-namespace"
)

// recorded is the cluster before the migration.
type recorded struct {
	namespaces map[string]types.UID
	secret     *corev1.Secret
	csiDriver  *storagev1.CSIDriver
	classes    map[string]*storagev1.StorageClass
	snapClass  types.UID
	extras     map[string]types.UID // keptExtras
	vol        volume
}

func (c *cluster) record(t *testing.T, tc migrationCase, vol volume) recorded {
	t.Helper()
	ctx := context.Background()
	kube := c.cp.Clientset
	r := recorded{namespaces: map[string]types.UID{}, classes: map[string]*storagev1.StorageClass{}, extras: map[string]types.UID{}, vol: vol}
	for _, ns := range []string{tc.namespace, newNamespace, appNamespace} {
		n, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) && ns == newNamespace:
			continue // older installs in kube-system: rds-csi is new
		case err != nil:
			t.Fatal(err)
		}
		r.namespaces[ns] = n.UID
	}
	var err error
	if r.secret, err = kube.CoreV1().Secrets(tc.namespace).Get(ctx, "rds-csi-secret", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if r.csiDriver, err = kube.StorageV1().CSIDrivers().Get(ctx, driverName, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	scs, err := kube.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range scs.Items {
		if sc := &scs.Items[i]; sc.Provisioner == driverName {
			r.classes[sc.Name] = sc
		}
	}
	if got := slices.Sorted(maps.Keys(r.classes)); !slices.Equal(got, tc.storageClasses) {
		t.Fatalf("the earlier install made StorageClasses %v, the case expects %v", got, tc.storageClasses)
	}
	snap, err := c.dyn.Resource(clusterGVR["volumesnapshotclass"]).Get(ctx, "rds-csi-snapclass", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r.snapClass = snap.GetUID()
	for _, e := range tc.keptExtras {
		kind, name, _ := strings.Cut(e, "/")
		o, err := c.dyn.Resource(namespacedGVR[kind]).Namespace(tc.namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r.extras[e] = o.GetUID()
	}
	return r
}

// checkMigrated: what docs/migrate.md promises once its steps have run.
func (c *cluster) checkMigrated(t *testing.T, tc migrationCase, keys sshKeys, was recorded) {
	t.Helper()
	t.Run("namespaces-never-deleted", func(t *testing.T) { c.checkNamespaces(t, was) })
	t.Run("volume-untouched", func(t *testing.T) { c.checkVolume(t, was.vol) })
	t.Run("secret-reused", func(t *testing.T) { c.checkSecret(t, tc, keys, was) })
	t.Run("csidriver-kept", func(t *testing.T) { c.checkCSIDriver(t, tc, was) })
	t.Run("classes-kept", func(t *testing.T) { c.checkClasses(t, tc, was) })
	t.Run("new-driver-installed", func(t *testing.T) { c.checkInstalled(t, tc) })
	t.Run("old-driver-gone", func(t *testing.T) { c.checkOldGone(t, tc) })
}

func (c *cluster) checkNamespaces(t *testing.T, was recorded) {
	ctx := context.Background()
	for _, ns := range append(slices.Sorted(maps.Keys(was.namespaces)), newNamespace) {
		n, err := c.cp.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Errorf("namespace %s: %v", ns, err)
			continue
		}
		if n.DeletionTimestamp != nil {
			t.Errorf("namespace %s is being deleted", ns)
		}
		if uid, ok := was.namespaces[ns]; ok && n.UID != uid {
			t.Errorf("namespace %s was re-created (uid %s, was %s)", ns, n.UID, uid)
		}
	}
}

// checkVolume: the PV, its PVC and VolumeAttachment were not written to at
// all: any write, even to metadata or status, changes resourceVersion.
func (c *cluster) checkVolume(t *testing.T, v volume) {
	ctx := context.Background()
	kube := c.cp.Clientset
	pv, err := kube.CoreV1().PersistentVolumes().Get(ctx, v.pv.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("PV %s: %v", v.pv.Name, err)
	}
	sameObject(t, "PV "+pv.Name, v.pv, pv, v.pv.ObjectMeta, pv.ObjectMeta)
	pvc, err := kube.CoreV1().PersistentVolumeClaims(appNamespace).Get(ctx, v.pvc.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("PVC %s: %v", v.pvc.Name, err)
	}
	sameObject(t, "PVC "+pvc.Name, v.pvc, pvc, v.pvc.ObjectMeta, pvc.ObjectMeta)
	if v.va == nil {
		return
	}
	va, err := kube.StorageV1().VolumeAttachments().Get(ctx, v.va.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("VolumeAttachment %s: %v", v.va.Name, err)
	}
	sameObject(t, "VolumeAttachment "+va.Name, v.va, va, v.va.ObjectMeta, va.ObjectMeta)
}

func sameObject(t *testing.T, what string, before, after any, mb, ma metav1.ObjectMeta) {
	t.Helper()
	if ma.UID != mb.UID || ma.ResourceVersion != mb.ResourceVersion || ma.DeletionTimestamp != nil {
		b, _ := json.MarshalIndent(before, "", "  ")
		a, _ := json.MarshalIndent(after, "", "  ")
		t.Errorf("%s was changed by the migration (uid %s -> %s, resourceVersion %s -> %s)\nbefore: %s\nafter: %s",
			what, mb.UID, ma.UID, mb.ResourceVersion, ma.ResourceVersion, b, a)
	}
}

// checkSecret: the earlier Secret is untouched and is what the new
// controller mounts; projected the way the kubelet would (volume items,
// mount path), the files its flags name parse with the controller's own
// loaders and hold the earlier keys.
func (c *cluster) checkSecret(t *testing.T, tc migrationCase, keys sshKeys, was recorded) {
	ctx := context.Background()
	kube := c.cp.Clientset
	old, err := kube.CoreV1().Secrets(tc.namespace).Get(ctx, "rds-csi-secret", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the earlier Secret: %v", err)
	}
	sameObject(t, "the earlier Secret", was.secret, old, was.secret.ObjectMeta, old.ObjectMeta)

	dep, err := kube.AppsV1().Deployments(newNamespace).Get(ctx, "rds-csi-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctr, ok := driverContainer(dep)
	if !ok {
		t.Fatal("the new controller Deployment has no container running --mode=controller")
	}
	root := t.TempDir()
	files := map[string]string{}
	// Which key of the earlier Secret each file must hold.
	earlierKey := map[string]string{"--rds-private-key": "rds-private-key", "--rds-host-key": "rds-host-key"}
	for _, flag := range []string{"--rds-private-key", "--rds-host-key"} {
		path, ok := argValue(ctr.Args, flag)
		if !ok {
			t.Fatalf("the controller has no %s flag", flag)
		}
		secretName, key := c.projectedKey(t, dep, ctr, path)
		if want := tc.secretName(); secretName != want {
			t.Errorf("%s (%s) comes from Secret %q, want %q", flag, path, secretName, want)
		}
		s, err := kube.CoreV1().Secrets(newNamespace).Get(ctx, secretName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: Secret %s/%s: %v", flag, newNamespace, secretName, err)
		}
		data, ok := s.Data[key]
		if !ok {
			t.Fatalf("%s: Secret %s has no key %q (the kubelet would not start the Pod)", flag, secretName, key)
		}
		if !bytes.Equal(data, old.Data[earlierKey[flag]]) {
			t.Errorf("%s: Secret %s key %q differs from the earlier Secret's %q", flag, secretName, key, earlierKey[flag])
		}
		local := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(local, data, 0o600); err != nil {
			t.Fatal(err)
		}
		files[flag] = local
	}
	signer, err := rds.LoadPrivateKey(files["--rds-private-key"])
	if err != nil {
		t.Fatalf("the controller cannot read the earlier private key: %v", err)
	}
	if !bytes.Equal(signer.PublicKey().Marshal(), keys.clientPub.Marshal()) {
		t.Error("the private key the controller reads is not the earlier one")
	}
	hostKeys, err := rds.LoadHostKeys(files["--rds-host-key"])
	if err != nil {
		t.Fatalf("the controller cannot read the earlier host key %q: %v", keys.hostLine, err)
	}
	if len(hostKeys) != 1 || !bytes.Equal(hostKeys[0].Marshal(), keys.hostPub.Marshal()) {
		t.Errorf("the controller pins %d host keys, not the earlier one", len(hostKeys))
	}
}

func driverContainer(dep *appsv1.Deployment) (corev1.Container, bool) {
	for _, c := range dep.Spec.Template.Spec.Containers {
		if slices.Contains(c.Args, "--mode=controller") {
			return c, true
		}
	}
	return corev1.Container{}, false
}

func argValue(args []string, flag string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v, true
		}
	}
	return "", false
}

// projectedKey resolves a file path inside the container to the Secret and
// key the kubelet would put there.
func (c *cluster) projectedKey(t *testing.T, dep *appsv1.Deployment, ctr corev1.Container, path string) (secret, key string) {
	t.Helper()
	for _, m := range ctr.VolumeMounts {
		rel, ok := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			if v.Secret == nil {
				t.Fatalf("%s is in volume %s, which is not a Secret", path, v.Name)
			}
			if len(v.Secret.Items) == 0 {
				return v.Secret.SecretName, rel // every key, as a file of its name
			}
			for _, it := range v.Secret.Items {
				if it.Path == rel {
					return v.Secret.SecretName, it.Key
				}
			}
			t.Fatalf("%s: Secret volume %s projects no item to %q", path, v.Name, rel)
		}
	}
	t.Fatalf("%s is on no volume of the controller", path)
	return "", ""
}

// checkCSIDriver: the same object unless the earlier one could not stay
// (attachRequired false), no longer Helm's, with this driver's mutable
// settings applied (storageCapacity true, the same as the earlier driver's
// since several RDS units came with --enable-capacity; its part-of label
// shows this driver's object was applied over the earlier one).
func (c *cluster) checkCSIDriver(t *testing.T, tc migrationCase, was recorded) {
	d, err := c.cp.Clientset.StorageV1().CSIDrivers().Get(context.Background(), driverName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case tc.attachRequired && d.UID != was.csiDriver.UID:
		t.Errorf("the CSIDriver was re-created (uid %s, was %s); it should have been kept", d.UID, was.csiDriver.UID)
	case !tc.attachRequired && d.UID == was.csiDriver.UID:
		t.Errorf("the CSIDriver with attachRequired=false was kept; it cannot serve this driver")
	}
	if d.Spec.AttachRequired == nil || !*d.Spec.AttachRequired {
		t.Error("CSIDriver attachRequired is not true")
	}
	if d.Spec.StorageCapacity == nil || !*d.Spec.StorageCapacity {
		t.Error("CSIDriver storageCapacity is not true: the provisioner runs with --enable-capacity")
	}
	if d.Labels["app.kubernetes.io/part-of"] != "rds-csi" {
		t.Errorf("CSIDriver labels %v lack app.kubernetes.io/part-of=rds-csi: this driver's CSIDriver was not applied", d.Labels)
	}
	if d.Spec.PodInfoOnMount == nil || !*d.Spec.PodInfoOnMount {
		t.Error("CSIDriver podInfoOnMount is not true")
	}
	if tc.target == withChart {
		ownedByNewRelease(t, "the CSIDriver", &d.ObjectMeta)
	} else {
		notHelms(t, "the CSIDriver", &d.ObjectMeta)
	}
}

// ownedByNewRelease: this driver's chart release took the object over.
func ownedByNewRelease(t *testing.T, what string, m *metav1.ObjectMeta) {
	t.Helper()
	if m.Labels[helmManagedBy] != "Helm" || m.Annotations[helmReleaseName] != newRelease ||
		m.Annotations[helmReleaseNamespace] != newNamespace || m.Labels["app.kubernetes.io/name"] != "rds-csi" {
		t.Errorf("%s is not owned by this driver's release %s/%s: labels %v, annotations %v", what, newNamespace, newRelease, m.Labels, m.Annotations)
	}
}

// checkClasses: the earlier StorageClasses and VolumeSnapshotClass are the
// same objects with the same settings, and belong to no Helm release.
func (c *cluster) checkClasses(t *testing.T, tc migrationCase, was recorded) {
	ctx := context.Background()
	for _, name := range tc.storageClasses {
		sc, err := c.cp.Clientset.StorageV1().StorageClasses().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("StorageClass %s: %v", name, err)
			continue
		}
		b := was.classes[name]
		if sc.UID != b.UID {
			t.Errorf("StorageClass %s was re-created", name)
		}
		type settings struct {
			Provisioner          string
			Parameters           map[string]string
			ReclaimPolicy        *corev1.PersistentVolumeReclaimPolicy
			VolumeBindingMode    *storagev1.VolumeBindingMode
			AllowVolumeExpansion *bool
			MountOptions         []string
		}
		before := settings{b.Provisioner, b.Parameters, b.ReclaimPolicy, b.VolumeBindingMode, b.AllowVolumeExpansion, b.MountOptions}
		after := settings{sc.Provisioner, sc.Parameters, sc.ReclaimPolicy, sc.VolumeBindingMode, sc.AllowVolumeExpansion, sc.MountOptions}
		if !reflect.DeepEqual(before, after) {
			t.Errorf("StorageClass %s changed:\nbefore %+v\nafter  %+v", name, before, after)
		}
		notHelms(t, "StorageClass "+name, &sc.ObjectMeta)
	}
	snap, err := c.dyn.Resource(clusterGVR["volumesnapshotclass"]).Get(ctx, "rds-csi-snapclass", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the earlier VolumeSnapshotClass: %v", err)
	}
	if snap.GetUID() != was.snapClass {
		t.Error("the earlier VolumeSnapshotClass was re-created")
	}
	notHelmsU(t, "the earlier VolumeSnapshotClass", snap)
	if tc.helmOwnsNamespace {
		ns, err := c.dyn.Resource(clusterGVR["namespace"]).Get(ctx, tc.namespace, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		notHelmsU(t, "namespace "+tc.namespace, ns)
	}
	for _, e := range tc.keptExtras {
		kind, name, _ := strings.Cut(e, "/")
		o, err := c.dyn.Resource(namespacedGVR[kind]).Namespace(tc.namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("%s of the earlier release: %v", e, err)
			continue
		}
		if o.GetUID() != was.extras[e] {
			t.Errorf("%s was re-created", e)
		}
		notHelmsU(t, e, o)
	}
}

func notHelms(t *testing.T, what string, m *metav1.ObjectMeta) {
	t.Helper()
	if v, ok := m.Labels[helmManagedBy]; ok && v == "Helm" {
		t.Errorf("%s is still labelled %s=Helm", what, helmManagedBy)
	}
	for _, a := range []string{helmReleaseName, helmReleaseNamespace} {
		if v, ok := m.Annotations[a]; ok {
			t.Errorf("%s still carries %s=%s", what, a, v)
		}
	}
}

func notHelmsU(t *testing.T, what string, o *unstructured.Unstructured) {
	t.Helper()
	m := metav1.ObjectMeta{Labels: o.GetLabels(), Annotations: o.GetAnnotations()}
	notHelms(t, what, &m)
}

// checkInstalled: every object of the new install (the migration overlay,
// or the chart release) exists, the workloads with this driver's selectors,
// and the install leaves rds-nvme to the earlier class.
func (c *cluster) checkInstalled(t *testing.T, tc migrationCase) {
	var objs []*unstructured.Unstructured
	var text string
	switch tc.target {
	case withKustomize:
		objs, text = c.render(t, "deploy/overlays/from-earlier")
	case withChart:
		text = c.helmCmd(t, "-n", newNamespace, "get", "manifest", newRelease)
		var err error
		if objs, err = harness.DecodeObjects([]byte(text)); err != nil {
			t.Fatalf("decoding the release manifest: %v", err)
		}
		if st := c.helmCmd(t, "-n", newNamespace, "status", newRelease); !strings.Contains(st, "STATUS: deployed") {
			t.Errorf("release %s is not deployed:\n%s", newRelease, st)
		}
	}
	f := filepath.Join(t.TempDir(), "rendered.yaml")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out := c.kubectl(t, "get", "-f", f, "-o", "name")
	if got := len(strings.Fields(out)); got != len(objs) {
		t.Errorf("%d objects rendered, %d found:\n%s", len(objs), got, out)
	}
	var classes []string
	for _, o := range objs {
		switch o.GetKind() {
		case "StorageClass":
			classes = append(classes, o.GetName())
		case "Deployment", "DaemonSet":
			want, _, _ := unstructured.NestedMap(o.Object, "spec", "selector")
			live, err := c.dyn.Resource(appsGVR(o.GetKind())).Namespace(o.GetNamespace()).Get(context.Background(), o.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, _, _ := unstructured.NestedMap(live.Object, "spec", "selector")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s has selector %v, this driver's is %v", o.GetKind(), o.GetName(), got, want)
			}
		}
	}
	if slices.Contains(classes, "rds-nvme") {
		t.Errorf("the new install (%s) has a StorageClass rds-nvme; it must leave the earlier one alone", tc.target)
	}
	if !slices.Contains(classes, "rds-nvme-block-rwx") {
		t.Errorf("the new install (%s) has StorageClasses %v, without rds-nvme-block-rwx", tc.target, classes)
	}
}

// checkOldGone: nothing of the earlier controller and node plugin is left,
// Pods included (the garbage collector removed them; the document waited),
// and no Helm release remains.
func (c *cluster) checkOldGone(t *testing.T, tc migrationCase) {
	ctx := context.Background()
	kube := c.cp.Clientset
	none := func(what string, n int, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n != 0 {
			t.Errorf("%d %s left", n, what)
		}
	}
	gone := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s is still there", what)
		} else if !apierrors.IsNotFound(err) {
			t.Fatalf("%s: %v", what, err)
		}
	}
	switch tc.method {
	case viaManifests:
		ns := tc.namespace
		d, err := kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=rds-csi-controller"})
		none("earlier controller Deployments", lenOr(d, err), err)
		ds, err := kube.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=rds-csi-node"})
		none("earlier node DaemonSets", lenOr(ds, err), err)
		p, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app in (rds-csi-controller,rds-csi-node)"})
		none("earlier Pods", lenOr(p, err), err)
		for _, n := range []string{"rds-csi-controller-role", "rds-csi-node-role"} {
			_, err := kube.RbacV1().ClusterRoles().Get(ctx, n, metav1.GetOptions{})
			gone("ClusterRole "+n, err)
		}
		for _, n := range []string{"rds-csi-controller-binding", "rds-csi-node-binding"} {
			_, err := kube.RbacV1().ClusterRoleBindings().Get(ctx, n, metav1.GetOptions{})
			gone("ClusterRoleBinding "+n, err)
		}
		// This driver's chart uses the same name; the earlier one has rds-address.
		cm, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, "rds-csi-config", metav1.GetOptions{})
		if err == nil {
			if _, earlier := cm.Data["rds-address"]; earlier {
				t.Errorf("the earlier ConfigMap %s/rds-csi-config is still there: %v", ns, cm.Data)
			}
		} else {
			gone("ConfigMap "+ns+"/rds-csi-config", err)
		}
		if ns != newNamespace {
			for _, n := range []string{"rds-csi-controller", "rds-csi-node"} {
				_, err := kube.CoreV1().ServiceAccounts(ns).Get(ctx, n, metav1.GetOptions{})
				gone("ServiceAccount "+ns+"/"+n, err)
			}
		}
	case viaHelm:
		ns := tc.namespace
		sel := "app.kubernetes.io/name=rds-csi-driver,app.kubernetes.io/instance=" + tc.release
		parts := sel + ",app.kubernetes.io/component in (controller,node)"
		d, err := kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		none("earlier Deployments", lenOr(d, err), err)
		ds, err := kube.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		none("earlier DaemonSets", lenOr(ds, err), err)
		p, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: parts})
		none("earlier Pods", lenOr(p, err), err)
		svc, err := kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		none("earlier Services", lenOr(svc, err), err)
		sa, err := kube.CoreV1().ServiceAccounts(ns).List(ctx, metav1.ListOptions{LabelSelector: parts})
		none("earlier controller/node ServiceAccounts", lenOr(sa, err), err)
		cr, err := kube.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{LabelSelector: sel})
		none("earlier ClusterRoles", lenOr(cr, err), err)
		crb, err := kube.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{LabelSelector: sel})
		none("earlier ClusterRoleBindings", lenOr(crb, err), err)
	}
	if tc.needsHelm() {
		// No release of the earlier chart; this driver's, with the chart target.
		var releases []struct{ Name, Namespace, Chart, Status string }
		out := c.helmCmd(t, "list", "-A", "-o", "json")
		if err := json.Unmarshal([]byte(out), &releases); err != nil {
			t.Fatalf("helm list: %v\n%s", err, out)
		}
		ours := 0
		for _, r := range releases {
			switch {
			case strings.HasPrefix(r.Chart, "rds-csi-driver-"):
				t.Errorf("helm still has the earlier release %s/%s (%s, %s)", r.Namespace, r.Name, r.Chart, r.Status)
			case r.Name == newRelease && r.Namespace == newNamespace && r.Status == "deployed":
				ours++
			default:
				t.Errorf("unexpected helm release %+v", r)
			}
		}
		if want := map[bool]int{true: 1, false: 0}[tc.target == withChart]; ours != want {
			t.Errorf("%d releases of this driver's chart, want %d: %s", ours, want, out)
		}
	}
}

// lenOr is the number of items of a typed list (0 when err is set: the
// caller reports err).
func lenOr(list any, err error) int {
	if err != nil {
		return 0
	}
	return reflect.ValueOf(list).Elem().FieldByName("Items").Len()
}

func appsGVR(kind string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: strings.ToLower(kind) + "s"}
}
