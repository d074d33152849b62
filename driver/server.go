package driver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/metrics"
)

// DefaultStopTimeout bounds the graceful stop: in-flight RPCs get this long
// to finish before the server cuts them off.
const DefaultStopTimeout = 10 * time.Second

// ServerConfig wires the CSI gRPC server.
type ServerConfig struct {
	// Endpoint is "unix:///path/csi.sock" or "/path/csi.sock".
	Endpoint string
	// Identity is required; Controller and Node may be nil (mode dependent).
	Identity   csi.IdentityServer
	Controller csi.ControllerServer
	Node       csi.NodeServer
	// Metrics may be nil (no operation metrics).
	Metrics *metrics.Operations
	// Logger is the base of every request logger (zero: klog's).
	Logger klog.Logger
	// StopTimeout bounds the graceful stop (zero: DefaultStopTimeout).
	StopTimeout time.Duration
}

// Server is the CSI gRPC server on a unix socket. Listen and Serve are
// separate so that the caller can create the socket early (and fail fast
// on a bad path) but answer RPCs only once it is ready, e.g. after the
// first attachment reconcile pass: until Serve, clients that connect wait
// in the socket's backlog.
type Server struct {
	cfg  ServerConfig
	path string
	grpc *grpc.Server

	mu  sync.Mutex
	lis net.Listener
}

// NewServer validates cfg and registers the services.
func NewServer(cfg ServerConfig) (*Server, error) {
	p, err := SocketPath(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.Identity == nil {
		return nil, errors.New("server: identity service is required")
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	g := grpc.NewServer(grpc.UnaryInterceptor(unaryInterceptor(cfg.Logger, cfg.Metrics)))
	csi.RegisterIdentityServer(g, cfg.Identity)
	if cfg.Controller != nil {
		csi.RegisterControllerServer(g, cfg.Controller)
	}
	if cfg.Node != nil {
		csi.RegisterNodeServer(g, cfg.Node)
	}
	return &Server{cfg: cfg, path: p, grpc: g}, nil
}

// SocketPath returns the file path of a unix endpoint: "unix:///path" or
// a bare absolute path.
func SocketPath(endpoint string) (string, error) {
	p := endpoint
	if rest, ok := strings.CutPrefix(endpoint, "unix://"); ok {
		p = rest
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("endpoint %q: want unix:///absolute/path or /absolute/path", endpoint)
	}
	return p, nil
}

// Path is the socket's file path.
func (s *Server) Path() string { return s.path }

// Listen creates the socket, replacing a stale socket file left by an
// earlier run (never any other kind of file). Calling it again is a no-op.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis != nil {
		return nil
	}
	if fi, err := os.Lstat(s.path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return fmt.Errorf("endpoint %s exists and is not a socket; not removing it", s.path)
		}
		if err := os.Remove(s.path); err != nil {
			return fmt.Errorf("removing stale socket: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("endpoint %s: %w", s.path, err)
	}
	lis, err := net.Listen("unix", s.path)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.path, err)
	}
	s.lis = lis
	return nil
}

// Serve answers RPCs until ctx ends, then stops gracefully (in-flight RPCs
// get StopTimeout to finish), removes the socket and returns nil. It calls
// Listen if the caller did not. It returns an error if serving fails.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	lis := s.lis
	s.mu.Unlock()
	logger := s.cfg.Logger
	if logger.GetSink() == nil {
		logger = klog.FromContext(ctx)
	}
	logger.Info("Serving CSI", "endpoint", s.path)

	served := make(chan error, 1)
	go func() { served <- s.grpc.Serve(lis) }()
	select {
	case err := <-served:
		return fmt.Errorf("serving CSI on %s: %w", s.path, err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(s.cfg.StopTimeout):
		logger.Info("Graceful stop timed out; cancelling in-flight RPCs", "timeout", s.cfg.StopTimeout)
		s.grpc.Stop()
		<-stopped
	}
	if err := <-served; err != nil {
		logger.Error(err, "CSI server ended with an error while stopping")
	}
	// Serve's listener close normally unlinks the socket; make sure.
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		logger.Error(err, "Could not remove the socket", "endpoint", s.path)
	}
	logger.Info("CSI server stopped")
	return nil
}

// Close releases a listener that Serve will never use (startup failed
// between Listen and Serve). Do not call it together with Serve.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis == nil {
		return nil
	}
	err := s.lis.Close()
	s.lis = nil
	return err
}
