package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// freePort returns a loopback address whose port was free a moment ago.
// Another program could take it before the child binds it; the child then
// fails to start and the demo says so.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// waitFor polls cond every 50 ms until it holds, the process dies, or
// startTimeout passes.
func waitFor(ctx context.Context, what string, p *process, cond func(context.Context) bool) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond(ctx) {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited while waiting for %s: %w", p.name, what, p.err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// httpOK reports whether GET url answers 200.
func httpOK(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
