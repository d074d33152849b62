// Package rdsfake is a stateful, in-memory rds.Client for unit tests of the
// CSI services. It keeps disks and backing files like an RDS would, rounds
// sizes up to whole MiB (as the real client does), enforces pool capacity,
// validates every argument with the rds package's own validators, records
// every call, and lets a test inject an error or a blocking hook per method.
// It keeps no data: copies (snapshots, clones) only copy the size.
package rdsfake

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/srvlab/rds-csi/rds"
)

// Method names one rds.Client method, for injection and call records.
type Method string

// The rds.Client methods.
const (
	MethodCreateVolume Method = "CreateVolume"
	MethodGetVolume    Method = "GetVolume"
	MethodListVolumes  Method = "ListVolumes"
	MethodGrowVolume   Method = "GrowVolume"
	MethodSetExport    Method = "SetExport"
	MethodDeleteVolume Method = "DeleteVolume"
	MethodPoolCapacity Method = "PoolCapacity"
	MethodPing         Method = "Ping"
	MethodListFiles    Method = "ListFiles"
	MethodRemoveFile   Method = "RemoveFile"
	MethodClock        Method = "Clock"
	MethodBootTime     Method = "BootTime"
	MethodDiskByFile   Method = "DiskByFile"
)

// Granularity is the allocation unit: every size is rounded up to it.
const Granularity int64 = 1 << 20

// DefaultPool and DefaultPoolBytes describe the one pool New creates.
const (
	DefaultPool      = "storage-pool"
	DefaultPoolBytes = int64(1) << 40 // 1 TiB
)

// Call is one recorded invocation. ID is the slot (or the prefix for
// ListVolumes, the volume path for PoolCapacity).
type Call struct {
	Method Method
	ID     string
}

// Hook runs at the start of a method, before any state is touched. A
// non-nil result is returned by the method. Hooks may block (honouring ctx)
// to hold a caller in flight. CallID(ctx) tells the hook which slot (or
// prefix, path) the call is about.
type Hook func(ctx context.Context) error

type callIDKey struct{}

// CallID returns, inside a Hook, the ID the call records (see Call).
func CallID(ctx context.Context) string {
	id, _ := ctx.Value(callIDKey{}).(string)
	return id
}

// Fake implements rds.Client. The zero value is not usable: call New.
type Fake struct {
	mu    sync.Mutex
	disks map[string]rds.Volume
	order []string         // slots in creation order: "RDS order" for ListVolumes
	files map[string]int64 // backing files by absolute path
	// created is each file's creation time (the RDS's own timestamp).
	created map[string]time.Time
	pools   map[string]int64 // pool name → total bytes
	errs    map[Method]error
	hooks   map[Method]Hook
	calls   []Call
	// Now dates new files (their RDS creation-time); nil means time.Now.
	// Set it before use, not concurrently with calls.
	Now func() time.Time
	// booted is what BootTime answers: zero until Reboot.
	booted time.Time
}

var _ rds.Client = (*Fake)(nil)

// New returns a fake with one empty pool DefaultPool of DefaultPoolBytes.
func New() *Fake {
	return &Fake{
		disks:   map[string]rds.Volume{},
		files:   map[string]int64{},
		created: map[string]time.Time{},
		pools:   map[string]int64{DefaultPool: DefaultPoolBytes},
		errs:    map[Method]error{},
		hooks:   map[Method]Hook{},
	}
}

// RoundUp rounds a size up to Granularity, as the fake allocates it.
func RoundUp(size int64) int64 {
	if size <= 0 {
		return 0
	}
	return (size + Granularity - 1) / Granularity * Granularity
}

// SetPool adds a pool or changes its total size.
func (f *Fake) SetPool(name string, totalBytes int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pools[name] = totalBytes
}

// SetError makes every later call of m fail with err (nil clears it).
func (f *Fake) SetError(m Method, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.errs, m)
		return
	}
	f.errs[m] = err
}

// SetHook installs h for m (nil removes it).
func (f *Fake) SetHook(m Method, h Hook) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h == nil {
		delete(f.hooks, m)
		return
	}
	f.hooks[m] = h
}

// Calls returns a copy of every call recorded so far.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallCount returns how often m was called (all methods when m is empty).
func (f *Fake) CallCount(m Method) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m == "" {
		return len(f.calls)
	}
	n := 0
	for _, c := range f.calls {
		if c.Method == m {
			n++
		}
	}
	return n
}

