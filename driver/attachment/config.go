package attachment

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/queue"
	"github.com/srvlab/rds-csi/rds"
)

// Defaults of Config.
const (
	// DefaultGracePeriod: how long a node may be NotReady before its
	// attachments stop blocking a publish elsewhere. Long enough to ride out a
	// kubelet restart, short against a storage outage.
	DefaultGracePeriod = 30 * time.Second
	// DefaultResyncPeriod: the periodic full pass that catches anything the
	// event producers missed (e.g. an export turned off by hand on the RDS).
	DefaultResyncPeriod = 5 * time.Minute
	// DefaultWorkers: reconcile workers. Most passes are pure cache reads;
	// RDS calls share one SSH connection, so more workers would only queue there.
	DefaultWorkers = 4
	// DefaultInFlightTTL: how long an accepted publish counts without its
	// VolumeAttachment showing attached=true. The external-attacher writes the
	// status right after ControllerPublish returns; the TTL only bounds the
	// damage of an attacher that died in between.
	DefaultInFlightTTL = 2 * time.Minute
	// Leader election defaults (client-go's usual 15/10/2).
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
	// DefaultLeaseName is the Lease object in Config.Namespace.
	DefaultLeaseName = "rds-csi-attachment"
	// DefaultOrphanGracePeriod: how old (on the RDS's clock) a disk or file
	// must be before it counts as an orphan. Far longer than any provision
	// takes from "/disk add" to its PV.
	DefaultOrphanGracePeriod = time.Hour
)

// Backoff of a volume whose reconcile must be retried (RDS not connected or
// failing). Capped at a minute: after a reconnect the Reconnected
// notification retries attached volumes at once anyway.
var defaultBackoff = queue.LimiterConfig{Base: time.Second, Max: time.Minute}

// Config configures New. Client and DriverName are required.
type Config struct {
	// Client reads Nodes, VolumeAttachments and PersistentVolumes, writes the
	// leader Lease. Required.
	Client kubernetes.Interface
	// DriverName filters VolumeAttachments (spec.attacher) and PVs
	// (spec.csi.driver). Required.
	DriverName string
	// Namespace holds the leader Lease; PodName is the election identity.
	// PodNamespace, PodName and PodUID identify the controller Pod
	// (downward API), which the StartupReconciliation event is about. The
	// Lease namespace may differ from the Pod's (--leader-election-namespace),
	// and an event's namespace must be its Pod's. PodName and Namespace are
	// required with LeaderElection; without PodName or PodNamespace the Pod
	// event is only logged.
	Namespace    string
	PodNamespace string
	PodName      string
	PodUID       types.UID

	// GracePeriod: NotReady time before an attachment is stale (default 30 s).
	GracePeriod time.Duration
	// ResyncPeriod: full reconcile pass interval (default 5 min).
	ResyncPeriod time.Duration
	// Workers: reconcile workers (default 4).
	Workers int
	// InFlightTTL: lifetime of an accepted publish without attached VA
	// (default 2 min).
	InFlightTTL time.Duration
	// Backoff of retried volumes (default 1 s doubling to 1 min, ±10 % jitter).
	Backoff queue.LimiterConfig

	// RDS is checked for attached volumes; nil skips the RDS checks.
	RDS rds.Client
	// Connected reports whether the connection FSM is Connected; nil means
	// always. While false, volumes that need the RDS are retried with backoff.
	Connected func() bool
	// Reconnected delivers one value per reconnect (fsm Subscribe()); every
	// attached volume is then reconciled at once. Nil: never.
	Reconnected <-chan struct{}
	// Units replaces RDS, Connected and Reconnected with several RDS units
	// (units.go); the orphan report is then off (it knows one RDS only).
	Units []Unit
	// Resolve maps a volume id to its unit name and slot (ok false: not a
	// volume of any unit). Required with Units.
	Resolve func(volumeID string) (unit, slot string, ok bool)

	// OrphanGracePeriod: minimum age, by the RDS's own timestamps, of an
	// orphan (default 1 h); plus CopyTimeout for what may be a copy target.
	OrphanGracePeriod time.Duration
	// OrphanDelete removes orphans that are provably unused (never an
	// exported disk). Off: report only.
	OrphanDelete bool
	// CopyTimeout is the RDS client's bound on one copy (default
	// rds.DefaultCopyTimeout): a copy target is not an orphan before it.
	CopyTimeout time.Duration
	// DefaultVolumePath: its pool is always scanned (default
	// rds.DefaultVolumePath); the pools of every disk and PV are too.
	DefaultVolumePath string
	// Dynamic reads VolumeSnapshotContents; nil: snapshot disks are never
	// reported as orphans.
	Dynamic dynamic.Interface
	// OrphanMetrics of the orphan report; nil: unregistered metrics.
	OrphanMetrics *metrics.Orphan
	// NoOrphanReport turns the orphan report off (tests of the attachment
	// reconciler alone). It is on whenever RDS is set otherwise.
	NoOrphanReport bool

	// Events receives events; a tools/events EventRecorder fits as is. Nil:
	// events are only logged.
	Events EventSink
	// Metrics of the reconciler; nil: unregistered metrics.
	Metrics *metrics.Attachment
	// QueueMetrics receives the workqueue metrics (queue name
	// "attachment"); nil: none.
	QueueMetrics workqueue.MetricsProvider
	// Clock drives staleness, delays and the resync ticker; nil: real clock.
	Clock clock.WithTicker
	// Logger is used as is (the caller names it, e.g. WithName("attachment"));
	// the zero value takes the logger of Start's context, named "attachment".
	Logger klog.Logger

	// LeaderElection runs the workers only while holding the Lease
	// LeaseName in Namespace with identity PodName.
	LeaderElection bool
	LeaseName      string        // default DefaultLeaseName
	LeaseDuration  time.Duration // default 15 s
	RenewDeadline  time.Duration // default 10 s
	RetryPeriod    time.Duration // default 2 s
}

