package fsm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	lfsm "github.com/looplab/fsm"
	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/metrics"
)

// Machine is the RDS connection state machine. Create it with New, subscribe,
// then start exactly one Run. The read side (State, Connected, LastProgress,
// Alive, Live) is safe from any goroutine and costs an atomic load.
type Machine struct {
	cfg     Config
	addr    string
	rec     Recorder
	metrics *metrics.FSM
	f       *lfsm.FSM

	// state is the index in States of the current state, published by the
	// enter_state callback for readers that must not touch the FSM's locks.
	state atomic.Int32
	// heartbeat is the loop's last iteration (clock unix nanos; 0 = never).
	heartbeat atomic.Int64
	started   atomic.Bool

	subsMu sync.Mutex
	subs   []chan struct{}

	// book is written only on the loop goroutine (callbacks run there too).
	book bookkeeping
}

// bookkeeping is what the event notes and the outage histogram need.
type bookkeeping struct {
	everConnected bool
	start         time.Time // New, for the first connect's note
	connectedAt   time.Time
	outageStart   time.Time // leaving Connected
	backoffStart  time.Time // entering Backoff
	attempts      int       // dials since the last Connected
}

// New validates cfg and returns a machine in the start state (Disconnected).
func New(cfg Config) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newMachine(cfg.withDefaults(), startState), nil
}

// newMachine builds a machine in any state (tests start from every state).
func newMachine(cfg Config, initial State) *Machine {
	m := &Machine{cfg: cfg, addr: cfg.Conn.Address(), rec: cfg.Recorder, metrics: cfg.Metrics}
	if m.rec == nil {
		logger := cfg.Logger
		if logger.GetSink() == nil {
			logger = klog.Background()
		}
		m.rec = logRecorder{logger: logger.WithName("rds-connection")}
	}
	m.f = newLooplab(initial, m.callbacks())
	m.state.Store(stateIndex(initial))
	m.book.start = cfg.Clock.Now()
	m.initMetrics(initial)
	return m
}

// initMetrics creates every series up front: all four state gauges, the
// connection gauge, both reconnect outcomes and every allowed transition, so
// that rate() and absent() work from the first scrape.
func (m *Machine) initMetrics(initial State) {
	for _, s := range States {
		m.metrics.State.WithLabelValues(string(s)).Set(boolGauge(s == initial))
	}
	m.metrics.Connection.WithLabelValues(m.addr).Set(boolGauge(initial == StateConnected))
	m.metrics.Reconnects.WithLabelValues(metrics.ReconnectSuccess)
	m.metrics.Reconnects.WithLabelValues(metrics.ReconnectFailure)
	for _, t := range transitions {
		for _, src := range t.src {
			m.metrics.Transitions.WithLabelValues(string(src), string(t.dst), string(t.event))
		}
	}
}

// State returns the current state.
func (m *Machine) State() State { return States[m.state.Load()] }

// Connected reports whether the RDS is reachable right now (the CSI Probe
// and the per-call gate).
func (m *Machine) Connected() bool { return m.state.Load() == connectedIndex }

// LastProgress is when the loop last ran an iteration; zero before Run.
func (m *Machine) LastProgress() time.Time {
	ns := m.heartbeat.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Alive reports an error when the loop is not running or has not ticked for
// several health intervals at now: a wedged loop would otherwise leave the
// driver frozen in its last state forever.
func (m *Machine) Alive(now time.Time) error {
	last := m.LastProgress()
	if last.IsZero() {
		return errors.New("RDS connection loop not running")
	}
	if age := now.Sub(last); age > stallIntervals*m.cfg.HealthInterval {
		return fmt.Errorf("RDS connection loop stalled: last progress %s ago", age.Round(time.Millisecond))
	}
	return nil
}

// Live is Alive at the machine's clock: the /healthz check.
func (m *Machine) Live() error { return m.Alive(m.cfg.Clock.Now()) }

// Subscribe returns a channel that receives a value whenever the machine
// enters Connected (the first connect included). The buffer of one coalesces
// bursts: a slow subscriber sees one pending notification, never blocks the
// loop, and then re-reads whatever state it cares about. Subscribe before Run.
func (m *Machine) Subscribe() <-chan struct{} {
	ch := make(chan struct{}, 1)
	m.subsMu.Lock()
	m.subs = append(m.subs, ch)
	m.subsMu.Unlock()
	return ch
}

func (m *Machine) notify() {
	m.subsMu.Lock()
	defer m.subsMu.Unlock()
	for _, ch := range m.subs {
		select {
		case ch <- struct{}{}:
		default: // one is pending already
		}
	}
}

// fire runs one event through the FSM. The context never carries a
// cancellation: a cancelled context wedges looplab/fsm for good (issue #115).
func (m *Machine) fire(ctx context.Context, ev Event, args ...any) error {
	err := m.f.Event(context.WithoutCancel(ctx), string(ev), args...)
	var same lfsm.NoTransitionError
	if errors.As(err, &same) && same.Err == nil {
		return nil // Src == Dst is success; the table has no such edge anyway
	}
	return err
}

var connectedIndex = stateIndex(StateConnected)

func stateIndex(s State) int32 {
	for i, x := range States {
		if x == s {
			return int32(i)
		}
	}
	panic("fsm: undeclared state " + string(s))
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
