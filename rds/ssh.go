package rds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"k8s.io/klog/v2"
)

// Defaults of SSHConfig.
const (
	DefaultSSHUser        = "admin"
	DefaultSSHPort        = 22
	DefaultDialTimeout    = 10 * time.Second
	DefaultCommandTimeout = 30 * time.Second
	// DefaultCopyTimeout bounds a copy-from (snapshot, clone, restore): a
	// 1 TiB volume at 200 MiB/s takes about 90 minutes.
	DefaultCopyTimeout = 2 * time.Hour
	// DefaultMaxSessions is below OpenSSH's default MaxSessions of 10 and
	// leaves room for the health check and several copies; the transport
	// lowers it by itself when the RDS refuses a session.
	DefaultMaxSessions = 8
)

// maxOutputBytes bounds what one command may write to each of stdout and
// stderr: a listing of thousands of disks stays far below it, a
// misbehaving server cannot exhaust our memory.
const maxOutputBytes = 16 << 20

// SSHConfig configures the SSH transport to one RDS.
type SSHConfig struct {
	// Address is host:port of the RDS; the port defaults to 22.
	Address string
	// User defaults to "admin".
	User string
	// Signer authenticates us; alternatively PrivateKeyPath names an
	// unencrypted OpenSSH/PEM private key file. Exactly one is required.
	Signer         ssh.Signer
	PrivateKeyPath string
	// HostKeyPath names a file pinning the RDS host key (see ParseHostKeys).
	// Required unless InsecureSkipHostKeyCheck is set; not both.
	HostKeyPath              string
	InsecureSkipHostKeyCheck bool
	// DialTimeout bounds dial plus handshake (default 10s) in addition to
	// the Connect context.
	DialTimeout time.Duration
	// CommandTimeout bounds every command in addition to its context
	// (default 30s).
	CommandTimeout time.Duration
	// CopyTimeout bounds a copy-from command instead of CommandTimeout
	// (default 2h).
	CopyTimeout time.Duration
	// MaxSessions bounds the sessions open at once on the connection
	// (default 8, at least 2): one is kept for the health check, copies
	// take at most half of the rest.
	MaxSessions int
	// Logger receives events that belong to no request: connection losses
	// and the insecure-mode warning. Default: klog.Background().
	Logger klog.Logger
}

// withDefaults returns a copy with defaults filled in and the port added.
func (c SSHConfig) withDefaults() SSHConfig {
	if c.User == "" {
		c.User = DefaultSSHUser
	}
	if c.Address != "" {
		if _, _, err := net.SplitHostPort(c.Address); err != nil {
			host := strings.TrimSuffix(strings.TrimPrefix(c.Address, "["), "]")
			c.Address = net.JoinHostPort(host, strconv.Itoa(DefaultSSHPort))
		}
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = DefaultCommandTimeout
	}
	if c.CopyTimeout == 0 {
		c.CopyTimeout = DefaultCopyTimeout
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.Logger.GetSink() == nil {
		c.Logger = klog.Background()
	}
	return c
}

// Validate checks the configuration as it will be used (defaults applied).
// It does not read the key files.
func (c SSHConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Address == "" {
		errs = append(errs, errors.New("address is required"))
	} else if host, port, err := net.SplitHostPort(c.Address); err != nil || host == "" {
		errs = append(errs, fmt.Errorf("address %q is not host:port", c.Address))
	} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		errs = append(errs, fmt.Errorf("address %q has no valid port", c.Address))
	}
	switch {
	case c.Signer == nil && c.PrivateKeyPath == "":
		errs = append(errs, errors.New("a signer or a private key path is required"))
	case c.Signer != nil && c.PrivateKeyPath != "":
		errs = append(errs, errors.New("set either a signer or a private key path, not both"))
	}
	switch {
	case c.HostKeyPath == "" && !c.InsecureSkipHostKeyCheck:
		errs = append(errs, errors.New("a pinned host key file is required (or explicitly skip the host key check)"))
	case c.HostKeyPath != "" && c.InsecureSkipHostKeyCheck:
		errs = append(errs, errors.New("set either a host key file or the insecure skip, not both"))
	}
	if c.DialTimeout < 0 || c.CommandTimeout < 0 || c.CopyTimeout < 0 {
		errs = append(errs, errors.New("timeouts must not be negative"))
	}
	if c.MaxSessions < minSessions {
		errs = append(errs, fmt.Errorf("max sessions %d: at least %d (one for commands, one for the health check)", c.MaxSessions, minSessions))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: ssh config: %w", ErrInvalidArgument, err)
	}
	return nil
}

