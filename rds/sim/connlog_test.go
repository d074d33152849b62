package sim_test

import (
	"encoding/json"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/srvlab/rds-csi/rds/sim"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// connection is one entry of GET /connections.
type connection struct {
	Remote      string `json:"remote"`
	AcceptedAt  string `json:"acceptedAt"`
	HandshakeAt string `json:"handshakeAt"`
	ClosedAt    string `json:"closedAt"`
}

func connections(t *testing.T, e *simtest.Env) []connection {
	t.Helper()
	code, body := control(t, e, "GET", "/connections", "")
	var list []connection
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil {
		t.Fatalf("GET /connections: %d %q: %v", code, body, err)
	}
	return list
}

func parseStamp(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("timestamp %q: %v", s, err)
	}
	return ts
}

type stats struct {
	Commands            int64 `json:"commands"`
	ConnectionsAccepted int64 `json:"connectionsAccepted"`
	Handshakes          int64 `json:"handshakes"`
	SessionsRefused     int64 `json:"sessionsRefused"`
}

func TestConnectionLogAndCounters(t *testing.T) {
	e := simtest.Start(t)
	if code, body := control(t, e, "GET", "/connections", ""); code != 200 || body != "[]\n" {
		t.Fatalf("no connections yet: %d %q", code, body)
	}
	stranger, _, err := simtest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	// Each step makes one connection; handshake is whether the log shows one.
	for _, step := range []struct {
		name      string
		dial      func(t *testing.T)
		handshake bool
	}{
		{name: "refused", dial: func(t *testing.T) {
			e.Server.SetFault(sim.FaultRefuse, true)
			defer e.Server.SetFault(sim.FaultRefuse, false)
			nc, err := net.Dial("tcp", e.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_, _ = nc.Read(make([]byte, 1)) // EOF once the server closed it
		}},
		{name: "served", handshake: true, dial: func(t *testing.T) {
			mustRun(t, e, "/system identity print", "  name: rds-sim\r\n")
		}},
		{name: "bad key", dial: func(t *testing.T) {
			cfg := e.ClientConfig()
			cfg.Auth = []ssh.AuthMethod{ssh.PublicKeys(stranger)}
			if c, err := ssh.Dial("tcp", e.Addr, cfg); err == nil {
				c.Close()
				t.Fatal("a stranger's key was accepted")
			}
		}},
	} {
		t.Run(step.name, func(t *testing.T) {
			n := len(connections(t, e))
			step.dial(t)
			var list []connection
			waitFor(t, "the connection closed in the log", func() bool {
				list = connections(t, e)
				return len(list) == n+1 && list[n].ClosedAt != ""
			})
			c := list[n]
			accepted, closed := parseStamp(t, c.AcceptedAt), parseStamp(t, c.ClosedAt)
			if step.handshake != (c.HandshakeAt != "") {
				t.Errorf("handshakeAt %q, want one: %v", c.HandshakeAt, step.handshake)
			}
			if c.HandshakeAt != "" {
				if hs := parseStamp(t, c.HandshakeAt); hs.Before(accepted) || hs.After(closed) {
					t.Errorf("times out of order: %+v", c)
				}
			}
			if closed.Before(accepted) || c.Remote == "" {
				t.Errorf("entry %+v", c)
			}
			if n > 0 && accepted.Before(parseStamp(t, list[n-1].AcceptedAt)) {
				t.Errorf("log not in accept order: %+v", list)
			}
		})
	}
	want := stats{Commands: 1, ConnectionsAccepted: 3, Handshakes: 1, SessionsRefused: 0}
	_, body := control(t, e, "GET", "/stats", "")
	var got stats
	if err := json.Unmarshal([]byte(body), &got); err != nil || got != want {
		t.Errorf("GET /stats %q (%v), want %+v", body, err, want)
	}
	st := e.Server.Stats()
	if st.ConnectionsAccepted != 3 || st.Handshakes != 1 || st.SessionsRefused != 0 {
		t.Errorf("Stats() = %+v", st)
	}
	if got := e.Server.Connections(); len(got) != 3 || got[1].HandshakeAt.IsZero() || !got[0].HandshakeAt.IsZero() {
		t.Errorf("Connections() = %+v", got)
	}
}
