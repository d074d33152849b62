package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/srvlab/rds-csi/cmd/rds-csi/app"
)

func TestVersionFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"alone", []string{"--version"}},
		// Answered before validation: a node flag set without a node id
		// would otherwise exit 2.
		{"with an invalid configuration", []string{"--version", "--mode=node"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run("rds-csi", tc.args, &out); code != 0 {
				t.Fatalf("exit %d, want 0 (output %q)", code, out.String())
			}
			line := strings.TrimSpace(out.String())
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "rds-csi" || f[1] != app.Version {
				t.Errorf("output %q does not start with %q", line, "rds-csi "+app.Version)
			}
			if !strings.Contains(line, runtime.Version()) {
				t.Errorf("output %q lacks the Go version %s", line, runtime.Version())
			}
		})
	}
}

func TestInvalidConfigurationExits2(t *testing.T) {
	var out bytes.Buffer
	if code := run("rds-csi", []string{"--mode=node"}, &out); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q on stdout", out.String())
	}
}
