package sim_test

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// closedWithin waits for the server to close c and returns how long that
// took from the call, failing the test after limit.
func closedWithin(t *testing.T, c *ssh.Client, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	gone := make(chan struct{})
	go func() { _ = c.Wait(); close(gone) }()
	select {
	case <-gone:
		return time.Since(start)
	case <-time.After(limit):
		t.Fatalf("connection still open after %v", limit)
		return 0
	}
}

func TestFlap(t *testing.T) {
	const flap = 400 * time.Millisecond
	for _, tc := range []struct {
		name    string
		opts    []simtest.Option
		body    string // PUT /faults/flap before dialing, unless empty
		wantGET string
	}{
		{name: "from config", opts: []simtest.Option{simtest.WithFlapAfter(flap)}, wantGET: `"flap":"400ms"`},
		{name: "from control", body: "400ms", wantGET: `"flap":"400ms"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := simtest.Start(t, tc.opts...)
			if tc.body != "" {
				if code, body := control(t, e, "PUT", "/faults/flap", tc.body); code != 204 {
					t.Fatalf("PUT flap: %d %q", code, body)
				}
			}
			if _, body := control(t, e, "GET", "/faults", ""); !strings.Contains(body, tc.wantGET) {
				t.Errorf("GET /faults %q lacks %s", body, tc.wantGET)
			}
			for i := range 2 { // every new connection flaps, not just the first
				c := e.Dial(t)
				// Handshake and commands work normally until the flap.
				if out, _, err := simtest.Exec(c, "/system identity print"); err != nil || out != "  name: rds-sim\r\n" {
					t.Fatalf("connection %d before the flap: %q, %v", i+1, out, err)
				}
				closedWithin(t, c, 10*time.Second)
				if _, _, err := simtest.Exec(c, "/system identity print"); err == nil {
					t.Fatalf("connection %d still serves after the flap", i+1)
				}
			}
			// The server measures the flap from the handshake.
			var conns []connection
			waitFor(t, "both connections closed in the log", func() bool {
				conns = connections(t, e)
				return len(conns) == 2 && conns[0].ClosedAt != "" && conns[1].ClosedAt != ""
			})
			for i, c := range conns {
				up := parseStamp(t, c.ClosedAt).Sub(parseStamp(t, c.HandshakeAt))
				if up < flap || up > flap+3*time.Second {
					t.Errorf("connection %d was up %v after its handshake, want about %v", i+1, up, flap)
				}
			}
			// Off: a new connection stays.
			if code, _ := control(t, e, "PUT", "/faults/flap", "off"); code != 204 {
				t.Fatalf("PUT flap off: %d", code)
			}
			c := e.Dial(t)
			time.Sleep(2 * flap)
			if out, _, err := simtest.Exec(c, "/system identity print"); err != nil || out != "  name: rds-sim\r\n" {
				t.Fatalf("with flapping off, a connection dropped: %q, %v", out, err)
			}
		})
	}
}
