// Package rds is the driver's only view of a MikroTik ROSE Data Server: a
// narrow Client interface over RouterOS commands sent through SSH, sentinel
// errors, strict validation of everything that reaches a command line, and a
// parser for RouterOS "print detail" output. Only this package knows RouterOS
// syntax.
package rds

import (
	"context"
	"time"
)

// Volume is one file-backed disk on the RDS as the driver sees it.
type Volume struct {
	// ID is the disk slot, e.g. pvc-<uuid> or a snapshot id.
	ID string
	// FilePath is the absolute backing-file path on the RDS, e.g.
	// /storage-pool/metal-csi/pvc-<uuid>.img.
	FilePath string
	// SizeBytes is the exact size from the size= field (never from file-size=).
	SizeBytes int64
	// Exported reports nvme-tcp-export=yes.
	Exported bool
	// NVMeTCPPort and NQN describe the NVMe/TCP export (set even when not exported).
	NVMeTCPPort int
	NQN         string
}

// CreateVolumeRequest describes a new file-backed disk. When CopyFrom is set
// the disk is created with copy-from=[find slot=<CopyFrom>] (snapshot or clone).
type CreateVolumeRequest struct {
	ID       string
	FilePath string
	// SizeBytes is the minimum size; the client rounds it up to what
	// RouterOS can express and the returned Volume reports the real size.
	// Zero with CopyFrom set means "the source's size".
	SizeBytes int64
	// Export turns the NVMe/TCP export on with Port and NQN.
	Export bool
	Port   int
	NQN    string
	// CopyFrom is the slot of the source disk, or empty.
	CopyFrom string
}

// File is one file on the RDS, as /file print reports it.
type File struct {
	// Path is absolute (RouterOS lists names without the leading slash).
	Path      string
	SizeBytes int64
	// Created is the RDS's own creation-time of the file, in UTC (the
	// RDS prints local time; the client converts with the RDS clock's
	// GMT offset).
	Created time.Time
}

// Capacity of the pool that holds a volume path.
type Capacity struct {
	TotalBytes int64
	FreeBytes  int64
}

// Client is every operation the driver needs from the RDS. Implementations
// validate every argument before building a command and return the sentinel
// errors of this package (wrapped) on failure.
type Client interface {
	// CreateVolume adds a file disk (optionally as a copy) and returns it as
	// RouterOS reports it afterwards. An existing slot → ErrAlreadyExists.
	CreateVolume(ctx context.Context, req CreateVolumeRequest) (Volume, error)
	// GetVolume returns the disk with that slot or ErrNotFound.
	GetVolume(ctx context.Context, id string) (Volume, error)
	// ListVolumes returns every disk whose slot starts with prefix, in RDS order.
	ListVolumes(ctx context.Context, prefix string) ([]Volume, error)
	// GrowVolume grows a disk to at least sizeBytes (rounded up) and returns
	// the disk afterwards. A disk already that large is returned unchanged;
	// shrinking is never attempted.
	GrowVolume(ctx context.Context, id string, sizeBytes int64) (Volume, error)
	// SetExport turns the disk's NVMe/TCP export on or off.
	SetExport(ctx context.Context, id string, exported bool) error
	// DeleteVolume removes the disk and then its backing file. Both being
	// already absent is success (idempotent).
	DeleteVolume(ctx context.Context, id string, filePath string) error
	// DiskByFile returns the disk whose backing file is filePath (any
	// disk, not only this driver's), or ErrNotFound.
	DiskByFile(ctx context.Context, filePath string) (Volume, error)
	// ListFiles returns the regular files directly or indirectly under dir
	// (a clean absolute path), directories left out.
	ListFiles(ctx context.Context, dir string) ([]File, error)
	// RemoveFile removes one file that no disk uses (a leftover backing
	// file). Absent is success. The caller must have made sure that no disk
	// uses it: RouterOS's own refusal of a file in use is unverified.
	RemoveFile(ctx context.Context, filePath string) error
	// Clock reads the RDS's own clock, in UTC: what file creation times are
	// compared with, so that an age never depends on the controller's clock.
	Clock(ctx context.Context) (time.Time, error)
	// BootTime returns when the RDS last started, by its own clock, in UTC
	// (to a few seconds): a file created before it cannot be the target of
	// a command still running, since no command outlives a restart.
	BootTime(ctx context.Context) (time.Time, error)
	// PoolCapacity returns size and free bytes of the pool holding volumePath
	// (the mount point named by its first path component).
	PoolCapacity(ctx context.Context, volumePath string) (Capacity, error)
	// Ping is the cheap liveness check (/system identity print).
	Ping(ctx context.Context) error
}

// Connection is the lifecycle of the one persistent SSH connection. Only the
// connection FSM (package fsm) calls Connect and Close, from one goroutine,
// one dial at a time.
type Connection interface {
	// Connect dials and authenticates, replacing any previous connection.
	// It honours ctx for the dial and the handshake. An error that wraps
	// ErrUnreachable failed before TCP connected (refused, no route, TCP
	// connect timed out): nothing listened at the address. Any other error
	// came later (handshake, authentication).
	Connect(ctx context.Context) error
	// Close drops the current connection (if any). Safe to call repeatedly.
	Close() error
	// Lost delivers one value per connection loss: the SSH connection closed
	// (Wait returned) or a command failed with a transport error. The
	// channel is buffered; losses that happen while one is pending coalesce.
	// Every value is a *LostError naming the generation of the lost
	// connection, so a stale loss can be told from a fresh one.
	Lost() <-chan error
	// Current reports the generation of the connection the last successful
	// Connect established (generations count successful Connects from 1; 0:
	// none yet) and whether that connection is still up (neither lost nor
	// closed). Read right after Connect returned, it tells the caller
	// whether the connection it just made died before it could be used.
	Current() (generation uint64, up bool)
	// ProbeTCP opens a bare TCP connection to Address and closes it at once,
	// within ctx: no SSH, no authentication. It tells cheaply whether the RDS
	// listens again after Connect failed with ErrUnreachable.
	ProbeTCP(ctx context.Context) error
	// Ping as in Client: the health check.
	Ping(ctx context.Context) error
	// Address is host:port of the RDS, for metrics labels and events.
	Address() string
}
