package rds

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"k8s.io/klog/v2/ktesting"
)

// channelWait bounds every wait for an event that must happen.
const channelWait = 5 * time.Second

func connected(t *testing.T, srv *fakeRDS, mutate ...func(*SSHConfig)) *SSHClient {
	t.Helper()
	cfg := srv.config(t)
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := NewSSHClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Connect(context.Background()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return c
}

func waitLost(t *testing.T, c *SSHClient) error {
	t.Helper()
	select {
	case err := <-c.Lost():
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("loss %v does not wrap ErrUnavailable", err)
		}
		return err
	case <-time.After(channelWait):
		t.Fatal("no connection loss signalled")
		return nil
	}
}

// noLost asserts that no loss is pending. It is exact right after Close or
// Connect, which wait for the old connection's watcher.
func noLost(t *testing.T, c *SSHClient) {
	t.Helper()
	select {
	case err := <-c.Lost():
		t.Fatalf("unexpected loss signalled: %v", err)
	default:
	}
}

// waitFor polls cond for at most channelWait. A value on early (the
// operation under test returning) fails the test: it ended too soon.
func waitFor(t *testing.T, what string, early <-chan error, cond func() bool) {
	t.Helper()
	deadline := time.After(channelWait)
	for !cond() {
		select {
		case err := <-early:
			t.Fatalf("returned before %s: %v", what, err)
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestSSHConfigValidate(t *testing.T) {
	signer := newSigner(t)
	good := SSHConfig{Address: "rds.lab:22", Signer: signer, HostKeyPath: "/etc/rds/host_key.pub"}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, mutate := range map[string]func(*SSHConfig){
		"no address":             func(c *SSHConfig) { c.Address = "" },
		"bad port":               func(c *SSHConfig) { c.Address = "rds.lab:0" },
		"port not a number":      func(c *SSHConfig) { c.Address = "rds.lab:ssh" },
		"no host":                func(c *SSHConfig) { c.Address = ":22" },
		"no key":                 func(c *SSHConfig) { c.Signer = nil },
		"signer and key path":    func(c *SSHConfig) { c.PrivateKeyPath = "/k" },
		"no host key, no opt-in": func(c *SSHConfig) { c.HostKeyPath = "" },
		"host key and insecure":  func(c *SSHConfig) { c.InsecureSkipHostKeyCheck = true },
		"negative timeout":       func(c *SSHConfig) { c.CommandTimeout = -time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good
			mutate(&cfg)
			if err := cfg.Validate(); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("Validate() = %v, want ErrInvalidArgument", err)
			}
			if _, err := NewSSHClient(cfg); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("NewSSHClient() = %v, want ErrInvalidArgument", err)
			}
		})
	}
	d := SSHConfig{Address: "rds.lab"}.withDefaults()
	if d.Address != "rds.lab:22" || d.User != "admin" || d.CommandTimeout != 30*time.Second || d.DialTimeout != 10*time.Second {
		t.Errorf("defaults: %+v", d)
	}
	for in, want := range map[string]string{"fd00::1": "[fd00::1]:22", "[fd00::1]": "[fd00::1]:22", "[fd00::1]:2222": "[fd00::1]:2222", "10.0.0.1": "10.0.0.1:22"} {
		if got := (SSHConfig{Address: in}).withDefaults().Address; got != want {
			t.Errorf("address %q with default port: %q, want %q", in, got, want)
		}
	}
}

func TestLoadPrivateKey(t *testing.T) {
	_, priv, _ := newEd25519(t)
	block, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := LoadPrivateKey(writeFile(t, "id_ed25519", pem.EncodeToMemory(block)))
	if err != nil || signer.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("LoadPrivateKey: %v", err)
	}
	encrypted, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadPrivateKey(writeFile(t, "id_encrypted", pem.EncodeToMemory(encrypted)))
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "passphrase") {
		t.Errorf("encrypted key: %v", err)
	}
	if _, err := LoadPrivateKey(writeFile(t, "garbage", []byte("nope"))); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("garbage key: %v", err)
	}
	if _, err := LoadPrivateKey("/nonexistent/key"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("missing key: %v", err)
	}
}

