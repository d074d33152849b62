package attachment

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/queue"
	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/rdsfake"
)

const testDriver = "rds.csi.srvlab.io"

// t0 is the fake clock's start; whole seconds, like API timestamps.
var t0 = time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)

// ---- objects ----

func readyNode(name string) *corev1.Node {
	return nodeWith(name, corev1.ConditionTrue, t0.Add(-time.Hour))
}

func nodeWith(name string, ready corev1.ConditionStatus, since time.Time, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(t0.Add(-24 * time.Hour))},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: ready, LastTransitionTime: metav1.NewTime(since),
			LastHeartbeatTime: metav1.NewTime(t0), Reason: "KubeletReady", Message: "kubelet is posting ready status",
		}}},
	}
}

var outOfService = corev1.Taint{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute}

func pvFor(id string, modes []corev1.PersistentVolumeAccessMode, attrs map[string]string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: id, UID: types.UID("uid-" + id), CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec: corev1.PersistentVolumeSpec{
			AccessModes: modes,
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: testDriver, VolumeHandle: id, VolumeAttributes: attrs,
			}},
		},
	}
}

func rwoPV(id string) *corev1.PersistentVolume {
	return pvFor(id, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, nil)
}

func rwxPV(id string, attrs map[string]string) *corev1.PersistentVolume {
	return pvFor(id, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}, attrs)
}

func vaName(pv, node string) string { return "csi-" + pv + "-" + node }

func attachedVA(pv, node string, created time.Time) *storagev1.VolumeAttachment {
	return &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: vaName(pv, node), UID: types.UID("uid-va-" + pv + node), CreationTimestamp: metav1.NewTime(created)},
		Spec: storagev1.VolumeAttachmentSpec{
			Attacher: testDriver, NodeName: node,
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To(pv)},
		},
		Status: storagev1.VolumeAttachmentStatus{Attached: true},
	}
}

func volumeID(i int) string { return fmt.Sprintf("pvc-00000000-0000-0000-0000-%012d", i) }

// ---- event sink ----

type recordedEvent struct {
	Regarding, Related         *corev1.ObjectReference
	Type, Reason, Action, Note string
}

type recordingSink struct {
	mu     sync.Mutex
	events []recordedEvent
}

func (s *recordingSink) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	e := recordedEvent{Type: eventtype, Reason: reason, Action: action, Note: fmt.Sprintf(note, args...)}
	e.Regarding, _ = regarding.(*corev1.ObjectReference)
	if related != nil {
		e.Related, _ = related.(*corev1.ObjectReference)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

func (s *recordingSink) byReason(reason string) []recordedEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []recordedEvent
	for _, e := range s.events {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// ---- environment ----

type syncRecord struct {
	Volume string
	Result string
}

type env struct {
	t         *testing.T
	ctx       context.Context
	cs        *fake.Clientset
	clock     *testingclock.FakeClock
	rds       *rdsfake.Fake
	sink      *recordingSink
	reg       *prometheus.Registry
	m         *metrics.Attachment
	c         *Controller
	connected atomic.Bool
	reconnect chan struct{}

	mu       sync.Mutex
	syncs    []syncRecord
	enqueues []enqueueRecord

	cancelRun context.CancelFunc
	runDone   chan struct{}
}

type enqueueRecord struct {
	Volume string
	After  time.Duration
}

type envOption func(*Config)

// newEnv builds a started (informers synced) Controller over a fake
// clientset holding objs. Run is not started; see run.
func newEnv(t *testing.T, objs []runtime.Object) *env {
	t.Helper()
	return newEnvOn(t, fake.NewClientset(objs...))
}

// newEnvOn is newEnv over an existing fake clientset (several replicas).
func newEnvOn(t *testing.T, cs *fake.Clientset, opts ...envOption) *env {
	t.Helper()
	logger, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	e := &env{
		t: t, ctx: ctx,
		cs:        cs,
		clock:     testingclock.NewFakeClock(t0),
		rds:       rdsfake.New(),
		sink:      &recordingSink{},
		reg:       prometheus.NewRegistry(),
		reconnect: make(chan struct{}, 1),
	}
	e.connected.Store(true)
	e.m = metrics.NewAttachment(e.reg)

	// The fake clientset's watch ignores resource versions: an object
	// created between an informer's list and its watch would be lost. Wait
	// for the three watches before the test starts changing things.
	var watchMu sync.Mutex
	watching := map[string]bool{}
	e.cs.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		watchMu.Lock()
		watching[a.GetResource().Resource] = true
		watchMu.Unlock()
		return false, nil, nil
	})

	cfg := Config{
		Client: e.cs, DriverName: testDriver,
		Namespace: "kube-system", PodNamespace: "kube-system", PodName: "rds-csi-controller-0", PodUID: "uid-pod",
		GracePeriod: 30 * time.Second, ResyncPeriod: 5 * time.Minute, Workers: 2,
		RDS: e.rds, Connected: e.connected.Load, Reconnected: e.reconnect,
		Events: e.sink, Metrics: e.m, Clock: e.clock, Logger: logger,
		// No jitter: the tests step the fake clock by exact delays.
		Backoff: queue.LimiterConfig{Base: time.Second, Max: 8 * time.Second, Jitter: -1},
		// The orphan scan's RDS calls would blur the call counts of the
		// reconciler tests; orphans_test.go turns it on.
		NoOrphanReport: true,
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.onSync = func(v string, o outcome) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.syncs = append(e.syncs, syncRecord{Volume: v, Result: o.result})
	}
	c.onEnqueue = func(v string, after time.Duration) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.enqueues = append(e.enqueues, enqueueRecord{Volume: v, After: after})
	}
	e.c = c
	t.Cleanup(func() {
		cancel()
		if e.runDone != nil {
			<-e.runDone
		}
		c.Stop()
	})
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "informer watches", func() bool {
		watchMu.Lock()
		defer watchMu.Unlock()
		return watching["nodes"] && watching["volumeattachments"] && watching["persistentvolumes"]
	})
	return e
}

