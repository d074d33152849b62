//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/srvlab/rds-csi/driver/attachment"
	"github.com/srvlab/rds-csi/test/harness"
)

// Issue 11, acceptance points 1 and 2, with the real csi-attacher v4.13
// against the real API server.
//
// The attacher compares every VolumeAttachment with the published nodes of
// ListVolumes once per --reconcile-sync (1 min by default). Before the fix
// a node released as stale vanished from that list, so each round logged
// "attached status and actual state do not match" and re-ran
// ControllerPublish for the stale VolumeAttachment. The scenario counts
// those rounds from the attacher's own log instead of trusting a clock: the
// deployment's interval is shortened (e2eReconcileSync, 2 s) so that the
// observation window (e2eStaleObserve, 20 s) holds about ten rounds, more
// than the three of the 3 minutes at the default interval; the
// test fails if fewer than three happened. RDS_CSI_E2E_RECONCILE_SYNC=1m
// RDS_CSI_E2E_STALE_OBSERVE=3m is the literal long run.

// e2eReconcileSync is csi-attacher's --reconcile-sync in the e2e cluster.
func e2eReconcileSync() string { return envOr("RDS_CSI_E2E_RECONCILE_SYNC", "2s") }

// e2eStaleObserve is how long the scenario watches the stale attachment.
func e2eStaleObserve(t *testing.T) time.Duration {
	d, err := time.ParseDuration(envOr("RDS_CSI_E2E_STALE_OBSERVE", "20s"))
	if err != nil {
		t.Fatalf("RDS_CSI_E2E_STALE_OBSERVE: %v", err)
	}
	return d
}

