package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"k8s.io/klog/v2/ktesting"
)

// Regression: a stop (SIGTERM) while Run waits for the startup attachment
// pass is a clean stop, not a failure: Run used to return
// context.Canceled, so the process exited 1 and logged "rds-csi failed",
// and a component that had really failed had its error replaced by it.
func TestRunStopsCleanlyDuringStartupPass(t *testing.T) {
	dir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	// An API server that never answers: the informers never sync, so Run
	// stays in the startup pass until it is stopped.
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "csi.sock")
	cfg := DefaultConfig()
	cfg.Mode = ModeController
	cfg.Endpoint = "unix://" + sock
	cfg.RDSAddress = "127.0.0.1:1"
	cfg.RDSPrivateKey = keyPath
	cfg.RDSInsecureSkipHost = true
	cfg.MetricsAddress = ""
	cfg.Kubeconfig = kubeconfig
	cfg.StartupReconcileTimeout = time.Minute

	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	time.Sleep(500 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after a stop during the startup pass = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket %s exists after a stop before serving (err %v)", sock, err)
	}
}