// ResetCalls forgets the recorded calls.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// Volume returns a disk without recording a call.
func (f *Fake) Volume(id string) (rds.Volume, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.disks[id]
	return v, ok
}

// Files returns the backing-file paths that exist, sorted.
func (f *Fake) Files() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.files))
	for p := range f.files {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// AddVolume seeds a disk (and its backing file) directly, bypassing
// validation, capacity and rounding: for volumes "created by someone else".
func (f *Fake) AddVolume(v rds.Volume) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.disks[v.ID]; !ok {
		f.order = append(f.order, v.ID)
	}
	f.disks[v.ID] = v
	if v.FilePath != "" {
		f.files[v.FilePath] = v.SizeBytes
		f.created[v.FilePath] = f.now()
	}
}

// enter records the call, then runs the hook and the injected error. The
// hook runs without the lock so that a blocked call does not block others.
func (f *Fake) enter(ctx context.Context, m Method, id string) error {
	f.mu.Lock()
	f.calls = append(f.calls, Call{Method: m, ID: id})
	h, injected := f.hooks[m], f.errs[m]
	f.mu.Unlock()
	if h != nil {
		if err := h(context.WithValue(ctx, callIDKey{}, id)); err != nil {
			return err
		}
	}
	if injected != nil {
		return injected
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", rds.ErrUnavailable, err)
	}
	return nil
}

// freeLocked returns the free bytes of a pool; the caller holds f.mu.
func (f *Fake) freeLocked(pool string) (int64, bool) {
	total, ok := f.pools[pool]
	if !ok {
		return 0, false
	}
	used := int64(0)
	for p, size := range f.files {
		if rds.PoolOf(p) == pool {
			used += size
		}
	}
	return total - used, true
}

func noSpace(cmd string) error {
	return &rds.CommandError{Command: cmd, Output: "failure: not enough space", Exit: 1, Kind: rds.ErrNoSpace}
}

func noSuchItem(cmd string) error {
	return &rds.CommandError{Command: cmd, Output: "failure: no such item", Exit: 1, Kind: rds.ErrNotFound}
}

