package attachment

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	reconciler "github.com/srvlab/rds-csi/driver/attachment"
	"github.com/srvlab/rds-csi/metrics"
)

// Issue 5, acceptance point 5: two controller replicas with leader
// election. Both serve CSI (each keeps its own connection FSM and answers
// Probe); only the Lease holder reconciles. SIGKILL the leader — no Lease
// release — and the survivor takes the Lease once it has expired and
// starts reconciling: a node deleted right after the kill gets its
// attachment released by the survivor.
//
// Bound: client-go's elector takes an expired Lease at its next retry.
// The Lease expires LeaseDuration after the survivor last saw it renewed,
// which is up to one RetryPeriod after the leader's last renewal (the
// survivor polls every RetryPeriod); then up to one more RetryPeriod passes
// before its next try. Kill → takeover ≤ LeaseDuration + 2 × RetryPeriod.
func TestLeaderFailover(t *testing.T) {
	env := setup(t)
	replicas := map[string]*driver{}
	for _, name := range []string{"rds-csi-controller-a", "rds-csi-controller-b"} {
		pod := env.cluster.controllerPod(t, name)
		replicas[name] = env.startDriver(t, driverOpts{name: name, pod: pod, leaderElection: true})
	}
	for _, d := range replicas {
		d.waitSocket(t)
	}

	// Find the leader: the Lease, and each replica's leader gauge.
	var leaderName string
	waitFor(t, "a Lease holder", coarsePoll, 30*time.Second, func() bool {
		leaderName = holder(env.cluster.lease(t))
		return leaderName != ""
	})
	leader := replicas[leaderName]
	if leader == nil {
		t.Fatalf("Lease held by %q, not one of the replicas", leaderName)
	}
	var survivor *driver
	for name, d := range replicas {
		if name != leaderName {
			survivor = d
		}
	}
	waitFor(t, "leader gauges 1 (leader) and 0 (follower)", coarsePoll, 10*time.Second, func() bool {
		return leader.metric("rds_csi_attachment_leader", nil) == 1 && survivor.metric("rds_csi_attachment_leader", nil) == 0
	})
	t.Logf("leader %s, follower %s", leader.name, survivor.name)

	// Both replicas serve Probe from their own FSM.
	for _, d := range replicas {
		d.waitReady(t)
		if st := d.metric("rds_csi_rds_connection_state", nil); st != 1 {
			t.Errorf("%s: connection_state %v, want 1", d.name, st)
		}
	}

	// An attached volume, provisioned through the follower (it serves
	// controller RPCs too); the leader reconciles it, the follower does not.
	env.cluster.readyNode(t, "worker-1")
	pv := pvName()
	vol := survivor.createVolume(t, pv)
	env.cluster.attach(t, pv, vol, "worker-1")
	waitFor(t, "the leader reconciling the volume", coarsePoll, 20*time.Second, func() bool { return leader.reconciles() >= 1 })
	if n := survivor.reconciles(); n != 0 {
		t.Errorf("the follower reconciled %v times, want 0", n)
	}
	before := env.cluster.lease(t)
	if before == nil || before.Spec.LeaseDurationSeconds == nil {
		t.Fatalf("Lease without a duration: %+v", before)
	}
	leaseDuration := time.Duration(*before.Spec.LeaseDurationSeconds) * time.Second
	bound := leaseDuration + 2*reconciler.DefaultRetryPeriod

	killedAt := leader.proc.kill9(t)
	env.cluster.deleteNode(t, "worker-1")
	deletedAt := time.Now()

	// Watch the Lease and the survivor's metrics until it has taken over
	// and released the attachment.
	var holderSeen, gaugeSeen, reconcileSeen, releaseSeen time.Time
	released := map[string]string{"reason": metrics.StaleReasonNodeDeleted}
	waitFor(t, "the survivor taking over and releasing", 50*time.Millisecond, bound+15*time.Second, func() bool {
		now := time.Now()
		if holderSeen.IsZero() && holder(env.cluster.lease(t)) == survivor.name {
			holderSeen = now
		}
		f, err := survivor.scrape()
		if err != nil {
			return false
		}
		if v, ok := f.Value("rds_csi_attachment_leader", nil); ok && v == 1 && gaugeSeen.IsZero() {
			gaugeSeen = now
		}
		total := 0.0
		for _, s := range f.Series("rds_csi_attachment_reconcile_total") {
			total += s.Value
		}
		if total > 0 && reconcileSeen.IsZero() {
			reconcileSeen = now
		}
		if v, ok := f.Value("rds_csi_attachment_stale_released_total", released); ok && v >= 1 && releaseSeen.IsZero() {
			releaseSeen = now
		}
		return !holderSeen.IsZero() && !gaugeSeen.IsZero() && !reconcileSeen.IsZero() && !releaseSeen.IsZero()
	})

	after := env.cluster.lease(t)
	if after == nil || after.Spec.AcquireTime == nil {
		t.Fatalf("Lease without an acquire time: %+v", after)
	}
	acquiredAt := after.Spec.AcquireTime.Time
	takeover := acquiredAt.Sub(killedAt)
	lines := survivor.log(t)
	iAcq := findLine(lines, 0, `"Acquired the attachment Lease`)
	iRel := findLine(lines, 0, `"Event"`, `reason="`+reconciler.ReasonStaleAttachmentReleased+`"`, vol.GetVolumeId())
	if iAcq < 0 || iRel < iAcq {
		t.Fatalf("survivor log: Lease acquired at line %d, release at line %d; want both, acquisition first", iAcq, iRel)
	}
	t.Logf("MEASURED failover (LeaseDuration %v, RetryPeriod %v, bound %v): kill → Lease acquireTime %v; "+
		"kill → holder change seen by poll %v; kill → survivor log \"Acquired\" %v; kill → leader gauge 1 (poll) %v; "+
		"kill → first reconcile on the survivor (poll) %v; kill → StaleAttachmentReleased by the survivor (log) %v, (metric poll) %v; "+
		"node deleted %v after the kill",
		leaseDuration, reconciler.DefaultRetryPeriod, bound, takeover.Round(time.Millisecond),
		holderSeen.Sub(killedAt).Round(time.Millisecond), lines[iAcq].at.Sub(killedAt).Round(time.Millisecond),
		gaugeSeen.Sub(killedAt).Round(time.Millisecond), reconcileSeen.Sub(killedAt).Round(time.Millisecond),
		lines[iRel].at.Sub(killedAt).Round(time.Millisecond), releaseSeen.Sub(killedAt).Round(time.Millisecond),
		deletedAt.Sub(killedAt).Round(time.Millisecond))
	if takeover > bound {
		t.Errorf("the survivor took the Lease %v after the kill, want ≤ %v", takeover, bound)
	}
	if takeover > leaseDuration {
		t.Logf("note: takeover %v exceeds the lease duration %v (within the elector's retry slack)", takeover, leaseDuration)
	}
	if got, want := after.Spec.LeaseTransitions, before.Spec.LeaseTransitions; got == nil || want == nil || *got != *want+1 {
		t.Errorf("leaseTransitions %v → %v, want +1", want, got)
	}

	ev := env.cluster.waitEvent(t, metav1.NamespaceDefault, reconciler.ReasonStaleAttachmentReleased, "PersistentVolume", pv)
	t.Logf("event: %s %s %s/%s: %s", ev.EventTime.Format(time.StampMicro), ev.Type, ev.Regarding.Kind, ev.Regarding.Name, ev.Note)
	if ev.Related == nil || ev.Related.Name != "worker-1" {
		t.Errorf("release event related %+v, want Node worker-1", ev.Related)
	}
	if ready, err := survivor.probe(t); err != nil || !ready {
		t.Errorf("survivor Probe after the failover: ready=%v, %v", ready, err)
	}
}
