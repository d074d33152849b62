package attachment

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/srvlab/rds-csi/driver"
)

func mustRefuse(t *testing.T, err error, mentions ...string) {
	t.Helper()
	if !errors.Is(err, driver.ErrAttachedElsewhere) {
		t.Fatalf("error %v does not wrap ErrAttachedElsewhere", err)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
}

func mustAccept(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("publish refused: %v", err)
	}
}

func TestPublishSingleNode(t *testing.T) {
	vol := volumeID(1)
	e := newEnv(t, []runtime.Object{
		readyNode("a"), readyNode("b"), rwoPV(vol), attachedVA(vol, "a", t0.Add(-time.Hour)),
	})
	ctx := e.ctx

	mustAccept(t, e.c.Publish(ctx, vol, "a", false)) // same node: idempotent
	mustRefuse(t, e.c.Publish(ctx, vol, "b", false), vol, "node a")
	if got := e.c.PublishedNodes(vol); len(got) != 1 || got[0] != "a" {
		t.Fatalf("PublishedNodes = %v", got)
	}
	// Unknown volume: nothing holds it.
	mustAccept(t, e.c.Publish(ctx, volumeID(99), "b", false))
}

func TestPublishPastStaleAttachment(t *testing.T) {
	for _, tc := range []struct {
		name   string
		holder *corev1.Node // nil: deleted
	}{
		{"node deleted", nil},
		{"out-of-service", nodeWith("a", corev1.ConditionTrue, t0.Add(-time.Hour), outOfService)},
		{"NotReady past grace", nodeWith("a", corev1.ConditionFalse, t0.Add(-31*time.Second))},
		{"Unknown past grace", nodeWith("a", corev1.ConditionUnknown, t0.Add(-time.Hour))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vol := volumeID(1)
			objs := []runtime.Object{readyNode("b"), rwoPV(vol), attachedVA(vol, "a", t0.Add(-time.Hour))}
			if tc.holder != nil {
				objs = append(objs, tc.holder)
			}
			e := newEnv(t, objs)
			// Stale stops blocking, not being published: the attacher
			// compares this list with the VolumeAttachment, which still
			// says attached (issue 11).
			if got := e.c.PublishedNodes(vol); !slices.Equal(got, []string{"a"}) {
				t.Fatalf("PublishedNodes = %v, want the stale node [a] until it is unpublished", got)
			}
			// No worker runs here: the decision alone ignores the stale node.
			mustAccept(t, e.c.Publish(e.ctx, vol, "b", false))
			if got := e.c.PublishedNodes(vol); !slices.Equal(got, []string{"a", "b"}) {
				t.Fatalf("PublishedNodes = %v, want [a b]", got)
			}
			// Unpublishing the stale node (the attacher detaching its
			// VolumeAttachment) is what removes it.
			if err := e.c.Unpublish(e.ctx, vol, "a"); err != nil {
				t.Fatal(err)
			}
			if got := e.c.PublishedNodes(vol); !slices.Equal(got, []string{"b"}) {
				t.Fatalf("PublishedNodes after unpublishing a = %v, want [b]", got)
			}
		})
	}
}

func TestPublishWaitsOutGracePeriod(t *testing.T) {
	vol := volumeID(1)
	e := newEnv(t, []runtime.Object{
		nodeWith("a", corev1.ConditionFalse, t0.Add(-10*time.Second)), readyNode("b"),
		rwoPV(vol), attachedVA(vol, "a", t0.Add(-time.Hour)),
	})
	err := e.c.Publish(e.ctx, vol, "b", false)
	mustRefuse(t, err, "node a", "NotReady", "released in 20s")

	e.clock.Step(19 * time.Second)
	mustRefuse(t, e.c.Publish(e.ctx, vol, "b", false), "node a")
	e.clock.Step(time.Second)
	mustAccept(t, e.c.Publish(e.ctx, vol, "b", false))
}