func TestPrivateKeyPathConnects(t *testing.T) {
	srv := newFakeRDS(t, answers(map[string]reply{identityCommand: {Stdout: "  name: rds\r\n"}}))
	_, priv, signer := newEd25519(t)
	srv.setClientKey(signer)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "id", pem.EncodeToMemory(block))
	c := connected(t, srv, func(cfg *SSHConfig) { cfg.Signer, cfg.PrivateKeyPath = nil, path })
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestInsecureSkipHostKeyCheckWarnsOnce(t *testing.T) {
	srv := newFakeRDS(t, answers(map[string]reply{identityCommand: {Stdout: "  name: rds\r\n"}}))
	logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.BufferLogs(true)))
	c := connected(t, srv, func(cfg *SSHConfig) {
		cfg.HostKeyPath, cfg.InsecureSkipHostKeyCheck, cfg.Logger = "", true, logger
	})
	if err := c.Connect(context.Background()); err != nil { // reconnect: no second warning
		t.Fatal(err)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	logs := logger.GetSink().(ktesting.Underlier).GetBuffer().String()
	if n := strings.Count(logs, "host key verification is disabled"); n != 1 {
		t.Errorf("warning logged %d times, want once; logs:\n%s", n, logs)
	}
}

func TestNotConnectedFailsWithoutDialing(t *testing.T) {
	srv := newFakeRDS(t, answers(nil))
	c, err := NewSSHClient(srv.config(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"Ping":      func() error { return c.Ping(ctx) },
		"GetVolume": func() error { _, err := c.GetVolume(ctx, testID); return err },
		"DeleteVolume": func() error {
			return c.DeleteVolume(ctx, testID, testPath)
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "not connected") {
				t.Fatalf("got %v, want ErrUnavailable (not connected)", err)
			}
		})
	}
	if n := srv.acceptedConns(); n != 0 {
		t.Errorf("the client dialed %d times on its own", n)
	}
	// After a Close it is just as disconnected.
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	_ = c.Close() // twice is fine
	noLost(t, c)
	if err := c.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("after Close: %v", err)
	}
	if n := srv.acceptedConns(); n != 1 {
		t.Errorf("accepted %d connections, want 1", n)
	}
}

func TestTransportFailures(t *testing.T) {
	for _, tc := range []struct {
		name        string
		reply       reply
		timeout     time.Duration // CommandTimeout
		ctxTimeout  time.Duration // 0: none
		wantInError string
		wantCtxErr  error
		// keeps: the failure concerns this command only; the connection
		// stays and no loss is reported.
		keeps bool
	}{
		{name: "command timeout", reply: reply{Hang: true}, timeout: 200 * time.Millisecond,
			wantInError: "command timeout", wantCtxErr: ErrCommandTimeout, keeps: true},
		{name: "connection dropped mid-command", reply: reply{Stdout: " 0 slot=pvc-a\r\n", Drop: true}, timeout: time.Minute,
			wantInError: "running"},
		{name: "EOF without exit status", reply: reply{Stdout: "failure: no such item\r\n", NoExit: true}, timeout: time.Minute,
			wantInError: "without exit status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeRDS(t, func(string) reply { return tc.reply })
			c := connected(t, srv, func(cfg *SSHConfig) { cfg.CommandTimeout = tc.timeout })
			ctx := context.Background()
			if tc.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTimeout)
				defer cancel()
			}
			start := time.Now()
			_, err := c.GetVolume(ctx, "pvc-a")
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("got %v, want ErrUnavailable", err)
			}
			var ce *CommandError
			if errors.As(err, &ce) {
				t.Fatalf("a transport failure must not be a CommandError: %v", err)
			}
			if errors.Is(err, ErrNotFound) {
				t.Fatalf("a transport failure must not look like NotFound: %v", err)
			}
			if !strings.Contains(err.Error(), tc.wantInError) {
				t.Errorf("error %q should mention %q", err, tc.wantInError)
			}
			if tc.wantCtxErr != nil && !errors.Is(err, tc.wantCtxErr) {
				t.Errorf("error %v does not wrap %v", err, tc.wantCtxErr)
			}
			if elapsed := time.Since(start); elapsed > channelWait {
				t.Errorf("took %v", elapsed)
			}
			if tc.keeps {
				noLost(t, c)
				srv.setHandler(answers(map[string]reply{identityCommand: {Stdout: "  name: rds\r\n"}}))
				if err := c.Ping(context.Background()); err != nil {
					t.Errorf("the connection did not survive a command's failure: %v", err)
				}
				if n := srv.acceptedConns(); n != 1 {
					t.Errorf("accepted %d connections, want 1", n)
				}
				return
			}
			_ = waitLost(t, c)
			// The failed connection is gone: no implicit reconnect.
			if err := c.Ping(context.Background()); !errors.Is(err, ErrUnavailable) {
				t.Errorf("after the failure: %v", err)
			}
			// The FSM reconnects; the new connection works.
			srv.setHandler(answers(map[string]reply{identityCommand: {Stdout: "  name: rds\r\n"}}))
			if err := c.Connect(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := c.Ping(context.Background()); err != nil {
				t.Errorf("after reconnect: %v", err)
			}
			noLost(t, c)
		})
	}
}

