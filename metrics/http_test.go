package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewFSM(reg).Reconnects.WithLabelValues(ReconnectSuccess).Inc()

	var liveErr error
	ready := false
	h := NewHandler(HTTPConfig{
		Gatherer: reg,
		Live:     func() error { return liveErr },
		Ready:    func() bool { return ready },
	})

	tests := []struct {
		name     string
		method   string
		path     string
		setup    func()
		wantCode int
		wantBody string
	}{
		{name: "metrics", path: "/metrics", wantCode: 200, wantBody: `rds_csi_rds_reconnect_total{rds="default",status="success"} 1`},
		{name: "live", path: "/healthz", setup: func() { liveErr = nil }, wantCode: 200, wantBody: "ok"},
		{name: "stalled loop", path: "/healthz", setup: func() { liveErr = errors.New("loop stalled 12s") },
			wantCode: 500, wantBody: "loop stalled 12s"},
		{name: "not ready", path: "/readyz", setup: func() { ready = false }, wantCode: 503, wantBody: "RDS not connected"},
		{name: "ready", path: "/readyz", setup: func() { ready = true }, wantCode: 200, wantBody: "ok"},
		{name: "unknown path", path: "/nope", wantCode: 404},
		{name: "wrong method", method: http.MethodPost, path: "/healthz", wantCode: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, tc.path, nil))
			if rec.Code != tc.wantCode {
				t.Errorf("%s %s = %d, want %d", method, tc.path, rec.Code, tc.wantCode)
			}
			if !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Errorf("body %q does not contain %q", rec.Body.String(), tc.wantBody)
			}
		})
	}
}

func TestHandlerDefaults(t *testing.T) {
	h := NewHandler(HTTPConfig{})
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("%s without checks = %d, want 200", path, rec.Code)
		}
	}
}

func TestServeShutsDownOnCancel(t *testing.T) {
	defer goleak.VerifyNone(t)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ServeListener(ctx, l, NewHandler(HTTPConfig{})) }()

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + l.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Errorf("GET /healthz = %d %q", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("ServeListener after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeListener did not return after cancel")
	}
}

func TestServeBadAddress(t *testing.T) {
	if err := Serve(context.Background(), "256.0.0.1:http", NewHandler(HTTPConfig{})); err == nil {
		t.Error("Serve on an invalid address succeeded")
	}
}
