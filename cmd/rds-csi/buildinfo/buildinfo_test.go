package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	got := Line("rds-csi", "v1.2.3", "abc123")
	want := "rds-csi v1.2.3 (revision abc123, " + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")"
	if got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
	if f := strings.Fields(got); f[1] != "v1.2.3" {
		t.Errorf("second word %q is not the version", f[1])
	}
}

func TestFromSettings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings []debug.BuildSetting
		want     string
	}{
		{"no vcs", nil, "unknown"},
		{"clean", []debug.BuildSetting{{Key: "vcs.revision", Value: "e4eadcd"}, {Key: "vcs.modified", Value: "false"}}, "e4eadcd"},
		{"dirty", []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: "e4eadcd"}}, "e4eadcd-dirty"},
		{"modified without revision", []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}}, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromSettings(tc.settings); got != tc.want {
				t.Errorf("fromSettings = %q, want %q", got, tc.want)
			}
		})
	}
	if got := Revision("explicit"); got != "explicit" {
		t.Errorf("Revision(explicit) = %q", got)
	}
}
