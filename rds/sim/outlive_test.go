package sim_test

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/srvlab/rds-csi/rds/sim"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// TestCommandsOutliveTheirCaller: as on RouterOS, a command whose session or
// connection goes away while it runs still completes, and its effects apply.
func TestCommandsOutliveTheirCaller(t *testing.T) {
	type cutFunc func(t *testing.T, e *simtest.Env, c *ssh.Client, s *ssh.Session)
	// Each cut returns once the server has seen it, so that releasing the
	// hang fault afterwards cannot overtake the cut.
	closeSession := func(t *testing.T, _ *simtest.Env, c *ssh.Client, s *ssh.Session) {
		_ = s.Close()
		// The server handles a connection's messages in order: once it has
		// confirmed a later channel open, it has processed the close.
		probe, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		_ = probe.Close()
	}
	serverSawClose := func(t *testing.T, e *simtest.Env) {
		waitFor(t, "the server to see the connection closed", func() bool {
			conns := e.Server.Connections()
			return !conns[len(conns)-1].ClosedAt.IsZero()
		})
	}
	closeConn := func(t *testing.T, e *simtest.Env, c *ssh.Client, _ *ssh.Session) {
		_ = c.Close()
		serverSawClose(t, e)
	}
	drop := func(t *testing.T, e *simtest.Env, _ *ssh.Client, _ *ssh.Session) {
		if code, _ := control(t, e, "POST", "/drop", ""); code != 204 {
			t.Fatalf("drop: %d", code)
		}
		serverSawClose(t, e)
	}
	flapped := func(t *testing.T, e *simtest.Env, c *ssh.Client, _ *ssh.Session) {
		gone := make(chan struct{})
		go func() { _ = c.Wait(); close(gone) }()
		select {
		case <-gone:
		case <-time.After(10 * time.Second):
			t.Fatal("the flap did not close the connection")
		}
		serverSawClose(t, e)
		if err := e.Server.SetFlapAfter(0); err != nil {
			t.Fatal(err)
		}
	}
	const copyRate = 64 << 20 // 2 s for the 128 MiB source
	copyAdd := copyCmd("pvc-new", "/storage-pool/new.img")
	plainAdd := addCmd("pvc-new", "/storage-pool/new.img", "1G")
	for _, tc := range []struct {
		name string
		opts []simtest.Option
		cmd  string
		hang bool
		flap time.Duration // set after the setup, before the dial
		cut  cutFunc
		// check: no disk yet right after the cut (a print would be held by hang)
		check bool
		slow  bool
	}{
		{name: "copy, session closed", opts: []simtest.Option{simtest.WithCopyRate(copyRate)}, cmd: copyAdd, cut: closeSession, check: true},
		{name: "copy, connection closed", opts: []simtest.Option{simtest.WithCopyRate(copyRate)}, cmd: copyAdd, cut: closeConn, check: true},
		{name: "copy, server drop", opts: []simtest.Option{simtest.WithCopyRate(copyRate)}, cmd: copyAdd, cut: drop, check: true},
		{name: "copy, flap", opts: []simtest.Option{simtest.WithCopyRate(copyRate)}, cmd: copyAdd, flap: 300 * time.Millisecond, cut: flapped},
		{name: "hang, connection closed", cmd: plainAdd, hang: true, cut: closeConn},
		{name: "hang, session closed", cmd: copyAdd, hang: true, cut: closeSession},
		{name: "latency, connection closed", opts: []simtest.Option{simtest.WithLatency(sim.LatencyRealistic)}, cmd: plainAdd, cut: closeConn, slow: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.slow && testing.Short() {
				t.Skip("sleeps")
			}
			e := simtest.Start(t, tc.opts...)
			mustRun(t, e, addCmd("pvc-src", "/storage-pool/src.img", "128M"), "")
			if tc.flap > 0 {
				if err := e.Server.SetFlapAfter(tc.flap); err != nil {
					t.Fatal(err)
				}
			}
			e.Server.SetFault(sim.FaultHang, tc.hang)
			c := e.Dial(t)
			s, err := c.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Start(tc.cmd); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the command to arrive", func() bool { return received(e, "slot=pvc-new") })
			tc.cut(t, e, c, s)
			if tc.check {
				mustRun(t, e, "/disk print detail where slot=pvc-new", legend)
			}
			e.Server.SetFault(sim.FaultHang, false)
			waitFor(t, "the cut command's disk", func() bool {
				out, _ := e.Run(t, "/disk print detail where slot=pvc-new")
				return strings.Contains(out, `slot="pvc-new"`)
			})
			if err := s.Wait(); err == nil {
				t.Error("the cut session reported success")
			}
		})
	}
}
