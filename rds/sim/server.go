package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"k8s.io/klog/v2"
)

// Server is one emulated RDS.
type Server struct {
	cfg     Config
	log     klog.Logger
	store   *store
	faults  faultSet
	knobs   knobs
	drop    dropAnswer
	hostKey ssh.Signer
	sshCfg  *ssh.ServerConfig
	now     func() time.Time // creation-time of new files; replaced by golden tests
	booted  time.Time        // the emulator's "boot": its uptime counts from here
	rnd     func() float64   // latency draws

	// ctx ends on Close; every connection's context derives from it, and
	// commands run under it rather than under their connection's, because
	// a RouterOS command outlives the session that started it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	started bool
	closed  bool
	ln      net.Listener
	ctlLn   net.Listener
	ctl     *http.Server
	// conns maps each live connection to the cancel of its context, which
	// ends the connection's own helpers (the flap timer) synchronously on
	// Drop and Close, not when the SSH layer notices the closed socket.
	conns map[net.Conn]context.CancelFunc

	connLog connLog

	cmdMu    sync.Mutex
	commands []string
	nCmds    atomic.Int64
	cmdNanos atomic.Int64
}

// Stats are totals since the server was created.
type Stats struct {
	// Commands received, including failed and abandoned ones.
	Commands int64
	// CommandTime is the emulated time spent answering: injected latency,
	// copy time and execution, without time held by the hang fault. A
	// benchmark subtracts it from its wall time to get the driver's own
	// overhead.
	CommandTime time.Duration
	// ConnectionsAccepted counts TCP accepts, refused connections included.
	ConnectionsAccepted int64
	// Handshakes counts completed SSH handshakes (authentication included).
	Handshakes int64
	// SessionsRefused counts session channels refused by the session limit.
	SessionsRefused int64
}

// New validates cfg, loads (or creates) the host key and the state, and
// returns a server that is not listening yet.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if _, err := readAuthorizedKeys(cfg.AuthorizedKeysPath); err != nil {
		return nil, fmt.Errorf("authorized keys: %w", err)
	}
	st, err := openStore(cfg.DataDir, log)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, cfg.Pool), 0o755); err != nil {
		return nil, err
	}
	hostKey, err := loadOrCreateHostKey(cfg.HostKeyPath, log)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     log,
		store:   st,
		hostKey: hostKey,
		now:     time.Now,
		booted:  time.Now(),
		rnd:     rand.Float64,
		conns:   map[net.Conn]context.CancelFunc{},
	}
	s.knobs.init(cfg)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.sshCfg = &ssh.ServerConfig{
		PublicKeyCallback: s.authenticate,
		// RouterOS's SSH server announces itself this way; clients may log it.
		ServerVersion: "SSH-2.0-ROSSSH",
	}
	s.sshCfg.AddHostKey(hostKey)
	return s, nil
}

// Start listens for SSH (and the control endpoint when configured) and
// returns once both accept connections.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errors.New("sim: server closed")
	case s.started:
		return errors.New("sim: server already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	if s.cfg.ControlListen != "" {
		ctlLn, err := net.Listen("tcp", s.cfg.ControlListen)
		if err == nil && !ctlLn.Addr().(*net.TCPAddr).IP.IsLoopback() {
			err = errors.Join(fmt.Errorf("control address %s is not loopback", ctlLn.Addr()), ctlLn.Close())
		}
		if err != nil {
			return errors.Join(err, ln.Close())
		}
		s.ctlLn = ctlLn
		s.ctl = &http.Server{Handler: s.controlHandler(), ReadHeaderTimeout: 10 * time.Second}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.ctl.Serve(ctlLn); !errors.Is(err, http.ErrServerClosed) {
				s.log.Error(err, "Control endpoint stopped")
			}
		}()
	}
	s.ln = ln
	s.started = true
	s.wg.Add(1)
	go s.acceptLoop(ln)
	s.log.Info("RDS emulator listening", "ssh", ln.Addr().String(), "control", s.controlURLLocked(),
		"dataDir", s.cfg.DataDir, "capacity", s.cfg.Capacity, "latency", s.cfg.Latency,
		"maxSessions", s.MaxSessions(), "copyRate", s.CopyRate(), "flapAfter", s.FlapAfter(),
		"hostKey", ssh.FingerprintSHA256(s.hostKey.PublicKey()))
	return nil
}

