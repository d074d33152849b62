package sim_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/srvlab/rds-csi/rds/sim"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// refused reports whether err is the session limit's refusal, failing the
// test on any other error.
func refused(t *testing.T, err error) bool {
	t.Helper()
	if err == nil {
		return false
	}
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.ResourceShortage || oce.Message != "too many sessions" {
		t.Fatalf("session open failed with %v; want ResourceShortage \"too many sessions\"", err)
	}
	return true
}

func TestSessionLimit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		max        int
		viaControl bool
	}{
		{"one from config", 1, false},
		{"three from control", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []simtest.Option
			if !tc.viaControl {
				opts = append(opts, simtest.WithMaxSessions(tc.max))
			}
			e := simtest.Start(t, opts...)
			if tc.viaControl {
				if code, body := control(t, e, "PUT", "/faults/max-sessions", fmt.Sprint(tc.max)); code != 204 {
					t.Fatalf("PUT max-sessions: %d %q", code, body)
				}
			}
			nRefused := 0
			c := e.Dial(t)
			// Idle sessions count from their accept.
			open := make([]*ssh.Session, tc.max)
			for i := range open {
				s, err := c.NewSession()
				if err != nil {
					t.Fatalf("session %d of %d: %v", i+1, tc.max, err)
				}
				open[i] = s
			}
			if s, err := c.NewSession(); !refused(t, err) {
				s.Close()
				t.Fatalf("session %d was accepted", tc.max+1)
			}
			nRefused++
			// The limit is per connection.
			if out, exit := e.Run(t, "/system identity print"); exit != 0 || out != "  name: rds-sim\r\n" {
				t.Errorf("another connection: %q %d", out, exit)
			}
			// Closing a session frees its place once the server has seen the close.
			_ = open[0].Close()
			waitFor(t, "a closed session's place", func() bool {
				s, err := c.NewSession()
				if refused(t, err) {
					nRefused++
					return false
				}
				open[0] = s
				return true
			})
			for _, s := range open {
				_ = s.Close()
			}
			// A session whose command ended is released before its close is
			// sent: back-to-back commands on one connection never see a
			// refusal, even at the limit.
			c2 := e.Dial(t)
			for i := range 20 {
				if out, _, err := simtest.Exec(c2, "/system identity print"); err != nil || out != "  name: rds-sim\r\n" {
					t.Fatalf("command %d back to back: %q, %v", i+1, out, err)
				}
			}
			if st := e.Server.Stats(); st.SessionsRefused != int64(nRefused) {
				t.Errorf("Stats().SessionsRefused = %d, want %d", st.SessionsRefused, nRefused)
			}
			code, body := control(t, e, "GET", "/stats", "")
			if want := fmt.Sprintf(`"sessionsRefused":%d}`, nRefused); code != 200 || !strings.Contains(body, want) {
				t.Errorf("stats %d %q lacks %s", code, body, want)
			}
			// 0 lifts the limit for the next opens.
			if code, _ := control(t, e, "PUT", "/faults/max-sessions", "0"); code != 204 {
				t.Fatalf("PUT max-sessions 0: %d", code)
			}
			for i := range tc.max + 5 {
				s, err := c.NewSession()
				if err != nil {
					t.Fatalf("unlimited, session %d: %v", i+1, err)
				}
				defer s.Close()
			}
		})
	}
}

// TestSessionLimitCountsCommandsAfterClientLeft: a command that keeps
// running after its client closed the session still occupies its place.
func TestSessionLimitCountsCommandsAfterClientLeft(t *testing.T) {
	e := simtest.Start(t, simtest.WithMaxSessions(1))
	c := e.Dial(t)
	e.Server.SetFault(sim.FaultHang, true)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(addCmd("pvc-held", "/storage-pool/held.img", "1G")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the add to arrive", func() bool { return received(e, "pvc-held") })
	_ = s.Close()
	for range 5 {
		if s, err := c.NewSession(); !refused(t, err) {
			s.Close()
			t.Fatal("a session was accepted while a held command occupies the only place")
		}
	}
	e.Server.SetFault(sim.FaultHang, false)
	waitFor(t, "the finished command's place", func() bool {
		s, err := c.NewSession()
		if refused(t, err) {
			return false
		}
		s.Close()
		return true
	})
	if out, _ := e.Run(t, "/disk print detail where slot=pvc-held"); !strings.Contains(out, `slot="pvc-held"`) {
		t.Errorf("the held add did not run:\n%s", out)
	}
}
