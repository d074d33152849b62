// Command rds-csi is the CSI driver for MikroTik ROSE Data Server: flags into
// an app.Config, validated, then app.Run until SIGTERM or SIGINT.
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

	"github.com/srvlab/rds-csi/cmd/rds-csi/app"
	"github.com/srvlab/rds-csi/cmd/rds-csi/buildinfo"
)

func main() { os.Exit(run(os.Args[0], os.Args[1:], os.Stdout)) }

// run returns the exit code, so that deferred cleanup runs before os.Exit;
// name, args and stdout are parameters so tests can drive the flag handling.
func run(name string, args []string, stdout io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	klog.InitFlags(fs)
	var cfg app.Config
	cfg.RegisterFlags(fs)
	// Not part of app.Config: it is answered before validation, so that
	// `rds-csi --version` works without any other flag (image checks, support).
	version := fs.Bool("version", false, "print the version, revision and Go version, then exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *version {
		if _, err := fmt.Fprintln(stdout, buildinfo.Line("rds-csi", app.Version, app.Revision)); err != nil {
			return 1
		}
		return 0
	}
	if err := cfg.Validate(); err != nil {
		klog.ErrorS(err, "Invalid configuration")
		klog.Flush()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx = klog.NewContext(ctx, klog.Background())
	defer klog.Flush()
	if err := app.Run(ctx, cfg); err != nil {
		klog.ErrorS(err, "rds-csi failed")
		return 1
	}
	return 0
}
