package migration

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/ssh"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// sshKeys is the earlier driver's SSH material as its Secret holds it.
type sshKeys struct {
	privatePEM []byte        // rds-private-key
	clientPub  ssh.PublicKey // what RouterOS has for the user
	hostLine   string        // rds-host-key: "<type> <base64>", as the earlier docs make it
	hostPub    ssh.PublicKey
}

// newKeys makes a client key in the form the earlier project documents for
// the kind (ed25519 in OpenSSH format; RSA in the classic PEM form) and an
// RDS host key of the same kind, written as the earlier docs produce it
// (ssh-keyscan output without the host column).
func newKeys(t *testing.T, kind keyKind) sshKeys {
	t.Helper()
	var k sshKeys
	var hostKey any
	switch kind {
	case keyEd25519:
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		block, err := ssh.MarshalPrivateKey(priv, "rds-csi")
		if err != nil {
			t.Fatal(err)
		}
		k.privatePEM = pem.EncodeToMemory(block)
		if k.clientPub, err = ssh.NewPublicKey(pub); err != nil {
			t.Fatal(err)
		}
		_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		hostKey = hostPriv.Public()
	case keyRSA:
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		k.privatePEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
		if k.clientPub, err = ssh.NewPublicKey(&priv.PublicKey); err != nil {
			t.Fatal(err)
		}
		hostPriv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		hostKey = &hostPriv.PublicKey
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	var err error
	if k.hostPub, err = ssh.NewPublicKey(hostKey); err != nil {
		t.Fatal(err)
	}
	k.hostLine = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.hostPub)))
	return k
}

