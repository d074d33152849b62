package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
)

// options are the demo's flags.
type options struct {
	bin     string
	latency string
	outage  time.Duration
	timeout time.Duration
	multi   bool
}

// demo is one run: its temporary directory, the two processes, and a CSI
// client on the controller's socket.
type demo struct {
	out   io.Writer
	opt   options
	start time.Time

	dir         string
	sim, driver *process
	simArgs     []string
	simBin      string
	controlURL  string // emulator's control endpoint
	metricsURL  string // driver's /metrics
	readyURL    string // driver's /readyz
	conn        *grpc.ClientConn
	ctrl        csi.ControllerClient
	objs        objects
	// --multi: the emulators and the volumes made.
	units        []*unitSim
	multiVolumes []string
}

func newDemo(out io.Writer, o options) *demo {
	return &demo{out: out, opt: o, start: time.Now()}
}

// say prints one line of the walkthrough with the time since the start.
func (d *demo) say(format string, args ...any) {
	_, _ = fmt.Fprintf(d.out, "[%6.2fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

// section starts a new part of the walkthrough.
func (d *demo) section(title string) {
	_, _ = fmt.Fprintf(d.out, "\n== %s\n", title)
}

// run is the whole walkthrough; every step returns an error that says
// which step failed.
func (d *demo) run(ctx context.Context) error {
	if d.opt.multi {
		return d.runMulti(ctx)
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"setting up", d.setUp},
		{"provisioning", d.provision},
		{"RDS crash", d.crash},
		{"cleaning up volumes", d.deleteAll},
		{"stopping", d.stopAll},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
				err = fmt.Errorf("%w (%w)", err, cause)
			}
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	d.say("Demo finished in %.1fs.", time.Since(d.start).Seconds())
	return nil
}

// cleanup stops whatever still runs and removes the temporary directory.
// It runs on every exit path and must be safe after a partial setUp.
func (d *demo) cleanup() error {
	var errs []error
	if d.conn != nil {
		_ = d.conn.Close()
	}
	procs := []*process{d.driver, d.sim}
	for _, u := range d.units {
		procs = append(procs, u.proc)
	}
	for _, p := range procs {
		if p != nil {
			errs = append(errs, p.stop(stopGrace))
		}
	}
	if d.dir != "" {
		errs = append(errs, os.RemoveAll(d.dir))
	}
	return errors.Join(errs...)
}

// showLogs prints the end of both processes' logs: after a failure they
// usually say why.
func (d *demo) showLogs(w io.Writer) {
	procs := []*process{d.sim, d.driver}
	for _, u := range d.units {
		procs = append(procs, u.proc)
	}
	for _, p := range procs {
		if p == nil {
			continue
		}
		data, err := os.ReadFile(p.logPath)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		_, _ = fmt.Fprintf(w, "--- last lines of %s (%s)\n", p.name, filepath.Base(p.logPath))
		for _, l := range lines[max(0, len(lines)-20):] {
			_, _ = fmt.Fprintln(w, l)
		}
	}
}
