package sim

import (
	"errors"
	"strings"
	"sync"
)

// The drop-answer fault models the worst moment of a network failure for an
// idempotency check: the RDS has applied a command, and the connection breaks
// before its answer reaches the client. It is one-shot and precise: armed with
// a command prefix (e.g. "/disk remove"), the next command whose line starts
// with it runs to completion (its effects persist), and then every SSH
// connection is cut instead of answering (as Drop does). The client sees a
// transport failure for a command that succeeded; its retry must cope.

// dropAnswer holds the armed prefix ("" when disarmed).
type dropAnswer struct {
	mu     sync.Mutex
	prefix string
}

// arm sets the prefix; "" disarms.
func (d *dropAnswer) arm(prefix string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.prefix = prefix
}

// take reports whether line is the command to drop the answer of, and
// disarms the fault if so (one-shot).
func (d *dropAnswer) take(line string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prefix == "" || !strings.HasPrefix(line, d.prefix) {
		return false
	}
	d.prefix = ""
	return true
}

func (d *dropAnswer) armed() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.prefix
}

var errDropPrefix = errors.New(`drop-answer: want a command prefix starting with "/", or "off"`)

// ParseDropAnswer reads the control endpoint's body: a command prefix such
// as "/disk remove", or "off" (disarm).
func ParseDropAnswer(body string) (string, error) {
	if body == "off" {
		return "", nil
	}
	if !strings.HasPrefix(body, "/") || !printable(body) {
		return "", errDropPrefix
	}
	return body, nil
}

// DropAnswerOnce arms the drop-answer fault: the next command starting with
// prefix is executed, then every connection is cut before its answer is
// sent. An empty prefix disarms it.
func (s *Server) DropAnswerOnce(prefix string) error {
	if prefix != "" {
		if _, err := ParseDropAnswer(prefix); err != nil {
			return err
		}
	}
	s.drop.arm(prefix)
	s.log.Info("Drop-answer fault set", "prefix", prefix)
	return nil
}

// DropAnswerArmed is the armed prefix, "" when the fault is off.
func (s *Server) DropAnswerArmed() string { return s.drop.armed() }