// Run starts the server unless it is running, serves until ctx ends, then
// closes it.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		if err := s.Start(); err != nil {
			return err
		}
	}
	<-ctx.Done()
	s.log.Info("Shutting down", "cause", context.Cause(ctx))
	return s.Close()
}

// Close stops listening, cuts every connection and waits for all
// goroutines. Commands still running (held by the hang fault, waiting out
// latency or a copy) are abandoned as at a power loss: a copy's partial
// backing file stays, its disk never appears. Safe to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ln, ctl := s.ln, s.ctl
	for nc, cancel := range s.conns {
		cancel()
		_ = nc.Close()
	}
	s.mu.Unlock()
	s.cancel()
	var err error
	if ln != nil {
		if cerr := ln.Close(); !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	}
	if ctl != nil {
		err = errors.Join(err, ctl.Close())
	}
	s.wg.Wait()
	s.log.Info("RDS emulator stopped")
	return err
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// E.g. out of file descriptors: back off instead of spinning.
			s.log.Error(err, "Accepting a connection failed")
			if !sleepCtx(s.ctx, 50*time.Millisecond) {
				return
			}
			continue
		}
		i := s.connLog.accept(nc.RemoteAddr().String())
		if s.faults.get(FaultRefuse) {
			s.log.V(1).Info("Refusing connection (fault)", "remote", nc.RemoteAddr().String())
			_ = nc.Close()
			s.connLog.closed(i)
			continue
		}
		ctx, ok := s.track(nc)
		if !ok {
			_ = nc.Close()
			s.connLog.closed(i)
			continue
		}
		s.wg.Add(1)
		go s.serveConn(ctx, nc, i)
	}
}

// track registers a new connection and returns its context, which ends
// when the connection is dropped, closed or the server stops.
func (s *Server) track(nc net.Conn) (context.Context, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.conns[nc] = cancel
	return ctx, true
}

func (s *Server) untrack(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cancel, ok := s.conns[nc]; ok {
		cancel()
		delete(s.conns, nc)
	}
}

// Drop cuts every SSH connection now, as a network failure would. Commands
// already running go on to completion, as on RouterOS; the server keeps
// accepting new connections.
func (s *Server) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for nc, cancel := range s.conns {
		cancel()
		_ = nc.Close()
	}
	s.log.Info("Dropped all connections", "count", len(s.conns))
}

// SetFault switches a fault on or off. Unknown faults are ignored (logged).
func (s *Server) SetFault(f Fault, on bool) {
	if !f.valid() {
		s.log.Error(nil, "Unknown fault", "fault", f)
		return
	}
	s.faults.set(f, on)
	s.log.Info("Fault switched", "fault", f, "on", on)
}

// FaultOn reports whether a fault is on.
func (s *Server) FaultOn(f Fault) bool { return s.faults.get(f) }

// Addr is the SSH listener's address (host:port), empty before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// ControlURL is the control endpoint's base URL (http://127.0.0.1:port),
// empty when it is disabled or before Start.
func (s *Server) ControlURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.controlURLLocked()
}

func (s *Server) controlURLLocked() string {
	if s.ctlLn == nil {
		return ""
	}
	return "http://" + s.ctlLn.Addr().String()
}

// HostPublicKey is the key clients must pin.
func (s *Server) HostPublicKey() ssh.PublicKey { return s.hostKey.PublicKey() }

// DataDir is the directory holding state and backing files.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// Config is the effective configuration (defaults applied).
func (s *Server) Config() Config { return s.cfg }

// Commands returns every command line received, in arrival order.
func (s *Server) Commands() []string {
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	return slices.Clone(s.commands)
}

// Stats returns the command and connection counters.
func (s *Server) Stats() Stats {
	return Stats{
		Commands:            s.nCmds.Load(),
		CommandTime:         time.Duration(s.cmdNanos.Load()),
		ConnectionsAccepted: s.connLog.accepted.Load(),
		Handshakes:          s.connLog.handshakes.Load(),
		SessionsRefused:     s.connLog.sessionsRefused.Load(),
	}
}

func (s *Server) recordCommand(line string) {
	s.cmdMu.Lock()
	s.commands = append(s.commands, line)
	s.cmdMu.Unlock()
	s.nCmds.Add(1)
}
