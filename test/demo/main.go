// Command demo shows rds-csi working end to end on one machine with nothing
// but Go: it starts the RDS emulator (bin/rds-sim) and the controller
// (bin/rds-csi --mode=controller) as real processes, then walks through
// provisioning, snapshots, clones, expansion and an RDS crash, explaining
// each step in plain words on stdout.
//
//	make demo                      # builds bin/ first
//	go run ./test/demo --bin bin   # same, with binaries already built
//	make demo-multi                # two RDS units, one killed (--multi)
//
// Everything lives in a temporary directory that is removed at the end,
// also on failure and on Ctrl-C. The exit status is 0 only if every step
// did what it should.
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
	"time"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130 // what a shell reports for a Ctrl-C'd command
)

// run is main without os.Exit, so the end-to-end test can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.bin, "bin", "bin", "directory holding the rds-csi and rds-sim binaries (make build)")
	fs.StringVar(&o.latency, "latency", "none", "emulator latency model: none, or realistic (hardware-like delays; slower)")
	fs.DurationVar(&o.outage, "outage", 3*time.Second, "how long the RDS stays down during the crash step")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "give up after this long")
	fs.BoolVar(&o.multi, "multi", false, "two RDS units behind one controller (--rds-config): placement, then one RDS killed while the other serves")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		_, _ = fmt.Fprintf(stderr, "demo: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}

	// Ctrl-C and SIGTERM cancel the context: the step in progress fails,
	// and the deferred cleanup stops both processes and removes the
	// temporary directory before the demo exits. The handler stays
	// installed until then, so a second Ctrl-C cannot cut the cleanup short.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	d := newDemo(stdout, o)
	defer func() { // also on a panic: no process or directory is left behind
		if err := d.cleanup(); err != nil {
			_, _ = fmt.Fprintf(stderr, "demo: cleanup: %v\n", err)
			if code == exitOK {
				code = exitFailed
			}
		}
	}()
	err := d.run(ctx)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(context.Cause(ctx), context.Canceled):
		_, _ = fmt.Fprintf(stderr, "demo: interrupted (%v); stopping everything it started\n", err)
		return exitInterrupted
	default:
		d.showLogs(stderr)
		_, _ = fmt.Fprintf(stderr, "demo failed: %v\n", err)
		return exitFailed
	}
}