func TestPublishPendingBlocksSecondNodeUntilUnpublished(t *testing.T) {
	vol := volumeID(1)
	e := newEnv(t, []runtime.Object{readyNode("a"), readyNode("b"), rwoPV(vol)})
	ctx := e.ctx

	// Two publishes racing before any VA shows attached: only one wins.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, n := range []string{"a", "b"} {
		wg.Go(func() { errs[i] = e.c.Publish(ctx, vol, n, false) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("exactly one concurrent publish must win: %v / %v", errs[0], errs[1])
	}
	winner, loser := "a", "b"
	if errs[0] != nil {
		winner, loser = "b", "a"
	}
	mustRefuse(t, e.c.Publish(ctx, vol, loser, false), "node "+winner)
	if got := e.c.PublishedNodes(vol); len(got) != 1 || got[0] != winner {
		t.Fatalf("PublishedNodes = %v", got)
	}

	mustAccept(t, e.c.Unpublish(ctx, vol, winner))
	mustAccept(t, e.c.Publish(ctx, vol, loser, false))

	// Unpublish of what does not exist is success.
	mustAccept(t, e.c.Unpublish(ctx, volumeID(42), "nowhere"))
	mustAccept(t, e.c.Unpublish(ctx, vol, "nowhere"))
}

func TestPendingPublishExpires(t *testing.T) {
	vol := volumeID(1)
	e := newEnv(t, []runtime.Object{readyNode("a"), readyNode("b"), rwoPV(vol)})
	mustAccept(t, e.c.Publish(e.ctx, vol, "a", false))
	mustRefuse(t, e.c.Publish(e.ctx, vol, "b", false), "node a")
	e.clock.Step(DefaultInFlightTTL)
	mustAccept(t, e.c.Publish(e.ctx, vol, "b", false))
}

func TestUnpublishMasksAttachedVAUntilDetached(t *testing.T) {
	vol := volumeID(1)
	e := newEnv(t, []runtime.Object{readyNode("a"), readyNode("b"), rwoPV(vol), attachedVA(vol, "a", t0)})
	mustAccept(t, e.c.Unpublish(e.ctx, vol, "a"))
	// The VA still says attached (the attacher has not caught up): the
	// successful unpublish wins.
	if got := e.c.PublishedNodes(vol); len(got) != 0 {
		t.Fatalf("PublishedNodes after unpublish = %v", got)
	}
	mustAccept(t, e.c.Publish(e.ctx, vol, "b", false))
	// Every node at once (nodeID "").
	mustAccept(t, e.c.Unpublish(e.ctx, vol, ""))
	if got := e.c.PublishedNodes(vol); len(got) != 0 {
		t.Fatalf("PublishedNodes after unpublish all = %v", got)
	}
}

func TestPublishMultiNodeMigration(t *testing.T) {
	vol := volumeID(1)
	e := newEnv(t, []runtime.Object{
		readyNode("a"), readyNode("b"), readyNode("c"),
		rwxPV(vol, map[string]string{driver.CtxMigrationTimeout: "60"}),
		attachedVA(vol, "a", t0.Add(-time.Hour)),
	})
	ctx := e.ctx

	mustRefuse(t, e.c.Publish(ctx, vol, "b", false), "node a") // single-node request
	mustAccept(t, e.c.Publish(ctx, vol, "b", true))            // the migration target
	mustAccept(t, e.c.Publish(ctx, vol, "b", true))            // idempotent
	mustRefuse(t, e.c.Publish(ctx, vol, "c", true), "a, b", "at most 2")

	// The target's VA appears (created now); the timeout runs from it.
	e.create(attachedVA(vol, "b", e.clock.Now()))
	e.waitVA(vaName(vol, "b"), func(_ *storagev1.VolumeAttachment, ok bool) bool { return ok })
	e.clock.Step(59 * time.Second)
	mustRefuse(t, e.c.Publish(ctx, vol, "c", true), "at most 2")
	if n := len(e.sink.byReason(ReasonMigrationTimeout)); n != 0 {
		t.Fatalf("%d MigrationTimeout events before the timeout", n)
	}
	e.clock.Step(time.Second)
	mustRefuse(t, e.c.Publish(ctx, vol, "c", true), "migrationTimeoutSeconds=60", "node a", "node b", "refusing node c")
	mustRefuse(t, e.c.Publish(ctx, vol, "c", true), "migrationTimeoutSeconds=60")
	ev := e.sink.byReason(ReasonMigrationTimeout)
	if len(ev) != 1 || ev[0].Type != corev1.EventTypeWarning || ev[0].Regarding.Kind != "PersistentVolume" || ev[0].Regarding.Name != vol {
		t.Fatalf("MigrationTimeout events = %+v, want one Warning on the PV", ev)
	}
	// The two holders keep their idempotent answers.
	mustAccept(t, e.c.Publish(ctx, vol, "a", true))
	mustAccept(t, e.c.Publish(ctx, vol, "b", true))
}

func TestPublishMultiNodeOnSingleNodeVolume(t *testing.T) {
	vol := volumeID(1)
	e := newEnv(t, []runtime.Object{readyNode("a"), readyNode("b"), rwoPV(vol), attachedVA(vol, "a", t0)})
	mustRefuse(t, e.c.Publish(e.ctx, vol, "b", true), "single-node", "node a")
}

func TestMigrationTimeoutFromVolumeContext(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"":      300 * time.Second, // absent
		"60":    60 * time.Second,
		"5":     30 * time.Second, // clamped up
		"99999": time.Hour,        // clamped down
		"soon":  300 * time.Second,
	} {
		attrs := map[string]string{}
		if in != "" {
			attrs[driver.CtxMigrationTimeout] = in
		}
		if got := migrationTimeout(attrs); got != want {
			t.Errorf("migrationTimeout(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestInlineVolumeAttachment(t *testing.T) {
	const vol = "pvc-inline-1"
	va := &storagev1.VolumeAttachment{}
	va.Name = "csi-inline"
	va.CreationTimestamp.Time = t0
	va.Spec = storagev1.VolumeAttachmentSpec{
		Attacher: testDriver, NodeName: "a",
		Source: storagev1.VolumeAttachmentSource{InlineVolumeSpec: &corev1.PersistentVolumeSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: testDriver, VolumeHandle: vol,
			}},
		}},
	}
	va.Status.Attached = true
	e := newEnv(t, []runtime.Object{readyNode("a"), readyNode("b"), va})
	mustRefuse(t, e.c.Publish(e.ctx, vol, "b", false), "node a")
	st := e.c.derive(vol, e.clock.Now())
	if st.regarding == nil || st.regarding.Kind != "VolumeAttachment" {
		t.Fatalf("inline volume events regard %+v, want the VolumeAttachment", st.regarding)
	}
}

