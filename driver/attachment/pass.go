package attachment

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/metrics"
)

// Role says who ran a startup pass.
type Role string

const (
	// RoleLeader: this replica ran the pass (always so without leader election).
	RoleLeader Role = "leader"
	// RoleFollower: another replica holds the Lease and runs the passes.
	RoleFollower Role = "follower"
	// RoleDisabled: the nil (disabled) Controller.
	RoleDisabled Role = "disabled"
)

// Summary is what a full pass found.
type Summary struct {
	Role Role
	// Leader is the leading replica's identity when Role is RoleFollower.
	Leader string
	// Volumes in the pass (every PV of the driver and every VA's volume)
	// and how many of them were processed at least once.
	Volumes, Processed int
	// Attachments: attached VolumeAttachments found.
	Attachments int
	// StaleReleased: stale attachments released (newly announced).
	StaleReleased int
	// ExportsRepaired: exports found off and turned back on.
	ExportsRepaired int
	// MissingVolumes: attached volumes that do not exist on the RDS.
	MissingVolumes int
	// Requeued: processed volumes left for a retry (RDS not connected or
	// unavailable, or an error).
	Requeued int
	// Duration from the start of the pass to its last volume (or to the
	// moment this summary was taken, for an incomplete pass).
	Duration time.Duration
}

func (s Summary) String() string {
	return fmt.Sprintf("%d of %d volumes in %s: %d attachments, %d stale released, %d exports repaired, %d missing on the RDS, %d to retry",
		s.Processed, s.Volumes, s.Duration.Round(time.Millisecond), s.Attachments, s.StaleReleased,
		s.ExportsRepaired, s.MissingVolumes, s.Requeued)
}

// pass tracks a term's full pass: the keys not processed yet and the
// first outcome of each.
type pass struct {
	begin   time.Time
	mu      sync.Mutex
	pending map[string]struct{}
	sum     Summary
	done    chan struct{}
}

func newPass(keys []string) *pass {
	p := &pass{begin: time.Now(), pending: make(map[string]struct{}, len(keys)), done: make(chan struct{})}
	for _, k := range keys {
		p.pending[k] = struct{}{}
	}
	p.sum = Summary{Role: RoleLeader, Volumes: len(p.pending)}
	if len(p.pending) == 0 {
		close(p.done)
	}
	return p
}

// observe accounts the first outcome of a key of the pass.
func (p *pass) observe(key string, o outcome) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.pending[key]; !ok {
		return
	}
	delete(p.pending, key)
	p.sum.Processed++
	p.sum.Attachments += o.attachments
	p.sum.StaleReleased += o.released
	if o.exportRepaired {
		p.sum.ExportsRepaired++
	}
	if o.missing {
		p.sum.MissingVolumes++
	}
	if o.result != metrics.ReconcileSuccess {
		p.sum.Requeued++
	}
	if len(p.pending) == 0 {
		p.sum.Duration = time.Since(p.begin)
		close(p.done)
	}
}

func (p *pass) summary() Summary {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sum
	if len(p.pending) > 0 {
		s.Duration = time.Since(p.begin)
	}
	return s
}

// announcePass waits for a term's full pass, then reports it on the
// controller Pod and, for the process's first pass, to StartupPass.
func (c *Controller) announcePass(ctx context.Context, p *pass) {
	select {
	case <-ctx.Done():
		return
	case <-p.done:
	}
	s := p.summary()
	c.firstOnce.Do(func() {
		c.firstSummary = s
		close(c.firstPass)
	})
	c.emit(klog.FromContext(ctx), c.podRef(), nil, eventNormal, ReasonStartupReconciliation, actionReconcile,
		"startup attachment reconciliation: %s", s)
}

// StartupPass waits until the first full pass over every volume (started
// by Run: every PV of the driver and every VolumeAttachment's volume) has
// processed each volume once, bounded by ctx (--startup-reconcile-timeout),
// and returns its Summary. Run must be running (or be started
// concurrently). When ctx ends first it returns the partial Summary and an
// error saying so; the pass carries on in the background.
//
// With leader election it returns as soon as another replica is seen
// holding the Lease (Role RoleFollower): that replica reconciles, and this
// one serves Publish decisions from its caches. A nil Controller returns
// RoleDisabled at once.
func (c *Controller) StartupPass(ctx context.Context) (Summary, error) {
	if c == nil {
		return Summary{Role: RoleDisabled}, nil
	}
	select {
	case <-c.firstPass:
		s := c.firstSummary
		klog.FromContext(ctx).Info("Startup attachment reconciliation done", "summary", s.String())
		return s, nil
	case <-c.follower:
		leader, _ := c.leaderName.Load().(string)
		return Summary{Role: RoleFollower, Leader: leader}, nil
	case <-ctx.Done():
	}
	select {
	case <-c.runStarted:
	default:
		return Summary{}, fmt.Errorf("startup attachment reconciliation: Run is not running: %w", context.Cause(ctx))
	}
	if t := c.term.Load(); t != nil && t.initial.Load() != nil {
		s := t.initial.Load().summary()
		return s, fmt.Errorf("startup attachment reconciliation incomplete (%s), continuing in the background: %w", s, context.Cause(ctx))
	}
	return Summary{}, fmt.Errorf("startup attachment reconciliation did not start (caches not synced yet, or not the leader): %w", context.Cause(ctx))
}
