package rds

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

// ErrHostKeyMismatch: the RDS presented a host key other than the pinned
// one. Connect wraps it together with ErrUnavailable.
var ErrHostKeyMismatch = errors.New("ssh host key mismatch")

// LoadHostKeys reads the pinned host key(s) of the RDS from a file.
func LoadHostKeys(path string) ([]ssh.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: host key file: %w", ErrInvalidArgument, err)
	}
	keys, err := ParseHostKeys(data)
	if err != nil {
		return nil, fmt.Errorf("host key file %s: %w", path, err)
	}
	return keys, nil
}

// ParseHostKeys accepts, one per line, OpenSSH public-key lines
// ("ssh-ed25519 AAAA... comment", as in a .pub file or ssh-keyscan without
// host) and known_hosts lines ("host ssh-ed25519 AAAA...", also hashed
// "|1|..." and bracketed "[host]:port" forms). Only the key is used: the
// file pins this one RDS, so host names in it are not matched. Several keys
// may be pinned (e.g. the ed25519 and the RSA key of the same RDS). Blank
// lines and '#' comments are ignored; @revoked and @cert-authority lines
// are refused rather than misread.
func ParseHostKeys(data []byte) ([]ssh.PublicKey, error) {
	var keys []ssh.PublicKey
	for n, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		key, err := parseHostKeyLine(line)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrInvalidArgument, n+1, err)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no host key found", ErrInvalidArgument)
	}
	return keys, nil
}

func parseHostKeyLine(line []byte) (ssh.PublicKey, error) {
	// known_hosts first: it reports markers. A public-key line fails here
	// (its base64 blob is not a key type) and is then parsed as such.
	marker, _, key, _, _, errKnown := ssh.ParseKnownHosts(line)
	if errKnown == nil {
		if marker != "" {
			return nil, fmt.Errorf("@%s lines cannot pin a host key", marker)
		}
		return key, nil
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey(line)
	if err != nil {
		return nil, fmt.Errorf("neither a public key nor a known_hosts line: %w", errors.Join(err, errKnown))
	}
	return key, nil
}

// pinnedHostKey accepts exactly the pinned keys (byte comparison through
// ssh.FixedHostKey) and names both fingerprints on a mismatch.
func pinnedHostKey(keys []ssh.PublicKey) ssh.HostKeyCallback {
	checks := make([]ssh.HostKeyCallback, len(keys))
	pinned := make([]string, len(keys))
	for i, k := range keys {
		checks[i] = ssh.FixedHostKey(k)
		pinned[i] = k.Type() + " " + ssh.FingerprintSHA256(k)
	}
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		for _, check := range checks {
			if check(hostname, remote, key) == nil {
				return nil
			}
		}
		return fmt.Errorf("%w: %s presented %s %s, pinned %s", ErrHostKeyMismatch, hostname,
			key.Type(), ssh.FingerprintSHA256(key), strings.Join(pinned, ", "))
	}
}

// hostKeyAlgorithms restricts negotiation to the pinned key types, so a
// server holding several host keys presents a pinned one rather than the
// one it prefers.
func hostKeyAlgorithms(keys []ssh.PublicKey) []string {
	var algos []string
	for _, k := range keys {
		switch t := k.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}