// withDefaults fills in every zero field that has a default.
func (c Config) withDefaults() Config {
	if c.GracePeriod == 0 {
		c.GracePeriod = DefaultGracePeriod
	}
	if c.ResyncPeriod == 0 {
		c.ResyncPeriod = DefaultResyncPeriod
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.InFlightTTL == 0 {
		c.InFlightTTL = DefaultInFlightTTL
	}
	if c.Backoff.Base == 0 && c.Backoff.Max == 0 {
		c.Backoff.Base, c.Backoff.Max = defaultBackoff.Base, defaultBackoff.Max
	}
	if c.Connected == nil {
		c.Connected = func() bool { return true }
	}
	if c.Events == nil {
		c.Events = nopSink{}
	}
	if c.Metrics == nil {
		c.Metrics = metrics.NewAttachment(nil)
	}
	if c.OrphanMetrics == nil {
		c.OrphanMetrics = metrics.NewOrphan(nil)
	}
	if c.OrphanGracePeriod == 0 {
		c.OrphanGracePeriod = DefaultOrphanGracePeriod
	}
	if c.CopyTimeout == 0 {
		c.CopyTimeout = rds.DefaultCopyTimeout
	}
	if c.DefaultVolumePath == "" {
		c.DefaultVolumePath = rds.DefaultVolumePath
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.LeaseName == "" {
		c.LeaseName = DefaultLeaseName
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.RenewDeadline == 0 {
		c.RenewDeadline = DefaultRenewDeadline
	}
	if c.RetryPeriod == 0 {
		c.RetryPeriod = DefaultRetryPeriod
	}
	return c
}

// validate reports every configuration error at once.
func (c Config) validate() error {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("attachment: a Kubernetes client is required"))
	}
	if len(c.Units) > 0 && (c.Resolve == nil || c.RDS != nil) {
		errs = append(errs, errors.New("attachment: Units need Resolve and replace RDS"))
	}
	for _, u := range c.Units {
		if u.RDS == nil {
			errs = append(errs, fmt.Errorf("attachment: RDS unit %q has no client", u.Name))
		}
	}
	if c.DriverName == "" {
		errs = append(errs, errors.New("attachment: the driver name is required"))
	}
	for name, d := range map[string]time.Duration{
		"grace period": c.GracePeriod, "resync period": c.ResyncPeriod, "in-flight TTL": c.InFlightTTL,
		"orphan grace period": c.OrphanGracePeriod, "copy timeout": c.CopyTimeout,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("attachment: %s %v is negative", name, d))
		}
	}
	if err := rds.ValidateVolumePath(c.DefaultVolumePath); err != nil {
		errs = append(errs, fmt.Errorf("attachment: default volume path: %w", err))
	}
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("attachment: %d workers", c.Workers))
	}
	if err := c.Backoff.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("attachment backoff: %w", err))
	}
	if c.LeaderElection {
		if c.PodName == "" || c.Namespace == "" {
			errs = append(errs, errors.New("attachment: leader election needs the pod name and namespace"))
		}
		// The same constraints leaderelection.NewLeaderElector enforces,
		// reported at startup instead of at the first election.
		if c.LeaseDuration <= c.RenewDeadline {
			errs = append(errs, fmt.Errorf("attachment: lease duration %v must exceed renew deadline %v", c.LeaseDuration, c.RenewDeadline))
		}
		if c.RenewDeadline <= time.Duration(1.2*float64(c.RetryPeriod)) {
			errs = append(errs, fmt.Errorf("attachment: renew deadline %v must exceed 1.2 × retry period %v", c.RenewDeadline, c.RetryPeriod))
		}
	}
	return errors.Join(errs...)
}
