package device

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/rds"
)

// LoopOptions configure the test-mode connector.
type LoopOptions struct {
	// Root is the emulator's data directory: the RDS path /a/b.img lives at
	// <Root>/a/b.img. Required.
	Root string
	// ManagedPrefix as for NVMe/TCP (default DefaultManagedPrefix).
	ManagedPrefix string
	// SysfsRoot (default "/sys") is where loop devices are enumerated.
	SysfsRoot string
	// Losetup binary (default "losetup").
	Losetup string
	// Runner executes losetup (default: ExecRunner with CommandTimeout).
	Runner Runner
	// CommandTimeout bounds each losetup call (default 30 s).
	CommandTimeout time.Duration
	// DetachTimeout bounds the wait for a detached device to let go of its
	// file (default 10 s).
	DetachTimeout time.Duration
}

// Loop attaches the emulator's backing files as loop devices. Everything is
// derived from the NQN, because unstage knows only the volume id.
type Loop struct {
	o    LoopOptions
	root string // Root with symlinks resolved: the kernel reports resolved paths
}

var _ Connector = (*Loop)(nil)

var loopDevName = regexp.MustCompile(`^loop([0-9]+)$`)

// NewLoop returns the test-mode connector.
func NewLoop(o LoopOptions) (*Loop, error) {
	if o.Root == "" || !filepath.IsAbs(o.Root) {
		return nil, fmt.Errorf("loop root %q must be an absolute directory", o.Root)
	}
	root, err := filepath.EvalSymlinks(o.Root)
	if err != nil {
		return nil, fmt.Errorf("loop root: %w", err)
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("loop root %q is not a directory: %w", o.Root, err)
	}
	if o.ManagedPrefix == "" {
		o.ManagedPrefix = DefaultManagedPrefix
	}
	if !strings.HasPrefix(o.ManagedPrefix, rds.NQNPrefix) {
		// The volume id is the NQN minus rds.NQNPrefix; another prefix
		// could not be mapped back to a backing file.
		return nil, fmt.Errorf("managed NQN prefix %q must start with %q in loop mode", o.ManagedPrefix, rds.NQNPrefix)
	}
	if o.SysfsRoot == "" {
		o.SysfsRoot = "/sys"
	}
	if o.Losetup == "" {
		o.Losetup = "losetup"
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 30 * time.Second
	}
	if o.Runner == nil {
		o.Runner = NewExecRunner(o.CommandTimeout)
	}
	if o.DetachTimeout <= 0 {
		o.DetachTimeout = 10 * time.Second
	}
	return &Loop{o: o, root: root}, nil
}

func (l *Loop) run(ctx context.Context, args ...string) (Result, error) {
	return l.o.Runner.Run(ctx, Command{Name: l.o.Losetup, Args: args, Timeout: l.o.CommandTimeout})
}

// volumeID maps a managed NQN to its volume id.
func (l *Loop) volumeID(nqn string) (string, error) {
	if err := CheckManaged(l.o.ManagedPrefix, nqn); err != nil {
		return "", err
	}
	id := strings.TrimPrefix(nqn, rds.NQNPrefix)
	if err := rds.ValidateID(id); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidTarget, err)
	}
	return id, nil
}

// backingFile maps the RDS file path of a target to a local file under the
// root, refusing anything that could escape it.
func (l *Loop) backingFile(t Target, id string) (string, error) {
	if err := rds.ValidatePath(t.FilePath); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidTarget, err)
	}
	if path.Base(t.FilePath) != id+rds.BackingFileSuffix {
		return "", fmt.Errorf("%w: file %q is not named %s%s", ErrInvalidTarget, t.FilePath, id, rds.BackingFileSuffix)
	}
	full := filepath.Join(l.root, filepath.FromSlash(t.FilePath))
	if !within(l.root, full) {
		return "", fmt.Errorf("%w: %q escapes the loop root", ErrInvalidTarget, t.FilePath)
	}
	st, err := os.Lstat(full)
	if err != nil {
		return "", fmt.Errorf("%w: backing file: %w", ErrInvalidTarget, err)
	}
	if !st.Mode().IsRegular() {
		// A symlink could point anywhere; the emulator writes regular files.
		return "", fmt.Errorf("%w: backing file %s is not a regular file (%s)", ErrInvalidTarget, full, st.Mode())
	}
	resolved, err := filepath.EvalSymlinks(full)
	if err != nil || !within(l.root, resolved) {
		return "", fmt.Errorf("%w: backing file %s resolves outside the loop root", ErrInvalidTarget, full)
	}
	return resolved, nil
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

type loopDev struct {
	name    string // loop3
	backing string // path, " (deleted)" stripped
	// deleted: the backing file was removed while attached.
	deleted bool
	// autoclear: the device detaches when its last user closes it (what
	// losetup -d does to a busy device).
	autoclear bool
}