// A caller's deadline shorter than the command timeout (a sidecar's RPC
// timeout, say) fails that call only: the shared connection, and every other
// command on it, stays.
func TestCallerDeadlineKeepsTheConnection(t *testing.T) {
	srv := newFakeRDS(t, func(cmd string) reply {
		if cmd == identityCommand {
			return reply{Stdout: "  name: rds\r\n"}
		}
		return reply{Hang: true}
	})
	c := connected(t, srv, func(cfg *SSHConfig) { cfg.CommandTimeout = time.Minute })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetVolume(ctx, "pvc-a")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "caller's deadline") {
		t.Fatalf("got %v, want ErrUnavailable wrapping the caller's DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > channelWait {
		t.Errorf("took %v", elapsed)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("connection lost after a caller's deadline: %v", err)
	}
	noLost(t, c)
}

func TestCallerCancellationKeepsTheConnection(t *testing.T) {
	srv := newFakeRDS(t, func(cmd string) reply {
		if cmd == identityCommand {
			return reply{Stdout: "  name: rds\r\n"}
		}
		return reply{Hang: true}
	})
	c := connected(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.GetVolume(ctx, "pvc-a"); done <- err }()
	waitFor(t, "the command to reach the server", done, func() bool { return len(srv.received()) > 0 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want ErrUnavailable and context.Canceled", err)
		}
	case <-time.After(channelWait):
		t.Fatal("cancellation not honoured")
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("the connection should survive a caller's cancellation: %v", err)
	}
	noLost(t, c)
	// Already cancelled: nothing is sent.
	n := len(srv.received())
	if err := c.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	if len(srv.received()) != n {
		t.Error("a command with a cancelled context reached the server")
	}
}

func TestServerDropSignalsLoss(t *testing.T) {
	srv := newFakeRDS(t, answers(map[string]reply{identityCommand: {Stdout: "  name: rds\r\n"}}))
	c := connected(t, srv)
	srv.dropAll()
	err := waitLost(t, c)
	if !strings.Contains(err.Error(), "closed") {
		t.Errorf("loss %v", err)
	}
	if err := c.Ping(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("after the loss: %v", err)
	}
}

func TestConnectReplacesWithoutSignallingLoss(t *testing.T) {
	srv := newFakeRDS(t, answers(map[string]reply{identityCommand: {Stdout: "  name: rds\r\n"}}))
	c := connected(t, srv)
	for range 3 {
		if err := c.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		noLost(t, c)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := srv.acceptedConns(); n != 4 {
		t.Errorf("accepted %d, want 4", n)
	}
	// A loss still pending when Connect succeeds concerned the old
	// connection and is withdrawn.
	srv.dropAll()
	waitFor(t, "a loss to be pending", nil, func() bool { return len(c.Lost()) > 0 })
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	noLost(t, c)
}

func TestConnectHonoursContext(t *testing.T) {
	// A server that accepts TCP and never speaks SSH: the handshake hangs.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		for _, nc := range conns {
			_ = nc.Close()
		}
	})
	srv := newFakeRDS(t, answers(nil))
	cfg := srv.config(t)
	cfg.Address = ln.Addr().String()

	t.Run("context deadline", func(t *testing.T) {
		c, err := NewSSHClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = c.Connect(ctx)
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v", err)
		}
		if elapsed := time.Since(start); elapsed > channelWait {
			t.Errorf("handshake not bounded: %v", elapsed)
		}
	})
	t.Run("dial timeout", func(t *testing.T) {
		cfg := cfg
		cfg.DialTimeout = 200 * time.Millisecond
		c, err := NewSSHClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Connect(context.Background()); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("cancellation", func(t *testing.T) {
		c, err := NewSSHClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		if err := c.Connect(ctx); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		cfg := cfg
		closed, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Address = closed.Addr().String()
		_ = closed.Close()
		c, err := NewSSHClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Connect(context.Background()); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "dial") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unknown client key", func(t *testing.T) {
		cfg := srv.config(t)
		cfg.Signer = newSigner(t)
		c, err := NewSSHClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Connect(context.Background()); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestFailureAnswersAreCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply reply
		want  error
	}{
		{"failure on stdout, exit 0", reply{Stdout: "failure: no such item\r\n"}, ErrNotFound},
		{"failure on stdout, exit 1", reply{Stdout: "failure: not enough space\r\n", Exit: 1}, ErrNoSpace},
		{"failure on stderr, exit 1", reply{Stderr: "failure: disk with such slot already exists\r\n", Exit: 1}, ErrAlreadyExists},
		{"failure on stderr, exit 0", reply{Stderr: "failure: no such item\r\n"}, ErrNotFound},
		{"bad command name, exit 0", reply{Stdout: "bad command name idntity (line 1 column 9)\r\n"}, ErrInvalidArgument},
		{"expected end of command, exit 1", reply{Stderr: "expected end of command (line 1 column 20)", Exit: 1}, ErrInvalidArgument},
		{"other failure", reply{Stdout: "failure: disk is busy\r\n", Exit: 1}, ErrCommandFailed},
		{"bare non-zero exit", reply{Exit: 255}, ErrCommandFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeRDS(t, func(string) reply { return tc.reply })
			c := connected(t, srv)
			err := c.Ping(context.Background())
			var ce *CommandError
			if !errors.As(err, &ce) || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want a CommandError wrapping %v", err, tc.want)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Errorf("a RouterOS answer must not be ErrUnavailable: %v", err)
			}
			if ce.Command != identityCommand || ce.Exit != tc.reply.Exit {
				t.Errorf("CommandError %+v", ce)
			}
			// An answer is no transport failure: the connection stays.
			srv.setHandler(answers(map[string]reply{identityCommand: {Stdout: "  name: rds\r\n"}}))
			if err := c.Ping(context.Background()); err != nil {
				t.Errorf("connection lost after a failure answer: %v", err)
			}
			noLost(t, c)
		})
	}
}

