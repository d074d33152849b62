package fsm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/queue"
	"github.com/srvlab/rds-csi/rds"
)

// ReconnectQueueName labels the reconnect queue's workqueue_* metrics.
const ReconnectQueueName = "rds_reconnect"

// loop is the state of one Run: what is in flight and how to reach it. Only
// the Run goroutine touches it.
type loop struct {
	m      *Machine
	ctx    context.Context // Run's context: cancels dials, pings and probes
	logger klog.Logger
	lost   <-chan error // the connection's Lost channel
	q      queue.Interface[ticket]
	keys   chan ticket // tickets out of the backoff queue
	wg     sync.WaitGroup

	// At most one dial, one ping and one probe run at any time; each
	// reports on a channel with room for its one result, so it never
	// blocks. The loop's deadlines and its probe schedule are clock.After
	// channels (nil when none is armed): a fired or forgotten one costs
	// nothing, and only the backoff queue arms NewTimer timers, which keeps
	// the fake-clock tests exact.
	dialDone     chan error
	dialing      bool
	dialCancel   context.CancelFunc
	dialDeadline <-chan time.Time // nil when no dial runs or it already timed out

	pingDone      chan error
	pinging       bool
	pingCancel    context.CancelFunc
	pingDeadline  <-chan time.Time
	pingAbandoned bool // timed out or the connection was lost meanwhile: ignore its result

	backoffState
	generations
}

// generations tell the loss of the connection a dial has just made from the
// stale loss of an older one (see rds.LostError and rds.Connection.Current).
type generations struct {
	gen     uint64 // the connection Connected stands for
	lostGen uint64 // the newest generation whose loss was reported
	lostErr error  // that loss
}

// Run drives the machine until ctx is done: it is the only goroutine that
// fires events. It dials at once (Disconnected → Reconnecting), then reacts to
// connection losses, health-check ticks, dial, ping and probe results, probe
// timers and backoff tickets coming out of the queue. On ctx done it shuts the
// queue down, waits for its goroutines (dials, pings and probes honour ctx),
// closes the connection and returns nil.
func (m *Machine) Run(ctx context.Context) error {
	if !m.started.CompareAndSwap(false, true) {
		return errors.New("fsm: Run called twice")
	}
	logger := m.cfg.Logger
	if logger.GetSink() == nil {
		logger = klog.FromContext(ctx)
	}
	logger = logger.WithName("rds-connection").WithValues("address", m.addr)
	if m.cfg.Unit != "" {
		logger = logger.WithValues("rds", m.cfg.Unit)
	}
	ctx = klog.NewContext(ctx, logger)

	q, err := queue.New[ticket](queue.Config{
		Name:            m.cfg.QueueName,
		Limiter:         m.cfg.Backoff,
		MetricsProvider: m.cfg.QueueMetrics,
		Clock:           m.cfg.Clock,
		SharedBackoff:   true, // one schedule for all tickets (backoff.go)
	})
	if err != nil {
		return err
	}
	l := &loop{
		m: m, ctx: ctx, logger: logger, q: q,
		lost:     m.cfg.Conn.Lost(),
		keys:     make(chan ticket),
		dialDone: make(chan error, 1),
		pingDone: make(chan error, 1),
		backoffState: backoffState{
			probeDone: make(chan probeResult, 1),
		},
	}
	l.wg.Go(l.forwardKeys)
	l.run()
	return nil
}

func (l *loop) run() {
	m := l.m
	ticker := m.cfg.Clock.NewTicker(m.cfg.HealthInterval)
	defer ticker.Stop()

	l.beat()
	l.attempt(EventAttempt)
	for {
		select {
		case <-l.ctx.Done():
			l.shutdown()
			return
		case err := <-l.lost:
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
		case tk := <-l.keys:
			l.onTicket(tk)
		case <-l.probeDue:
			l.onProbeDue()
		case r := <-l.probeDone:
			l.onProbeResult(r)
		case <-l.probeDeadline:
			l.onProbeTimeout()
		}
		l.beat()
	}
}

// beat records progress for Alive; every iteration counts, and the ticker
// guarantees one per HealthInterval even when nothing happens.
func (l *loop) beat() { l.m.heartbeat.Store(l.m.cfg.Clock.Now().UnixNano()) }

