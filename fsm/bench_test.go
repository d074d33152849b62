package fsm

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// The Probe path (CSI Probe, /readyz, the per-call gate) must stay far
// below 10 µs and never contend with the loop: it is an atomic load.

var sinkBool bool
var sinkState State

func benchMachine(b *testing.B) *Machine {
	m, err := New(Config{Conn: newFakeConn(), Clock: clocktesting.NewFakeClock(time.Unix(0, 0))})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func BenchmarkConnected(b *testing.B) {
	m := benchMachine(b)
	for b.Loop() {
		sinkBool = m.Connected()
	}
}

func BenchmarkConnectedParallel(b *testing.B) {
	m := benchMachine(b)
	b.RunParallel(func(pb *testing.PB) {
		var c bool
		for pb.Next() {
			c = m.Connected()
		}
		sinkBool = c
	})
}

func BenchmarkState(b *testing.B) {
	m := benchMachine(b)
	for b.Loop() {
		sinkState = m.State()
	}
}

func BenchmarkAlive(b *testing.B) {
	m := benchMachine(b)
	m.heartbeat.Store(time.Unix(1, 0).UnixNano())
	now := time.Unix(2, 0)
	for b.Loop() {
		sinkBool = m.Alive(now) == nil
	}
}