// writeSecretFiles writes the two key files the earlier docs create the
// Secret from.
func (k sshKeys) writeSecretFiles(t *testing.T, dir string) (privPath, hostPath string) {
	t.Helper()
	privPath, hostPath = filepath.Join(dir, "rds-csi-key"), filepath.Join(dir, "rds-host-key")
	if err := os.WriteFile(privPath, k.privatePEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hostPath, []byte(k.hostLine+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return privPath, hostPath
}

// installEarlier installs the model of the earlier driver the way its
// project documents for the case's method, and waits until its controller
// and node plugin have Pods (which the migration must make go away).
func (c *cluster) installEarlier(t *testing.T, tc migrationCase, keys sshKeys) {
	t.Helper()
	start := time.Now()
	tmp := t.TempDir()
	privPath, hostPath := keys.writeSecretFiles(t, tmp)
	createSecret := func() {
		c.kubectl(t, "-n", tc.namespace, "create", "secret", "generic", "rds-csi-secret",
			"--from-file=rds-private-key="+privPath, "--from-file=rds-host-key="+hostPath)
	}
	var podSelector string
	switch tc.method {
	case viaManifests:
		// kubectl apply -f of each file in the documented order; the Secret
		// is part of their controller.yaml, applied the same way.
		files := renderEarlierManifests(t, tmp, tc)
		for _, f := range files {
			c.kubectl(t, "apply", "-f", f)
		}
		secret := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: rds-csi-secret\n  namespace: %s\ntype: Opaque\ndata:\n  rds-private-key: %s\n  rds-host-key: %s\n",
			tc.namespace, b64(keys.privatePEM), b64([]byte(keys.hostLine+"\n")))
		secretFile := filepath.Join(tmp, "secret.yaml")
		if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
		c.kubectl(t, "apply", "-f", secretFile)
		podSelector = "app in (rds-csi-controller,rds-csi-node)"
	case viaHelm:
		values := filepath.Join(tmp, "values.yaml")
		if err := os.WriteFile(values, []byte(tc.helmValues), 0o644); err != nil {
			t.Fatal(err)
		}
		chart := filepath.Join(c.root, "test", "migration", "testdata", "earlier-chart")
		if tc.helmOwnsNamespace {
			// namespace.create=true: helm writes its release record into
			// the namespace before it creates the chart's objects, so the
			// namespace must exist first, and then the chart's Namespace
			// can only be installed by taking it over (helm >= 3.17).
			// Either way the Namespace ends up in the release. The Secret
			// follows.
			c.helmCmd(t, "install", tc.release, chart, "-n", tc.namespace, "-f", values, "--create-namespace", "--take-ownership")
			createSecret()
		} else {
			// The chart README's order: namespace, Secret, helm install.
			c.kubectl(t, "create", "namespace", tc.namespace)
			createSecret()
			c.helmCmd(t, "install", tc.release, chart, "-n", tc.namespace, "-f", values)
		}
		podSelector = "app.kubernetes.io/name=rds-csi-driver,app.kubernetes.io/instance=" + tc.release
	}
	ctx := context.Background()
	eventually(t, 2*time.Minute, "the earlier controller and node plugin have Pods", func() (bool, string, error) {
		pods, err := c.cp.Clientset.CoreV1().Pods(tc.namespace).List(ctx, metav1.ListOptions{LabelSelector: podSelector})
		if err != nil {
			return false, "", err
		}
		var names []string
		for _, p := range pods.Items {
			names = append(names, p.Name)
		}
		return len(pods.Items) >= 2, fmt.Sprintf("pods %v", names), nil
	})
	t.Logf("earlier driver installed (%s) in %v", tc.method, time.Since(start).Round(time.Millisecond))
}

// renderEarlierManifests renders testdata/earlier-manifests for the case
// and returns the files in apply order.
func renderEarlierManifests(t *testing.T, dir string, tc migrationCase) []string {
	t.Helper()
	src := filepath.Join(repoRoot(t), "test", "migration", "testdata", "earlier-manifests")
	names, err := filepath.Glob(filepath.Join(src, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	data := struct {
		Namespace      string
		AttachRequired bool
	}{tc.namespace, tc.attachRequired}
	var files []string
	for _, name := range names {
		tmpl, err := template.ParseFiles(name)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := tmpl.Execute(&out, data); err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out.String()) == "" {
			continue // e.g. no Namespace object for kube-system
		}
		f := filepath.Join(dir, filepath.Base(name))
		if err := os.WriteFile(f, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// volume is an existing volume of the earlier driver: a bound PV and PVC,
// and (when the CSIDriver requires attaching) the VolumeAttachment of the
// node the volume is in use on.
type volume struct {
	pv  *corev1.PersistentVolume
	pvc *corev1.PersistentVolumeClaim
	va  *storagev1.VolumeAttachment // nil without attachRequired
}

const (
	appNamespace = "apps"
	// attacherFinalizer is the external-attacher's finalizer for the
	// driver name (same for both drivers: same name).
	attacherFinalizer = "external-attacher/rds-csi-srvlab-io"
)

// createVolume creates the objects Kubernetes and the earlier driver's
// sidecars would have made for one provisioned, bound and attached volume,
// statuses included.
func (c *cluster) createVolume(t *testing.T, attached bool) volume {
	t.Helper()
	ctx := context.Background()
	kube := c.cp.Clientset
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	id := "pvc-" + uuid.NewString()
	size := resource.MustParse("10Gi")
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "data-db-0",
			Namespace: appNamespace,
			Annotations: map[string]string{
				"pv.kubernetes.io/bind-completed":               "yes",
				"pv.kubernetes.io/bound-by-controller":          "yes",
				"volume.kubernetes.io/storage-provisioner":      driverName,
				"volume.beta.kubernetes.io/storage-provisioner": driverName,
			},
			Finalizers: []string{"kubernetes.io/pvc-protection"},
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To("rds-nvme"),
			VolumeName:       id,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
	pvc, err := kube.CoreV1().PersistentVolumeClaims(appNamespace).Create(ctx, pvc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	finalizers := []string{"kubernetes.io/pv-protection"}
	if attached {
		finalizers = append(finalizers, attacherFinalizer)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        id,
			Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": driverName},
			Finalizers:  finalizers,
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              "rds-nvme",
			VolumeMode:                    ptr.To(corev1.PersistentVolumeFilesystem),
			ClaimRef: &corev1.ObjectReference{
				APIVersion: "v1", Kind: "PersistentVolumeClaim",
				Namespace: appNamespace, Name: pvc.Name, UID: pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver:       driverName,
				VolumeHandle: id,
				FSType:       "ext4",
				VolumeAttributes: map[string]string{
					"nvmeAddress": "192.0.2.20",
					"nvmePort":    "4420",
					"nqn":         "nqn.2000-02.com.mikrotik:" + id,
					"volumePath":  "/storage-pool/metal-csi",
					"fsType":      "ext4",
				},
			}},
		},
	}
	if pv, err = kube.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pv.Status.Phase = corev1.VolumeBound
	if pv, err = kube.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc.Status = corev1.PersistentVolumeClaimStatus{
		Phase:       corev1.ClaimBound,
		AccessModes: pvc.Spec.AccessModes,
		Capacity:    corev1.ResourceList{corev1.ResourceStorage: size},
	}
	if pvc, err = kube.CoreV1().PersistentVolumeClaims(appNamespace).UpdateStatus(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	v := volume{pv: pv, pvc: pvc}
	if !attached {
		return v
	}
	va := &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{
			// The attach/detach controller's name for it.
			Name:       fmt.Sprintf("csi-%x", sha256.Sum256([]byte(id+driverName+nodeName))),
			Finalizers: []string{attacherFinalizer},
		},
		Spec: storagev1.VolumeAttachmentSpec{
			Attacher: driverName,
			NodeName: nodeName,
			Source:   storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To(id)},
		},
	}
	if va, err = kube.StorageV1().VolumeAttachments().Create(ctx, va, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	va.Status.Attached = true
	if va, err = kube.StorageV1().VolumeAttachments().UpdateStatus(ctx, va, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	v.va = va
	return v
}
