// Package simtest starts an RDS emulator for a test: fresh keys, a data
// directory and a server on a free loopback port, torn down by t.Cleanup.
package simtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"k8s.io/klog/v2/ktesting"

	"github.com/srvlab/rds-csi/rds/sim"
)

// User is the SSH user name the helpers log in with (the emulator accepts any).
const User = "admin"

// Env is a running emulator and everything a client needs to reach it.
type Env struct {
	// Server is the running emulator; Restart replaces it.
	Server *sim.Server
	// Addr is host:port of SSH; it stays the same across Restart.
	Addr string
	// ControlURL is the HTTP control endpoint's base URL; empty with WithoutControl.
	ControlURL string
	// ClientSigner is the authorized client key.
	ClientSigner ssh.Signer
	// ClientKeyPath holds ClientSigner as an OpenSSH private key (mode 0600).
	ClientKeyPath string
	// HostKeyPath holds the server's public key line "ssh-ed25519 AAAA...".
	HostKeyPath string
	// KnownHostsPath is a known_hosts file pinning the host key for Addr,
	// usable as OpenSSH's UserKnownHostsFile.
	KnownHostsPath string
	// AuthorizedKeysPath is the server's authorized_keys file.
	AuthorizedKeysPath string
	// DataDir is the emulator's data directory.
	DataDir string

	cfg sim.Config
}

// Option adjusts the emulator's configuration.
type Option func(*sim.Config)

// WithCapacity sets the pool capacity in bytes.
func WithCapacity(bytes int64) Option { return func(c *sim.Config) { c.Capacity = bytes } }

// WithLatency selects the latency model.
func WithLatency(l sim.Latency) Option { return func(c *sim.Config) { c.Latency = l } }

// WithIdentity sets the /system identity answer.
func WithIdentity(name string) Option { return func(c *sim.Config) { c.Identity = name } }

// WithMaxSessions limits the session channels open at once per SSH
// connection (0: unlimited); more are refused with ssh.ResourceShortage.
// Server.SetMaxSessions changes it while running.
func WithMaxSessions(n int) Option { return func(c *sim.Config) { c.MaxSessions = n } }

// WithCopyRate makes /disk add copy-from take (source size)/rate seconds
// (0: instant). Server.SetCopyRate changes it while running.
func WithCopyRate(bytesPerSecond int64) Option {
	return func(c *sim.Config) { c.CopyRate = bytesPerSecond }
}

// WithFlapAfter makes the server close every SSH connection d after its
// handshake (0: off). Server.SetFlapAfter changes it while running.
func WithFlapAfter(d time.Duration) Option { return func(c *sim.Config) { c.FlapAfter = d } }

// WithoutControl disables the HTTP control endpoint (it is on by default).
func WithoutControl() Option { return func(c *sim.Config) { c.ControlListen = "" } }

// WithConfig applies any change to the configuration.
func WithConfig(f func(*sim.Config)) Option { return Option(f) }

// Start runs an emulator for the duration of the test.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	dir := t.TempDir()
	e := &Env{
		DataDir:            filepath.Join(dir, "data"),
		ClientKeyPath:      filepath.Join(dir, "id_ed25519"),
		AuthorizedKeysPath: filepath.Join(dir, "authorized_keys"),
		HostKeyPath:        filepath.Join(dir, "host_key.pub"),
		KnownHostsPath:     filepath.Join(dir, "known_hosts"),
	}
	signer, pemBytes, err := NewKey()
	if err != nil {
		t.Fatalf("client key: %v", err)
	}
	e.ClientSigner = signer
	if err := os.WriteFile(e.ClientKeyPath, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.AuthorizedKeysPath, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	e.cfg = sim.Config{
		Listen:             "127.0.0.1:0",
		DataDir:            e.DataDir,
		AuthorizedKeysPath: e.AuthorizedKeysPath,
		ControlListen:      "127.0.0.1:0",
		Logger:             ktesting.NewLogger(t, ktesting.NewConfig()),
	}
	for _, o := range opts {
		o(&e.cfg)
	}
	e.start(t)
	// Pin the ports actually bound so Restart comes back on the same ones.
	e.cfg.Listen = e.Addr
	if e.ControlURL != "" {
		e.cfg.ControlListen = e.ControlURL[len("http://"):]
	}
	t.Cleanup(func() {
		if err := e.Server.Close(); err != nil {
			t.Errorf("closing emulator: %v", err)
		}
	})
	return e
}

func (e *Env) start(t testing.TB) {
	t.Helper()
	srv, err := sim.New(e.cfg)
	if err != nil {
		t.Fatalf("emulator: %v", err)
	}
	// After a Restart the old listener's port is free again, but give the
	// kernel a moment in the unlikely case another test grabbed it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err = srv.Start()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("starting emulator: %v", err)
	}
	e.Server = srv
	e.Addr = srv.Addr()
	e.ControlURL = srv.ControlURL()
	pub := ssh.MarshalAuthorizedKey(srv.HostPublicKey())
	if err := os.WriteFile(e.HostKeyPath, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(e.Addr)
	known := fmt.Appendf(nil, "[%s]:%s %s", host, port, pub)
	if err := os.WriteFile(e.KnownHostsPath, known, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Restart closes the server and starts a new one on the same address, data
// directory and host key: every connection is cut, the state is kept.
func (e *Env) Restart(t testing.TB) {
	t.Helper()
	if err := e.Server.Close(); err != nil {
		t.Fatalf("closing emulator: %v", err)
	}
	e.start(t)
}

// ClientConfig authenticates with ClientSigner and pins the host key.
func (e *Env) ClientConfig() *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(e.ClientSigner)},
		HostKeyCallback: ssh.FixedHostKey(e.Server.HostPublicKey()),
		Timeout:         10 * time.Second,
	}
}

// Dial opens an SSH connection that is closed when the test ends.
func (e *Env) Dial(t testing.TB) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", e.Addr, e.ClientConfig())
	if err != nil {
		t.Fatalf("dial emulator: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Exec runs one command on a new session of c and returns stdout and the
// exit status. err reports transport problems only.
func Exec(c *ssh.Client, command string) (stdout string, exit int, err error) {
	sess, err := c.NewSession()
	if err != nil {
		return "", 0, err
	}
	defer sess.Close()
	var out bytes.Buffer
	sess.Stdout = &out
	err = sess.Run(command)
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		return out.String(), ee.ExitStatus(), nil
	}
	return out.String(), 0, err
}

// Run executes one command on a fresh connection, failing the test on
// transport errors.
func (e *Env) Run(t testing.TB, command string) (stdout string, exit int) {
	t.Helper()
	c := e.Dial(t)
	defer c.Close()
	out, exit, err := Exec(c, command)
	if err != nil {
		t.Fatalf("%s: %v", command, err)
	}
	return out, exit
}

// NewKey generates an ed25519 key and its OpenSSH PEM encoding.
func NewKey() (ssh.Signer, []byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "rds-sim test key")
	if err != nil {
		return nil, nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return signer, pem.EncodeToMemory(block), nil
}
