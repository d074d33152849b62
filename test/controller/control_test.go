package controller

import (
	"net/http"
	"strings"
	"testing"

	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// control calls the emulator's HTTP control endpoint, the interface tests
// use when the emulator runs as a separate process, so it is exercised too.
func control(t *testing.T, env *simtest.Env, method, path, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, env.ControlURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
}
