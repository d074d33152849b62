package app

import (
	"flag"
	"strings"
	"testing"
)

func parse(t *testing.T, args ...string) *Config {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("rds-csi", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return &c
}

func TestConfigValidate(t *testing.T) {
	controller := []string{"--mode=controller", "--rds-address=127.0.0.1:2222", "--rds-private-key=/k", "--rds-host-key=/h"}
	tests := []struct {
		name    string
		args    []string
		wantErr string // empty: valid
	}{
		{"controller ok", controller, ""},
		{"node ok", []string{"--mode=node", "--node-id=n1"}, ""},
		{"all with loop", append(append([]string{}, controller...), "--mode=all", "--node-id=n1", "--device-connector=loop", "--loop-root=/data"), ""},
		{"bad mode", []string{"--mode=both"}, "--mode"},
		{"node without id", []string{"--mode=node"}, "--node-id is required"},
		{"controller without address", []string{"--mode=controller", "--rds-private-key=/k", "--rds-host-key=/h"}, "--rds-address"},
		{"controller without host key", []string{"--mode=controller", "--rds-address=h:22", "--rds-private-key=/k"}, "--rds-host-key is required"},
		{"host key and insecure", append(append([]string{}, controller...), "--rds-insecure-skip-host-key-check"), "exclude each other"},
		{"relative endpoint", append(append([]string{}, controller...), "--endpoint=unix://csi.sock"), "--endpoint"},
		{"zero health interval", append(append([]string{}, controller...), "--rds-health-interval=0s"), "--rds-health-interval"},
		{"max below base", append(append([]string{}, controller...), "--reconnect-base=4s", "--reconnect-max=2s"), "--reconnect-max"},
		{"loop without root", []string{"--mode=node", "--node-id=n1", "--device-connector=loop"}, "--loop-root"},
		{"unknown connector", []string{"--mode=node", "--node-id=n1", "--device-connector=iscsi"}, "--device-connector"},
		{"bad lease timings", append(append([]string{}, controller...), "--leader-election", "--leader-election-renew-deadline=20s"), "renew-deadline"},
		{"hostile prefix", []string{"--mode=node", "--node-id=n1", "--managed-nqn-prefix=nqn.x;rm"}, "--managed-nqn-prefix"},
		{"node with state dir", []string{"--mode=node", "--node-id=n1", "--node-state-dir=/csi/state"}, ""},
		{"relative state dir", []string{"--mode=node", "--node-id=n1", "--node-state-dir=csi/state"}, "--node-state-dir"},
		{"zero node health interval", []string{"--mode=node", "--node-id=n1", "--node-health-interval=0s"}, "--node-health-interval"},
		{"node reconnect max below base", []string{"--mode=node", "--node-id=n1", "--node-reconnect-base=1m", "--node-reconnect-max=10s"}, "--node-reconnect-max"},
		{"node flags ignored in controller mode", append(append([]string{}, controller...), "--node-health-interval=0s"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parse(t, tt.args...).Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
