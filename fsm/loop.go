package fsm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/queue"
)

// reconnectKey is the only item of the reconnect queue.
const reconnectKey = "rds"

// ReconnectQueueName labels the reconnect queue's workqueue_* metrics.
const ReconnectQueueName = "rds_reconnect"

// loop is the state of one Run: what is in flight and how to reach it. Only
// the Run goroutine touches it.
type loop struct {
	m      *Machine
	ctx    context.Context // Run's context: cancels dials and pings
	logger klog.Logger
	q      queue.Interface[string]
	keys   chan string // reconnect key out of the backoff queue
	wg     sync.WaitGroup

	// At most one dial and one ping run at any time; each reports on a
	// channel with room for its one result, so it never blocks. The
	// deadlines are clock.After channels (nil when none is armed): a fired
	// or forgotten one costs nothing, and only the backoff queue arms
	// timers, which keeps the fake-clock tests exact.
	dialDone     chan error
	dialing      bool
	dialCancel   context.CancelFunc
	dialDeadline <-chan time.Time // nil when no dial runs or it already timed out

	pingDone      chan error
	pinging       bool
	pingCancel    context.CancelFunc
	pingDeadline  <-chan time.Time
	pingAbandoned bool // timed out or the connection was lost meanwhile: ignore its result
}

// Run drives the machine until ctx is done: it is the only goroutine that
// fires events. It dials at once (Disconnected → Reconnecting), then reacts to
// connection losses, health-check ticks, dial and ping results and the
// reconnect key coming out of the backoff queue. On ctx done it shuts the
// queue down, waits for its goroutines (dials and pings honour ctx), closes
// the connection and returns nil.
func (m *Machine) Run(ctx context.Context) error {
	if !m.started.CompareAndSwap(false, true) {
		return errors.New("fsm: Run called twice")
	}
	logger := m.cfg.Logger
	if logger.GetSink() == nil {
		logger = klog.FromContext(ctx)
	}
	logger = logger.WithName("rds-connection").WithValues("address", m.addr)
	ctx = klog.NewContext(ctx, logger)

	q, err := queue.New[string](queue.Config{
		Name:            ReconnectQueueName,
		Limiter:         m.cfg.Backoff,
		MetricsProvider: m.cfg.QueueMetrics,
		Clock:           m.cfg.Clock,
	})
	if err != nil {
		return err
	}
	l := &loop{
		m: m, ctx: ctx, logger: logger, q: q,
		keys:     make(chan string),
		dialDone: make(chan error, 1),
		pingDone: make(chan error, 1),
	}
	l.wg.Go(l.forwardKeys)
	l.run()
	return nil
}

func (l *loop) run() {
	m := l.m
	lost := m.cfg.Conn.Lost()
	ticker := m.cfg.Clock.NewTicker(m.cfg.HealthInterval)
	defer ticker.Stop()

	l.beat()
	l.attempt()
	for {
		select {
		case <-l.ctx.Done():
			l.shutdown()
			return
		case err := <-lost:
			l.onLost(err)
		case <-ticker.C():
			l.onTick()
		case err := <-l.pingDone:
			l.onPingResult(err)
		case <-l.pingDeadline:
			l.onPingTimeout()
		case err := <-l.dialDone:
			l.onDialResult(err)
		case <-l.dialDeadline:
			l.onDialTimeout()
		case <-l.keys:
			l.onKey()
		}
		l.beat()
	}
}

// beat records progress for Alive; every iteration counts, and the ticker
// guarantees one per HealthInterval even when nothing happens.
func (l *loop) beat() { l.m.heartbeat.Store(l.m.cfg.Clock.Now().UnixNano()) }

// forwardKeys hands the reconnect key from the queue to the loop, so the
// loop never blocks in Get. The loop calls Done.
func (l *loop) forwardKeys() {
	for {
		key, shutdown := l.q.Get()
		if shutdown {
			return
		}
		select {
		case l.keys <- key:
		case <-l.ctx.Done():
			l.q.Done(key)
			return
		}
	}
}

// fire runs an event and logs a refusal: the loop checks the state before
// firing, so a refusal is a bug, but not one worth crashing the driver for.
func (l *loop) fire(ev Event, args ...any) bool {
	if err := l.m.fire(l.ctx, ev, args...); err != nil {
		l.logger.Error(err, "State machine refused event", "event", ev, "state", l.m.State())
		return false
	}
	return true
}

