package rds

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"k8s.io/klog/v2"
)

// SSHClient is the production Client: RouterOS commands over the one SSH
// connection that the connection FSM manages through the Connection methods.
type SSHClient struct {
	t     *sshTransport
	clock clockOffset
}

var (
	_ Client     = (*SSHClient)(nil)
	_ Connection = (*SSHClient)(nil)
)

// NewSSHClient validates cfg and loads its keys. It does not connect.
func NewSSHClient(cfg SSHConfig) (*SSHClient, error) {
	t, err := newSSHTransport(cfg)
	if err != nil {
		return nil, err
	}
	return &SSHClient{t: t}, nil
}

// Connect dials and authenticates, replacing any previous connection.
func (c *SSHClient) Connect(ctx context.Context) error { return c.t.Connect(ctx) }

// Close drops the current connection; safe to call repeatedly.
func (c *SSHClient) Close() error { return c.t.Close() }

// Lost delivers one error per connection loss (see sshTransport.Lost).
func (c *SSHClient) Lost() <-chan error { return c.t.Lost() }

// Address is host:port of the RDS.
func (c *SSHClient) Address() string { return c.t.Address() }

// exec runs a built command and turns a RouterOS failure into a
// *CommandError. A builder error (hostile input) is returned before anything
// reaches the transport.
func (c *SSHClient) exec(ctx context.Context, cmd string, buildErr error) (string, error) {
	return c.execAs(ctx, sessionCommand, cmd, buildErr)
}

// execAs is exec with the session share (and timeout) of kind.
func (c *SSHClient) execAs(ctx context.Context, kind sessionKind, cmd string, buildErr error) (string, error) {
	if buildErr != nil {
		return "", buildErr
	}
	ans, err := c.t.run(ctx, cmd, kind)
	if err != nil {
		return "", err
	}
	if err := ans.err(cmd); err != nil {
		return "", err
	}
	return ans.Stdout, nil
}

// Ping is the liveness check: "/system identity print".
func (c *SSHClient) Ping(ctx context.Context) error {
	_, err := c.execAs(ctx, sessionHealth, identityCommand, nil)
	return err
}

// Identity returns the RDS's system identity (its name), for logs and events.
func (c *SSHClient) Identity(ctx context.Context) (string, error) {
	out, err := c.exec(ctx, identityCommand, nil)
	if err != nil {
		return "", err
	}
	rec, err := ParseProperties(out)
	if err != nil {
		return "", err
	}
	name, ok := rec.Get("name")
	if !ok {
		return "", fmt.Errorf("%w: identity without name: %q", ErrCommandFailed, out)
	}
	return name, nil
}

// CreateVolume adds a file disk (or a copy of CopyFrom) and returns it as
// RouterOS reports it afterwards, with the real allocated size.
func (c *SSHClient) CreateVolume(ctx context.Context, req CreateVolumeRequest) (Volume, error) {
	logger := klog.FromContext(ctx).WithValues("volumeID", req.ID)
	if req.SizeBytes == 0 && req.CopyFrom == "" {
		// Zero means "the source's size" only for a copy; a new disk of the
		// 1 MiB minimum is never what a caller meant.
		return Volume{}, fmt.Errorf("%w: disk %q: a size is required unless copying", ErrInvalidArgument, req.ID)
	}
	var fileSize string
	if req.SizeBytes != 0 {
		var err error
		if fileSize, _, err = FileSizeArg(req.SizeBytes); err != nil {
			return Volume{}, err
		}
	}
	cmd, err := createDiskCommand(req, fileSize)
	kind := sessionCommand
	if req.CopyFrom != "" {
		// A copy runs for minutes on real hardware: its own timeout and
		// its own share of the sessions.
		kind = sessionCopy
	}
	if _, err := c.execAs(ctx, kind, cmd, err); err != nil {
		return Volume{}, fmt.Errorf("create disk %q: %w", req.ID, err)
	}
	v, err := c.GetVolume(ctx, req.ID)
	if errors.Is(err, ErrNotFound) {
		// Not the caller's "no such volume": RouterOS accepted the add.
		return Volume{}, fmt.Errorf("%w: disk %q missing right after it was added", ErrCommandFailed, req.ID)
	}
	if err != nil {
		return Volume{}, fmt.Errorf("read disk %q after creating it: %w", req.ID, err)
	}
	if v.SizeBytes < req.SizeBytes {
		return Volume{}, fmt.Errorf("%w: disk %q has %d bytes after asking for %s (at least %d)",
			ErrCommandFailed, req.ID, v.SizeBytes, fileSize, req.SizeBytes)
	}
	logger.V(2).Info("Created disk", "sizeBytes", v.SizeBytes, "copyFrom", req.CopyFrom, "exported", v.Exported)
	return v, nil
}

