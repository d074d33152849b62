//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/srvlab/rds-csi/fsm"
)

// testRDSOutage: the RDS dies (SIGKILL, no clean SSH shutdown) and comes
// back. The operator sees it where they look first, `kubectl describe pod`
// of the controller (RDSDisconnected, then RDSReconnected), readiness
// follows the connection, and a claim created during the outage is refused
// with Unavailable and then provisioned once the RDS is back, by the
// provisioner's own retries.
func (c *cluster) testRDSOutage(t *testing.T) {
	c.dumpOnFailure(t)
	ctx := context.Background()

	killed := time.Now()
	c.rds.Kill(t)
	c.waitPodEvent(t, fsm.ReasonDisconnected)
	t.Logf("%s shown %v after SIGKILL", fsm.ReasonDisconnected, time.Since(killed).Round(time.Millisecond))
	eventually(t, waitTimeout, "controller not ready during the outage", func() (bool, string, error) {
		code, err := c.controller.Readyz()
		return err == nil && code != http.StatusOK, fmt.Sprintf("/readyz %d", code), err
	})

	const claim = "outage"
	c.createPVC(t, c.newPVC(t, claim, "1Gi"))
	// Proof that provisioning was attempted (and refused as retryable)
	// during the outage, not merely started after it.
	eventually(t, waitTimeout, "PVC "+claim+" refused with Unavailable", func() (bool, string, error) {
		if err := c.alive(); err != nil {
			return false, "", err
		}
		msg, err := c.pvcEventMessage(ctx, claim, "ProvisioningFailed")
		return strings.Contains(msg, "Unavailable"), "ProvisioningFailed: " + msg, err
	})
	pvc, err := c.kube.CoreV1().PersistentVolumeClaims(testNamespace).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Status.Phase != corev1.ClaimPending {
		t.Fatalf("PVC %s is %s during the outage, want Pending", claim, pvc.Status.Phase)
	}

	restarted := time.Now()
	c.rds.Start(t)
	c.waitPodEvent(t, fsm.ReasonReconnected)
	t.Logf("%s shown %v after the restart", fsm.ReasonReconnected, time.Since(restarted).Round(time.Millisecond))
	pv := c.waitBound(t, claim)
	t.Logf("PVC %s bound %v after the restart", claim, time.Since(restarted).Round(time.Millisecond))
	c.waitDisk(t, pv.Spec.CSI.VolumeHandle, 1<<30)
	c.deletePVCAndWait(t, claim, pv)
}

// waitPodEvent waits until `kubectl describe pod` of the controller Pod
// lists an event with the reason, and logs the events section.
func (c *cluster) waitPodEvent(t *testing.T, reason string) {
	t.Helper()
	var events string
	eventually(t, waitTimeout, "kubectl describe pod "+controllerPod+" showing "+reason, func() (bool, string, error) {
		if err := c.alive(); err != nil {
			return false, "", err
		}
		out, err := c.cp.Kubectl("describe", "pod", controllerPod, "-n", c.driverNamespace)
		if err != nil {
			return false, "", err
		}
		_, events, _ = strings.Cut(out, "\nEvents:")
		return containsWord(events, reason), "events:" + events, nil
	})
	t.Logf("kubectl describe pod %s, events:%s", controllerPod, events)
}

// containsWord reports whether s has word as a whole whitespace-separated
// field (RDSReconnected must not match RDSReconnectedSomething).
func containsWord(s, word string) bool {
	for _, f := range strings.Fields(s) {
		if f == word {
			return true
		}
	}
	return false
}

// pvcEventMessage returns the message of the latest event with the reason
// regarding the claim, "" if none.
func (c *cluster) pvcEventMessage(ctx context.Context, claim, reason string) (string, error) {
	list, err := c.kube.CoreV1().Events(testNamespace).List(ctx, metav1.ListOptions{FieldSelector: fields.Set{
		"involvedObject.kind": "PersistentVolumeClaim",
		"involvedObject.name": claim,
		"reason":              reason,
	}.AsSelector().String()})
	if err != nil {
		return "", err
	}
	var msg string
	var last time.Time
	for _, e := range list.Items {
		ts := e.LastTimestamp.Time
		if e.Series != nil {
			ts = e.Series.LastObservedTime.Time
		}
		if ts.IsZero() {
			ts = e.EventTime.Time
		}
		if msg == "" || !ts.Before(last) {
			msg, last = e.Message, ts
		}
	}
	return msg, nil
}