// LoadPrivateKey reads an unencrypted private key (OpenSSH or PEM format).
func LoadPrivateKey(path string) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %w", ErrInvalidArgument, err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("%w: private key %s is passphrase-protected; an unattended driver needs an unencrypted key", ErrInvalidArgument, path)
		}
		return nil, fmt.Errorf("%w: private key %s: %w", ErrInvalidArgument, path, err)
	}
	return signer, nil
}

// sshTransport keeps ONE persistent SSH connection to the RDS and runs each
// command in its own exec session on it. It never dials on its own: the
// connection FSM decides when to Connect, so a command while disconnected
// fails at once with ErrUnavailable.
type sshTransport struct {
	cfg       SSHConfig
	clientCfg *ssh.ClientConfig
	log       klog.Logger

	// lost is buffered(1); sends never block, so losses coalesce.
	lost chan error

	mu         sync.Mutex
	cur        *sshConn // nil while disconnected
	generation uint64
}

// sshConn is one connection. Its end is a loss unless we caused it.
type sshConn struct {
	client     *ssh.Client
	generation uint64
	done       chan struct{} // closed when the watcher saw the connection end
	// openSlot serialises session opening on this connection: concurrent
	// opens were seen to stall RouterOS. Commands themselves overlap. It is
	// per connection because an open caught by a reconnect was once seen
	// to hang in x/crypto/ssh (a channel registered after the mux dropped
	// its channels is never answered); it must not hold up the next
	// connection.
	openSlot chan struct{}
	// sessions bounds the sessions open at once (see sessionLimiter); per
	// connection, as the RDS counts them.
	sessions *sessionLimiter

	// guarded by sshTransport.mu
	ours     bool // closed by Close or replaced by Connect
	signaled bool // its loss was sent (once per connection)
}

func newSSHTransport(cfg SSHConfig) (*sshTransport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	signer := cfg.Signer
	if signer == nil {
		var err error
		if signer, err = LoadPrivateKey(cfg.PrivateKeyPath); err != nil {
			return nil, err
		}
	}
	clientCfg := &ssh.ClientConfig{
		User: cfg.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
	}
	if cfg.InsecureSkipHostKeyCheck {
		// Logged once per client, not per connection: the setting does not
		// change, and repeating it on every reconnect drowns real events.
		cfg.Logger.Info("WARNING: RDS host key verification is disabled; the connection is open to man-in-the-middle attacks. Pin the host key instead.", "address", cfg.Address)
		clientCfg.HostKeyCallback = ssh.InsecureIgnoreHostKey() //nolint:gosec // explicit opt-out, warned above
	} else {
		keys, err := LoadHostKeys(cfg.HostKeyPath)
		if err != nil {
			return nil, err
		}
		clientCfg.HostKeyCallback = pinnedHostKey(keys)
		clientCfg.HostKeyAlgorithms = hostKeyAlgorithms(keys)
	}
	return &sshTransport{
		cfg:       cfg,
		clientCfg: clientCfg,
		log:       cfg.Logger.WithValues("address", cfg.Address),
		lost:      make(chan error, 1),
	}, nil
}

// Address is host:port of the RDS.
func (t *sshTransport) Address() string { return t.cfg.Address }

// Lost delivers one *LostError (wrapping ErrUnavailable) per lost
// connection, tagged with its generation. A loss still pending when Connect
// installs a new connection is withdrawn: it concerned a connection that no
// longer matters.
func (t *sshTransport) Lost() <-chan error { return t.lost }

