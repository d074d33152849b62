package rds

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"k8s.io/klog/v2/ktesting"
)

// reply scripts the fake RDS's answer to one command.
type reply struct {
	Stdout, Stderr string
	Exit           int
	NoExit         bool // close the session without an exit status
	Hang           bool // never answer; wait for the client to give up
	Drop           bool // write Stdout, then cut the TCP connection
}

// fakeRDS is a minimal SSH server for transport tests: public-key auth,
// exec requests answered by a script, and a log of every command received.
// It is deliberately not the emulator (rds/sim): it fakes failure modes the
// transport must survive (hangs, drops, missing exit status).
type fakeRDS struct {
	t         *testing.T
	ln        net.Listener
	hostKey   ssh.Signer
	clientKey ssh.Signer
	quit      chan struct{}
	wg        sync.WaitGroup

	mu       sync.Mutex
	handler  func(cmd string) reply
	commands []string
	accepted int
	conns    map[net.Conn]struct{}
}

func newEd25519(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey, ssh.Signer) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv, s
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, _, s := newEd25519(t)
	return s
}

func newFakeRDS(t *testing.T, handler func(cmd string) reply) *fakeRDS {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeRDS{
		t: t, ln: ln, hostKey: newSigner(t), clientKey: newSigner(t),
		quit: make(chan struct{}), handler: handler, conns: map[net.Conn]struct{}{},
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			s.mu.Lock()
			allowed := s.clientKey.PublicKey()
			s.mu.Unlock()
			if bytes.Equal(key.Marshal(), allowed.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(s.hostKey)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.accepted++
			s.conns[nc] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go s.serve(nc, cfg)
		}
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *fakeRDS) stop() {
	close(s.quit)
	_ = s.ln.Close()
	s.dropAll()
	s.wg.Wait()
}

// dropAll cuts every TCP connection, like an RDS restart.
func (s *fakeRDS) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for nc := range s.conns {
		_ = nc.Close()
	}
}

func (s *fakeRDS) clientSigner() ssh.Signer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientKey
}

func (s *fakeRDS) addr() string { return s.ln.Addr().String() }

func (s *fakeRDS) setHandler(h func(cmd string) reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handler = h
}

func (s *fakeRDS) setClientKey(k ssh.Signer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientKey = k
}

func (s *fakeRDS) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

func (s *fakeRDS) acceptedConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

func (s *fakeRDS) serve(nc net.Conn, cfg *ssh.ServerConfig) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
		_ = nc.Close()
	}()
	_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ssh.DiscardRequests(reqs)
	}()
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		s.wg.Add(1)
		go s.session(nc, ch, creqs)
	}
}

func (s *fakeRDS) session(nc net.Conn, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer s.wg.Done()
	gone := make(chan struct{}) // the client closed the session
	for req := range reqs {
		var exec struct{ Command string }
		if req.Type != "exec" || ssh.Unmarshal(req.Payload, &exec) != nil {
			_ = req.Reply(false, nil)
			continue
		}
		_ = req.Reply(true, nil)
		s.mu.Lock()
		s.commands = append(s.commands, exec.Command)
		r := s.handler(exec.Command)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.answer(nc, ch, r, gone)
	}
	close(gone)
}

func (s *fakeRDS) answer(nc net.Conn, ch ssh.Channel, r reply, gone <-chan struct{}) {
	defer s.wg.Done()
	if r.Hang {
		select {
		case <-gone:
		case <-s.quit:
		}
		_ = ch.Close()
		return
	}
	_, _ = io.WriteString(ch, r.Stdout)
	_, _ = io.WriteString(ch.Stderr(), r.Stderr)
	if r.Drop {
		_ = nc.Close()
		return
	}
	if !r.NoExit {
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(r.Exit)}))
	}
	_ = ch.Close()
}

// config returns a client configuration for this server with its host key
// pinned from a public-key file.
func (s *fakeRDS) config(t *testing.T) SSHConfig {
	t.Helper()
	return SSHConfig{
		Address:        s.addr(),
		Signer:         s.clientSigner(),
		HostKeyPath:    writeFile(t, "host_key.pub", ssh.MarshalAuthorizedKey(s.hostKey.PublicKey())),
		DialTimeout:    5 * time.Second,
		CommandTimeout: 5 * time.Second,
		Logger:         ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(5), ktesting.BufferLogs(true))),
	}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// answers is a handler that maps exact commands to replies; any other
// command gets "bad command name".
func answers(m map[string]reply) func(string) reply {
	return func(cmd string) reply {
		if r, ok := m[cmd]; ok {
			return r
		}
		return reply{Stdout: "bad command name (line 1 column 1)\r\n", Exit: 1}
	}
}

// freezeProxy forwards TCP to a target until frozen; from then on it
// forwards nothing in either direction while keeping the connections open,
// like an RDS that hangs without closing anything. x/crypto's server always
// acknowledges a session close, so only a proxy can fake this.
type freezeProxy struct {
	ln     net.Listener
	frozen chan struct{}
	once   sync.Once
	quit   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, frozen: make(chan struct{}), quit: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				_ = client.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, client, server)
			p.mu.Unlock()
			p.wg.Add(2)
			go p.pipe(server, client)
			go p.pipe(client, server)
		}
	}()
	t.Cleanup(func() {
		close(p.quit)
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *freezeProxy) addr() string { return p.ln.Addr().String() }

func (p *freezeProxy) freeze() { p.once.Do(func() { close(p.frozen) }) }

func (p *freezeProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-p.frozen:
			<-p.quit
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}
