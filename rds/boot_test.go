package rds

import (
	"errors"
	"testing"
	"time"
)

func TestParseUptime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "45s", want: 45 * time.Second},
		{in: "0s", want: 0},
		{in: "3h5s", want: 3*time.Hour + 5*time.Second},
		{in: "2w1d5h26m30s", want: 15*24*time.Hour + 5*time.Hour + 26*time.Minute + 30*time.Second},
		{in: "5d03:24:11", want: 5*24*time.Hour + 3*time.Hour + 24*time.Minute + 11*time.Second},
		{in: "00:00:09", want: 9 * time.Second},
		{in: " 1m ", want: time.Minute},
		{in: "", bad: true},
		{in: "5x", bad: true},
		{in: "1h 2m", bad: true},
		{in: "00:61:00", bad: true},
		{in: "-5s", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseUptime(tc.in)
			if tc.bad {
				if !errors.Is(err, ErrCommandFailed) {
					t.Fatalf("parseUptime(%q) = %v, %v; want ErrCommandFailed", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseUptime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}
