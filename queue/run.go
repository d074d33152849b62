package queue

import (
	"context"
	"sync"

	"k8s.io/klog/v2"
)

// SyncFunc processes one item. A nil error means done; an error means "retry
// this item later, with backoff".
type SyncFunc[T comparable] func(ctx context.Context, item T) error

// Run processes q with the given number of workers until ctx is done (then it
// shuts q down) or until someone else shuts q down, and returns once every
// worker has finished its current item. Items still waiting out a backoff are
// dropped on shutdown; the next start rebuilds its work from scratch anyway.
func Run[T comparable](ctx context.Context, q Interface[T], workers int, process SyncFunc[T]) {
	if workers < 1 {
		workers = 1
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for processNext(ctx, q, process) {
			}
		})
	}

	// ShutDown is what wakes workers blocked in Get. If q was shut down by
	// its owner instead, make sure the pending ShutDown never starts or has
	// finished before Run returns, so no goroutine outlives Run.
	shutDownDone := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		q.ShutDown()
		close(shutDownDone)
	})
	wg.Wait()
	if !stop() {
		<-shutDownDone
	}
}

// processNext handles one item with the queue discipline: Done always,
// Forget on success, AddRateLimited exactly once on failure (every call
// raises the item's failure count). It reports false when q is shut down.
func processNext[T comparable](ctx context.Context, q Interface[T], process SyncFunc[T]) bool {
	item, shutdown := q.Get()
	if shutdown {
		return false
	}
	defer q.Done(item)
	if ctx.Err() != nil {
		return true // shutting down: drain what is left without work
	}

	err := process(ctx, item)
	switch {
	case err == nil:
		q.Forget(item)
	case ctx.Err() != nil:
		// Shutting down: the failure is the cancellation, and a retry could
		// not be queued any more.
	default:
		q.AddRateLimited(item)
		klog.FromContext(ctx).Error(err, "Sync failed, retrying with backoff", "item", item, "failures", q.NumRequeues(item))
	}
	return true
}