// e2eAttachmentGrace is the controller's --attachment-grace-period here.
const e2eAttachmentGrace = 3 * time.Second

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (c *cluster) testStaleAttachment(t *testing.T) {
	c.dumpOnFailure(t)
	ctx := context.Background()
	const nodeA, nodeB = "stale-a", "stale-b"
	for _, n := range []string{nodeA, nodeB} {
		c.createNode(t, n)
	}
	t.Cleanup(func() {
		for _, n := range []string{nodeA, nodeB} {
			_ = c.kube.CoreV1().Nodes().Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})
	const claim = "stale"
	c.createPVC(t, c.newPVC(t, claim, "1Gi"))
	pv := c.waitBound(t, claim)
	handle := pv.Spec.CSI.VolumeHandle
	vaA, vaB := attachmentName(handle, nodeA), attachmentName(handle, nodeB)
	t.Cleanup(func() {
		for _, name := range []string{vaA, vaB} {
			_ = c.kube.StorageV1().VolumeAttachments().Delete(context.Background(), name, metav1.DeleteOptions{})
		}
	})
	c.createVA(t, pv.Name, nodeA)
	c.waitAttached(t, vaA, nodeA)

	// Node A goes NotReady and stays so past the grace period.
	c.setNodeReady(t, nodeA, corev1.ConditionFalse)
	eventually(t, waitTimeout, "kubectl describe pv showing "+attachment.ReasonStaleAttachmentReleased+" for "+nodeA, func() (bool, string, error) {
		out, err := c.cp.Kubectl("describe", "pv", pv.Name)
		if err != nil {
			return false, "", err
		}
		_, events, _ := strings.Cut(out, "\nEvents:")
		return containsWord(events, attachment.ReasonStaleAttachmentReleased) && strings.Contains(events, nodeA), "events:" + events, nil
	})

	attacher := c.sidecar(t, "csi-attacher")
	ctlFrom, attFrom := fileSize(t, c.controller.proc.LogPath), fileSize(t, attacher.LogPath)
	observe := e2eStaleObserve(t)
	start := time.Now()

	// Point 1, second half: publishing elsewhere works at once, the stale
	// attachment notwithstanding.
	time.Sleep(observe / 2)
	pubStart := time.Now()
	c.createVA(t, pv.Name, nodeB)
	c.waitAttached(t, vaB, nodeB)
	t.Logf("VolumeAttachment on %s attached %v after its creation (the stale one on %s did not block it)",
		nodeB, time.Since(pubStart).Round(time.Millisecond), nodeA)
	time.Sleep(time.Until(start.Add(observe)))

	ctlLog := readFrom(t, c.controller.proc.LogPath, ctlFrom)
	attLog := readFrom(t, attacher.LogPath, attFrom)
	rounds := countLines(attLog, "Reconciling VolumeAttachments with driver backend state")
	publishes := countLines(ctlLog, `method="ControllerPublishVolume"`, `nodeID="`+nodeA+`"`, `"GRPC call`)
	mismatches := countLines(attLog, "do not match", vaA)
	vaErrors := countErrorLines(attLog, vaA)
	listings := countLines(ctlLog, `method="ListVolumes"`, `"GRPC call succeeded"`)
	t.Logf("over %v: %d attacher reconcile rounds (--reconcile-sync=%s), %d ListVolumes answered; for %s on NotReady %s: "+
		"%d ControllerPublish calls, %d status mismatches, %d error lines",
		observe, rounds, e2eReconcileSync(), listings, vaA, nodeA, publishes, mismatches, vaErrors)
	if rounds < 3 {
		t.Errorf("only %d attacher reconcile rounds in %v: the observation is weaker than the issue's 3 minutes at 1 min", rounds, observe)
	}
	if publishes != 0 || mismatches != 0 || vaErrors != 0 {
		t.Errorf("the attacher re-published the stale VolumeAttachment %s: %d ControllerPublish, %d mismatch logs, %d error lines",
			vaA, publishes, mismatches, vaErrors)
	}

	// Point 2: no delete under a live attachment, stale or not.
	conn, err := grpc.NewClient("unix://"+c.controller.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	must(t, err)
	defer func() { _ = conn.Close() }()
	ctl := csi.NewControllerClient(conn)
	rpc := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 30*time.Second) }
	rctx, cancel := rpc()
	_, err = ctl.DeleteVolume(rctx, &csi.DeleteVolumeRequest{VolumeId: handle})
	cancel()
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), nodeA) {
		t.Fatalf("DeleteVolume with a stale attachment on %s: %v; want FailedPrecondition naming %s", nodeA, err, nodeA)
	}
	t.Logf("DeleteVolume while attached: %v", err)
	lctx, cancel := rpc()
	list, err := ctl.ListVolumes(lctx, &csi.ListVolumesRequest{})
	cancel()
	must(t, err)
	for _, e := range list.GetEntries() {
		if e.GetVolume().GetVolumeId() == handle {
			t.Logf("ListVolumes: %s published to %v", handle, e.GetStatus().GetPublishedNodeIds())
		}
	}

	for _, name := range []string{vaB, vaA} {
		must(t, c.kube.StorageV1().VolumeAttachments().Delete(ctx, name, metav1.DeleteOptions{}))
		c.waitVAGone(t, name)
	}
	eventually(t, waitTimeout, "DeleteVolume to succeed once the VolumeAttachments are gone", func() (bool, string, error) {
		rctx, cancel := rpc()
		defer cancel()
		_, err := ctl.DeleteVolume(rctx, &csi.DeleteVolumeRequest{VolumeId: handle})
		if err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
	c.waitDiskGone(t, handle)
	c.deletePVCAndWait(t, claim, pv)
}

// setNodeReady sets a node's Ready condition as a kubelet (or the node
// lifecycle controller) would, with the transition time now.
func (c *cluster) setNodeReady(t *testing.T, name string, st corev1.ConditionStatus) {
	t.Helper()
	now := metav1.NewTime(time.Now())
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: st, Reason: "e2e", Message: "e2e: set by the test",
		LastHeartbeatTime: now, LastTransitionTime: now,
	}}}})
	must(t, err)
	if _, err := c.kube.CoreV1().Nodes().Patch(context.Background(), name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		t.Fatalf("setting node %s Ready=%s: %v", name, st, err)
	}
}

// sidecar returns the running sidecar process of that container name.
func (c *cluster) sidecar(t *testing.T, name string) *harness.Process {
	t.Helper()
	for _, p := range c.sidecars {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no sidecar %s", name)
	return nil
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// readFrom returns a log file's content from offset on.
func readFrom(t *testing.T, path string, offset int64) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	return string(data[offset:])
}

// countLines counts the lines containing every one of subs.
func countLines(log string, subs ...string) int {
	n := 0
	for line := range strings.SplitSeq(log, "\n") {
		all := true
		for _, s := range subs {
			if !strings.Contains(line, s) {
				all = false
				break
			}
		}
		if all {
			n++
		}
	}
	return n
}

// countErrorLines counts klog error lines ("E" severity) naming s.
func countErrorLines(log, s string) int {
	n := 0
	for line := range strings.SplitSeq(log, "\n") {
		if strings.HasPrefix(line, "E") && strings.Contains(line, s) {
			n++
		}
	}
	return n
}
