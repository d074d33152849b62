package attachment

// Tests against a real etcd + kube-apiserver (test/harness). They skip
// unless RDS_CSI_TOOLS_BIN points at the binaries built by
// test/tools/build.sh. No kube-controller-manager runs: the tests play the
// kubelet (node status) and the external-attacher (VA status) themselves, so
// nothing else touches the objects.

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2/ktesting"

	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/rds/rdsfake"
	"github.com/srvlab/rds-csi/test/harness"
)

// liveCluster is a control plane plus a fast client (the default 5 QPS
// would make the test measure client-side throttling).
type liveCluster struct {
	cp *harness.ControlPlane
	cs kubernetes.Interface
}

func startCluster(t testing.TB) *liveCluster {
	t.Helper()
	cp := harness.Start(t, harness.Options{})
	cfg := *cp.RESTConfig
	cfg.QPS, cfg.Burst = 2000, 4000
	cs, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &liveCluster{cp: cp, cs: cs}
}

// createNode creates a Ready node (status is a subresource: two calls).
func (lc *liveCluster) createNode(ctx context.Context, t testing.TB, name string) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n, err := lc.cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Error(err) // not Fatal: called from the benchmark's writer goroutines
		return
	}
	now := metav1.Now()
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
		LastHeartbeatTime: now, LastTransitionTime: now, Reason: "KubeletReady"}}
	if _, err := lc.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Error(err)
	}
}

// setReady changes a node's Ready status (since = its transition time) or,
// with the same status, only its heartbeat.
func (lc *liveCluster) setReady(ctx context.Context, name string, status corev1.ConditionStatus, since time.Time) error {
	n, err := lc.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	c := &n.Status.Conditions[0]
	c.LastHeartbeatTime = metav1.Now()
	if c.Status != status {
		c.Status, c.LastTransitionTime = status, metav1.NewTime(since)
	}
	_, err = lc.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	return err
}

// attach creates the volume's PV and an attached VA on node.
func (lc *liveCluster) attach(ctx context.Context, t testing.TB, vol, node string) {
	pv := rwoPV(vol)
	pv.UID, pv.CreationTimestamp = "", metav1.Time{}
	pv.Spec.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
	pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	if _, err := lc.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Error(err)
		return
	}
	va := attachedVA(vol, node, time.Time{})
	va.UID, va.CreationTimestamp = "", metav1.Time{}
	va.Status = storagev1.VolumeAttachmentStatus{}
	va, err := lc.cs.StorageV1().VolumeAttachments().Create(ctx, va, metav1.CreateOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	va.Status.Attached = true
	if _, err := lc.cs.StorageV1().VolumeAttachments().UpdateStatus(ctx, va, metav1.UpdateOptions{}); err != nil {
		t.Error(err)
		return
	}
}

// timedSink stamps release events and forwards every event to the real
// recorder.
type timedSink struct {
	next EventSink
	mu   sync.Mutex
	at   map[string]time.Time // PV name → first StaleAttachmentReleased
}

func (s *timedSink) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	if ref, ok := regarding.(*corev1.ObjectReference); ok && reason == ReasonStaleAttachmentReleased {
		s.mu.Lock()
		if _, seen := s.at[ref.Name]; !seen {
			s.at[ref.Name] = time.Now()
		}
		s.mu.Unlock()
	}
	s.next.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

func (s *timedSink) released(pv string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[pv]
	return t, ok
}

// liveController runs a Controller with a real events recorder against the
// cluster; cleanup stops everything.
type liveController struct {
	c       *Controller
	sink    *timedSink
	m       *metrics.Attachment
	rds     *rdsfake.Fake
	mu      sync.Mutex
	syncs   map[string][]time.Time
	summary Summary
}

