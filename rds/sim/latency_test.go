package sim

import (
	"context"
	"testing"
	"time"
)

func TestLatencyRanges(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name   string
		op     opKind
		size   int64
		lo, hi time.Duration
	}{
		{"auth", opAuth, 0, 200 * ms, 500 * ms},
		{"disk print", opDiskPrint, 0, 50 * ms, 100 * ms},
		{"disk add 1GiB", opDiskAdd, gib, 500 * ms, 1000 * ms},
		{"disk add 100MiB clamps to 1GiB", opDiskAdd, gib / 10, 500 * ms, 1000 * ms},
		{"disk add 100GiB", opDiskAdd, 100 * gib, 2000 * ms, 5000 * ms},
		{"disk add 1TiB clamps to 100GiB", opDiskAdd, 1024 * gib, 2000 * ms, 5000 * ms},
		{"disk add 50.5GiB midway", opDiskAdd, 50*gib + gib/2, 1250 * ms, 3000 * ms},
		{"disk remove", opDiskRemove, 0, 500 * ms, 1000 * ms},
		{"file print", opFilePrint, 0, 100 * ms, 200 * ms},
		{"other", opOther, 0, 40 * ms, 60 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LatencyRealistic.delay(tc.op, tc.size, func() float64 { return 0 }); got != tc.lo {
				t.Errorf("low end %v, want %v", got, tc.lo)
			}
			if got := LatencyRealistic.delay(tc.op, tc.size, func() float64 { return 1 }); got != tc.hi {
				t.Errorf("high end %v, want %v", got, tc.hi)
			}
			if got := LatencyNone.delay(tc.op, tc.size, func() float64 { return 1 }); got != 0 {
				t.Errorf("none: %v", got)
			}
		})
	}
}

func TestSleepCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if sleepCtx(ctx, time.Hour) {
		t.Error("sleep survived a cancelled context")
	}
	if !sleepCtx(context.Background(), time.Millisecond) {
		t.Error("short sleep reported cancellation")
	}
}
