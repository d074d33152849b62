package attachment

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestJudgeNode(t *testing.T) {
	const grace = 30 * time.Second
	now := t0
	deleting := readyNode("n")
	deleting.DeletionTimestamp = &metav1.Time{Time: now.Add(-time.Second)}
	noCondition := readyNode("n")
	noCondition.Status.Conditions = nil
	zeroTransition := nodeWith("n", corev1.ConditionFalse, time.Time{})
	zeroTransition.CreationTimestamp = metav1.NewTime(now.Add(-10 * time.Second))

	for _, tc := range []struct {
		name      string
		node      *corev1.Node
		want      StaleReason
		wantUntil time.Time
	}{
		{"ready", readyNode("n"), NotStale, time.Time{}},
		{"being deleted", deleting, StaleNodeDeleted, time.Time{}},
		{"out-of-service taint on a Ready node", nodeWith("n", corev1.ConditionTrue, now.Add(-time.Hour), outOfService), StaleOutOfService, time.Time{}},
		{"not ready just now", nodeWith("n", corev1.ConditionFalse, now), NotStale, now.Add(grace)},
		{"not ready within grace", nodeWith("n", corev1.ConditionFalse, now.Add(-grace+time.Second)), NotStale, now.Add(time.Second)},
		{"not ready exactly grace", nodeWith("n", corev1.ConditionFalse, now.Add(-grace)), StaleNotReady, time.Time{}},
		{"unknown past grace", nodeWith("n", corev1.ConditionUnknown, now.Add(-time.Minute)), StaleNotReady, time.Time{}},
		{"unknown within grace", nodeWith("n", corev1.ConditionUnknown, now.Add(-time.Second)), NotStale, now.Add(grace - time.Second)},
		{"no Ready condition yet", noCondition, NotStale, time.Time{}},
		{"no transition time counts from creation", zeroTransition, NotStale, now.Add(20 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := judgeNode(tc.node, now, grace)
			if got.Reason != tc.want || !got.Until.Equal(tc.wantUntil) {
				t.Fatalf("judgeNode = %+v, want reason %q until %v", got, tc.want, tc.wantUntil)
			}
		})
	}
}

// A node missing from the synced cache is deleted; the rules are applied to
// what the informer holds (after the transform).
func TestNodeStalenessFromCache(t *testing.T) {
	e := newEnv(t, []runtime.Object{
		readyNode("alive"),
		nodeWith("tainted", corev1.ConditionTrue, t0.Add(-time.Hour), outOfService),
		nodeWith("flaky", corev1.ConditionFalse, t0.Add(-10*time.Second)),
	})
	now := e.clock.Now()
	for node, want := range map[string]StaleReason{
		"alive": NotStale, "tainted": StaleOutOfService, "flaky": NotStale, "gone": StaleNodeDeleted,
	} {
		if got := e.c.nodeStaleness(node, now).Reason; got != want {
			t.Errorf("%s: %q, want %q", node, got, want)
		}
	}
	if got := e.c.nodeStaleness("flaky", now.Add(20*time.Second)).Reason; got != StaleNotReady {
		t.Errorf("flaky after grace: %q", got)
	}
}
