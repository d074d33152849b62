package attachment

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/metrics"
)

// setFlap turns the emulator's flapping on (a duration like "200ms") or off.
func (e *emulator) setFlap(t testing.TB, value string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, e.controlURL+"/faults/flap", strings.NewReader(value))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT /faults/flap: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT /faults/flap %s: %s", value, resp.Status)
	}
}

// Issue 10, acceptance point 3 (the attachment half): an RDS that accepts
// and drops every connection 200 ms after the handshake gets few
// Reconnected (the backoff is not reset by a handshake), and each
// Reconnected starts at most one attachment pass over the attached
// volumes. Completed volume reconciles (result success: they need the RDS)
// are counted by the driver's own metric: with V attached volumes and R
// Reconnected, a pass per Reconnected is V·R of them; the bound doubles it
// for the retries of a pass cut short by the drop that follows it, which
// may complete in the next window.
func TestFlappingRDSAttachmentPasses(t *testing.T) {
	const (
		flapFor = 35 * time.Second
		volumes = 3
	)
	env := setup(t)
	pod := env.cluster.controllerPod(t, "rds-csi-controller-0")
	d := env.startDriver(t, driverOpts{name: "rds-csi", pod: pod})
	d.waitSocket(t)
	d.waitReady(t)
	env.cluster.readyNode(t, "worker-1")
	for range volumes {
		pv := pvName()
		env.cluster.attach(t, pv, d.createVolume(t, pv), "worker-1")
	}
	waitFor(t, "every volume reconciled", coarsePoll, 20*time.Second, func() bool { return d.reconciles() >= volumes })

	success := map[string]string{"status": metrics.ReconnectSuccess}
	reconnectsBefore := max(d.metric("rds_csi_rds_reconnect_total", success), 0)
	ok := map[string]string{"result": metrics.ReconcileSuccess}
	reconcilesBefore := max(d.metric("rds_csi_attachment_reconcile_total", ok), 0)
	env.emu.setFlap(t, "200ms")
	env.emu.drop(t) // the stable connection goes; every later one flaps
	time.Sleep(flapFor)
	reconnects := d.metric("rds_csi_rds_reconnect_total", success) - reconnectsBefore
	reconciles := d.metric("rds_csi_attachment_reconcile_total", ok) - reconcilesBefore
	env.emu.setFlap(t, "off")
	t.Logf("%s of flapping: %v Reconnected, %v completed volume reconciles (%d attached volumes)", flapFor, reconnects, reconciles, volumes)

	// 1 (immediate redial of the stable connection) + dials after 1, 2, 4,
	// 8, 16 s: at most 6 handshakes in 35 s, each a Reconnected at most.
	if reconnects > 7 {
		t.Errorf("%v Reconnected in %s: the backoff does not hold against a flapping RDS", reconnects, flapFor)
	}
	if reconnects < 2 {
		t.Errorf("only %v Reconnected: the emulator did not flap", reconnects)
	}
	// At most one pass (V reconciles) per Reconnected, plus one requeue of
	// each volume per pass cut short by the drop that follows it.
	if limit := 2 * volumes * reconnects; reconciles > limit {
		t.Errorf("%v volume reconciles for %v Reconnected of %d volumes: more than one pass per Reconnected (limit %v)", reconciles, reconnects, volumes, limit)
	}
	d.waitReady(t)
}
