package sim

import (
	"math"
	"testing"
	"time"
)

func TestParseKnobs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parse func(string) (int64, error)
		in    string
		want  int64
		bad   bool
	}{
		{"sessions", func(s string) (int64, error) { n, err := parseMaxSessions(s); return int64(n), err }, "4", 4, false},
		{"sessions off", func(s string) (int64, error) { n, err := parseMaxSessions(s); return int64(n), err }, "off", 0, false},
		{"sessions zero", func(s string) (int64, error) { n, err := parseMaxSessions(s); return int64(n), err }, "0", 0, false},
		{"sessions negative", func(s string) (int64, error) { n, err := parseMaxSessions(s); return int64(n), err }, "-1", 0, true},
		{"sessions word", func(s string) (int64, error) { n, err := parseMaxSessions(s); return int64(n), err }, "many", 0, true},
		{"rate", ParseCopyRate, "100M", 100 << 20, false},
		{"rate plain", ParseCopyRate, "4096", 4096, false},
		{"rate off", ParseCopyRate, "off", 0, false},
		{"rate negative", ParseCopyRate, "-1M", 0, true},
		{"rate fraction", ParseCopyRate, "1.5G", 0, true},
		{"flap", func(s string) (int64, error) { d, err := ParseFlapAfter(s); return int64(d), err }, "200ms", int64(200 * time.Millisecond), false},
		{"flap zero", func(s string) (int64, error) { d, err := ParseFlapAfter(s); return int64(d), err }, "0", 0, false},
		{"flap off", func(s string) (int64, error) { d, err := ParseFlapAfter(s); return int64(d), err }, "off", 0, false},
		{"flap negative", func(s string) (int64, error) { d, err := ParseFlapAfter(s); return int64(d), err }, "-1s", 0, true},
		{"flap unitless", func(s string) (int64, error) { d, err := ParseFlapAfter(s); return int64(d), err }, "200", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.parse(tc.in)
			if tc.bad != (err != nil) || (!tc.bad && got != tc.want) {
				t.Errorf("parse(%q) = %d, %v; want %d, bad=%v", tc.in, got, err, tc.want, tc.bad)
			}
		})
	}
}

func TestCopyTime(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size, rate int64
		want       time.Duration
	}{
		{"instant", 1 << 30, 0, 0},
		{"empty", 0, 1, 0},
		{"one second", 100 << 20, 100 << 20, time.Second},
		{"half", 50 << 20, 100 << 20, 500 * time.Millisecond},
		{"saturates", math.MaxInt64, 1, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := copyTime(tc.size, tc.rate); got != tc.want {
				t.Errorf("copyTime(%d, %d) = %v, want %v", tc.size, tc.rate, got, tc.want)
			}
		})
	}
}
