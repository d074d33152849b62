package fsm

import (
	"context"
	"errors"
	"fmt"
	"time"

	lfsm "github.com/looplab/fsm"
	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/metrics"
)

// callbacks wires the effects of every transition. Only enter_state and
// after_<event> are used: they run after the state is written, on the loop
// goroutine. before_/leave_ callbacks are deliberately absent (firing from
// them deadlocks, cancelling them wedges the FSM). Keys are built from the
// typed constants; a test checks each names a declared event.
func (m *Machine) callbacks() lfsm.Callbacks {
	return lfsm.Callbacks{
		"enter_state":                 m.enterState,
		afterKey(EventConnectionLost): m.afterConnectionLost,
		afterKey(EventScheduleRetry):  m.afterScheduleRetry,
		afterKey(EventAttempt):        m.afterAttempt,
		afterKey(EventReachable):      m.afterAttempt, // an attempt too, only earlier
		afterKey(EventReconnected):    m.afterReconnected,
		afterKey(EventAttemptFailed):  m.afterAttemptFailed,
	}
}

func afterKey(e Event) string { return "after_" + string(e) }

// enterState publishes the new state to readers and metrics. Everything is
// computed from e.Src/e.Dst, never from Current().
func (m *Machine) enterState(ctx context.Context, e *lfsm.Event) {
	dst := State(e.Dst)
	m.state.Store(stateIndex(dst))
	m.metrics.Transitions.WithLabelValues(e.Src, e.Dst, e.Event).Inc()
	m.metrics.State.WithLabelValues(e.Src).Set(0)
	m.metrics.State.WithLabelValues(e.Dst).Set(1)
	m.metrics.Connection.WithLabelValues(m.addr).Set(boolGauge(dst == StateConnected))
	klog.FromContext(ctx).V(2).Info("RDS connection state changed", "from", e.Src, "state", e.Dst, "event", e.Event)
}

func (m *Machine) afterConnectionLost(ctx context.Context, e *lfsm.Event) {
	now := m.cfg.Clock.Now()
	up := now.Sub(m.book.connectedAt)
	m.book.outageStart = now
	m.book.attempts = 0
	cause := argError(e)
	klog.FromContext(ctx).Info("Lost connection to the RDS", "state", e.Dst, "connectedFor", up, "err", cause)
	m.rec.Event(EventTypeWarning, ReasonDisconnected,
		fmt.Sprintf("lost connection to %s after %s connected: %v", m.addr, round(up), cause))
}

func (m *Machine) afterScheduleRetry(ctx context.Context, e *lfsm.Event) {
	now := m.cfg.Clock.Now()
	m.book.backoffStart = now
	up := m.book.outageStart.Sub(m.book.connectedAt)
	klog.FromContext(ctx).Info("RDS connection unstable, backing off before redialling", "state", e.Dst, "connectedFor", up, "stableAfter", m.cfg.StableAfter)
	m.rec.Event(EventTypeWarning, ReasonUnstable,
		fmt.Sprintf("connection to %s lasted only %s (stable after %s); backing off before reconnecting", m.addr, round(up), m.cfg.StableAfter))
}

func (m *Machine) afterAttempt(ctx context.Context, e *lfsm.Event) {
	now := m.cfg.Clock.Now()
	m.book.attempts++
	var waited time.Duration
	if State(e.Src) == StateBackoff {
		waited = now.Sub(m.book.backoffStart)
	}
	backoff := fmt.Sprintf("after %s backoff", round(waited))
	if Event(e.Event) == EventReachable {
		backoff += ", cut short: the RDS accepts TCP connections again"
	}
	klog.FromContext(ctx).Info("Connecting to the RDS", "state", e.Dst, "attempt", m.book.attempts, "backoff", waited, "event", e.Event)
	if !m.book.everConnected {
		m.rec.Event(EventTypeNormal, ReasonConnecting,
			fmt.Sprintf("connecting to %s (attempt %d, %s)", m.addr, m.book.attempts, backoff))
		return
	}
	m.rec.Event(EventTypeNormal, ReasonReconnecting,
		fmt.Sprintf("reconnecting to %s (attempt %d, %s, %s into the outage)",
			m.addr, m.book.attempts, backoff, round(now.Sub(m.book.outageStart))))
}

func (m *Machine) afterReconnected(ctx context.Context, e *lfsm.Event) {
	now := m.cfg.Clock.Now()
	m.metrics.Reconnects.WithLabelValues(metrics.ReconnectSuccess).Inc()
	logger := klog.FromContext(ctx)
	if m.book.everConnected {
		outage := now.Sub(m.book.outageStart)
		m.metrics.ReconnectDuration.Observe(outage.Seconds())
		logger.Info("Reconnected to the RDS", "state", e.Dst, "attempt", m.book.attempts, "outage", outage)
		m.rec.Event(EventTypeNormal, ReasonReconnected,
			fmt.Sprintf("connected to %s after %s outage (%s)", m.addr, round(outage), attempts(m.book.attempts)))
	} else {
		logger.Info("Connected to the RDS", "state", e.Dst, "attempt", m.book.attempts)
		m.rec.Event(EventTypeNormal, ReasonConnected,
			fmt.Sprintf("connected to %s (%s, %s after start)", m.addr, attempts(m.book.attempts), round(now.Sub(m.book.start))))
	}
	m.book.everConnected = true
	m.book.connectedAt = now
	m.notify()
}

func (m *Machine) afterAttemptFailed(ctx context.Context, e *lfsm.Event) {
	m.book.backoffStart = m.cfg.Clock.Now()
	m.metrics.Reconnects.WithLabelValues(metrics.ReconnectFailure).Inc()
	err := argError(e)
	klog.FromContext(ctx).Info("Connection attempt to the RDS failed", "state", e.Dst, "attempt", m.book.attempts, "err", err)
	reason := ReasonReconnectFailed
	if !m.book.everConnected {
		reason = ReasonConnectFailed
	}
	m.rec.Event(EventTypeWarning, reason,
		fmt.Sprintf("attempt %d to connect to %s failed: %v", m.book.attempts, m.addr, err))
}

// errUnknownCause stands in when an event arrives without a cause (tests).
var errUnknownCause = errors.New("no cause given")

// argError returns the cause the loop passed along with the event.
func argError(e *lfsm.Event) error {
	if len(e.Args) > 0 {
		if err, ok := e.Args[0].(error); ok {
			return err
		}
	}
	return errUnknownCause
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// round keeps notes readable: "12.3s", not "12.345678901s".
func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