// CreateVolume implements rds.Client.
func (f *Fake) CreateVolume(ctx context.Context, req rds.CreateVolumeRequest) (rds.Volume, error) {
	if err := f.enter(ctx, MethodCreateVolume, req.ID); err != nil {
		return rds.Volume{}, err
	}
	if err := validateCreate(req); err != nil {
		return rds.Volume{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.disks[req.ID]; ok {
		return rds.Volume{}, &rds.CommandError{Command: "/disk add", Output: "failure: slot already exists", Exit: 1, Kind: rds.ErrAlreadyExists}
	}
	if _, ok := f.files[req.FilePath]; ok {
		return rds.Volume{}, &rds.CommandError{Command: "/disk add", Output: "failure: file already exists", Exit: 1, Kind: rds.ErrAlreadyExists}
	}
	size := RoundUp(req.SizeBytes)
	if req.CopyFrom != "" {
		src, ok := f.disks[req.CopyFrom]
		if !ok {
			return rds.Volume{}, noSuchItem("/disk add copy-from")
		}
		size = max(size, src.SizeBytes)
	}
	free, ok := f.freeLocked(rds.PoolOf(req.FilePath))
	if !ok {
		return rds.Volume{}, &rds.CommandError{Command: "/disk add", Output: "failure: could not create file", Exit: 1, Kind: rds.ErrCommandFailed}
	}
	if size > free {
		return rds.Volume{}, noSpace("/disk add")
	}
	v := rds.Volume{ID: req.ID, FilePath: req.FilePath, SizeBytes: size, Exported: req.Export, NVMeTCPPort: req.Port, NQN: req.NQN}
	f.disks[req.ID] = v
	f.order = append(f.order, req.ID)
	f.files[req.FilePath] = size
	f.created[req.FilePath] = f.now()
	return v, nil
}

func validateCreate(req rds.CreateVolumeRequest) error {
	if err := rds.ValidateID(req.ID); err != nil {
		return err
	}
	if err := rds.ValidatePath(req.FilePath); err != nil {
		return err
	}
	if req.CopyFrom != "" {
		if err := rds.ValidateID(req.CopyFrom); err != nil {
			return err
		}
	} else if req.SizeBytes <= 0 {
		return fmt.Errorf("%w: size %d must be positive", rds.ErrInvalidArgument, req.SizeBytes)
	}
	if err := validateSize(req.SizeBytes); err != nil {
		return err
	}
	if req.Export {
		if req.Port < 1 || req.Port > 65535 {
			return fmt.Errorf("%w: port %d", rds.ErrInvalidArgument, req.Port)
		}
		if err := rds.ValidateNQN(req.NQN); err != nil {
			return err
		}
	}
	return nil
}

// validateSize refuses what the SSH client refuses (rds.FileSizeArg): a
// negative size or one above rds.MaxFileSizeBytes. Without the upper bound
// RoundUp overflows and a huge request "succeeds" with a negative size.
func validateSize(sizeBytes int64) error {
	if sizeBytes < 0 || sizeBytes > rds.MaxFileSizeBytes {
		return fmt.Errorf("%w: size %d bytes is outside [0, %d]", rds.ErrInvalidArgument, sizeBytes, rds.MaxFileSizeBytes)
	}
	return nil
}

// GetVolume implements rds.Client.
func (f *Fake) GetVolume(ctx context.Context, id string) (rds.Volume, error) {
	if err := f.enter(ctx, MethodGetVolume, id); err != nil {
		return rds.Volume{}, err
	}
	if err := rds.ValidateID(id); err != nil {
		return rds.Volume{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.disks[id]
	if !ok {
		return rds.Volume{}, fmt.Errorf("disk %s: %w", id, rds.ErrNotFound)
	}
	return v, nil
}

// DiskByFile implements rds.Client.
func (f *Fake) DiskByFile(ctx context.Context, filePath string) (rds.Volume, error) {
	if err := f.enter(ctx, MethodDiskByFile, filePath); err != nil {
		return rds.Volume{}, err
	}
	if err := rds.ValidatePath(filePath); err != nil {
		return rds.Volume{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range f.order {
		if v, ok := f.disks[id]; ok && v.FilePath == filePath {
			return v, nil
		}
	}
	return rds.Volume{}, fmt.Errorf("no disk uses %s: %w", filePath, rds.ErrNotFound)
}

// ListVolumes implements rds.Client.
func (f *Fake) ListVolumes(ctx context.Context, prefix string) ([]rds.Volume, error) {
	if err := f.enter(ctx, MethodListVolumes, prefix); err != nil {
		return nil, err
	}
	if err := rds.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []rds.Volume
	for _, id := range f.order {
		if v, ok := f.disks[id]; ok && strings.HasPrefix(id, prefix) {
			out = append(out, v)
		}
	}
	return out, nil
}

// GrowVolume implements rds.Client.
func (f *Fake) GrowVolume(ctx context.Context, id string, sizeBytes int64) (rds.Volume, error) {
	if err := f.enter(ctx, MethodGrowVolume, id); err != nil {
		return rds.Volume{}, err
	}
	if err := rds.ValidateID(id); err != nil {
		return rds.Volume{}, err
	}
	if sizeBytes <= 0 {
		return rds.Volume{}, fmt.Errorf("%w: size %d must be positive", rds.ErrInvalidArgument, sizeBytes)
	}
	if err := validateSize(sizeBytes); err != nil {
		return rds.Volume{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.disks[id]
	if !ok {
		return rds.Volume{}, noSuchItem("/disk set")
	}
	size := RoundUp(sizeBytes)
	if size <= v.SizeBytes {
		return v, nil
	}
	free, _ := f.freeLocked(rds.PoolOf(v.FilePath))
	if size-v.SizeBytes > free {
		return rds.Volume{}, noSpace("/disk set")
	}
	v.SizeBytes = size
	f.disks[id] = v
	f.files[v.FilePath] = size
	return v, nil
}

// SetExport implements rds.Client.
func (f *Fake) SetExport(ctx context.Context, id string, exported bool) error {
	if err := f.enter(ctx, MethodSetExport, id); err != nil {
		return err
	}
	if err := rds.ValidateID(id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.disks[id]
	if !ok {
		return noSuchItem("/disk set")
	}
	v.Exported = exported
	f.disks[id] = v
	return nil
}

// DeleteVolume implements rds.Client: the disk, then the file at filePath
// (which, like on a real RDS, need not be the disk's own file). Like the SSH
// client it refuses a file not named <id>.img.
func (f *Fake) DeleteVolume(ctx context.Context, id string, filePath string) error {
	if err := f.enter(ctx, MethodDeleteVolume, id); err != nil {
		return err
	}
	if err := rds.ValidateID(id); err != nil {
		return err
	}
	if err := rds.ValidatePath(filePath); err != nil {
		return err
	}
	if path.Base(filePath) != id+rds.BackingFileSuffix {
		return fmt.Errorf("%w: file %q is not the backing file of %s", rds.ErrInvalidArgument, filePath, id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.disks[id]; ok {
		delete(f.disks, id)
		f.order = slices.DeleteFunc(f.order, func(s string) bool { return s == id })
	}
	delete(f.files, filePath)
	delete(f.created, filePath)
	return nil
}

// PoolCapacity implements rds.Client.
func (f *Fake) PoolCapacity(ctx context.Context, volumePath string) (rds.Capacity, error) {
	if err := f.enter(ctx, MethodPoolCapacity, volumePath); err != nil {
		return rds.Capacity{}, err
	}
	if err := rds.ValidateVolumePath(volumePath); err != nil {
		return rds.Capacity{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	pool := rds.PoolOf(path.Clean(volumePath))
	free, ok := f.freeLocked(pool)
	if !ok {
		return rds.Capacity{}, fmt.Errorf("pool %s: %w", pool, rds.ErrNotFound)
	}
	return rds.Capacity{TotalBytes: f.pools[pool], FreeBytes: free}, nil
}

func (f *Fake) now() time.Time {
	if f.Now != nil {
		return f.Now().UTC()
	}
	return time.Now().UTC()
}

// SetFileCreated sets the creation time the fake reports for a file.
func (f *Fake) SetFileCreated(filePath string, created time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created[filePath] = created.UTC()
}

// AddFile seeds a file without a disk (a leftover, or a copy in progress).
func (f *Fake) AddFile(filePath string, sizeBytes int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[filePath] = sizeBytes
	f.created[filePath] = f.now()
}

// ListFiles implements rds.Client.
func (f *Fake) ListFiles(ctx context.Context, dir string) ([]rds.File, error) {
	if err := f.enter(ctx, MethodListFiles, dir); err != nil {
		return nil, err
	}
	if err := rds.ValidateVolumePath(dir); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	prefix := path.Clean(dir) + "/"
	var out []rds.File
	for p, size := range f.files {
		if strings.HasPrefix(p, prefix) {
			out = append(out, rds.File{Path: p, SizeBytes: size, Created: f.created[p]})
		}
	}
	slices.SortFunc(out, func(a, b rds.File) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// RemoveFile implements rds.Client. Like the SSH client it does not check
// whether a disk uses the file (that is the caller's duty); absent is success.
func (f *Fake) RemoveFile(ctx context.Context, filePath string) error {
	if err := f.enter(ctx, MethodRemoveFile, filePath); err != nil {
		return err
	}
	if err := rds.ValidatePath(filePath); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.files, filePath)
	delete(f.created, filePath)
	return nil
}

// Clock implements rds.Client: the fake's clock (Now, else the real time).
func (f *Fake) Clock(ctx context.Context) (time.Time, error) {
	if err := f.enter(ctx, MethodClock, ""); err != nil {
		return time.Time{}, err
	}
	return f.now(), nil
}

// BootTime implements rds.Client: the time of the last Reboot (zero
// before the first: the fake has been up since before any file).
func (f *Fake) BootTime(ctx context.Context) (time.Time, error) {
	if err := f.enter(ctx, MethodBootTime, ""); err != nil {
		return time.Time{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.booted, nil
}

// Reboot records an RDS restart now (by Now): disks and files stay, as on
// the RDS, and BootTime answers the new start.
func (f *Fake) Reboot() {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.booted = now
}

// RemoveDisk drops a disk behind the client's back, leaving its backing
// file, as "/disk remove" typed by an operator (or an interrupted delete) does.
func (f *Fake) RemoveDisk(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.disks, id)
	f.order = slices.DeleteFunc(f.order, func(s string) bool { return s == id })
}

// Ping implements rds.Client.
func (f *Fake) Ping(ctx context.Context) error {
	return f.enter(ctx, MethodPing, "")
}