// Connect dials and authenticates within ctx and DialTimeout, then replaces
// the current connection (closing the old one without reporting a loss).
func (t *sshTransport) Connect(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithValues("address", t.cfg.Address)
	start := time.Now()
	dialCtx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
	defer cancel()
	client, err := t.dial(dialCtx)
	if err != nil {
		return classifyDial(err)
	}
	c := &sshConn{client: client, done: make(chan struct{}), openSlot: make(chan struct{}, 1),
		sessions: newSessionLimiter(t.cfg.MaxSessions)}

	t.mu.Lock()
	old := t.cur
	if old != nil {
		old.ours = true
	}
	select {
	case stale := <-t.lost:
		logger.V(4).Info("Withdrew the pending loss of the replaced connection", "err", stale)
	default:
	}
	t.generation++
	c.generation = t.generation
	t.cur = c
	t.mu.Unlock()

	go t.watch(c)
	if old != nil {
		old.closeAndWait()
	}
	logger.V(2).Info("Connected to RDS", "generation", c.generation, "duration", time.Since(start))
	return nil
}

// dial opens the TCP connection and runs the SSH handshake, both bounded by
// ctx: ssh.NewClientConn takes no context, so ctx's deadline becomes the
// connection's deadline and a cancellation expires it at once.
func (t *sshTransport) dial(ctx context.Context) (*ssh.Client, error) {
	addr := t.cfg.Address
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: dial %s: %w", ErrUnavailable, addr, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, t.clientCfg)
	if !stop() && err == nil {
		// ctx ended as the handshake finished; the connection may already
		// carry the expired deadline.
		_ = sc.Close()
		err = errors.New("handshake interrupted")
	}
	if err != nil {
		_ = nc.Close()
		ctxErr := ctx.Err()
		if ctxErr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
			// The connection deadline is ctx's deadline; it can strike a
			// moment before ctx reports it.
			ctxErr = context.DeadlineExceeded
		}
		if ctxErr != nil {
			return nil, fmt.Errorf("%w: ssh handshake with %s: %w: %w", ErrUnavailable, addr, ctxErr, err)
		}
		return nil, fmt.Errorf("%w: ssh handshake with %s: %w", ErrUnavailable, addr, err)
	}
	_ = nc.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

// Close drops the current connection, if any, without reporting a loss.
func (t *sshTransport) Close() error {
	t.mu.Lock()
	c := t.cur
	t.cur = nil
	if c != nil {
		c.ours = true
	}
	t.mu.Unlock()
	if c != nil {
		c.closeAndWait()
	}
	return nil
}

// closeAndWait closes the connection and waits for its watcher, so the
// loss decision for it is made (and no loss can follow) when Close or
// Connect returns.
func (c *sshConn) closeAndWait() {
	_ = c.client.Close()
	<-c.done
}

// watch waits for the connection to end and reports it unless we ended it.
func (t *sshTransport) watch(c *sshConn) {
	defer close(c.done)
	cause := fmt.Errorf("%w: connection to %s closed", ErrUnavailable, t.cfg.Address)
	if err := c.client.Wait(); err != nil {
		cause = fmt.Errorf("%w: %w", cause, err)
	}
	t.connectionLost(c, cause)
}

// connectionLost forgets c and signals its loss once, unless c was closed
// on purpose. Everything happens under mu so that a replacement (which
// marks the old connection ours and withdraws pending losses) and a loss
// never interleave.
func (t *sshTransport) connectionLost(c *sshConn, cause error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur == c {
		t.cur = nil
	}
	if c.ours || c.signaled {
		return
	}
	c.signaled = true
	t.log.Info("Lost the connection to the RDS", "generation", c.generation, "err", cause)
	select {
	case t.lost <- &LostError{Generation: c.generation, Err: cause}:
	default: // a loss is already pending
	}
}

func (t *sshTransport) current() *sshConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cur
}

