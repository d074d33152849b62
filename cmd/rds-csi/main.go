// Command rds-csi is the CSI driver for MikroTik ROSE Data Server: flags into
// an app.Config, validated, then app.Run until SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/cmd/rds-csi/app"
)

func main() { os.Exit(run()) }

// run returns the exit code, so that deferred cleanup runs before os.Exit.
func run() int {
	fs := flag.NewFlagSet(os.Args[0], flag.ContinueOnError)
	klog.InitFlags(fs)
	var cfg app.Config
	cfg.RegisterFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
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
