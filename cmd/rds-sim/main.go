// Command rds-sim runs the RDS emulator (package rds/sim) as a process:
// an SSH server speaking the RouterOS command subset the driver uses, with
// sparse backing files and an optional loopback HTTP control endpoint for
// fault injection.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/cmd/rds-csi/buildinfo"
	"github.com/srvlab/rds-csi/rds/sim"
)

// Version and Revision are what --version prints; set with
// -ldflags "-X main.Version=... -X main.Revision=..." as the Makefile does.
// An empty Revision falls back to the toolchain's VCS stamp, if any.
var (
	Version  = "dev"
	Revision = ""
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, so tests can drive the flag handling.
// Exit codes: 0 success, --help or --version, 1 runtime failure, 2 bad flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	defer klog.Flush()
	fs := flag.NewFlagSet("rds-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg sim.Config
	var capacity, latency, copyRate string
	fs.StringVar(&cfg.Listen, "listen", sim.DefaultListen, "SSH listen address `host:port`")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for state, host key and backing files (required)")
	fs.StringVar(&cfg.HostKeyPath, "host-key", "", "ed25519 host key `file`, created if absent (default <data-dir>/"+sim.HostKeyFileName+")")
	fs.StringVar(&cfg.AuthorizedKeysPath, "authorized-keys", "", "OpenSSH authorized_keys `file` (required)")
	fs.StringVar(&cfg.User, "user", "", "only accept this SSH user name (default: any)")
	fs.StringVar(&capacity, "capacity", "1T", "pool `size` in bytes or with K/M/G/T suffix")
	fs.StringVar(&latency, "latency", string(sim.LatencyNone), "latency model: none or realistic")
	fs.StringVar(&cfg.ControlListen, "control", "", "loopback `host:port` of the HTTP control endpoint (default off)")
	fs.StringVar(&cfg.Identity, "identity", sim.DefaultIdentity, "answer of /system identity print")
	fs.IntVar(&cfg.MaxSessions, "max-sessions", 0, "session channels open at once per SSH connection; more are refused with \"too many sessions\" (0: unlimited)")
	fs.StringVar(&copyRate, "copy-rate", "0", "speed of /disk add copy-from in `bytes` per second, with K/M/G/T suffix (0: instant)")
	fs.DurationVar(&cfg.FlapAfter, "flap-after", 0, "close every SSH connection this `duration` after its handshake (0: off)")
	version := fs.Bool("version", false, "print the version, revision and Go version, then exit")
	klog.InitFlags(fs)
	fs.Usage = func() {
		_, _ = fmt.Fprintf(fs.Output(), "Usage: rds-sim --data-dir DIR --authorized-keys FILE [flags]\n\n"+
			"Emulates a MikroTik ROSE Data Server's RouterOS CLI over SSH.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *version {
		if _, err := fmt.Fprintln(stdout, buildinfo.Line("rds-sim", Version, Revision)); err != nil {
			return 1
		}
		return 0
	}
	if fs.NArg() > 0 {
		_, _ = fmt.Fprintf(stderr, "rds-sim: unexpected arguments %q\n", fs.Args())
		return 2
	}
	size, err := sim.ParseSize(capacity)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "rds-sim: --capacity: %v\n", err)
		return 2
	}
	cfg.Capacity = size
	if cfg.CopyRate, err = sim.ParseCopyRate(copyRate); err != nil {
		_, _ = fmt.Fprintf(stderr, "rds-sim: --copy-rate: %v\n", err)
		return 2
	}
	cfg.Latency = sim.Latency(latency)
	if err := cfg.Validate(); err != nil {
		_, _ = fmt.Fprintf(stderr, "rds-sim: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := klog.Background().WithName("rds-sim")
	cfg.Logger = logger
	srv, err := sim.New(cfg)
	if err != nil {
		logger.Error(err, "Starting the emulator failed")
		return 1
	}
	if err := srv.Run(ctx); err != nil {
		logger.Error(err, "Emulator failed")
		return 1
	}
	return 0
}
