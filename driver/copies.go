package driver

import (
	"context"
	"sync"
	"time"

	"github.com/srvlab/rds-csi/rds"
)

// A copy-from (snapshot, clone, restore) can run for minutes on real
// hardware, far beyond a CSI caller's deadline. It therefore runs detached
// from the RPC that started it: the caller waits as long as its own deadline
// allows, and a retry of the same request while the copy still runs is
// answered Aborted instead of starting a second copy. The finished result
// (disk or error) waits here for the retry that collects it.
//
// After a driver restart nothing here remembers a copy the RDS may still be
// running; the copy's backing file without a disk tells the next attempt,
// and partialCopies decides when such a file is dead.

// copyOp is one copy in flight or finished and not yet collected.
type copyOp struct {
	source  string
	started time.Time
	done    chan struct{}
	// vol and err are written before done closes.
	vol rds.Volume
	err error
}

// finished reports whether the copy ended (without blocking).
func (op *copyOp) finished() bool {
	select {
	case <-op.done:
		return true
	default:
		return false
	}
}

// uncollectedTTL bounds how long a finished copy's result waits for its
// retry: a CO that gave up on the request never collects it.
const uncollectedTTL = time.Hour

// copyTracker holds the copies of this process by target id.
type copyTracker struct {
	mu  sync.Mutex
	ops map[string]*copyOp
	wg  sync.WaitGroup
	now func() time.Time
}

func newCopyTracker(now func() time.Time) *copyTracker {
	return &copyTracker{ops: map[string]*copyOp{}, now: now}
}

// get returns the copy into id, running or finished but uncollected.
func (t *copyTracker) get(id string) *copyOp {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ops[id]
}

// collect removes a finished op so its result is answered once; a later
// retry then sees the disk on the RDS.
func (t *copyTracker) collect(id string, op *copyOp) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ops[id] == op {
		delete(t.ops, id)
	}
}

// start runs copyFn in the background under a context that keeps ctx's
// values (logger) but not its cancellation; the RDS client bounds the copy
// with its copy timeout. The caller holds id's volume lock.
func (t *copyTracker) start(ctx context.Context, id, source string, copyFn func(context.Context) (rds.Volume, error)) *copyOp {
	op := &copyOp{source: source, started: t.now(), done: make(chan struct{})}
	t.mu.Lock()
	t.pruneLocked()
	t.ops[id] = op
	t.mu.Unlock()
	detached := context.WithoutCancel(ctx)
	t.wg.Go(func() {
		op.vol, op.err = copyFn(detached)
		close(op.done)
	})
	return op
}

// pruneLocked forgets finished results nobody came back for.
func (t *copyTracker) pruneLocked() {
	now := t.now()
	for id, op := range t.ops {
		if op.finished() && now.Sub(op.started) > uncollectedTTL {
			delete(t.ops, id)
		}
	}
}

// wait waits for op or ctx. ok is false when the caller gave up first.
func (t *copyTracker) wait(ctx context.Context, op *copyOp) (rds.Volume, error, bool) {
	select {
	case <-op.done:
		return op.vol, op.err, true
	case <-ctx.Done():
		return rds.Volume{}, nil, false
	}
}

// Wait blocks until every copy of this process has ended (tests and
// shutdown; copies end when the RDS answers or the connection closes).
func (t *copyTracker) Wait() { t.wg.Wait() }
