package procs

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
)

// SSHKeys is the driver's client key and the emulator's authorized_keys.
type SSHKeys struct {
	ClientKey      string // OpenSSH private key, mode 0600 (rds-csi --rds-private-key)
	AuthorizedKeys string // the client's public key (rds-sim --authorized-keys)
	Signer         ssh.Signer
}

// NewSSHKeys writes a fresh ed25519 client key pair into dir.
func NewSSHKeys(tb testing.TB, dir string) SSHKeys {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "rds-csi test")
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	k := SSHKeys{
		ClientKey:      filepath.Join(dir, "id_ed25519"),
		AuthorizedKeys: filepath.Join(dir, "authorized_keys"),
		Signer:         signer,
	}
	if err := os.WriteFile(k.ClientKey, pem.EncodeToMemory(block), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(k.AuthorizedKeys, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return k
}

// EmulatorHostKey reads the host key rds-sim created in its data directory
// and returns its public half, also written as an OpenSSH line ("ssh-ed25519
// AAAA…") to out, for rds-csi --rds-host-key.
func EmulatorHostKey(dataDir, out string) (ssh.PublicKey, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, "ssh_host_ed25519_key"))
	if err != nil {
		return nil, fmt.Errorf("emulator host key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("emulator host key: %w", err)
	}
	if err := os.WriteFile(out, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644); err != nil {
		return nil, err
	}
	return signer.PublicKey(), nil
}
