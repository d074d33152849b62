//go:build linux

package integration

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
)

// sshKeys is the driver's client key and the emulator's authorized_keys.
type sshKeys struct {
	clientKey      string // OpenSSH private key, mode 0600 (--rds-private-key)
	authorizedKeys string // the client's public key (--authorized-keys)
}

// newSSHKeys writes a fresh ed25519 client key pair into dir.
func newSSHKeys(tb testing.TB, dir string) sshKeys {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "rds-csi integration test")
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	k := sshKeys{
		clientKey:      filepath.Join(dir, "id_ed25519"),
		authorizedKeys: filepath.Join(dir, "authorized_keys"),
	}
	if err := os.WriteFile(k.clientKey, pem.EncodeToMemory(block), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(k.authorizedKeys, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return k
}

// writeHostPublicKey derives the OpenSSH public-key line ("ssh-ed25519
// AAAA…") from the host key the emulator created in its data directory and
// writes it to out, for --rds-host-key.
func writeHostPublicKey(tb testing.TB, dataDir, out string) {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, "ssh_host_ed25519_key"))
	if err != nil {
		tb.Fatalf("emulator host key: %v", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		tb.Fatalf("emulator host key: %v", err)
	}
	if err := os.WriteFile(out, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644); err != nil {
		tb.Fatal(err)
	}
}