// GetVolume returns the disk with slot id, or ErrNotFound.
func (c *SSHClient) GetVolume(ctx context.Context, id string) (Volume, error) {
	cmd, err := getDiskCommand(id)
	out, err := c.exec(ctx, cmd, err)
	if err != nil {
		return Volume{}, err
	}
	records, err := ParseRecords(out)
	if err != nil {
		return Volume{}, err
	}
	for _, r := range records {
		// The filter is exact, but a record for another slot must never be
		// taken for this one.
		if slot, _ := r.Get("slot"); slot == id {
			return volumeFromRecord(r)
		}
	}
	return Volume{}, fmt.Errorf("%w: disk %q", ErrNotFound, id)
}

// DiskByFile implements Client.
func (c *SSHClient) DiskByFile(ctx context.Context, filePath string) (Volume, error) {
	cmd, err := diskByFileCommand(filePath)
	out, err := c.exec(ctx, cmd, err)
	if err != nil {
		return Volume{}, err
	}
	records, err := ParseRecords(out)
	if err != nil {
		return Volume{}, err
	}
	for _, r := range records {
		if p, _ := r.Get("file-path"); p == filePath {
			return volumeFromRecord(r)
		}
	}
	return Volume{}, fmt.Errorf("%w: no disk uses %q", ErrNotFound, filePath)
}

// ListVolumes returns every disk whose slot starts with prefix, in RDS order.
func (c *SSHClient) ListVolumes(ctx context.Context, prefix string) ([]Volume, error) {
	cmd, err := listDisksCommand(prefix)
	out, err := c.exec(ctx, cmd, err)
	if err != nil {
		return nil, err
	}
	records, err := ParseRecords(out)
	if err != nil {
		return nil, err
	}
	volumes := make([]Volume, 0, len(records))
	for _, r := range records {
		// slot~"pvc-" matches anywhere (a snapshot slot may embed a
		// volume id): keep true prefixes only.
		if slot, _ := r.Get("slot"); !strings.HasPrefix(slot, prefix) {
			continue
		}
		v, err := volumeFromRecord(r)
		if err != nil {
			return nil, err
		}
		volumes = append(volumes, v)
	}
	return volumes, nil
}

// GrowVolume grows the disk to at least sizeBytes (rounded up as
// FileSizeArg does); a disk already that large is returned unchanged.
func (c *SSHClient) GrowVolume(ctx context.Context, id string, sizeBytes int64) (Volume, error) {
	logger := klog.FromContext(ctx).WithValues("volumeID", id)
	if err := ValidateID(id); err != nil {
		return Volume{}, err
	}
	fileSize, _, err := FileSizeArg(sizeBytes)
	if err != nil {
		return Volume{}, err
	}
	v, err := c.GetVolume(ctx, id)
	if err != nil {
		return Volume{}, err
	}
	if v.SizeBytes >= sizeBytes {
		return v, nil
	}
	cmd, err := growDiskCommand(id, fileSize)
	if _, err := c.exec(ctx, cmd, err); err != nil {
		return Volume{}, fmt.Errorf("grow disk %q: %w", id, err)
	}
	grown, err := c.GetVolume(ctx, id)
	if err != nil {
		return Volume{}, fmt.Errorf("read disk %q after growing it: %w", id, err)
	}
	if grown.SizeBytes < sizeBytes {
		return Volume{}, fmt.Errorf("%w: disk %q has %d bytes after growing to %s (at least %d)",
			ErrCommandFailed, id, grown.SizeBytes, fileSize, sizeBytes)
	}
	logger.V(2).Info("Grew disk", "fromBytes", v.SizeBytes, "toBytes", grown.SizeBytes)
	return grown, nil
}

