package fsm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/srvlab/rds-csi/rds"
)

// waitFor bounds every wait on another goroutine. Nothing waits for fake
// time to pass: the tests step the fake clock.
const waitFor = 10 * time.Second

const testAddr = "10.0.0.1:22"

// fakeConn is a stateful rds.Connection: Connect can fail (scripted errors,
// or failConnects handshake failures) or block until its context ends, a
// successful Connect starts a new generation that stays up until the test
// drops it, Ping and ProbeTCP can fail or block, and the test signals losses
// through lost (drop tags them with the generation, as rds does).
type fakeConn struct {
	lost chan error

	mu           sync.Mutex
	connectErrs  []error // results of the next Connects, in order (nil: success)
	failConnects int     // then: the next failConnects Connects fail with errHandshake
	blockConnect bool    // Connect waits for its context
	// afterConnect runs once, in the dial goroutine, after the next
	// successful Connect and before it returns (a connection dying at once).
	afterConnect func(c *fakeConn, gen uint64)
	pingErr      error
	blockPing    bool    // Ping waits for its context
	probeErrs    []error // results of the next probes, in order
	probeErr     error   // then: the result of every probe
	blockProbe   bool    // ProbeTCP waits for its context
	connects     int
	closes       int
	probes       int
	gen          uint64 // of the last successful Connect
	up           bool   // that connection is up

	connectCalls chan struct{} // one value per Connect call
	pingCalls    chan struct{} // one value per Ping call
	probeCalls   chan struct{} // one value per ProbeTCP call
}

var (
	// errHandshake fails after TCP connected: the backoff step is waited out.
	errHandshake = fmt.Errorf("%w: ssh handshake with 10.0.0.1:22: ssh: handshake failed: EOF", rds.ErrUnavailable)
	// errRefused fails before TCP connected: probing may cut the step short.
	errRefused = fmt.Errorf("%w: %w: dial 10.0.0.1:22: dial tcp 10.0.0.1:22: connect: connection refused",
		rds.ErrUnavailable, rds.ErrUnreachable)
	errProbeRefused = errors.New("dial tcp 10.0.0.1:22: connect: connection refused")
)

func newFakeConn() *fakeConn {
	return &fakeConn{
		lost:         make(chan error, 1),
		probeErr:     errProbeRefused,
		connectCalls: make(chan struct{}, 100),
		pingCalls:    make(chan struct{}, 100),
		probeCalls:   make(chan struct{}, 100),
	}
}

func (c *fakeConn) Connect(ctx context.Context) error {
	c.mu.Lock()
	c.connects++
	block := c.blockConnect
	var err error
	switch {
	case len(c.connectErrs) > 0:
		err, c.connectErrs = c.connectErrs[0], c.connectErrs[1:]
	case c.failConnects > 0:
		c.failConnects--
		err = errHandshake
	}
	var after func(*fakeConn, uint64)
	if err == nil && !block {
		c.gen++
		c.up = true
		after, c.afterConnect = c.afterConnect, nil
	}
	gen := c.gen
	c.mu.Unlock()
	c.connectCalls <- struct{}{}
	switch {
	case block:
		<-ctx.Done()
		return ctx.Err()
	case err != nil:
		return err
	}
	if after != nil {
		after(c, gen)
	}
	return nil
}

// drop ends the current connection as the transport does: it is no longer
// up, and its loss, tagged with its generation, goes to lost.
func (c *fakeConn) drop(cause error) {
	c.mu.Lock()
	c.up = false
	gen := c.gen
	c.mu.Unlock()
	c.lost <- &rds.LostError{Generation: gen, Err: cause}
}

// markDown ends the current connection without delivering its loss yet.
func (c *fakeConn) markDown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up = false
}

func (c *fakeConn) Current() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.up
}

func (c *fakeConn) ProbeTCP(ctx context.Context) error {
	c.mu.Lock()
	c.probes++
	err, block := c.probeErr, c.blockProbe
	if len(c.probeErrs) > 0 {
		err, c.probeErrs = c.probeErrs[0], c.probeErrs[1:]
	}
	c.mu.Unlock()
	c.probeCalls <- struct{}{}
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
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
	c.up = false
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

func (c *fakeConn) probeCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.probes
}

// drained waits (bounded) until the loop has read every pending loss; for
// hooks that run off the test goroutine and so cannot fail the test.
func (c *fakeConn) drained() {
	deadline := time.Now().Add(waitFor)
	for len(c.lost) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
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

// logSink keeps every log line (all verbosities) so tests can wait for a
// V(4) message and assert that no error was logged.
type logSink struct {
	mu     sync.Mutex
	infos  []string
	errors []string
}

func (s *logSink) Init(logr.RuntimeInfo)          {}
func (s *logSink) Enabled(int) bool               { return true }
func (s *logSink) WithValues(...any) logr.LogSink { return s }
func (s *logSink) WithName(string) logr.LogSink   { return s }

func (s *logSink) Info(_ int, msg string, _ ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.infos = append(s.infos, msg)
}

func (s *logSink) Error(err error, msg string, _ ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors = append(s.errors, fmt.Sprintf("%s: %v", msg, err))
}

// logged reports how many info lines contain substr.
func (s *logSink) logged(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.infos {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

func (s *logSink) errorLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errors...)
}
