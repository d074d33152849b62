package kube

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/reference"
	"k8s.io/klog/v2"
)

// Actions. events.k8s.io/v1 requires one on every event.
const (
	// ActionRDSConnection is the action of the connection-state events
	// recorded regarding the controller Pod.
	ActionRDSConnection = "RDSConnection"
	// actionUnspecified replaces an empty action, which the API rejects.
	actionUnspecified = "Unspecified"
)

// Downward-API variables naming the Pod the driver runs in.
const (
	EnvPodName      = "POD_NAME"
	EnvPodNamespace = "POD_NAMESPACE"
	EnvPodUID       = "POD_UID"
)

// Recorder records events. It satisfies fsm.Recorder (Event) and, through
// Eventf, has exactly the signature of client-go's events.EventRecorder, so
// other packages can take it as their event sink.
type Recorder interface {
	// Event records an event regarding the controller Pod.
	Event(eventType, reason, note string)
	// Eventf records an event regarding any object (a Pod, PV, Node, or a
	// *corev1.ObjectReference). Events about cluster-scoped objects land in
	// namespace "default", others in the object's own namespace.
	Eventf(regarding, related runtime.Object, eventType, reason, action, note string, args ...any)
	// Shutdown stops delivery and the recorder's goroutines.
	Shutdown()
}

// PodFromEnv returns a reference to the Pod named by POD_NAME and
// POD_NAMESPACE (POD_UID optional), or false when they are not set.
func PodFromEnv() (*corev1.ObjectReference, bool) {
	name, ns := os.Getenv(EnvPodName), os.Getenv(EnvPodNamespace)
	if name == "" || ns == "" {
		return nil, false
	}
	return &corev1.ObjectReference{
		APIVersion: "v1",
		Kind:       "Pod",
		Name:       name,
		Namespace:  ns,
		UID:        types.UID(os.Getenv(EnvPodUID)),
	}, true
}

// NewRecorder returns an events.k8s.io recorder reporting as component (the
// driver name), with connection events regarding the Pod from PodFromEnv.
// Without a client it returns a LogRecorder; without the Pod variables the
// Pod events go to the log while Eventf still reaches the API. The logger of
// ctx is used; cancelling ctx does not stop delivery, Shutdown does.
func NewRecorder(ctx context.Context, client kubernetes.Interface, component string) Recorder {
	logger := klog.FromContext(ctx)
	if client == nil {
		logger.Info("No Kubernetes cluster: events go to the log only")
		return NewLogRecorder(logger)
	}
	pod, ok := PodFromEnv()
	if !ok {
		logger.Info("Pod not known (set " + EnvPodName + " and " + EnvPodNamespace +
			" through the downward API): connection events go to the log only")
	}

	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		// Only a stopped broadcaster fails here, and this one is new.
		logger.Error(err, "Cannot record events to the API, events go to the log only")
		cancel()
		broadcaster.Shutdown()
		return NewLogRecorder(logger)
	}
	return &apiRecorder{
		broadcaster: broadcaster,
		recorder:    broadcaster.NewRecorder(scheme.Scheme, component).WithLogger(logger),
		pod:         pod,
		log:         NewLogRecorder(logger),
		cancel:      cancel,
	}
}

// apiRecorder sends events to the API through client-go's broadcaster, which
// is asynchronous: Eventf never blocks its caller (the FSM loop relies on it).
type apiRecorder struct {
	broadcaster events.EventBroadcaster
	recorder    events.EventRecorderLogger
	pod         *corev1.ObjectReference // nil: Pod events go to log
	log         *LogRecorder
	cancel      context.CancelFunc
}

func (r *apiRecorder) Event(eventType, reason, note string) {
	if r.pod == nil {
		r.log.Event(eventType, reason, note)
		return
	}
	r.recorder.Eventf(r.pod, nil, eventType, reason, ActionRDSConnection, "%s", note)
}

func (r *apiRecorder) Eventf(regarding, related runtime.Object, eventType, reason, action, note string, args ...any) {
	if action == "" {
		action = actionUnspecified
	}
	r.recorder.Eventf(regarding, related, eventType, reason, action, note, args...)
}

func (r *apiRecorder) Shutdown() {
	r.cancel()
	r.broadcaster.Shutdown()
}

// LogRecorder writes events to the structured log only: the fallback without
// a cluster or without the Pod's identity.
type LogRecorder struct{ logger klog.Logger }

// NewLogRecorder logs events through logger.
func NewLogRecorder(logger klog.Logger) *LogRecorder { return &LogRecorder{logger: logger} }

// Event logs an event about the driver's own connection.
func (r *LogRecorder) Event(eventType, reason, note string) {
	r.logger.Info("Event", "type", eventType, "reason", reason, "action", ActionRDSConnection, "note", note)
}

// Eventf logs an event about an object.
func (r *LogRecorder) Eventf(regarding, _ runtime.Object, eventType, reason, action, note string, args ...any) {
	kv := []any{"type", eventType, "reason", reason, "action", action, "note", fmt.Sprintf(note, args...)}
	if ref, err := reference.GetReference(scheme.Scheme, regarding); err == nil {
		kv = append(kv, "kind", ref.Kind, "object", klog.KRef(ref.Namespace, ref.Name))
	}
	r.logger.Info("Event", kv...)
}

// Shutdown has nothing to stop.
func (*LogRecorder) Shutdown() {}
