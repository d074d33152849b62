// Command rds-csi is the CSI driver for MikroTik ROSE Data Server: flags into
// an app.Config, validated, then app.Run until SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/cmd/rds-csi/app"
)

func main() {
	fs := flag.NewFlagSet(os.Args[0], flag.ContinueOnError)
	klog.InitFlags(fs)
	var cfg app.Config
	cfg.RegisterFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if err := cfg.Validate(); err != nil {
		klog.ErrorS(err, "Invalid configuration")
		klog.Flush()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx = klog.NewContext(ctx, klog.Background())
	err := app.Run(ctx, cfg)
	klog.Flush()
	if err != nil {
		klog.ErrorS(err, "rds-csi failed")
		klog.Flush()
		os.Exit(1)
	}
}