// SetExport turns the NVMe/TCP export on or off. "[find slot=...]" matching
// nothing would make "/disk set" a silent no-op, so the disk is read first:
// a missing disk is ErrNotFound, and a disk already in the wanted state is
// left alone. A disk created without an export has no port or NQN; turning
// it on then sets the defaults (DefaultNVMeTCPPort, NQNFor(id)).
func (c *SSHClient) SetExport(ctx context.Context, id string, exported bool) error {
	logger := klog.FromContext(ctx).WithValues("volumeID", id)
	if err := ValidateID(id); err != nil {
		return err
	}
	v, err := c.GetVolume(ctx, id)
	if err != nil {
		return err
	}
	if v.Exported == exported {
		return nil
	}
	var port int
	var nqn string
	if exported && (v.NVMeTCPPort == 0 || v.NQN == "") {
		port, nqn = DefaultNVMeTCPPort, NQNFor(id)
		if v.NVMeTCPPort != 0 {
			port = v.NVMeTCPPort
		}
		if v.NQN != "" {
			nqn = v.NQN
		}
	}
	cmd, err := exportCommand(id, exported, port, nqn)
	if _, err := c.exec(ctx, cmd, err); err != nil {
		return fmt.Errorf("set export of disk %q: %w", id, err)
	}
	logger.V(2).Info("Set disk export", "exported", exported)
	return nil
}

// DeleteVolume removes the disk, then its backing file. Either being
// absent already is success. filePath must be the id's backing file
// (<dir>/<id>.img): "/file remove" deletes whatever it names, so a wrong
// path must never get that far.
func (c *SSHClient) DeleteVolume(ctx context.Context, id string, filePath string) error {
	logger := klog.FromContext(ctx).WithValues("volumeID", id)
	if err := ValidateID(id); err != nil {
		return err
	}
	if err := ValidatePath(filePath); err != nil {
		return err
	}
	if base := path.Base(filePath); base != id+BackingFileSuffix {
		return fmt.Errorf("%w: file %q is not the backing file of %q (want %s)",
			ErrInvalidArgument, filePath, id, id+BackingFileSuffix)
	}
	cmd, err := removeDiskCommand(id)
	if _, err := c.exec(ctx, cmd, err); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("remove disk %q: %w", id, err)
	}
	cmd, err = removeFileCommand(filePath)
	if _, err := c.exec(ctx, cmd, err); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("remove file %q of disk %q: %w", filePath, id, err)
	}
	logger.V(2).Info("Deleted disk and backing file", "filePath", filePath)
	return nil
}

// PoolCapacity returns size and free bytes of the pool (mount point) that
// holds volumePath.
func (c *SSHClient) PoolCapacity(ctx context.Context, volumePath string) (Capacity, error) {
	cmd, err := poolCapacityCommand(volumePath)
	out, err := c.exec(ctx, cmd, err)
	if err != nil {
		return Capacity{}, err
	}
	records, err := ParseRecords(out)
	if err != nil {
		return Capacity{}, err
	}
	if len(records) == 0 {
		return Capacity{}, fmt.Errorf("%w: pool %q", ErrNotFound, PoolOf(volumePath))
	}
	return capacityFromRecord(records[0])
}
