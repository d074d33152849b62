package inproc

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// pollInterval is how often the wait helpers look; short, because tests
// measure outage handling in the 100 ms range.
const pollInterval = 10 * time.Millisecond

// WaitReady waits until the CSI Probe reports ready == want: the driver's
// view of the RDS connection (the connection FSM in Connected or not).
func (d *Driver) WaitReady(t testing.TB, want bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := d.Identity.Probe(ctx, &csi.ProbeRequest{})
		cancel()
		if err == nil && resp.GetReady().GetValue() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe did not report ready=%v within %s (last: %v, %v)", want, timeout, resp, err)
		}
		time.Sleep(pollInterval)
	}
}

func waitForSocket(t testing.TB, socket string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if fi, err := os.Stat(socket); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("driver exited before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket %s not created within 30s", socket)
		}
		time.Sleep(pollInterval)
	}
}
