//go:build linux

package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/srvlab/rds-csi/test/harness"
)

// Names the scenarios use. The driver's namespace, classes and service
// account come from the rendered deploy/ overlay instead.
const (
	driverName       = "rds.csi.srvlab.io"
	controllerPod    = "rds-csi-controller-0" // the Pod the controller reports as (downward API)
	controlPlaneNode = "e2e-control-plane"    // nodeName of the controller Pod; no kubelet
	workerNode       = "e2e-worker"           // the "scheduler's" choice for WaitForFirstConsumer claims
	testNamespace    = "e2e"                  // PVCs, Pods and VolumeSnapshots of the scenarios
)

// cluster is everything one TestE2E run shares.
type cluster struct {
	cp   *harness.ControlPlane
	kube kubernetes.Interface // admin: the tests act as the cluster's users and kubelets
	dyn  dynamic.Interface
	rds  *emulator

	deploy          *rendered
	driverNamespace string // the controller Deployment's namespace
	storageClass    string // deploy's default StorageClass
	snapshotClass   string // deploy's default VolumeSnapshotClass
	driverUser      string // API identity of the controller's service account

	controller *controller
	sidecars   []*harness.Process
	// controllerExtra and provisionerExtra override flags on top of the
	// usual overrides ("" removes a flag): the multi-RDS scenario's
	// --rds-config instead of the single-RDS flags, a short capacity poll.
	controllerExtra  map[string]string
	provisionerExtra map[string]string
	root             string // module root (deploy/ lives there)
	bins             binaries
}

// newCluster renders deploy/, builds the binaries and starts the control
// plane with the snapshot CRDs: a cluster without the driver, where the
// Manifests scenario dry-runs a first installation.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	binDir := harness.BinDirOrSkip(t) // skip before spending a minute on builds
	root := moduleRoot(t)
	readInputs(t, root)
	deploy := renderDeploy(t, filepath.Join(binDir, harness.BinKubectl), root)
	bins := buildBinaries(t)
	sa := deploy.serviceAccountUser()
	cp := harness.Start(t, harness.Options{
		ControllerManager: true,
		// Without a kubelet nobody renews node leases: the node-lifecycle
		// controller would mark every node NotReady after its grace period
		// and the driver would then rightly treat their attachments as
		// stale. The scenarios decide node health themselves.
		Controllers: []string{"*", "-node-lifecycle-controller"},
		Users:       []harness.User{sa},
	})
	cp.ApplyCRDs("")
	dyn, err := dynamic.NewForConfig(cp.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{
		cp: cp, kube: cp.Clientset, dyn: dyn, root: root, bins: bins,
		deploy:          deploy,
		driverNamespace: deploy.controller.Namespace,
		storageClass:    deploy.defaultClass(t, "StorageClass", "storageclass.kubernetes.io/is-default-class"),
		snapshotClass:   deploy.defaultClass(t, "VolumeSnapshotClass", "snapshot.storage.kubernetes.io/is-default-class"),
		driverUser:      sa.Name,
	}
}

// installDriver brings up, in dependency order, the emulator, the cluster
// objects from deploy/, what kubelets would register, our controller, then
// the sidecars.
func (c *cluster) installDriver(t *testing.T) {
	t.Helper()
	c.rds = startEmulator(t, c.cp, c.bins.Sim)
	c.deploy.install(t, c)
	c.createClusterObjects(t)
	c.controller = startController(t, c, c.bins.CSI)
	c.startSidecars(t)
}

// kubectl runs the harness's kubectl and fails the test on error.
func (c *cluster) kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.cp.Kubectl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dumpOnFailure registers a cleanup that prints the storage objects, the
// events and the emulator's last commands when t failed: the process logs
// (printed by the harness) say what the components did, this says what
// they left behind.
func (c *cluster) dumpOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, args := range [][]string{
			{"get", "nodes,csinodes,pvc,pv,volumeattachments,volumesnapshots,volumesnapshotcontents,pods", "-A", "-o", "wide"},
			{"get", "volumeattachments", "-o", "yaml"},
			{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		} {
			out, err := c.cp.Kubectl(args...)
			if err != nil {
				out += "\n" + err.Error()
			}
			t.Logf("----- kubectl %s -----\n%s", strings.Join(args, " "), out)
		}
		t.Logf("----- last emulator commands -----\n%s", c.rds.Commands(40))
		t.Logf("----- last 120 lines of %s -----\n%s", c.controller.proc.LogPath, c.controller.proc.Tail(120))
	})
}

// alive returns a fatalError when our controller or a sidecar has exited:
// every wait for the cluster to act would then only time out.
func (c *cluster) alive() error {
	if err := c.controller.alive(); err != nil {
		return err
	}
	for _, p := range c.sidecars {
		if exited, err := p.Exited(); exited {
			return fatalf("%s exited (%v); last log lines:\n%s", p.Name, err, p.Tail(30))
		}
	}
	return nil
}
