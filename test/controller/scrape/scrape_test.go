package scrape

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

const page = `# TYPE rds_csi_rds_connection_fsm_state gauge
rds_csi_rds_connection_fsm_state{state="Backoff"} 0
rds_csi_rds_connection_fsm_state{state="Connected"} 1
# TYPE rds_csi_fsm_transitions_total counter
rds_csi_fsm_transitions_total{event="attempt",from="Backoff",to="Reconnecting"} 3
# TYPE rds_csi_rds_reconnect_duration_seconds histogram
rds_csi_rds_reconnect_duration_seconds_bucket{le="1"} 1
rds_csi_rds_reconnect_duration_seconds_bucket{le="+Inf"} 2
rds_csi_rds_reconnect_duration_seconds_sum 4.5
rds_csi_rds_reconnect_duration_seconds_count 2
`

func TestGetAndLookups(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/plain" {
			http.Error(w, "want text", http.StatusNotAcceptable)
			return
		}
		_, _ = fmt.Fprint(w, page)
	}))
	defer srv.Close()
	f, err := Get(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := f.Value("rds_csi_rds_connection_fsm_state", map[string]string{"state": "Connected"}); !ok || v != 1 {
		t.Errorf("Connected gauge: %v %v", v, ok)
	}
	if _, ok := f.Value("rds_csi_rds_connection_fsm_state", map[string]string{"state": "Nope"}); ok {
		t.Error("a label value that is not there matched")
	}
	if v, _ := f.Value("rds_csi_fsm_transitions_total", map[string]string{"from": "Backoff"}); v != 3 {
		t.Errorf("counter by a subset of labels: %v", v)
	}
	if n, sum, ok := f.Histogram("rds_csi_rds_reconnect_duration_seconds", nil); !ok || n != 2 || sum != 4.5 {
		t.Errorf("histogram: %d %v %v", n, sum, ok)
	}
	if s := f.Series("rds_csi_rds_connection_fsm_state"); len(s) != 2 {
		t.Errorf("series: %v", s)
	}
	if _, err := Get(context.Background(), srv.URL+"/missing\x7f"); err == nil {
		t.Error("a bad URL gave no error")
	}
}
