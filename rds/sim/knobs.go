package sim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// knobs are the partial faults that take a value instead of on/off: the
// session limit, the copy speed and the flap delay. They start from the
// Config and change at run time; atomics, because they are read on every
// channel open, copy and handshake and must never wait for a lock.
type knobs struct {
	maxSessions atomic.Int64
	copyRate    atomic.Int64 // bytes per second
	flapAfter   atomic.Int64 // nanoseconds
}

func (k *knobs) init(c Config) {
	k.maxSessions.Store(int64(c.MaxSessions))
	k.copyRate.Store(c.CopyRate)
	k.flapAfter.Store(int64(c.FlapAfter))
}

var errNegative = errors.New("must not be negative")

// SetMaxSessions limits the sessions open at once per SSH connection from
// the next channel open on; 0 removes the limit. Sessions already open stay.
func (s *Server) SetMaxSessions(n int) error {
	if n < 0 {
		return fmt.Errorf("max sessions %d: %w", n, errNegative)
	}
	s.knobs.maxSessions.Store(int64(n))
	s.log.Info("Session limit set", "maxSessions", n)
	return nil
}

// MaxSessions is the current per-connection session limit (0: unlimited).
func (s *Server) MaxSessions() int { return int(s.knobs.maxSessions.Load()) }

// SetCopyRate sets the copy speed in bytes per second for copies that start
// from now on; 0 makes copies instant.
func (s *Server) SetCopyRate(bytesPerSecond int64) error {
	if bytesPerSecond < 0 {
		return fmt.Errorf("copy rate %d: %w", bytesPerSecond, errNegative)
	}
	s.knobs.copyRate.Store(bytesPerSecond)
	s.log.Info("Copy rate set", "bytesPerSecond", bytesPerSecond)
	return nil
}

// CopyRate is the current copy speed in bytes per second (0: instant).
func (s *Server) CopyRate() int64 { return s.knobs.copyRate.Load() }

// SetFlapAfter makes the server close every connection d after its
// handshake; 0 turns flapping off. Connections already established keep
// the setting they started with.
func (s *Server) SetFlapAfter(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("flap-after %v: %w", d, errNegative)
	}
	s.knobs.flapAfter.Store(int64(d))
	s.log.Info("Flapping set", "flapAfter", d)
	return nil
}

// FlapAfter is the current flap delay (0: off).
func (s *Server) FlapAfter() time.Duration { return time.Duration(s.knobs.flapAfter.Load()) }

// The parse functions read control endpoint bodies. "off" is accepted by
// all three as the same as zero, so a test script can switch any fault off
// the same way.

func parseMaxSessions(body string) (int, error) {
	if body == "off" {
		return 0, nil
	}
	n, err := strconv.Atoi(body)
	switch {
	case err != nil:
		return 0, fmt.Errorf("max sessions %q: want a decimal integer", body)
	case n < 0:
		return 0, fmt.Errorf("max sessions %d: %w", n, errNegative)
	}
	return n, nil
}

// ParseCopyRate reads a copy speed in bytes per second: a size as ParseSize
// takes it ("100M"), or "off" for 0 (instant).
func ParseCopyRate(s string) (int64, error) {
	if s == "off" {
		return 0, nil
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("copy rate %q: %w", s, errNegative)
	}
	return ParseSize(s)
}

// ParseFlapAfter reads a flap delay: a Go duration ("200ms"), "0" or "off".
func ParseFlapAfter(s string) (time.Duration, error) {
	if s == "off" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("flap-after %q: want a Go duration such as 200ms, or off", s)
	case d < 0:
		return 0, fmt.Errorf("flap-after %v: %w", d, errNegative)
	}
	return d, nil
}