func TestConcurrentCommands(t *testing.T) {
	srv := newFakeRDS(t, func(cmd string) reply {
		return reply{Stdout: fmt.Sprintf(" 0 slot=%s size=1 048 576\r\n", strings.TrimPrefix(cmd, "/disk print detail where slot="))}
	})
	c := connected(t, srv)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				id := fmt.Sprintf("pvc-%d-%d", i, j)
				v, err := c.GetVolume(context.Background(), id)
				if err == nil && v.ID != id {
					err = fmt.Errorf("got %s for %s", v.ID, id)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	// A reconnect in the middle of it must not race either.
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		// Commands caught on the replaced connection fail as transport
		// failures; anything else is a bug.
		if !errors.Is(err, ErrUnavailable) {
			t.Error(err)
		}
	}
	noLost(t, c)
}

func TestCappedBuffer(t *testing.T) {
	var b cappedBuffer
	chunk := make([]byte, maxOutputBytes/2+1)
	for range 3 {
		if n, err := b.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if !b.truncated || b.buf.Len() != maxOutputBytes {
		t.Errorf("truncated %v len %d", b.truncated, b.buf.Len())
	}
}

// TestFrozenRDS: an RDS that stops answering without closing anything must
// still cost at most the command deadline. The deadline fails that command
// only: whether the connection is dead is the health check's verdict (the
// FSM's), not one slow command's.
func TestFrozenRDS(t *testing.T) {
	for _, tc := range []struct {
		name         string
		freezeBefore bool // freeze before the command (session open hangs) or after it arrived
		cancel       bool // the caller cancels instead of the deadline striking
	}{
		{name: "frozen before the command: session open hangs", freezeBefore: true},
		{name: "frozen while the command runs"},
		{name: "caller cancels while frozen", cancel: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeRDS(t, func(string) reply { return reply{Hang: true} })
			proxy := newFreezeProxy(t, srv.addr())
			timeout := 300 * time.Millisecond
			if tc.cancel {
				timeout = time.Minute
			}
			c := connected(t, srv, func(cfg *SSHConfig) { cfg.Address, cfg.CommandTimeout = proxy.addr(), timeout })
			if tc.freezeBefore {
				proxy.freeze()
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- c.Ping(ctx) }()
			if !tc.freezeBefore {
				waitFor(t, "the command to reach the server", done, func() bool { return len(srv.received()) > 0 })
				proxy.freeze()
			}
			if tc.cancel {
				cancel()
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(channelWait):
				t.Fatal("the command outlived its deadline against a frozen RDS")
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("got %v, want ErrUnavailable", err)
			}
			if tc.cancel {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("got %v, want context.Canceled", err)
				}
				noLost(t, c)
				return
			}
			if !errors.Is(err, ErrCommandTimeout) {
				t.Errorf("error %q should be the command timeout", err)
			}
			noLost(t, c)
		})
	}
}