// VAs of other drivers and unattached VAs never count.
func TestForeignAndUnattachedVAsIgnored(t *testing.T) {
	vol := volumeID(1)
	foreign := attachedVA(vol, "a", t0)
	foreign.Name = "foreign"
	foreign.Spec.Attacher = "other.csi.example.com"
	pending := attachedVA(vol, "c", t0)
	pending.Status.Attached = false
	e := newEnv(t, []runtime.Object{readyNode("a"), readyNode("b"), readyNode("c"), rwoPV(vol), foreign, pending})
	mustAccept(t, e.c.Publish(e.ctx, vol, "b", false))
}

func TestPublishBeforeSync(t *testing.T) {
	c, err := New(Config{Client: fake.NewClientset(), DriverName: testDriver})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if err := c.Publish(t.Context(), volumeID(1), "a", false); !errors.Is(err, ErrNotSynced) || !errors.Is(err, driver.ErrAttachmentsNotReady) {
		t.Fatalf("Publish before Start = %v, want ErrNotSynced (driver.ErrAttachmentsNotReady)", err)
	}
	if _, err := c.NodeExists(t.Context(), "a"); !errors.Is(err, driver.ErrAttachmentsNotReady) {
		t.Fatalf("NodeExists before Start = %v", err)
	}
}

func TestNilControllerIsDisabled(t *testing.T) {
	var c *Controller
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	s, err := c.StartupPass(t.Context())
	if err != nil || s.Role != RoleDisabled {
		t.Fatalf("StartupPass = %+v, %v", s, err)
	}
	a := c.Attachments()
	if _, ok := a.(*driver.MemoryAttachments); !ok {
		t.Fatalf("Attachments() = %T, want the in-memory tracker", a)
	}
	c.Stop()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestNodeExists(t *testing.T) {
	e := newEnv(t, []runtime.Object{readyNode("a")})
	if ok, err := e.c.NodeExists(e.ctx, "a"); !ok || err != nil {
		t.Fatalf("NodeExists(a) = %v, %v", ok, err)
	}
	if ok, err := e.c.NodeExists(e.ctx, "b"); ok || err != nil {
		t.Fatalf("NodeExists(b) = %v, %v", ok, err)
	}
}

// Regression: before the caches are synced PublishedNodes would answer
// "published nowhere" for an attached volume (DeleteVolume then deleted it,
// ListVolumes told the external-attacher it was detached). Ready says so.
func TestReadyOnlyAfterSync(t *testing.T) {
	vol := volumeID(1)
	cs := fake.NewClientset(readyNode("a"), rwoPV(vol), attachedVA(vol, "a", t0))
	c, err := New(Config{Client: cs, DriverName: testDriver})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if err := c.Ready(); !errors.Is(err, driver.ErrAttachmentsNotReady) {
		t.Fatalf("Ready before Start = %v, want driver.ErrAttachmentsNotReady", err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(); err != nil {
		t.Fatalf("Ready after Start = %v", err)
	}
	if got := c.PublishedNodes(vol); len(got) != 1 || got[0] != "a" {
		t.Fatalf("PublishedNodes after Start = %v, want [a]", got)
	}
}
