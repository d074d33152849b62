//go:build linux

package integration

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/fsm"
	"github.com/srvlab/rds-csi/test/procs"
)

// exitBound is "a few seconds": what the kubelet's grace period easily
// covers. rds-csi normally needs milliseconds; nothing it waits for on the
// way out (dials, pings, gRPC drain) may hold it longer than this.
const exitBound = 3 * time.Second

// TestGracefulStop: SIGTERM makes rds-csi exit 0 within a few seconds and
// remove its CSI socket, whatever the RDS connection is doing: connected,
// backing off from an unreachable RDS, or in the middle of a dial that an
// RDS frozen by SIGSTOP never answers (the dial must be cancelled, not
// waited out).
func TestGracefulStop(t *testing.T) {
	for _, tc := range []struct {
		name string
		// rds prepares the RDS side and returns its address and the pinned
		// host key; state is the FSM state to wait for before SIGTERM.
		rds   func(t *testing.T, dir string, keys procs.SSHKeys) (addr, hostKey string)
		state fsm.State
	}{
		{
			name: "connected",
			rds: func(t *testing.T, dir string, keys procs.SSHKeys) (string, string) {
				sim := newEmulator(dir, procs.FreeAddr(t), keys)
				sim.start(t)
				return sim.addr, sim.hostKeyFile(t)
			},
			state: fsm.StateConnected,
		},
		{
			name: "RDS unreachable, backing off",
			rds: func(t *testing.T, dir string, keys procs.SSHKeys) (string, string) {
				sim := newEmulator(dir, procs.FreeAddr(t), keys)
				sim.start(t) // only for a host key to pin
				hostKey := sim.hostKeyFile(t)
				sim.kill9(t)
				return sim.addr, hostKey
			},
			state: fsm.StateBackoff,
		},
		{
			name: "RDS frozen, dial in flight",
			rds: func(t *testing.T, dir string, keys procs.SSHKeys) (string, string) {
				sim := newEmulator(dir, procs.FreeAddr(t), keys)
				sim.start(t)
				sim.freeze(t) // TCP connects, the SSH handshake hangs
				return sim.addr, sim.hostKeyFile(t)
			},
			state: fsm.StateReconnecting,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := procs.ShortTempDir(t)
			keys := procs.NewSSHKeys(t, dir)
			addr, hostKey := tc.rds(t, dir, keys)
			drv := startDriver(t, dir, addr, keys, hostKey)
			inState := func() bool { return drv.metric(t, mFSMState, "state", string(tc.state)) == 1 }
			if took, ok := pollUntil(time.Now(), 5*time.Second, inState); !ok {
				t.Fatalf("FSM not in %s after %s", tc.state, took)
			}

			termed := time.Now()
			if err := syscall.Kill(drv.proc.Pid(), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			code, ok := drv.proc.WaitExit(exitBound)
			if !ok {
				t.Fatalf("rds-csi still running %s after SIGTERM in %s", exitBound, tc.state)
			}
			took := drv.proc.ExitedAt().Sub(termed)
			t.Logf("SIGTERM in %s → exit %d after %s (bound %s)", tc.state, code, took, exitBound)
			if code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			if drv.socketExists() {
				t.Errorf("CSI socket %s still exists after exit", drv.socket)
			}
			if c, err := net.DialTimeout("tcp", drv.metricsAddr, time.Second); err == nil {
				_ = c.Close()
				t.Errorf("metrics address %s still accepts connections after exit", drv.metricsAddr)
			}
		})
	}
}
