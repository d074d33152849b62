package sim

import (
	"testing"
	"time"
)

func TestFormatUptime(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{999 * time.Millisecond, "0s"},
		{45 * time.Second, "45s"},
		{3*time.Hour + 5*time.Second, "3h5s"},
		{15*24*time.Hour + 5*time.Hour + 26*time.Minute + 30*time.Second, "2w1d5h26m30s"},
	} {
		if got := formatUptime(tc.in); got != tc.want {
			t.Errorf("formatUptime(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