// run starts Run in the background; cleanup waits for it to return.
func (e *env) run() {
	ctx, cancel := context.WithCancel(e.ctx)
	e.cancelRun = cancel
	e.runDone = make(chan struct{})
	go func() {
		defer close(e.runDone)
		if err := e.c.Run(ctx); err != nil {
			e.t.Errorf("Run: %v", err)
		}
	}()
}

// startupPass runs Run and waits for its first pass.
func (e *env) startupPass() Summary {
	e.t.Helper()
	e.run()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	s, err := e.c.StartupPass(ctx)
	if err != nil {
		e.t.Fatalf("StartupPass: %v", err)
	}
	return s
}

func (e *env) syncCount(volume, result string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, s := range e.syncs {
		if (volume == "" || s.Volume == volume) && (result == "" || s.Result == result) {
			n++
		}
	}
	return n
}

func (e *env) enqueued() []enqueueRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.enqueues)
}

func (e *env) resetEnqueued() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.enqueues = nil
}

func (e *env) counter(c *prometheus.CounterVec, label string) int {
	return int(testutil.ToFloat64(c.WithLabelValues(label)))
}

// ---- cluster changes through the fake API ----

func (e *env) create(obj runtime.Object) {
	e.t.Helper()
	var err error
	switch o := obj.(type) {
	case *corev1.Node:
		_, err = e.cs.CoreV1().Nodes().Create(e.ctx, o, metav1.CreateOptions{})
	case *corev1.PersistentVolume:
		_, err = e.cs.CoreV1().PersistentVolumes().Create(e.ctx, o, metav1.CreateOptions{})
	case *storagev1.VolumeAttachment:
		_, err = e.cs.StorageV1().VolumeAttachments().Create(e.ctx, o, metav1.CreateOptions{})
	default:
		e.t.Fatalf("create %T", obj)
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) updateNode(n *corev1.Node) {
	e.t.Helper()
	if _, err := e.cs.CoreV1().Nodes().Update(e.ctx, n, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) deleteNode(name string) {
	e.t.Helper()
	if err := e.cs.CoreV1().Nodes().Delete(e.ctx, name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// waitCached waits until the controller's node cache matches cond.
func (e *env) waitNode(name string, cond func(n *corev1.Node, exists bool) bool) {
	e.t.Helper()
	waitFor(e.t, "node cache "+name, func() bool {
		obj, ok, _ := e.c.nodeInformer.GetIndexer().GetByKey(name)
		if !ok {
			return cond(nil, false)
		}
		return cond(obj.(*corev1.Node), true)
	})
}

func (e *env) waitVA(name string, cond func(va *storagev1.VolumeAttachment, exists bool) bool) {
	e.t.Helper()
	waitFor(e.t, "VA cache "+name, func() bool {
		obj, ok, _ := e.c.vaInformer.GetIndexer().GetByKey(name)
		if !ok {
			return cond(nil, false)
		}
		return cond(obj.(*storagev1.VolumeAttachment), true)
	})
}

// waitFor polls cond in real time (informers and workers run in real
// goroutines even with a fake clock).
// reconnectPass waits until every volume of vols has been reconciled
// successfully (what names the wait) and returns the volumes enqueued
// meanwhile, sorted.
func (e *env) reconnectPass(t testing.TB, what string, vols []string) []string {
	t.Helper()
	waitFor(t, what, func() bool {
		for _, v := range vols {
			if e.syncCount(v, metrics.ReconcileSuccess) == 0 {
				return false
			}
		}
		return true
	})
	var got []string
	for _, r := range e.enqueued() {
		got = append(got, r.Volume)
	}
	slices.Sort(got)
	return got
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// addRDSVolume seeds the fake RDS.
func (e *env) addRDSVolume(id string, exported bool) {
	v := rdsVolume(id)
	v.Exported = exported
	e.rds.AddVolume(v)
}

// rdsVolume is an exported 1 GiB disk as the RDS would list it.
func rdsVolume(id string) rds.Volume {
	return rds.Volume{ID: id, FilePath: rds.FilePathFor(rds.DefaultVolumePath, id), SizeBytes: 1 << 30,
		Exported: true, NVMeTCPPort: rds.DefaultNVMeTCPPort, NQN: rds.NQNFor(id)}
}

// stepUntil steps the fake clock by d until cond holds: a ticker or timer
// created by a goroutine that has not run yet would miss a single step.
func (e *env) stepUntil(d time.Duration, what string, cond func() bool) {
	e.t.Helper()
	for range 50 {
		e.clock.Step(d)
		deadline := time.Now().Add(200 * time.Millisecond)
		for time.Now().Before(deadline) {
			if cond() {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	e.t.Fatalf("timed out stepping the clock until %s", what)
}
