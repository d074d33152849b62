package kube

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/srvlab/rds-csi/fsm"
)

// Both recorders serve as the connection FSM's recorder.
var (
	_ fsm.Recorder = Recorder(nil)
	_ fsm.Recorder = (*LogRecorder)(nil)
)

const component = "rds.csi.srvlab.io"

func setPodEnv(t *testing.T) {
	t.Setenv(EnvPodName, "rds-csi-controller-0")
	t.Setenv(EnvPodNamespace, "kube-system")
	t.Setenv(EnvPodUID, "6f1c7a52-0000-4000-8000-000000000001")
}

// waitEvent polls the fake API (the broadcaster delivers asynchronously) for
// the event with that reason in ns.
func waitEvent(t *testing.T, client *fake.Clientset, ns, reason string) eventsv1.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := client.EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range list.Items {
			if ev.Reason == reason {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event with reason %s in namespace %q; have %d events", reason, ns, len(list.Items))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRecorderEvents(t *testing.T) {
	defer goleak.VerifyNone(t)
	setPodEnv(t)

	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", UID: "pv-uid"}}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "apps", UID: "pvc-uid"}}
	node := &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: "worker-1"}

	tests := []struct {
		name          string
		record        func(Recorder)
		wantNamespace string
		wantReason    string
		wantType      string
		wantAction    string
		wantNote      string
		wantRegarding corev1.ObjectReference
	}{
		{
			name: "connection event regards the controller Pod",
			record: func(r Recorder) {
				r.Event(fsm.EventTypeWarning, fsm.ReasonDisconnected, "lost connection to 10.0.0.1:22 after 5m0s")
			},
			wantNamespace: "kube-system", wantReason: fsm.ReasonDisconnected, wantType: "Warning",
			wantAction: ActionRDSConnection, wantNote: "lost connection to 10.0.0.1:22 after 5m0s",
			wantRegarding: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: "rds-csi-controller-0",
				Namespace: "kube-system", UID: "6f1c7a52-0000-4000-8000-000000000001"},
		},
		{
			name: "event about a cluster-scoped PV lands in default",
			record: func(r Recorder) {
				r.Eventf(pv, nil, "Warning", "StaleAttachmentReleased", "Release", "released %s from %s", "pvc-1", "worker-2")
			},
			wantNamespace: "default", wantReason: "StaleAttachmentReleased", wantType: "Warning",
			wantAction: "Release", wantNote: "released pvc-1 from worker-2",
			wantRegarding: corev1.ObjectReference{APIVersion: "v1", Kind: "PersistentVolume", Name: "pvc-1", UID: "pv-uid"},
		},
		{
			name:          "event about a namespaced object lands in its namespace",
			record:        func(r Recorder) { r.Eventf(pvc, nil, "Normal", "ExportRepaired", "Repair", "export repaired") },
			wantNamespace: "apps", wantReason: "ExportRepaired", wantType: "Normal",
			wantAction: "Repair", wantNote: "export repaired",
			wantRegarding: corev1.ObjectReference{APIVersion: "v1", Kind: "PersistentVolumeClaim", Name: "data", Namespace: "apps", UID: "pvc-uid"},
		},
		{
			name:          "an object reference works and a missing action is filled in",
			record:        func(r Recorder) { r.Eventf(node, nil, "Warning", "NodeLost", "", "node %s lost", "worker-1") },
			wantNamespace: "default", wantReason: "NodeLost", wantType: "Warning",
			wantAction: actionUnspecified, wantNote: "node worker-1 lost",
			wantRegarding: *node,
		},
		{
			name:          "a percent sign in a connection note is kept",
			record:        func(r Recorder) { r.Event("Warning", fsm.ReasonReconnectFailed, "attempt 3 failed: 100% packet loss") },
			wantNamespace: "kube-system", wantReason: fsm.ReasonReconnectFailed, wantType: "Warning",
			wantAction: ActionRDSConnection, wantNote: "attempt 3 failed: 100% packet loss",
			wantRegarding: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: "rds-csi-controller-0",
				Namespace: "kube-system", UID: "6f1c7a52-0000-4000-8000-000000000001"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			rec := NewRecorder(context.Background(), client, component)
			defer rec.Shutdown()
			if _, ok := rec.(*apiRecorder); !ok {
				t.Fatalf("NewRecorder with a client returned %T", rec)
			}
			tc.record(rec)
			ev := waitEvent(t, client, tc.wantNamespace, tc.wantReason)
			if ev.Type != tc.wantType || ev.Action != tc.wantAction || ev.Note != tc.wantNote {
				t.Errorf("type/action/note = %q/%q/%q, want %q/%q/%q",
					ev.Type, ev.Action, ev.Note, tc.wantType, tc.wantAction, tc.wantNote)
			}
			if ev.Regarding != tc.wantRegarding {
				t.Errorf("regarding = %+v, want %+v", ev.Regarding, tc.wantRegarding)
			}
			if ev.ReportingController != component {
				t.Errorf("reporting controller = %q, want %q", ev.ReportingController, component)
			}
		})
	}
}

func TestRecorderWithoutPodEnv(t *testing.T) {
	defer goleak.VerifyNone(t)
	t.Setenv(EnvPodName, "")
	t.Setenv(EnvPodNamespace, "")

	client := fake.NewClientset()
	rec := NewRecorder(context.Background(), client, component)
	rec.Event("Normal", fsm.ReasonReconnected, "connected") // logged only
	rec.Eventf(&corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: "n1"}, nil, "Normal", "Marker", "Test", "after")
	waitEvent(t, client, "default", "Marker")
	rec.Shutdown()

	list, err := client.EventsV1().Events("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range list.Items {
		if ev.Reason == fsm.ReasonReconnected {
			t.Errorf("Pod event recorded without a Pod to regard: %+v", ev)
		}
	}
}

func TestRecorderWithoutCluster(t *testing.T) {
	rec := NewRecorder(context.Background(), nil, component)
	if _, ok := rec.(*LogRecorder); !ok {
		t.Fatalf("NewRecorder without a client returned %T, want *LogRecorder", rec)
	}
	// Neither call may panic, whatever the object.
	rec.Event("Warning", fsm.ReasonDisconnected, "lost")
	rec.Eventf(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, nil, "Warning", "NodeLost", "Release", "node %s", "n1")
	rec.Eventf(nil, nil, "Normal", "NoObject", "Test", "no object")
	rec.Shutdown()
}

func TestPodFromEnv(t *testing.T) {
	setPodEnv(t)
	ref, ok := PodFromEnv()
	if !ok || ref.Kind != "Pod" || ref.APIVersion != "v1" || ref.Name != "rds-csi-controller-0" ||
		ref.Namespace != "kube-system" || ref.UID == "" {
		t.Errorf("PodFromEnv() = %+v, %v", ref, ok)
	}
	t.Setenv(EnvPodNamespace, "")
	if _, ok := PodFromEnv(); ok {
		t.Error("PodFromEnv() without a namespace reported a Pod")
	}
}
