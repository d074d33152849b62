//go:build linux

package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// controlClient is short: the control endpoint is on loopback.
var controlClient = &http.Client{Timeout: 2 * time.Second}

// put sends PUT path with body to the emulator's control endpoint.
func (e *emulator) put(tb testing.TB, path, body string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://"+e.control+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := controlClient.Do(req)
	if err != nil {
		tb.Fatalf("PUT %s %q: %v", path, body, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		tb.Fatalf("PUT %s %q: %s: %s", path, body, resp.Status, msg)
	}
}

// simConnection is one entry of the emulator's GET /connections: times are
// zero when the event has not happened (yet).
type simConnection struct {
	Remote      string
	AcceptedAt  time.Time
	HandshakeAt time.Time
	ClosedAt    time.Time
}

// connections reads GET /connections: every TCP connection the emulator
// accepted, in accept order.
func (e *emulator) connections(tb testing.TB) []simConnection {
	tb.Helper()
	resp, err := controlClient.Get("http://" + e.control + "/connections")
	if err != nil {
		tb.Fatalf("GET /connections: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET /connections: %s", resp.Status)
	}
	var raw []struct {
		Remote      string `json:"remote"`
		AcceptedAt  string `json:"acceptedAt"`
		HandshakeAt string `json:"handshakeAt"`
		ClosedAt    string `json:"closedAt"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		tb.Fatalf("GET /connections: %v", err)
	}
	out := make([]simConnection, len(raw))
	for i, r := range raw {
		var err error
		out[i].Remote = r.Remote
		for _, f := range []struct {
			in  string
			out *time.Time
		}{{r.AcceptedAt, &out[i].AcceptedAt}, {r.HandshakeAt, &out[i].HandshakeAt}, {r.ClosedAt, &out[i].ClosedAt}} {
			if f.in == "" {
				continue
			}
			if *f.out, err = time.Parse(time.RFC3339Nano, f.in); err != nil {
				tb.Fatalf("GET /connections: entry %d: %v", i, fmt.Errorf("time %q: %w", f.in, err))
			}
		}
	}
	return out
}
