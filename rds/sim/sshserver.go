package sim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"k8s.io/klog/v2"
)

// handshakeTimeout bounds a client that connects and never finishes the SSH
// handshake, so it cannot pin a goroutine forever.
const handshakeTimeout = 30 * time.Second

var errDenied = errors.New("permission denied")

// authenticate accepts exactly the keys of the authorized_keys file, read
// anew on every attempt like sshd does. The realistic connect+auth delay is
// spent here because x/crypto calls this once per offered key.
func (s *Server) authenticate(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	sleepCtx(s.ctx, s.cfg.Latency.delay(opAuth, 0, s.rnd))
	fp := ssh.FingerprintSHA256(key)
	log := s.log.WithValues("remote", meta.RemoteAddr().String(), "user", meta.User(), "key", fp)
	if s.cfg.User != "" && meta.User() != s.cfg.User {
		log.V(1).Info("Rejected unknown user")
		return nil, errDenied
	}
	keys, err := readAuthorizedKeys(s.cfg.AuthorizedKeysPath)
	if err != nil {
		log.Error(err, "Reading authorized keys failed")
		return nil, errDenied
	}
	for _, k := range keys {
		if bytes.Equal(k.Marshal(), key.Marshal()) {
			return &ssh.Permissions{Extensions: map[string]string{"pubkey-fp": fp}}, nil
		}
	}
	log.V(1).Info("Rejected unknown key")
	return nil, errDenied
}

func (s *Server) serveConn(ctx context.Context, nc net.Conn, logIndex int) {
	defer s.wg.Done()
	defer s.connLog.closed(logIndex)
	defer s.untrack(nc)
	defer nc.Close()
	log := s.log.WithValues("remote", nc.RemoteAddr().String())
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	conn, chans, reqs, err := ssh.NewServerConn(nc, s.sshCfg)
	if err != nil {
		log.V(1).Info("SSH handshake failed", "err", err.Error())
		return
	}
	_ = nc.SetDeadline(time.Time{})
	s.connLog.handshake(logIndex)
	log = log.WithValues("user", conn.User())
	log.V(1).Info("SSH connection established", "key", conn.Permissions.Extensions["pubkey-fp"])
	if d := s.FlapAfter(); d > 0 {
		s.wg.Add(1)
		go s.flap(ctx, log, nc, d)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// keepalive@openssh.com and friends get "unsupported", which the
		// protocol notes say real RouterOS is not reliable about anyway.
		ssh.DiscardRequests(reqs)
	}()
	var sessions sessionCount
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "only sessions are supported")
			continue
		}
		if limit := s.MaxSessions(); !sessions.acquire(limit) {
			s.connLog.sessionsRefused.Add(1)
			log.V(1).Info("Refusing session (session limit)", "maxSessions", limit)
			_ = nch.Reject(ssh.ResourceShortage, "too many sessions")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			sessions.release()
			log.V(1).Info("Accepting a session failed", "err", err.Error())
			continue
		}
		s.wg.Add(1)
		go s.serveSession(log, ch, creqs, sync.OnceFunc(sessions.release))
	}
	log.V(1).Info("SSH connection closed")
}

// serveSession accepts one exec request and refuses everything else (shell,
// pty-req, env, subsystem): the device is driven by one command per session.
// It keeps draining requests while the command runs so a chatty client can
// never stall the connection's demultiplexer. release frees the session's
// place under the session limit: here when the client closes a session that
// never ran a command, otherwise by runExec when the command is done.
func (s *Server) serveSession(log klog.Logger, ch ssh.Channel, reqs <-chan *ssh.Request, release func()) {
	defer s.wg.Done()
	execd := false
	for req := range reqs {
		var payload struct{ Command string }
		if req.Type != "exec" || execd || ssh.Unmarshal(req.Payload, &payload) != nil {
			log.V(2).Info("Refusing session request", "type", req.Type)
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
			continue
		}
		execd = true
		_ = req.Reply(true, nil)
		s.wg.Add(1)
		go s.runExec(log, ch, payload.Command, release)
	}
	if !execd {
		release()
	}
}

// runExec answers one command on the session: stdout, exit-status, close.
// The command runs to its end even when the client closed the session or
// lost the connection meanwhile, as on RouterOS; only the answer is lost.
func (s *Server) runExec(log klog.Logger, ch ssh.Channel, line string, release func()) {
	defer s.wg.Done()
	defer ch.Close()
	// Released before the close goes out, so a client that has seen its
	// command end can open the next session at once without being refused.
	defer release()
	out, status, ok := s.handle(log, line)
	if !ok {
		return // the server is closing; nobody will hear the answer
	}
	if s.drop.take(line) {
		// The drop-answer fault: the command took effect, its answer is
		// lost with the connection.
		log.Info("Dropping every connection instead of answering (drop-answer fault)", "command", line, "status", status)
		s.Drop()
		return
	}
	if _, err := io.WriteString(ch, out); err != nil {
		log.V(1).Info("Answer not delivered: the session is gone", "command", line, "err", err.Error())
		return
	}
	_ = ch.CloseWrite()
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
}

// handle runs one command line: log it, hold it while the hang fault is on,
// parse, wait the emulated latency, execute. It runs under the server's
// context, not the connection's: a dropped client does not stop it. ok is
// false when the server closed first; the command then did not complete.
func (s *Server) handle(log klog.Logger, line string) (out string, status uint32, ok bool) {
	ctx := s.ctx
	s.recordCommand(line)
	if gate := s.faults.hangGate(); gate != nil {
		log.V(1).Info("Holding command (hang fault)", "command", line)
		select {
		case <-gate:
		case <-ctx.Done():
		}
		// Both may be ready (closed, then released): a closing server
		// always wins, its command never runs.
		if ctx.Err() != nil {
			log.V(1).Info("Abandoned held command (server closing)", "command", line)
			return "", 0, false
		}
	}
	start := time.Now()
	cmd, err := parseCommand(line)
	op, size := opOther, int64(0)
	if err == nil {
		op, size = s.cost(cmd)
	}
	if !sleepCtx(ctx, s.cfg.Latency.delay(op, size, s.rnd)) {
		return "", 0, false
	}
	if err == nil {
		out, err = s.execute(ctx, log, cmd)
		if errors.Is(err, errAbandoned) {
			return "", 0, false
		}
	}
	elapsed := time.Since(start)
	s.cmdNanos.Add(int64(elapsed))
	if err != nil {
		var ce cliError
		if !errors.As(err, &ce) {
			ce = msgInternal
		}
		out, status = string(ce)+"\r\n", 1
	}
	log.V(1).Info("Command", "command", line, "status", status, "duration", elapsed)
	return out, status, true
}
