package sim_test

import (
	"testing"

	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// TestControlValuedFaults drives the valued faults through the control
// endpoint: bad bodies are refused with 400 and change nothing.
func TestControlValuedFaults(t *testing.T) {
	e := simtest.Start(t)
	for _, tc := range []struct {
		path, body string
		want       int
	}{
		{"/faults/max-sessions", "-1", 400},
		{"/faults/max-sessions", "many", 400},
		{"/faults/max-sessions", "2\n", 204},
		{"/faults/copy-rate", "-1M", 400},
		{"/faults/copy-rate", "1.5G", 400},
		{"/faults/copy-rate", "100M", 204},
		{"/faults/flap", "-1s", 400},
		{"/faults/flap", "soon", 400},
		{"/faults/flap", "250ms", 204},
		{"/faults/drop-answer", "disk remove", 400},
		{"/faults/drop-answer", "/disk remove", 204},
	} {
		t.Run(tc.path+" "+tc.body, func(t *testing.T) {
			if code, body := control(t, e, "PUT", tc.path, tc.body); code != tc.want {
				t.Errorf("PUT %s %q: %d %q, want %d", tc.path, tc.body, code, body, tc.want)
			}
		})
	}
	want := `{"copy-rate":104857600,"disk-full":false,"drop-answer":"/disk remove","flap":"250ms","hang":false,"max-sessions":2,"refuse":false}` + "\n"
	if code, body := control(t, e, "GET", "/faults", ""); code != 200 || body != want {
		t.Errorf("GET /faults: %d %q, want %q", code, body, want)
	}
	if e.Server.MaxSessions() != 2 || e.Server.CopyRate() != 100<<20 || e.Server.FlapAfter().String() != "250ms" {
		t.Errorf("getters: %d %d %v", e.Server.MaxSessions(), e.Server.CopyRate(), e.Server.FlapAfter())
	}
	for _, p := range []string{"/faults/max-sessions", "/faults/copy-rate", "/faults/flap", "/faults/drop-answer"} {
		if code, _ := control(t, e, "PUT", p, "off"); code != 204 {
			t.Errorf("PUT %s off: %d", p, code)
		}
	}
	want = `{"copy-rate":0,"disk-full":false,"drop-answer":"","flap":"0s","hang":false,"max-sessions":0,"refuse":false}` + "\n"
	if _, body := control(t, e, "GET", "/faults", ""); body != want {
		t.Errorf("GET /faults after off: %q, want %q", body, want)
	}
	// The server's setters refuse negatives as well.
	if e.Server.SetMaxSessions(-1) == nil || e.Server.SetCopyRate(-1) == nil || e.Server.SetFlapAfter(-1) == nil {
		t.Error("a negative value was accepted")
	}
}
