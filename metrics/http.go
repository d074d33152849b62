package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/klog/v2"
)

// shutdownTimeout bounds how long Serve waits for in-flight scrapes.
const shutdownTimeout = 5 * time.Second

// HTTPConfig is what the --metrics-address server exposes.
type HTTPConfig struct {
	// Gatherer serves /metrics (usually the registry from NewRegistry).
	Gatherer prometheus.Gatherer
	// Live backs /healthz: nil error means the process works (the FSM loop
	// still ticks). Liveness is about the process only: an RDS outage must
	// never fail it, or the kubelet restarts the controller into a loop and
	// throws away its backoff state. Nil means always live.
	Live func() error
	// Ready backs /readyz: true while the RDS is reachable (mirrors the CSI
	// Probe; with several RDS units, while at least one is connected). Nil
	// means always ready.
	Ready func() bool
	// Units backs /readyz?verbose: one line per RDS unit. Nil: no lines.
	Units func() []UnitReadiness
}

// UnitReadiness is one RDS unit's line in /readyz?verbose.
type UnitReadiness struct {
	Name, Address, State string
	Connected            bool
}

// NewHandler returns the mux with /metrics, /healthz and /readyz.
func NewHandler(cfg HTTPConfig) http.Handler {
	mux := http.NewServeMux()
	gatherer := cfg.Gatherer
	if gatherer == nil {
		gatherer = prometheus.NewRegistry()
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		// A collector failing must not hide every other metric.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if cfg.Live != nil {
			if err := cfg.Live(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		writeOK(w)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ready := cfg.Ready == nil || cfg.Ready()
		if _, verbose := r.URL.Query()["verbose"]; verbose && cfg.Units != nil {
			writeUnits(w, ready, cfg.Units())
			return
		}
		if !ready {
			http.Error(w, "RDS not connected", http.StatusServiceUnavailable)
			return
		}
		writeOK(w)
	})
	return mux
}

// writeUnits answers /readyz?verbose: "[+]" for a connected unit, "[-]"
// for one that is not, the way the Kubernetes API server lists its checks.
func writeUnits(w http.ResponseWriter, ready bool, units []UnitReadiness) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	for _, u := range units {
		mark := "-"
		if u.Connected {
			mark = "+"
		}
		_, _ = fmt.Fprintf(w, "[%s]rds %s (%s): %s\n", mark, u.Name, u.Address, u.State)
	}
	verdict := "readyz check passed"
	if !ready {
		verdict = "readyz check failed: no RDS unit connected"
	}
	_, _ = fmt.Fprintln(w, verdict)
}

func writeOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// Serve listens on addr and serves h until ctx is done, then shuts down
// gracefully. It returns nil after a clean shutdown.
func Serve(ctx context.Context, addr string, h http.Handler) error {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return ServeListener(ctx, l, h)
}

// ServeListener is Serve on an existing listener (tests listen on port 0).
func ServeListener(ctx context.Context, l net.Listener, h http.Handler) error {
	logger := klog.FromContext(ctx)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// Keep the logger in request contexts, but let Shutdown, not ctx,
		// end requests in flight.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	logger.Info("Serving metrics and health endpoints", "address", l.Addr().String())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// The parent context is done; give scrapes in flight their own deadline.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}
