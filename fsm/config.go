package fsm

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/queue"
	"github.com/srvlab/rds-csi/rds"
)

// Defaults of Config.
const (
	DefaultHealthInterval = 2 * time.Second
	DefaultHealthTimeout  = 3 * time.Second
	DefaultDialTimeout    = 10 * time.Second
	DefaultStableAfter    = 30 * time.Second
	// DefaultProbeInterval: a refused SYN four times a second costs the RDS
	// nothing, and an RDS back from a reboot is dialled within a quarter
	// of a second instead of at the end of a backoff step of up to 16 s.
	DefaultProbeInterval = 250 * time.Millisecond
	// DefaultProbeTimeout: on a LAN a TCP connect answers in a millisecond;
	// a second covers a lost SYN-ACK without letting a black-holed address
	// hold a probe for long.
	DefaultProbeTimeout = time.Second
)

// stallIntervals: /healthz fails when the loop has not ticked for this many
// health intervals. A few, because one late tick is scheduling noise.
const stallIntervals = 5

// Config of a Machine. Zero durations select the defaults.
type Config struct {
	// Conn is the connection the machine dials, pings and closes. Required.
	Conn rds.Connection
	// Unit names the RDS unit in logs ("rds"); empty: not logged.
	Unit string
	// QueueName names the reconnect queue in the workqueue_* metrics;
	// empty: ReconnectQueueName. Each unit's machine needs its own.
	QueueName string
	// Recorder receives one event record per transition; nil logs them.
	Recorder Recorder
	// Metrics receives the FSM metrics; nil keeps them unregistered.
	Metrics *metrics.FSM
	// QueueMetrics receives the reconnect queue's workqueue_* metrics
	// (name "rds_reconnect"); nil means none.
	QueueMetrics workqueue.MetricsProvider
	// HealthInterval is the period of the health check (Ping) and of the
	// loop's heartbeat.
	HealthInterval time.Duration
	// HealthTimeout bounds one Ping; a timeout counts as a lost connection.
	HealthTimeout time.Duration
	// DialTimeout bounds one Connect (dial and SSH handshake).
	DialTimeout time.Duration
	// StableAfter is how long a connection must stay up to count as stable:
	// the loss of a stable connection is redialled at once and starts the
	// backoff schedule from Base again; a connection lost sooner is retried
	// after the next backoff step, and the failure count keeps growing, so an
	// RDS that accepts and then drops connections is dialled ever more rarely.
	StableAfter time.Duration
	// ProbeInterval is how often the loop probes the RDS with a bare TCP
	// connect while in Backoff after an attempt that failed before TCP
	// connected (rds.ErrUnreachable: refused, no route): the first probe that
	// connects ends the backoff step at once. After any later failure
	// (handshake, a connection that dropped) the step is always waited out.
	// Zero selects the default; a negative value turns probing off.
	ProbeInterval time.Duration
	// ProbeTimeout bounds one probe.
	ProbeTimeout time.Duration
	// Backoff shapes the delays between failed attempts.
	Backoff queue.LimiterConfig
	// Clock drives timers, the heartbeat and the backoff; nil means real time.
	Clock clock.WithTicker
	// Logger overrides the logger from Run's context; zero means klog.FromContext.
	Logger klog.Logger
}

func (c Config) withDefaults() Config {
	if c.HealthInterval == 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	if c.HealthTimeout == 0 {
		c.HealthTimeout = DefaultHealthTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.StableAfter == 0 {
		c.StableAfter = DefaultStableAfter
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = DefaultProbeTimeout
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Metrics == nil {
		c.Metrics = metrics.NewFSM(nil)
	}
	if c.QueueName == "" {
		c.QueueName = ReconnectQueueName
	}
	return c
}

// Validate reports every invalid setting (after defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Conn == nil {
		errs = append(errs, errors.New("fsm: Conn is required"))
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"HealthInterval", c.HealthInterval},
		{"HealthTimeout", c.HealthTimeout},
		{"DialTimeout", c.DialTimeout},
		{"StableAfter", c.StableAfter},
		{"ProbeTimeout", c.ProbeTimeout},
	} {
		if d.value < 0 {
			errs = append(errs, fmt.Errorf("fsm: %s %v is negative", d.name, d.value))
		}
	}
	if err := c.Backoff.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("fsm: %w", err))
	}
	return errors.Join(errs...)
}
