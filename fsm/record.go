package fsm

import "k8s.io/klog/v2"

// Recorder receives one event record per transition. The driver passes a
// Kubernetes event recorder regarding the controller Pod, or a log-only one
// without a cluster. Event is called on the loop goroutine, so it must not
// block (client-go's recorder is asynchronous).
type Recorder interface {
	Event(eventType, reason, note string)
}

// Event types, as Kubernetes spells them.
const (
	EventTypeNormal  = "Normal"
	EventTypeWarning = "Warning"
)

// Event reasons, one per kind of transition. events.k8s.io folds repeated
// events with the same reason into a series that keeps only the first note,
// so each situation gets its own reason, and the first connect has reasons
// distinct from later reconnects.
const (
	ReasonConnecting      = "RDSConnecting"         // Normal, attempt or reachable, before the first connection
	ReasonConnectFailed   = "RDSConnectFailed"      // Warning, attemptFailed, before the first connection
	ReasonConnected       = "RDSConnected"          // Normal, reconnected, the first connection
	ReasonDisconnected    = "RDSDisconnected"       // Warning, connectionLost
	ReasonUnstable        = "RDSConnectionUnstable" // Warning, scheduleRetry (flapping connection)
	ReasonReconnecting    = "RDSReconnecting"       // Normal, attempt or reachable, after a loss
	ReasonReconnectFailed = "RDSReconnectFailed"    // Warning, attemptFailed, after a loss
	ReasonReconnected     = "RDSReconnected"        // Normal, reconnected, after a loss
)

// logRecorder is the Recorder used when none is configured: the records still
// reach the log.
type logRecorder struct{ logger klog.Logger }

func (r logRecorder) Event(eventType, reason, note string) {
	r.logger.Info("RDS connection event", "type", eventType, "reason", reason, "note", note)
}
