package device

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// NVMeTCPOptions configure the production connector. Zero values take defaults.
type NVMeTCPOptions struct {
	// ManagedPrefix: only NQNs under it are ever connected, rescanned or
	// disconnected. Default DefaultManagedPrefix.
	ManagedPrefix string
	// SysfsRoot (default "/sys") and DevRoot (default "/dev") are injectable
	// so tests can use a fake tree.
	SysfsRoot string
	DevRoot   string
	// HostNQNFile is passed as --hostnqn when it exists (default /etc/nvme/hostnqn).
	HostNQNFile string
	// NVMeCLI is the nvme-cli binary (default "nvme").
	NVMeCLI string
	// Runner executes nvme-cli (default: ExecRunner with CommandTimeout).
	Runner Runner
	// CommandTimeout bounds each nvme-cli call (default 30 s).
	CommandTimeout time.Duration
	// AttachTimeout bounds the wait for the namespace after connect, and for
	// the controllers to go away after disconnect (default 30 s).
	AttachTimeout time.Duration
	// PollInterval between sysfs scans while waiting (default 200 ms).
	PollInterval time.Duration
}

// NVMeTCP attaches volumes with nvme-cli and finds their block devices in sysfs.
type NVMeTCP struct {
	o  NVMeTCPOptions
	fs sysfsNVMe
}

var _ Connector = (*NVMeTCP)(nil)

// NewNVMeTCP returns the production connector.
func NewNVMeTCP(o NVMeTCPOptions) (*NVMeTCP, error) {
	if o.ManagedPrefix == "" {
		o.ManagedPrefix = DefaultManagedPrefix
	}
	if !strings.HasPrefix(o.ManagedPrefix, "nqn.") || !strings.Contains(o.ManagedPrefix, ":") {
		return nil, fmt.Errorf("managed NQN prefix %q must look like nqn.<date>.<authority>:<...>", o.ManagedPrefix)
	}
	if o.SysfsRoot == "" {
		o.SysfsRoot = "/sys"
	}
	if o.DevRoot == "" {
		o.DevRoot = "/dev"
	}
	if o.HostNQNFile == "" {
		o.HostNQNFile = "/etc/nvme/hostnqn"
	}
	if o.NVMeCLI == "" {
		o.NVMeCLI = "nvme"
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 30 * time.Second
	}
	if o.Runner == nil {
		o.Runner = NewExecRunner(o.CommandTimeout)
	}
	if o.AttachTimeout <= 0 {
		o.AttachTimeout = DefaultAttachTimeout
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 200 * time.Millisecond
	}
	return &NVMeTCP{o: o, fs: sysfsNVMe{sysfs: o.SysfsRoot, dev: o.DevRoot}}, nil
}

func (c *NVMeTCP) run(ctx context.Context, args ...string) (Result, error) {
	return c.o.Runner.Run(ctx, Command{Name: c.o.NVMeCLI, Args: args, Timeout: c.o.CommandTimeout})
}

// Device implements Connector.
func (c *NVMeTCP) Device(_ context.Context, nqn string) (string, error) {
	if err := CheckManaged(c.o.ManagedPrefix, nqn); err != nil {
		return "", err
	}
	v, err := c.fs.lookup(nqn)
	if err != nil {
		return "", fmt.Errorf("reading NVMe topology for %s: %w", nqn, err)
	}
	if len(v.Namespaces) == 0 {
		return "", fmt.Errorf("%s: %w (%s)", nqn, ErrNotConnected, v)
	}
	return filepath.Join(c.o.DevRoot, v.Namespaces[0]), nil
}

// Connect implements Connector.
func (c *NVMeTCP) Connect(ctx context.Context, t Target) (string, error) {
	if err := CheckManaged(c.o.ManagedPrefix, t.NQN); err != nil {
		return "", err
	}
	if err := validateNetwork(t); err != nil {
		return "", err
	}
	logger := klog.FromContext(ctx).WithValues("nqn", t.NQN)
	if dev, err := c.Device(ctx, t.NQN); err == nil {
		logger.V(4).Info("Already connected", "device", dev)
		return dev, nil
	} else if !errors.Is(err, ErrNotConnected) {
		return "", err
	}

	args, err := c.connectArgs(t)
	if err != nil {
		return "", err
	}
	res, err := c.run(ctx, args...)
	switch {
	case err == nil:
		logger.Info("nvme connect succeeded", "output", res.Output())
	case alreadyConnected(res, err):
		// A controller for this target exists (perhaps still connecting):
		// wait for its namespace like after a fresh connect.
		logger.Info("nvme connect: already connected", "output", res.Output())
	default:
		return "", fmt.Errorf("nvme connect %s: %w", t.NQN, err)
	}

	var dev string
	var last nvmeView
	werr := poll(ctx, c.o.AttachTimeout, c.o.PollInterval, func() (bool, error) {
		v, err := c.fs.lookup(t.NQN)
		if err != nil {
			return false, err
		}
		last = v
		if len(v.Namespaces) > 0 {
			dev = filepath.Join(c.o.DevRoot, v.Namespaces[0])
			return true, nil
		}
		return false, nil
	})
	if werr != nil {
		if errors.Is(werr, context.DeadlineExceeded) || errors.Is(werr, context.Canceled) {
			return "", fmt.Errorf("%s: %w after %s (%s): %w", t.NQN, ErrAttachTimeout, c.o.AttachTimeout, last, werr)
		}
		return "", fmt.Errorf("reading NVMe topology for %s: %w", t.NQN, werr)
	}
	logger.Info("Connected", "device", dev)
	return dev, nil
}

