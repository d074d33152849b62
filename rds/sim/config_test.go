package sim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "0", want: 0}, {in: "4096", want: 4096}, {in: "1K", want: 1024}, {in: "1k", want: 1024},
		{in: "10M", want: 10 << 20}, {in: "50G", want: 50 << 30}, {in: "50g", want: 50 << 30},
		{in: "1T", want: 1 << 40}, {in: "8388607T", want: 8388607 << 40},
		{in: "", bad: true}, {in: "G", bad: true}, {in: "1.5G", bad: true}, {in: "-1", bad: true},
		{in: "10GiB", bad: true}, {in: "1P", bad: true}, {in: "8388608T", bad: true},
		{in: "99999999999999999999", bad: true}, {in: " 1G", bad: true},
	} {
		got, err := ParseSize(tc.in)
		if tc.bad != (err != nil) || (!tc.bad && got != tc.want) {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestValidate(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "authorized_keys")
	if err := os.WriteFile(keys, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	good := Config{DataDir: t.TempDir(), AuthorizedKeysPath: keys}
	if err := good.Validate(); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data directory is required"},
		{"no keys", func(c *Config) { c.AuthorizedKeysPath = "" }, "authorized keys file is required"},
		{"missing keys", func(c *Config) { c.AuthorizedKeysPath = "/nonexistent/keys" }, "no such file"},
		{"bad listen", func(c *Config) { c.Listen = "2222" }, "listen address"},
		{"negative capacity", func(c *Config) { c.Capacity = -1 }, "capacity must be positive"},
		{"bad latency", func(c *Config) { c.Latency = "slow" }, `latency "slow"`},
		{"public control", func(c *Config) { c.ControlListen = "0.0.0.0:8080" }, "loopback"},
		{"all-interfaces control", func(c *Config) { c.ControlListen = ":8080" }, "loopback"},
		{"lan control", func(c *Config) { c.ControlListen = "192.168.1.5:8080" }, "loopback"},
		{"bad identity", func(c *Config) { c.Identity = "a\nb" }, "identity"},
		{"bad pool", func(c *Config) { c.Pool = "../x" }, "pool"},
		{"negative max sessions", func(c *Config) { c.MaxSessions = -1 }, "max sessions must not be negative, got -1"},
		{"negative copy rate", func(c *Config) { c.CopyRate = -1 }, "copy rate must not be negative, got -1"},
		{"negative flap", func(c *Config) { c.FlapAfter = -time.Second }, "flap-after must not be negative, got -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	for _, ok := range []string{"127.0.0.1:0", "[::1]:9000", "localhost:9000", "127.0.0.2:1"} {
		c := good
		c.ControlListen = ok
		if err := c.Validate(); err != nil {
			t.Errorf("control %q: %v", ok, err)
		}
	}
}
