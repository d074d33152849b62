package driver

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestVolumeLocks(t *testing.T) {
	l := NewVolumeLocks()
	if !l.TryAcquire("a") {
		t.Fatal("first acquire of a failed")
	}
	if l.TryAcquire("a") {
		t.Fatal("second acquire of a succeeded while held")
	}
	if !l.TryAcquire("b") {
		t.Fatal("acquire of b blocked by a")
	}
	l.Release("a")
	if !l.TryAcquire("a") {
		t.Fatal("acquire after release failed")
	}
}

func TestVolumeLocksConcurrentExactlyOneWinner(t *testing.T) {
	l := NewVolumeLocks()
	var winners atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.TryAcquire("v") {
				winners.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := winners.Load(); got != 1 {
		t.Fatalf("winners = %d, want 1", got)
	}
}
