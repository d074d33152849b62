package rds

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// This file holds what the connection FSM needs beyond Connect and Lost to
// judge the SSH transport's liveness: which connection is current, whether
// it is still up, and a cheap TCP probe.

// Current reports the generation the last successful Connect established
// and whether that connection is still up. Generations only grow in
// Connect, and the FSM never runs two Connects at once, so read right after
// its Connect returned nil, the generation is the one that Connect made;
// connectionLost and Close clear cur under the same lock, so "up" is false
// from the moment its loss is signalled.
func (t *sshTransport) Current() (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.generation, t.cur != nil && t.cur.generation == t.generation
}

// ProbeTCP connects to the RDS's SSH port and closes the connection at once,
// within ctx and DialTimeout. It says nothing about SSH: only that something
// listens. The FSM calls it a few times a second while the RDS refuses TCP,
// which costs a SYN and a RST each; once the port answers, it dials.
func (t *sshTransport) ProbeTCP(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", t.cfg.Address)
	if err != nil {
		return fmt.Errorf("%w: probe %s: %w", ErrUnavailable, t.cfg.Address, err)
	}
	_ = nc.Close()
	return nil
}

// classifyDial adds ErrUnreachable to a Connect error that happened while
// connecting TCP (net.Dialer reports those as an OpError "dial"), so that
// the FSM may probe for the port instead of waiting out its backoff step. A
// failed name lookup is left alone: the RDS may well be up, and probing
// would only repeat DNS queries.
func classifyDial(err error) error {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return err
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return err
	}
	return &unreachableError{err: err}
}

// Current: see sshTransport.Current.
func (c *SSHClient) Current() (uint64, bool) { return c.t.Current() }

// ProbeTCP: see sshTransport.ProbeTCP.
func (c *SSHClient) ProbeTCP(ctx context.Context) error { return c.t.ProbeTCP(ctx) }
