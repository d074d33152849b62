// Package queue wraps client-go's typed rate-limited workqueue the way this
// driver uses it everywhere: a jittered per-item exponential backoff, a
// per-queue metrics provider and an injectable clock (never the package-global
// workqueue.SetProvider, which is first-caller-wins), and one worker helper
// that enforces Get → Done always → Forget on success or AddRateLimited exactly
// once on failure.
//
// It serves two consumers: the connection FSM (reconnect tickets sharing one
// schedule, see Config.SharedBackoff) and the attachment reconciler (volume
// ids).
package queue