// run executes one command in a new session and returns its answer. Errors
// are transport failures wrapping ErrUnavailable; a RouterOS failure is an
// answer (see answer.err).
//
// Only connection-level evidence (the connection closed, a session open or a
// command broken by a transport error) condemns the shared connection. A
// refused session, our own command timeout and a caller giving up fail this
// command only: one slow copy or one overloaded moment must not take every
// other call down with it. A truly hung RDS is caught by the health check.
func (t *sshTransport) run(ctx context.Context, cmd string, kind sessionKind) (answer, error) {
	c := t.current()
	if c == nil {
		return answer{}, fmt.Errorf("%w: not connected to %s", ErrUnavailable, t.cfg.Address)
	}
	if err := ctx.Err(); err != nil {
		return answer{}, fmt.Errorf("%w: not running %q: %w", ErrUnavailable, cmd, err)
	}
	logger := klog.FromContext(ctx)
	start := time.Now()

	// Waiting for a slot counts against the caller's context only: the
	// command timeout bounds the command (opening its session included),
	// not the queue in front of it.
	timeout := t.cfg.CommandTimeout
	if kind == sessionCopy {
		timeout = t.cfg.CopyTimeout
	}
	slot, err := c.sessions.acquire(ctx, c.done, kind)
	if err != nil {
		return answer{}, t.transportFailure(ctx, c, cmd, "waiting for a session for", start, err)
	}
	runCtx, cancel := context.WithTimeoutCause(ctx, timeout, ErrCommandTimeout)
	defer cancel()
	sess, slot, err := t.openSession(runCtx, c, kind, slot)
	if err != nil {
		return answer{}, t.transportFailure(runCtx, c, cmd, "opening a session for", start, err)
	}
	defer func() { _ = sess.Close() }()

	// Run waits for the server to acknowledge the session's end: closing the
	// session does not unblock it while RouterOS still runs the command (it
	// keeps running commands whose client left). So it runs aside and keeps
	// its session slot until the server has really closed the session; a
	// caller that stops waiting closes its side and returns at once.
	var stdout, stderr cappedBuffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	finished := make(chan error, 1)
	go func() {
		err := sess.Run(cmd)
		slot.release()
		finished <- err
	}()
	select {
	case err = <-finished:
	case <-runCtx.Done():
		select {
		case err = <-finished: // it finished as the deadline struck: keep the answer
		default:
			_ = sess.Close()
			return answer{}, t.transportFailure(runCtx, c, cmd, "running", start, runCtx.Err())
		}
	}
	ans := answer{Stdout: stdout.buf.String(), Stderr: stderr.buf.String()}
	var exitErr *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		ans.Exit = exitErr.ExitStatus()
	default:
		// EOF without exit status or the connection closed.
		return answer{}, t.transportFailure(runCtx, c, cmd, "running", start, err)
	}
	logger.V(5).Info("RouterOS command", "command", cmd, "exit", ans.Exit, "duration", time.Since(start))
	if stdout.truncated || stderr.truncated {
		return answer{}, fmt.Errorf("%w: %q wrote more than %d bytes", ErrCommandFailed, cmd, maxOutputBytes)
	}
	return ans, nil
}

// Refusal retry delays: a server that refuses even below our lowered limit
// is given a moment before the next try, within the caller's context.
const (
	refusalRetryBase = 50 * time.Millisecond
	refusalRetryMax  = time.Second
)

// openSession opens a session in slot (of kind), holding the connection's
// openSlot while opening. A refusal for resource shortage lowers
// the connection's limit and tries again once a slot frees; other channel
// refusals fail this command. A caller that gives up, or whose connection
// ends meanwhile, leaves the open to finish in the background (still holding
// the open slot, so opening stays serialised) and the session is closed
// unused. It returns the slot the session holds (after a refusal, a new
// one); release it once the server has closed the session.
func (t *sshTransport) openSession(ctx context.Context, c *sshConn, kind sessionKind, slot *sessionSlot) (*ssh.Session, *sessionSlot, error) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			var err error
			if slot, err = c.sessions.acquire(ctx, c.done, kind); err != nil {
				return nil, nil, err
			}
		}
		sess, err := t.open(ctx, c, slot)
		var refused *ssh.OpenChannelError
		if err == nil || !errors.As(err, &refused) || refused.Reason != ssh.ResourceShortage {
			return sess, slot, err
		}
		limit, lowered := c.sessions.refused()
		slot.release()
		if lowered {
			t.log.Info("RDS refused a session; lowered the session limit of this connection", "limit", limit, "reason", refused.Message, "generation", c.generation)
		}
		select {
		case <-time.After(min(refusalRetryBase<<min(attempt, 5), refusalRetryMax)):
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w: %w", errSessionRefused, err)
		case <-c.done:
			return nil, nil, errConnectionEnded
		}
	}
}

