package sim

import (
	"context"
	"time"
)

// opKind classifies a command for the latency model.
type opKind int

const (
	opOther opKind = iota
	opAuth
	opDiskPrint
	opDiskAdd
	opDiskRemove
	opFilePrint
)

const gib = int64(1) << 30

// bounds returns the range measured on hardware (see the protocol notes) for
// one operation; size matters only for opDiskAdd.
func bounds(op opKind, size int64) (lo, hi time.Duration) {
	switch op {
	case opAuth:
		return 200 * time.Millisecond, 500 * time.Millisecond
	case opDiskPrint:
		return 50 * time.Millisecond, 100 * time.Millisecond
	case opDiskAdd:
		// 0.5–1 s at 1 GiB, 2–5 s at 100 GiB; linear in between and
		// clamped outside, since nothing was measured there.
		f := float64(size-gib) / float64(99*gib)
		f = min(max(f, 0), 1)
		lo = time.Duration((0.5 + f*1.5) * float64(time.Second))
		hi = time.Duration((1 + f*4) * float64(time.Second))
		return lo, hi
	case opDiskRemove:
		return 500 * time.Millisecond, time.Second
	case opFilePrint:
		return 100 * time.Millisecond, 200 * time.Millisecond
	default:
		return 40 * time.Millisecond, 60 * time.Millisecond
	}
}

// delay picks a uniformly random delay in the operation's range; rnd
// returns a value in [0, 1).
func (l Latency) delay(op opKind, size int64, rnd func() float64) time.Duration {
	if l != LatencyRealistic {
		return 0
	}
	lo, hi := bounds(op, size)
	return lo + time.Duration(rnd()*float64(hi-lo))
}

// sleepCtx waits d unless ctx ends first; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