func (lc *liveCluster) runController(t testing.TB, grace time.Duration, configure func(*rdsfake.Fake)) *liveController {
	t.Helper()
	logger, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)

	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: lc.cs.EventsV1()})
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	recorder := broadcaster.NewRecorder(scheme.Scheme, "rds-csi-attachment-test")

	l := &liveController{sink: &timedSink{next: recorder, at: map[string]time.Time{}}, m: metrics.NewAttachment(nil),
		rds: rdsfake.New(), syncs: map[string][]time.Time{}}
	if configure != nil {
		configure(l.rds)
	}
	c, err := New(Config{
		Client: lc.cs, DriverName: testDriver, Namespace: "kube-system", PodNamespace: "kube-system", PodName: "rds-csi-controller-test",
		GracePeriod: grace, RDS: l.rds, Events: l.sink, Metrics: l.m, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.onSync = func(v string, _ outcome) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.syncs[v] = append(l.syncs[v], time.Now())
	}
	l.c = c
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		broadcaster.Shutdown()
	})
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	defer pcancel()
	if l.summary, err = c.StartupPass(pctx); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *liveController) reconciles() int {
	n := 0
	for _, r := range []string{metrics.ReconcileSuccess, metrics.ReconcileRequeue, metrics.ReconcileError} {
		n += int(testutil.ToFloat64(l.m.Reconciles.WithLabelValues(r)))
	}
	return n
}

// (1) Node deletion releases within 2 s with events in the API; NotReady
// releases exactly after the grace period.
func TestAPIServerStaleRelease(t *testing.T) {
	lc := startCluster(t)
	ctx := t.Context()
	for _, n := range []string{"n1", "n2", "n3"} {
		lc.createNode(ctx, t, n)
	}
	v1, v2 := volumeID(1), volumeID(2)
	lc.attach(ctx, t, v1, "n1")
	lc.attach(ctx, t, v2, "n2")
	const grace = 2 * time.Second
	l := lc.runController(t, grace, func(f *rdsfake.Fake) {})
	if l.summary.Volumes != 2 || l.summary.Attachments != 2 {
		t.Fatalf("startup summary = %+v", l.summary)
	}
	if err := l.c.Publish(ctx, v1, "n3", false); err == nil {
		t.Fatal("publish to n3 accepted while n1 is alive")
	}

	// Node deletion.
	deleted := time.Now()
	if err := lc.cs.CoreV1().Nodes().Delete(ctx, "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n1 released", func() bool { _, ok := l.sink.released(v1); return ok })
	at, _ := l.sink.released(v1)
	latency := at.Sub(deleted)
	t.Logf("node deletion → StaleAttachmentReleased: %v", latency.Round(time.Millisecond))
	if latency > 2*time.Second {
		t.Errorf("release took %v, want ≤ 2s", latency)
	}
	if err := l.c.Publish(ctx, v1, "n3", false); err != nil {
		t.Errorf("publish to n3 after n1's deletion: %v", err)
	}
	waitFor(t, "event in the API", func() bool {
		evs, err := lc.cs.EventsV1().Events(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, e := range evs.Items {
			if e.Reason == ReasonStaleAttachmentReleased && e.Regarding.Kind == "PersistentVolume" && e.Regarding.Name == v1 &&
				e.Type == corev1.EventTypeWarning && e.Related != nil && e.Related.Name == "n1" {
				t.Logf("event: %s %s/%s: %s", e.Type, e.Regarding.Kind, e.Regarding.Name, e.Note)
				return true
			}
		}
		return false
	})

	// NotReady: the API keeps whole seconds, so the transition time is
	// chosen on a second boundary and the expectations follow from it.
	since := time.Now().Truncate(time.Second)
	if err := lc.setReady(ctx, "n2", corev1.ConditionFalse, since); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(since.Add(grace - 300*time.Millisecond)))
	if _, ok := l.sink.released(v2); ok || len(l.c.PublishedNodes(v2)) != 1 {
		t.Fatal("n2 released before the grace period")
	}
	if err := l.c.Publish(ctx, v2, "n3", false); err == nil {
		t.Fatal("publish accepted within the grace period")
	}
	waitFor(t, "n2 released", func() bool { _, ok := l.sink.released(v2); return ok })
	at, _ = l.sink.released(v2)
	t.Logf("NotReady → released after %v (grace %v)", at.Sub(since).Round(time.Millisecond), grace)
	if at.Before(since.Add(grace)) || at.After(since.Add(grace+time.Second)) {
		t.Errorf("released at since+%v, want within [grace, grace+1s]", at.Sub(since))
	}
	if err := l.c.Publish(ctx, v2, "n3", false); err != nil {
		t.Errorf("publish after the grace period: %v", err)
	}
	if got := testutil.ToFloat64(l.m.StaleReleased.WithLabelValues(metrics.StaleReasonNodeDeleted)); got != 1 {
		t.Errorf("node-deleted releases = %v", got)
	}
	if got := testutil.ToFloat64(l.m.StaleReleased.WithLabelValues(metrics.StaleReasonNotReady)); got != 1 {
		t.Errorf("not-ready releases = %v", got)
	}
	// The StartupReconciliation event made it to the Pod's namespace.
	waitFor(t, "startup event", func() bool {
		evs, err := lc.cs.EventsV1().Events("kube-system").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, e := range evs.Items {
			if e.Reason == ReasonStartupReconciliation && e.Regarding.Kind == "Pod" {
				return true
			}
		}
		return false
	})
}

