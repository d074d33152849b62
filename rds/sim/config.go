package sim

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// Latency selects how long commands take.
type Latency string

const (
	// LatencyNone answers as fast as the host allows (unit tests).
	LatencyNone Latency = "none"
	// LatencyRealistic injects the delays measured on hardware (benchmarks).
	LatencyRealistic Latency = "realistic"
)

// Defaults applied by Validate and New to zero fields.
const (
	DefaultListen   = "127.0.0.1:2222"
	DefaultCapacity = int64(1) << 40 // 1 TiB
	DefaultIdentity = "rds-sim"
	DefaultPool     = "storage-pool"
	// HostKeyFileName is the host key's name inside the data directory
	// unless Config.HostKeyPath says otherwise.
	HostKeyFileName = "ssh_host_ed25519_key"
	// StateFileName is the state file's name inside the data directory.
	StateFileName = "state.json"
)

// Config of one emulated RDS. Zero fields take the defaults above.
type Config struct {
	// Listen is the SSH address, host:port (port 0 picks a free one).
	Listen string
	// DataDir holds the state file, the default host key and the backing files. Required.
	DataDir string
	// HostKeyPath is the OpenSSH ed25519 private key; created if absent.
	HostKeyPath string
	// AuthorizedKeysPath is an OpenSSH authorized_keys file, read on every
	// authentication attempt like sshd does. Options in it are ignored. Required.
	AuthorizedKeysPath string
	// User, when set, is the only user name accepted; empty accepts any.
	User string
	// Capacity of the pool in bytes; disk sizes may not sum above it.
	Capacity int64
	// Latency model; empty means none.
	Latency Latency
	// ControlListen is the loopback host:port of the HTTP control endpoint;
	// empty disables it.
	ControlListen string
	// Identity answered by /system identity print.
	Identity string
	// Pool is the single mount point (first path component of every file-path).
	Pool string
	// MaxSessions limits the session channels open at once on one SSH
	// connection; a session beyond it is refused with ResourceShortage
	// ("too many sessions"). 0 means unlimited. Changeable at run time.
	MaxSessions int
	// CopyRate is the speed of /disk add copy-from in bytes per second: a
	// copy takes (source size)/CopyRate. 0 copies instantly. Changeable at
	// run time; a running copy keeps the rate it started with.
	CopyRate int64
	// FlapAfter, when positive, closes every SSH connection that long after
	// its handshake completed. 0 means off. Changeable at run time; applies
	// to connections whose handshake completes afterwards.
	FlapAfter time.Duration
	// Logger receives structured logs; the zero value means klog.Background().
	Logger klog.Logger
}

var poolPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.HostKeyPath == "" && c.DataDir != "" {
		c.HostKeyPath = filepath.Join(c.DataDir, HostKeyFileName)
	}
	if c.Capacity == 0 {
		c.Capacity = DefaultCapacity
	}
	if c.Latency == "" {
		c.Latency = LatencyNone
	}
	if c.Identity == "" {
		c.Identity = DefaultIdentity
	}
	if c.Pool == "" {
		c.Pool = DefaultPool
	}
	if c.Logger.GetSink() == nil {
		c.Logger = klog.Background()
	}
	return c
}

// Validate reports every problem of the configuration (after defaults are
// applied) at once, so a CLI user fixes all flags in one round.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if _, err := splitPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: %w", c.Listen, err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data directory is required"))
	}
	if c.AuthorizedKeysPath == "" {
		errs = append(errs, errors.New("authorized keys file is required"))
	} else if _, err := os.Stat(c.AuthorizedKeysPath); err != nil {
		errs = append(errs, fmt.Errorf("authorized keys file: %w", err))
	}
	if c.Capacity <= 0 {
		errs = append(errs, fmt.Errorf("capacity must be positive, got %d", c.Capacity))
	}
	if c.Latency != LatencyNone && c.Latency != LatencyRealistic {
		errs = append(errs, fmt.Errorf("latency %q: want %q or %q", c.Latency, LatencyNone, LatencyRealistic))
	}
	if c.ControlListen != "" {
		if err := checkLoopback(c.ControlListen); err != nil {
			errs = append(errs, fmt.Errorf("control address %q: %w", c.ControlListen, err))
		}
	}
	if c.MaxSessions < 0 {
		errs = append(errs, fmt.Errorf("max sessions must not be negative, got %d", c.MaxSessions))
	}
	if c.CopyRate < 0 {
		errs = append(errs, fmt.Errorf("copy rate must not be negative, got %d", c.CopyRate))
	}
	if c.FlapAfter < 0 {
		errs = append(errs, fmt.Errorf("flap-after must not be negative, got %v", c.FlapAfter))
	}
	if !printable(c.Identity) {
		errs = append(errs, fmt.Errorf("identity %q must be printable text", c.Identity))
	}
	if !poolPattern.MatchString(c.Pool) {
		errs = append(errs, fmt.Errorf("pool %q must match %s", c.Pool, poolPattern))
	}
	return errors.Join(errs...)
}

// splitPort returns the host of a host:port address whose port is a number.
func splitPort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("bad port %q", port)
	}
	return host, nil
}

// checkLoopback refuses anything but a loopback host: the control endpoint
// has no authentication, so it must never be reachable from the network.
func checkLoopback(addr string) error {
	host, err := splitPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return errors.New("must be a loopback address (127.0.0.1, ::1 or localhost)")
	}
	return nil
}

// ParseSize parses a RouterOS size argument: plain bytes, or an integer with
// a K, M, G or T suffix (powers of 1024, either case).
func ParseSize(s string) (int64, error) {
	shift := 0
	num := s
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			shift = 10
		case 'm', 'M':
			shift = 20
		case 'g', 'G':
			shift = 30
		case 't', 'T':
			shift = 40
		}
		if shift != 0 {
			num = s[:n-1]
		}
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, fmt.Errorf("size %q: want digits with an optional K, M, G or T suffix", s)
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v > (1<<63-1)>>shift {
		return 0, fmt.Errorf("size %q is out of range", s)
	}
	return v << shift, nil
}

// printable reports a non-empty string without control characters.
func printable(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
