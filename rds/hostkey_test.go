package rds

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestHostKeyPinning(t *testing.T) {
	srv := newFakeRDS(t, answers(map[string]reply{identityCommand: {Stdout: "  name: rds\r\n"}}))
	key := srv.hostKey.PublicKey()
	other := newSigner(t).PublicKey()
	pub := func(k ssh.PublicKey) string { return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) }
	host, port, _ := net.SplitHostPort(srv.addr())

	for _, tc := range []struct {
		name     string
		file     string
		mismatch bool
	}{
		{"public key with comment", pub(key) + " rds@lab\n", false},
		{"public key without comment", pub(key), false},
		{"public key CRLF with comments and blanks", "# pinned 2025-11-12\r\n\r\n" + pub(key) + "\r\n", false},
		{"known_hosts plain host", knownhosts.Line([]string{host}, key) + "\n", false},
		{"known_hosts bracketed host:port", knownhosts.Line([]string{srv.addr()}, key) + "\n", false},
		{"known_hosts hashed host", knownhosts.Line([]string{knownhosts.HashHostname(knownhosts.Normalize(host + ":" + port))}, key), false},
		{"known_hosts other host name (only the key counts)", "rds.example.com,10.0.0.1 " + pub(key), false},
		{"several keys, the right one second", pub(other) + "\n" + pub(key) + "\n", false},
		{"wrong public key", pub(other), true},
		{"wrong known_hosts key", knownhosts.Line([]string{host}, other), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.config(t)
			cfg.HostKeyPath = writeFile(t, "pin", []byte(tc.file))
			c, err := NewSSHClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			err = c.Connect(context.Background())
			if !tc.mismatch {
				if err != nil {
					t.Fatalf("Connect: %v", err)
				}
				if err := c.Ping(context.Background()); err != nil {
					t.Fatalf("Ping: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrHostKeyMismatch) || !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Connect error %v, want ErrHostKeyMismatch and ErrUnavailable", err)
			}
			if !strings.Contains(err.Error(), "mismatch") || !strings.Contains(err.Error(), ssh.FingerprintSHA256(key)) {
				t.Errorf("error should say mismatch and name the presented key: %v", err)
			}
			if err := c.Ping(context.Background()); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Ping after a refused host key: %v", err)
			}
		})
	}
}

func TestParseHostKeysRejects(t *testing.T) {
	key := newSigner(t).PublicKey()
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	for name, file := range map[string]string{
		"empty":          "",
		"only comments":  "# nothing\n\n",
		"garbage":        "not a key at all",
		"truncated blob": pub[:len(pub)-10],
		"revoked marker": "@revoked * " + pub,
		"ca marker":      "@cert-authority *.example.com " + pub,
		"type mismatch":  "host ssh-rsa " + strings.Fields(pub)[1],
	} {
		t.Run(name, func(t *testing.T) {
			if keys, err := ParseHostKeys([]byte(file)); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("keys %v, err %v; want ErrInvalidArgument", keys, err)
			}
		})
	}
	if _, err := LoadHostKeys("/nonexistent/host_key"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("missing file: %v", err)
	}
}

func TestHostKeyAlgorithms(t *testing.T) {
	ed := newSigner(t).PublicKey()
	got := hostKeyAlgorithms([]ssh.PublicKey{ed})
	if len(got) != 1 || got[0] != ssh.KeyAlgoED25519 {
		t.Errorf("ed25519: %v", got)
	}
}