func (c *NVMeTCP) connectArgs(t Target) ([]string, error) {
	args := []string{"connect", "-t", "tcp", "-a", t.Address, "-s", strconv.Itoa(t.Port), "-n", t.NQN}
	hostNQN, err := c.hostNQN()
	if err != nil {
		return nil, err
	}
	if hostNQN != "" {
		args = append(args, "--hostnqn="+hostNQN)
	}
	if t.CtrlLossTmo != 0 {
		args = append(args, "-l", strconv.Itoa(t.CtrlLossTmo))
	}
	if t.ReconnectDelay != 0 {
		args = append(args, "-c", strconv.Itoa(t.ReconnectDelay))
	}
	if t.KeepAliveTmo != 0 {
		args = append(args, "-k", strconv.Itoa(t.KeepAliveTmo))
	}
	return args, nil
}

// hostNQN reads the host NQN file; absent → "" (nvme-cli then uses its own default).
func (c *NVMeTCP) hostNQN() (string, error) {
	b, err := os.ReadFile(c.o.HostNQNFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading host NQN: %w", err)
	}
	h := strings.TrimSpace(string(b))
	if h == "" {
		return "", nil
	}
	if !strings.HasPrefix(h, "nqn.") || strings.ContainsAny(h, " \t\n\"'`$;") {
		return "", fmt.Errorf("host NQN in %s is malformed: %q", c.o.HostNQNFile, h)
	}
	return h, nil
}

// alreadyConnected recognises nvme-cli's answers for a duplicate connect:
// 2.x prints "already connected" (exit EALREADY), 1.x "Failed to write to
// /dev/nvme-fabrics: Operation already in progress".
func alreadyConnected(res Result, err error) bool {
	if errors.Is(err, ErrCommandTimeout) {
		return false
	}
	out := strings.ToLower(res.Output())
	if strings.Contains(out, "already connected") || strings.Contains(out, "operation already in progress") {
		return true
	}
	code, ok := ExitCode(err)
	return ok && code == 114 // EALREADY
}

// Disconnect implements Connector. The prefix check comes first and is not
// negotiable: a host may boot from the same RDS.
func (c *NVMeTCP) Disconnect(ctx context.Context, nqn string) error {
	if err := CheckManaged(c.o.ManagedPrefix, nqn); err != nil {
		return err
	}
	v, err := c.fs.lookup(nqn)
	if err != nil {
		return fmt.Errorf("reading NVMe topology for %s: %w", nqn, err)
	}
	if len(v.Controllers) == 0 {
		return nil
	}
	logger := klog.FromContext(ctx).WithValues("nqn", nqn)
	res, err := c.run(ctx, "disconnect", "-n", nqn)
	if err != nil {
		return fmt.Errorf("nvme disconnect %s: %w", nqn, err)
	}
	logger.Info("nvme disconnect", "output", res.Output(), "before", v.String())
	// nvme-cli exits 0 even when it disconnected nothing: trust sysfs only.
	werr := poll(ctx, c.o.AttachTimeout, c.o.PollInterval, func() (bool, error) {
		v, err = c.fs.lookup(nqn)
		return err == nil && len(v.Controllers) == 0, err
	})
	if werr != nil {
		return fmt.Errorf("%s still connected after nvme disconnect (%s; nvme said %q): %w", nqn, v, res.Output(), werr)
	}
	return nil
}

// Rescan implements Connector: ns-rescan on every live controller of the NQN.
func (c *NVMeTCP) Rescan(ctx context.Context, nqn string) error {
	if err := CheckManaged(c.o.ManagedPrefix, nqn); err != nil {
		return err
	}
	v, err := c.fs.lookup(nqn)
	if err != nil {
		return fmt.Errorf("reading NVMe topology for %s: %w", nqn, err)
	}
	var errs []error
	rescanned := 0
	for _, ctrl := range v.Controllers {
		if ctrl.State != "live" {
			continue
		}
		if _, err := c.run(ctx, "ns-rescan", filepath.Join(c.o.DevRoot, ctrl.Name)); err != nil {
			errs = append(errs, err)
			continue
		}
		rescanned++
	}
	if rescanned == 0 {
		if len(errs) > 0 {
			return fmt.Errorf("nvme ns-rescan %s: %w", nqn, errors.Join(errs...))
		}
		return fmt.Errorf("%s: no live controller to rescan (%s): %w", nqn, v, ErrNotConnected)
	}
	return nil
}