// forwardKeys hands the tickets from the queue to the loop, so the loop
// never blocks in Get. The loop calls Done.
func (l *loop) forwardKeys() {
	for {
		tk, shutdown := l.q.Get()
		if shutdown {
			return
		}
		select {
		case l.keys <- tk:
		case <-l.ctx.Done():
			l.q.Done(tk)
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

// attempt starts a dial (from Disconnected or Backoff) with ev: EventAttempt,
// or EventReachable when a probe cut the backoff step short.
func (l *loop) attempt(ev Event) {
	if l.dialing || !l.fire(ev) {
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

// onDialResult: Connected, or Backoff for one more step. A success does not
// reset the backoff: only a connection that stays up for StableAfter does
// (see disconnect). Otherwise an RDS that accepts and at once drops
// connections (booting, overloaded) would be redialled every base step
// forever, each Reconnected starting a full attachment pass.
func (l *loop) onDialResult(err error) {
	timedOut := l.dialDeadline == nil
	l.dialDeadline = nil
	l.dialCancel()
	l.dialing = false
	switch {
	case err == nil:
		err = l.established()
	case timedOut:
		err = fmt.Errorf("timed out after %s: %w", l.m.cfg.DialTimeout, err)
	}
	if err == nil {
		l.fire(EventReconnected)
		return
	}
	if l.fire(EventAttemptFailed, err) {
		// Only a dial that never reached TCP may be cut short by probing:
		// after a handshake failure something answers TCP already, and
		// probing would turn the backoff into a redial every probe.
		l.backoff(errors.Is(err, rds.ErrUnreachable))
	}
}

// established checks, once Connect succeeded, that the connection it made
// is still up. It may have died at once (RDS booting, session limit): its
// loss may already have been read while Reconnecting (noted in lostGen), be
// pending on the Lost channel, or be known only to the transport. Going to
// Connected then would answer ready while every command fails "not
// connected" until the next health check; the attempt failed instead.
func (l *loop) established() error {
	gen, up := l.m.cfg.Conn.Current()
	select {
	case err := <-l.lost: // its loss, or a stale one
		l.noteLoss(err)
	default:
	}
	if gen > 0 && l.lostGen >= gen {
		return fmt.Errorf("connection lost right after connecting: %w", l.lostErr)
	}
	if !up {
		return fmt.Errorf("%w: connection to %s (generation %d) lost right after connecting", rds.ErrUnavailable, l.m.addr, gen)
	}
	l.gen = gen
	return nil
}

// noteLoss remembers the newest generation whose loss was reported.
func (l *loop) noteLoss(err error) {
	if gen, ok := rds.LostGeneration(err); ok && gen > l.lostGen {
		l.lostGen, l.lostErr = gen, err
	}
}

// onLost handles a loss reported by the connection. In Connected it is the
// current connection's, unless its generation is older (stale). While a
// dial runs it may be the loss of the connection that dial has just made:
// noted, and decided when the dial result comes (established). Anywhere
// else it belongs to a connection already given up on.
func (l *loop) onLost(err error) {
	gen, tagged := rds.LostGeneration(err)
	switch state := l.m.State(); {
	case state == StateConnected && (!tagged || gen >= l.gen):
		l.disconnect(err)
	case state == StateReconnecting && tagged:
		l.noteLoss(err)
		l.logger.V(4).Info("Connection loss while dialling, checked against the dial's result", "state", state, "generation", gen, "err", err)
	default:
		l.logger.V(4).Info("Ignoring the loss of a connection already given up on", "state", state, "generation", gen, "current", l.gen, "err", err)
	}
}

// disconnect: Connected → Disconnected. A connection that had been up for
// StableAfter resets the backoff schedule and is redialled at once: an RDS
// that merely dropped the TCP session is usually back immediately. A
// shorter-lived one was flapping: Backoff with the next step of the
// schedule (one AddRateLimited, as for a failed attempt), never a tight
// handshake loop.
func (l *loop) disconnect(cause error) {
	l.abandonPing()
	if !l.fire(EventConnectionLost, cause) {
		return
	}
	if up := l.m.book.outageStart.Sub(l.m.book.connectedAt); up >= l.m.cfg.StableAfter {
		l.q.Forget(anyTicket)
		l.logger.V(2).Info("The lost connection had been stable, backoff schedule reset", "connectedFor", up, "stableAfter", l.m.cfg.StableAfter)
		l.attempt(EventAttempt)
		return
	}
	if l.fire(EventScheduleRetry) {
		l.backoff(false) // it dropped after TCP connected: no probing
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
	// Dials, pings and probes use contexts derived from the cancelled ctx.
	l.wg.Wait()
	if err := l.m.cfg.Conn.Close(); err != nil {
		l.logger.Error(err, "Closing the RDS connection")
	}
	l.logger.Info("RDS connection loop stopped", "state", l.m.State())
}
