package kube

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://api.example.test:6443
contexts:
- name: test
  context:
    cluster: test
    user: test
current-context: test
users:
- name: test
  user:
    token: secret
`

func TestNewClientset(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(good, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		kubeconfig string
		env        map[string]string
		wantHost   string
		want       outcome
	}{
		{name: "no flag, not in a pod", want: wantNoCluster},
		{name: "KUBECONFIG alone is ignored", env: map[string]string{"KUBECONFIG": good}, want: wantNoCluster},
		{name: "kubeconfig flag", kubeconfig: good, wantHost: "https://api.example.test:6443"},
		{name: "missing kubeconfig file", kubeconfig: filepath.Join(dir, "missing"), want: wantConfigError},
		// In a pod without a service-account token: a real error, never
		// mistaken for "no cluster".
		{name: "in a pod without token", env: map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}, want: wantConfigError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			for k, v := range tc.env {
				t.Setenv(k, v) // rest.InClusterConfig reads the environment itself
			}
			cs, cfg, err := newClientset(tc.kubeconfig, getenv)
			switch {
			case tc.want == wantClient && err != nil:
				t.Fatalf("error %v", err)
			case tc.want == wantConfigError && (err == nil || errors.Is(err, ErrNoCluster)):
				t.Fatalf("error %v, want a configuration error", err)
			case tc.want == wantNoCluster && !errors.Is(err, ErrNoCluster):
				t.Fatalf("error %v, want ErrNoCluster", err)
			}
			if tc.want != wantClient {
				if cs != nil || cfg != nil {
					t.Errorf("got a client along with error %v", err)
				}
				return
			}
			if cs == nil || cfg.Host != tc.wantHost {
				t.Fatalf("client %v, host %q, want %q", cs, cfg.Host, tc.wantHost)
			}
			if !strings.HasSuffix(cfg.UserAgent, "/"+UserAgent) {
				t.Errorf("user agent %q does not name the driver", cfg.UserAgent)
			}
		})
	}
}

type outcome int

const (
	wantClient      outcome = iota // a clientset
	wantNoCluster                  // ErrNoCluster
	wantConfigError                // any other error
)
