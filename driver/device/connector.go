// Package device is how a node gets the block device of a volume: over
// NVMe/TCP with nvme-cli and sysfs in production, or through a loop device
// over the emulator's backing file in test mode. Devices are always resolved
// from the NQN at the moment of use and never cached, because NVMe
// controllers renumber when they reconnect.
package device

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/srvlab/rds-csi/rds"
)

// DefaultManagedPrefix is the NQN prefix of the volumes this driver owns.
// A host may boot from the same RDS over NVMe/TCP with an NQN outside it;
// such a subsystem is never touched.
const DefaultManagedPrefix = rds.NQNPrefix + "pvc-"

// DefaultAttachTimeout bounds the wait for a namespace to show up after connect.
const DefaultAttachTimeout = 30 * time.Second

var (
	// ErrNotConnected: no block device exists for the NQN on this node.
	ErrNotConnected = errors.New("not connected")
	// ErrUnmanagedNQN: the NQN is outside the managed prefix; the connector
	// refuses to act on it.
	ErrUnmanagedNQN = errors.New("NQN outside the managed prefix")
	// ErrInvalidTarget: a Target field is malformed.
	ErrInvalidTarget = errors.New("invalid target")
	// ErrAttachTimeout: connected, but no block device appeared in time.
	ErrAttachTimeout = errors.New("block device did not appear in time")
	// ErrBusy: the device is still held open or mounted; it was not detached.
	ErrBusy = errors.New("device busy")
)

// Target describes how to reach one volume. The node health watcher keeps
// it on disk (JSON) to reconnect a staged volume after a restart: the tags
// are a file format, rename fields only with them.
type Target struct {
	NQN string `json:"nqn"`
	// Address and Port of the NVMe/TCP service (nvme-tcp only).
	Address string `json:"address,omitempty"`
	Port    int    `json:"port,omitempty"`
	// CtrlLossTmo (-l) in seconds: -1 unlimited, 0 kernel default (flag omitted).
	CtrlLossTmo int `json:"ctrlLossTmo,omitempty"`
	// ReconnectDelay (-c) in seconds; 0 kernel default (flag omitted).
	ReconnectDelay int `json:"reconnectDelay,omitempty"`
	// KeepAliveTmo (-k) in seconds; 0 kernel default (flag omitted).
	KeepAliveTmo int `json:"keepAliveTmo,omitempty"`
	// FilePath is the absolute backing-file path on the RDS (loop mode only).
	FilePath string `json:"filePath,omitempty"`
}

// Connector attaches and detaches the block device of a volume. Every method
// is idempotent and safe to call again after a crash at any point.
type Connector interface {
	// Connect makes the volume's block device present and returns its path.
	// Already connected → the current device.
	Connect(ctx context.Context, t Target) (devicePath string, err error)
	// Disconnect detaches the volume. Not connected → nil. An NQN outside the
	// managed prefix → ErrUnmanagedNQN, and nothing is done.
	Disconnect(ctx context.Context, nqn string) error
	// Device returns the current block device of the NQN or ErrNotConnected.
	Device(ctx context.Context, nqn string) (string, error)
	// Rescan makes the kernel re-read the namespace size after a grow.
	Rescan(ctx context.Context, nqn string) error
}

// CheckManaged returns nil when nqn is a valid NQN under prefix.
func CheckManaged(prefix, nqn string) error {
	if err := rds.ValidateNQN(nqn); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidTarget, err)
	}
	if prefix == "" || !strings.HasPrefix(nqn, prefix) || len(nqn) == len(prefix) {
		return fmt.Errorf("%w: %q is not under %q", ErrUnmanagedNQN, nqn, prefix)
	}
	return nil
}

var hostnamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)

// validateNetwork checks the fields nvme connect needs. The values end up as
// separate argv entries (no shell), but a leading '-' could still be read as
// a flag, so only IPs and plain host names pass.
func validateNetwork(t Target) error {
	if net.ParseIP(t.Address) == nil && !hostnamePattern.MatchString(t.Address) {
		return fmt.Errorf("%w: address %q is neither an IP nor a host name", ErrInvalidTarget, t.Address)
	}
	if t.Port < 1 || t.Port > 65535 {
		return fmt.Errorf("%w: port %d out of range", ErrInvalidTarget, t.Port)
	}
	if t.CtrlLossTmo < -1 {
		return fmt.Errorf("%w: ctrlLossTmo %d (want -1, 0 or positive)", ErrInvalidTarget, t.CtrlLossTmo)
	}
	if t.ReconnectDelay < 0 || t.KeepAliveTmo < 0 {
		return fmt.Errorf("%w: reconnectDelay %d / keepAliveTmo %d must not be negative",
			ErrInvalidTarget, t.ReconnectDelay, t.KeepAliveTmo)
	}
	return nil
}

// poll calls check every interval until it reports done, returns an error,
// or the deadline passes (then ErrAttachTimeout-style errors are the
// caller's to build from the last state).
func poll(ctx context.Context, timeout, interval time.Duration, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