// loops lists attached loop devices and their backing files.
func (l *Loop) loops() ([]loopDev, error) {
	blockDir := filepath.Join(l.o.SysfsRoot, "block")
	names, err := readDirNames(blockDir)
	if err != nil {
		return nil, err
	}
	var out []loopDev
	for _, n := range names {
		if !loopDevName.MatchString(n) {
			continue
		}
		b, ok, err := readAttr(filepath.Join(blockDir, n, "loop", "backing_file"))
		if err != nil {
			return nil, err
		}
		if !ok || b == "" {
			continue // detached
		}
		ac, _, err := readAttr(filepath.Join(blockDir, n, "loop", "autoclear"))
		if err != nil {
			return nil, err
		}
		backing, deleted := strings.CutSuffix(b, " (deleted)")
		out = append(out, loopDev{name: n, backing: backing, deleted: deleted, autoclear: ac == "1"})
	}
	sort.Slice(out, func(i, j int) bool { return loopIndex(out[i].name) < loopIndex(out[j].name) })
	return out, nil
}

func loopIndex(name string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(name, "loop"))
	return n
}

// devicesFor returns the loop devices backed by <root>/**/<id>.img.
func (l *Loop) devicesFor(id string) ([]loopDev, error) {
	all, err := l.loops()
	if err != nil {
		return nil, err
	}
	var out []loopDev
	for _, d := range all {
		if within(l.root, d.backing) && filepath.Base(d.backing) == id+rds.BackingFileSuffix {
			out = append(out, d)
		}
	}
	return out, nil
}

// Device implements Connector.
func (l *Loop) Device(_ context.Context, nqn string) (string, error) {
	id, err := l.volumeID(nqn)
	if err != nil {
		return "", err
	}
	devs, err := l.devicesFor(id)
	if err != nil {
		return "", fmt.Errorf("listing loop devices: %w", err)
	}
	if len(devs) == 0 {
		return "", fmt.Errorf("%s: %w", nqn, ErrNotConnected)
	}
	return "/dev/" + devs[0].name, nil
}

// Connect implements Connector.
func (l *Loop) Connect(ctx context.Context, t Target) (string, error) {
	id, err := l.volumeID(t.NQN)
	if err != nil {
		return "", err
	}
	file, err := l.backingFile(t, id)
	if err != nil {
		return "", err
	}
	all, err := l.loops()
	if err != nil {
		return "", fmt.Errorf("listing loop devices: %w", err)
	}
	for _, d := range all {
		if d.backing == file {
			return "/dev/" + d.name, nil
		}
	}
	res, err := l.run(ctx, "--find", "--show", file)
	if err != nil {
		return "", fmt.Errorf("losetup %s: %w", file, err)
	}
	dev := strings.TrimSpace(string(res.Stdout))
	if !loopDevName.MatchString(strings.TrimPrefix(dev, "/dev/")) || !strings.HasPrefix(dev, "/dev/") {
		return "", fmt.Errorf("losetup --find --show printed %q, not a loop device", dev)
	}
	klog.FromContext(ctx).Info("Attached loop device", "nqn", t.NQN, "device", dev, "file", file)
	return dev, nil
}

// Disconnect implements Connector.
func (l *Loop) Disconnect(ctx context.Context, nqn string) error {
	id, err := l.volumeID(nqn)
	if err != nil {
		return err
	}
	devs, err := l.devicesFor(id)
	if err != nil {
		return fmt.Errorf("listing loop devices: %w", err)
	}
	for _, d := range devs {
		if _, err := l.run(ctx, "-d", "/dev/"+d.name); err != nil {
			return fmt.Errorf("losetup -d /dev/%s: %w", d.name, err)
		}
		klog.FromContext(ctx).Info("Detached loop device", "nqn", nqn, "device", "/dev/"+d.name)
	}
	if len(devs) == 0 {
		return nil
	}
	// A busy loop device is only marked for auto-clear by losetup -d: it is
	// detached only when that succeeded for real.
	var left []loopDev
	werr := poll(ctx, l.o.DetachTimeout, 100*time.Millisecond, func() (bool, error) {
		left, err = l.devicesFor(id)
		return err == nil && len(left) == 0, err
	})
	if werr != nil {
		return fmt.Errorf("%s: %w: loop device(s) %v still attached after losetup -d: %w", nqn, ErrBusy, left, werr)
	}
	return nil
}

// Rescan implements Connector: losetup -c re-reads the backing file size.
func (l *Loop) Rescan(ctx context.Context, nqn string) error {
	id, err := l.volumeID(nqn)
	if err != nil {
		return err
	}
	devs, err := l.devicesFor(id)
	if err != nil {
		return fmt.Errorf("listing loop devices: %w", err)
	}
	if len(devs) == 0 {
		return fmt.Errorf("%s: %w", nqn, ErrNotConnected)
	}
	for _, d := range devs {
		if _, err := l.run(ctx, "-c", "/dev/"+d.name); err != nil {
			return fmt.Errorf("losetup -c /dev/%s: %w", d.name, err)
		}
	}
	return nil
}