// (4) 1,000 node status updates in 10 s over 100 nodes (one volume each):
// heartbeats cost nothing; flapping Ready costs at most about one reconcile
// per volume per grace period.
func TestAPIServerNodeStatusStorm(t *testing.T) {
	lc := startCluster(t)
	ctx := t.Context()
	const nodes = 100
	for i := range nodes {
		n := fmt.Sprintf("storm-%03d", i)
		lc.createNode(ctx, t, n)
		lc.attach(ctx, t, volumeID(i), n)
	}
	const grace = 5 * time.Second
	l := lc.runController(t, grace, func(f *rdsfake.Fake) {
		for i := range nodes {
			addExported(f, volumeID(i))
		}
	})
	before := l.reconciles()
	l.mu.Lock()
	clear(l.syncs)
	l.mu.Unlock()

	// Ten rounds, one per second. Even nodes flap Ready in rounds 2–7
	// (False, True, False, …); every other update is a heartbeat only.
	begin := time.Now()
	updates := 0
	for round := range 10 {
		roundStart := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for i := range nodes {
			status := corev1.ConditionTrue
			if i%2 == 0 && round >= 2 && round <= 7 && round%2 == 0 {
				status = corev1.ConditionFalse
			}
			wg.Go(func() {
				if err := lc.setReady(ctx, fmt.Sprintf("storm-%03d", i), status, time.Now()); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if firstErr != nil {
			t.Fatal(firstErr)
		}
		updates += nodes
		time.Sleep(time.Until(roundStart.Add(time.Second)))
	}
	stormEnd := time.Now()
	// Let every delayed recheck fire (last flip + grace), then a margin.
	time.Sleep(grace + 2*time.Second)
	window := time.Since(begin)

	total := l.reconciles() - before
	l.mu.Lock()
	perVolume := map[string]int{}
	minGap := time.Duration(math.MaxInt64)
	for v, ts := range l.syncs {
		perVolume[v] = len(ts)
		for i := 1; i < len(ts); i++ {
			minGap = min(minGap, ts[i].Sub(ts[i-1]))
		}
	}
	l.mu.Unlock()
	maxPer, affected := 0, 0
	for i := range nodes {
		n := perVolume[volumeID(i)]
		maxPer = max(maxPer, n)
		if i%2 == 1 && n != 0 {
			t.Errorf("volume on heartbeat-only node %d reconciled %d times", i, n)
		}
		if n > 0 {
			affected++
		}
	}
	bound := int(math.Ceil(float64(window) / float64(grace)))
	t.Logf("storm: %d node status updates in %v; reconciles during %v: %d total over %d affected volumes "+
		"(max %d per volume, shortest gap between two reconciles of one volume %v; bound %d = ⌈window/grace⌉)",
		updates, stormEnd.Sub(begin).Round(time.Millisecond), window.Round(time.Millisecond), total, affected,
		maxPer, minGap.Round(time.Millisecond), bound)
	if maxPer > bound {
		t.Errorf("a volume was reconciled %d times in %v with grace %v (bound %d)", maxPer, window, grace, bound)
	}
	if affected > nodes/2 {
		t.Errorf("%d volumes reconciled, want ≤ %d (only flapping nodes)", affected, nodes/2)
	}
}

func addExported(f *rdsfake.Fake, id string) {
	f.AddVolume(rdsVolume(id))
}
