package driver

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/driver/nodehealth"
)

// nodeEvent is one event recorded by nodeEventRecorder.
type nodeEvent struct {
	Kind, Namespace, Name, Type, Reason, Note string
}

type nodeEventRecorder struct {
	mu     sync.Mutex
	events []nodeEvent
}

func (r *nodeEventRecorder) Eventf(regarding, _ runtime.Object, eventType, reason, _, note string, args ...any) {
	ref := regarding.(*corev1.ObjectReference)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, nodeEvent{ref.Kind, ref.Namespace, ref.Name, eventType, reason, fmt.Sprintf(note, args...)})
}

func (r *nodeEventRecorder) withReason(reason string) []nodeEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []nodeEvent
	for _, e := range r.events {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// nodeHealthEnv is a running health watcher for a node service under test.
type nodeHealthEnv struct {
	t        *testing.T
	stateDir string
	w        *nodehealth.Watcher
	rec      *nodeEventRecorder
	locks    *VolumeLocks
	ctx      context.Context
}

// nodeStartHealth builds a watcher over paths/conn with a state directory
// and runs it until the test ends. Ticks never come by themselves (the
// interval is an hour): tests drive passes with pass().
func nodeStartHealth(t *testing.T, paths device.PathReader, conn device.Connector, mountinfo string) *nodeHealthEnv {
	t.Helper()
	h := &nodeHealthEnv{t: t, rec: &nodeEventRecorder{}, locks: NewVolumeLocks(), stateDir: filepath.Join(t.TempDir(), "state")}
	h.ctx = klog.NewContext(context.Background(), ktesting.NewLogger(t, ktesting.NewConfig()))
	var err error
	h.w, err = nodehealth.New(nodehealth.Config{
		NodeID: "node-a", ManagedPrefix: device.DefaultManagedPrefix,
		Paths: paths, Connector: conn,
		Store: nodehealth.NewStore(h.stateDir, device.DefaultManagedPrefix),
		Locks: h.locks, Recorder: h.rec, MountInfoPath: mountinfo, Interval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.w.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.w.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the health watcher did not stop")
		}
	})
	h.waitScans(1)
	return h
}

// reload reads the state directory as the next start would.
func (h *nodeHealthEnv) reload() *nodehealth.Store {
	h.t.Helper()
	s := nodehealth.NewStore(h.stateDir, device.DefaultManagedPrefix)
	if _, err := s.Load(klog.FromContext(h.ctx)); err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *nodeHealthEnv) waitScans(n uint64) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.w.Scans() < n {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for pass %d", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// pass runs exactly one full pass and waits for it.
func (h *nodeHealthEnv) pass() {
	h.t.Helper()
	n := h.w.Scans()
	h.w.Scan()
	h.waitScans(n + 1)
}

// nodeHealthOf calls NodeGetVolumeHealth and returns reason → entry.
func nodeHealthOf(t *testing.T, ns *NodeServer, id, staging string) (map[string]string, map[string]string, error) {
	t.Helper()
	resp, err := ns.NodeGetVolumeHealth(context.Background(), &csi.NodeGetVolumeHealthRequest{VolumeId: id, StagingTargetPath: staging})
	if err != nil {
		return nil, nil, err
	}
	if resp.GetVolumeHealth().GetVolumeId() != id {
		t.Fatalf("health of %q, want %s", resp.GetVolumeHealth().GetVolumeId(), id)
	}
	msgs, statuses := map[string]string{}, map[string]string{}
	for _, e := range resp.GetVolumeHealth().GetHealthStatuses() {
		msgs[e.GetReason()] = e.GetMessage()
		statuses[e.GetReason()] = e.GetStatus().String()
	}
	return msgs, statuses, nil
}