// open opens one session under the connection's openSlot. On any failure
// it releases the session slot itself, except for a refusal, which the
// caller handles.
func (t *sshTransport) open(ctx context.Context, c *sshConn, slot *sessionSlot) (*ssh.Session, error) {
	select {
	case c.openSlot <- struct{}{}:
	case <-ctx.Done():
		slot.release()
		return nil, ctx.Err()
	case <-c.done:
		slot.release()
		return nil, errConnectionEnded
	}
	type opened struct {
		sess *ssh.Session
		err  error
	}
	result := make(chan opened, 1)
	go func() {
		sess, err := c.client.NewSession()
		if err == nil {
			slot.accepted()
		}
		<-c.openSlot
		result <- opened{sess, err}
	}()
	var err error
	select {
	case o := <-result:
		var refused *ssh.OpenChannelError
		if o.err != nil && (!errors.As(o.err, &refused) || refused.Reason != ssh.ResourceShortage) {
			slot.release()
		}
		return o.sess, o.err
	case <-ctx.Done():
		err = ctx.Err()
	case <-c.done:
		err = errConnectionEnded
	}
	go func() {
		// The server may still accept; the slot is ours until it has
		// closed the session again.
		if o := <-result; o.sess != nil {
			_ = o.sess.Close()
			_ = o.sess.Wait()
		}
		slot.release()
	}()
	return nil, err
}

// errConnectionEnded: the connection ended while a session was being
// opened on it.
var errConnectionEnded = errors.New("connection ended")

// errSessionRefused: the RDS kept refusing a session until the caller gave up.
var errSessionRefused = errors.New("session refused")

// transportFailure builds the error of a command that got no answer. Only
// a broken connection condemns it (reporting the loss); everything that
// concerns this command alone keeps it.
func (t *sshTransport) transportFailure(ctx context.Context, c *sshConn, cmd, during string, start time.Time, cause error) error {
	elapsed := time.Since(start).Round(time.Millisecond)
	var refused *ssh.OpenChannelError
	switch ctxErr := ctx.Err(); {
	case errors.Is(context.Cause(ctx), ErrCommandTimeout):
		return fmt.Errorf("%w: %w after %s %s %q (limit %s; connection kept, the RDS may still complete it): %w",
			ErrUnavailable, ErrCommandTimeout, elapsed, during, cmd, t.commandTimeout(cmd), ctxErr)
	case errors.As(cause, &refused), errors.Is(cause, errSessionRefused):
		return fmt.Errorf("%w: %w: %s %q: %w", ErrUnavailable, ErrSessionRefused, during, cmd, cause)
	case errors.Is(ctxErr, context.DeadlineExceeded):
		return fmt.Errorf("%w: caller's deadline exceeded after %s %s %q (connection kept): %w", ErrUnavailable,
			elapsed, during, cmd, ctxErr)
	case ctxErr != nil:
		return fmt.Errorf("%w: cancelled %s %q: %w", ErrUnavailable, during, cmd, ctxErr)
	}
	err := fmt.Errorf("%w: %s %q: %w", ErrUnavailable, during, cmd, cause)
	t.connectionLost(c, err)
	_ = c.client.Close()
	return err
}

// commandTimeout names the limit that applied to cmd, for error messages.
func (t *sshTransport) commandTimeout(cmd string) time.Duration {
	if isCopyCommand(cmd) {
		return t.cfg.CopyTimeout
	}
	return t.cfg.CommandTimeout
}

// cappedBuffer keeps the first maxOutputBytes written and drops the rest
// while still consuming it, so the remote side never blocks on a full window.
type cappedBuffer struct {
	buf       bytes.Buffer
	truncated bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := maxOutputBytes - b.buf.Len(); len(p) > room {
		b.truncated = true
		b.buf.Write(p[:room])
		return len(p), nil
	}
	return b.buf.Write(p)
}