// attempt starts a dial (from Disconnected or Backoff).
func (l *loop) attempt() {
	if l.dialing || !l.fire(EventAttempt) {
		return
	}
	ctx, cancel := context.WithCancel(l.ctx)
	l.dialing, l.dialCancel = true, cancel
	l.dialDeadline = l.m.cfg.Clock.After(l.m.cfg.DialTimeout)
	l.wg.Go(func() { l.dialDone <- l.m.cfg.Conn.Connect(ctx) })
}

// onDialTimeout cancels the dial; its result (an error, normally) still
// comes through dialDone, so a second dial can never overlap the first.
func (l *loop) onDialTimeout() {
	l.dialDeadline = nil
	l.dialCancel()
	l.logger.V(2).Info("Connection attempt timed out, cancelling it", "state", l.m.State(), "timeout", l.m.cfg.DialTimeout)
}

func (l *loop) onDialResult(err error) {
	timedOut := l.dialDeadline == nil
	l.dialDeadline = nil
	l.dialCancel()
	l.dialing = false
	if err == nil {
		// A successful connect resets the backoff: the next outage starts
		// again at the base step (the contract, and what an operator
		// expects after the RDS is back).
		if l.fire(EventReconnected) {
			l.q.Forget(reconnectKey)
		}
		return
	}
	if timedOut {
		err = fmt.Errorf("timed out after %s: %w", l.m.cfg.DialTimeout, err)
	}
	if l.fire(EventAttemptFailed, err) {
		l.q.AddRateLimited(reconnectKey) // exactly once per entry into Backoff
	}
}

// onKey: the backoff delay is over.
func (l *loop) onKey() {
	l.q.Done(reconnectKey)
	if l.m.State() != StateBackoff {
		l.logger.Error(nil, "Reconnect key outside Backoff, ignoring it", "state", l.m.State())
		return
	}
	l.attempt()
}

// onLost handles a loss reported by the connection. Reports outside
// Connected belong to a connection already given up on.
func (l *loop) onLost(err error) {
	if l.m.State() != StateConnected {
		l.logger.V(4).Info("Ignoring connection loss outside Connected", "state", l.m.State(), "err", err)
		return
	}
	l.disconnect(err)
}

// disconnect: Connected → Disconnected, then redial at once if the
// connection had been stable, or go through Backoff if it was flapping, so
// an RDS that accepts and then drops connections is dialled at most once per
// base step instead of in a tight loop.
func (l *loop) disconnect(cause error) {
	l.abandonPing()
	if !l.fire(EventConnectionLost, cause) {
		return
	}
	if l.m.book.outageStart.Sub(l.m.book.connectedAt) >= l.m.cfg.StableAfter {
		l.attempt()
		return
	}
	if l.fire(EventScheduleRetry) {
		l.q.AddRateLimited(reconnectKey)
	}
}

// onTick starts a health check while Connected, unless one is still running
// (at most one in flight, even if a timed-out Ping ignores its context).
func (l *loop) onTick() {
	m := l.m
	if m.State() != StateConnected {
		return
	}
	if l.pinging {
		l.logger.V(4).Info("Previous health check still running, skipping this one", "state", m.State())
		return
	}
	ctx, cancel := context.WithCancel(l.ctx)
	l.pinging, l.pingCancel, l.pingAbandoned = true, cancel, false
	l.pingDeadline = m.cfg.Clock.After(m.cfg.HealthTimeout)
	l.wg.Go(func() { l.pingDone <- m.cfg.Conn.Ping(ctx) })
}

func (l *loop) onPingResult(err error) {
	l.pingDeadline = nil
	l.pingCancel()
	l.pinging = false
	if l.pingAbandoned || err == nil {
		return
	}
	l.disconnect(fmt.Errorf("health check failed: %w", err))
}

// onPingTimeout declares the connection lost at once; the ping goroutine
// still has to return before the next health check may start.
func (l *loop) onPingTimeout() {
	l.pingDeadline = nil
	l.disconnect(fmt.Errorf("health check timed out after %s", l.m.cfg.HealthTimeout))
}

// abandonPing makes the ping in flight (if any) irrelevant: its verdict
// concerns a connection that is being replaced.
func (l *loop) abandonPing() {
	if !l.pinging {
		return
	}
	l.pingAbandoned = true
	l.pingCancel()
	l.pingDeadline = nil
}

func (l *loop) shutdown() {
	l.q.ShutDown()
	// Dials and pings use contexts derived from the cancelled ctx.
	l.wg.Wait()
	if err := l.m.cfg.Conn.Close(); err != nil {
		l.logger.Error(err, "Closing the RDS connection")
	}
	l.logger.Info("RDS connection loop stopped", "state", l.m.State())
}
