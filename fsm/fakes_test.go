package fsm

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// waitFor bounds every wait on another goroutine. Nothing waits for fake
// time to pass: the tests step the fake clock.
const waitFor = 10 * time.Second

const testAddr = "10.0.0.1:22"

// fakeConn is a stateful rds.Connection: Connect can fail a number of times
// or block until its context ends, Ping can fail or block, and the test
// signals losses through lost.
type fakeConn struct {
	lost chan error

	mu           sync.Mutex
	failConnects int  // the next failConnects Connects fail
	blockConnect bool // Connect waits for its context
	pingErr      error
	blockPing    bool // Ping waits for its context
	connects     int
	closes       int

	connectCalls chan struct{} // one value per Connect call
	pingCalls    chan struct{} // one value per Ping call
}

var errRefused = errors.New("dial tcp 10.0.0.1:22: connection refused")

func newFakeConn() *fakeConn {
	return &fakeConn{
		lost:         make(chan error, 1),
		connectCalls: make(chan struct{}, 100),
		pingCalls:    make(chan struct{}, 100),
	}
}

func (c *fakeConn) Connect(ctx context.Context) error {
	c.mu.Lock()
	c.connects++
	fail, block := c.failConnects > 0, c.blockConnect
	if fail {
		c.failConnects--
	}
	c.mu.Unlock()
	c.connectCalls <- struct{}{}
	switch {
	case block:
		<-ctx.Done()
		return ctx.Err()
	case fail:
		return errRefused
	}
	return nil
}

func (c *fakeConn) Ping(ctx context.Context) error {
	c.mu.Lock()
	err, block := c.pingErr, c.blockPing
	c.mu.Unlock()
	c.pingCalls <- struct{}{}
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (c *fakeConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closes++
	return nil
}

func (c *fakeConn) Lost() <-chan error { return c.lost }
func (c *fakeConn) Address() string    { return testAddr }

func (c *fakeConn) set(f func(c *fakeConn)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

func (c *fakeConn) counts() (connects, closes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connects, c.closes
}

// record is one event record, with the machine's published state at the
// moment it was recorded.
type record struct {
	eventType, reason, note string
	state                   State
}

// fakeRecorder keeps every record in order and hands them to the test.
type fakeRecorder struct {
	mu    sync.Mutex
	all   []record
	next  chan record
	state func() State // set once the machine exists
}

func newFakeRecorder() *fakeRecorder { return &fakeRecorder{next: make(chan record, 1000)} }

func (r *fakeRecorder) Event(eventType, reason, note string) {
	rec := record{eventType: eventType, reason: reason, note: note}
	r.mu.Lock()
	if r.state != nil {
		rec.state = r.state()
	}
	r.all = append(r.all, rec)
	r.mu.Unlock()
	r.next <- rec
}

func (r *fakeRecorder) records() []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]record(nil), r.all...)
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}
