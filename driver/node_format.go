package driver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/srvlab/rds-csi/driver/device"
)

// Blank detection. The earlier driver reformatted a volume with data because
// a failed blkid was read as "no filesystem". blkid -p exits 2 for "nothing
// found", but util-linux also exits 2, silently, when it cannot open the
// device or when the probe fails on a read error (measured: `blkid -p
// /dev/nonexistent` prints nothing and exits 2). So exit 2 alone proves
// nothing. A device counts as blank only when, in this order:
//   1. it is a block device (stat before the probe),
//   2. blkid -p exits 2 and prints nothing at all,
//   3. it is still the same device, it can be opened and its first MiB and
//      its last 64 KiB read back without error, and that first MiB is all
//      zeroes (a new RDS volume is a sparse file: zeroes).
// Anything else is "not blank" or an error, and neither ever leads to mkfs.

const (
	nodeBlankHeadBytes = 1 << 20
	nodeBlankTailBytes = 64 << 10
)

// errNodeNotBlank: the device has data without a recognised signature.
var errNodeNotBlank = errors.New("device has no recognised signature but is not blank")

// diskFormat is what a probe found on a device.
type diskFormat struct {
	Blank  bool
	FSType string // TYPE, e.g. ext4, xfs, crypto_LUKS
	PTType string // PTTYPE: a partition table
	Raw    string // blkid output, for messages
}

func (f diskFormat) String() string {
	switch {
	case f.Blank:
		return "blank"
	case f.PTType != "":
		return "partition table " + f.PTType
	case f.FSType != "":
		return f.FSType
	}
	return "unrecognised content (" + strings.ReplaceAll(f.Raw, "\n", " ") + ")"
}

// probe reports what is on dev. Blank is set only by the proof above.
func (ns *NodeServer) probe(ctx context.Context, dev string) (diskFormat, error) {
	rdev, err := device.BlockRdev(dev)
	if err != nil {
		return diskFormat{}, err
	}
	res, err := ns.cfg.Runner.Run(ctx, device.Command{
		Name: "blkid", Args: []string{"-p", "-o", "export", dev}, Timeout: ns.cfg.CommandTimeout,
	})
	if err != nil {
		code, exited := device.ExitCode(err)
		if !exited || code != 2 {
			return diskFormat{}, fmt.Errorf("probing %s: %w", dev, err)
		}
		if out := res.Output(); out != "" {
			return diskFormat{}, fmt.Errorf("probing %s: blkid exit 2 with output %q: not a clean \"nothing found\"", dev, out)
		}
		if err := nodeCheckBlank(dev, rdev); err != nil {
			return diskFormat{}, err
		}
		return diskFormat{Blank: true}, nil
	}
	f := diskFormat{Raw: strings.TrimSpace(string(res.Stdout))}
	for _, line := range strings.Split(f.Raw, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "TYPE":
			f.FSType = v
		case "PTTYPE":
			f.PTType = v
		}
	}
	if f.Raw == "" {
		return diskFormat{}, fmt.Errorf("probing %s: blkid exit 0 without output", dev)
	}
	return f, nil
}

// nodeCheckBlank opens dev briefly (no descriptor survives the call), checks
// it is still the device that was probed, reads both ends, and requires the
// head to be zero-filled.
func nodeCheckBlank(dev string, rdev uint64) error {
	f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("blank check of %s: %w", dev, err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("blank check of %s: %w", dev, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK || st.Rdev != rdev {
		return fmt.Errorf("blank check of %s: the device changed during the probe", dev)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("blank check of %s: size: %w", dev, err)
	}
	if size <= 0 {
		return fmt.Errorf("blank check of %s: device size is %d", dev, size)
	}
	head := make([]byte, min(int64(nodeBlankHeadBytes), size))
	if _, err := f.ReadAt(head, 0); err != nil {
		return fmt.Errorf("blank check of %s: reading the first %d bytes: %w", dev, len(head), err)
	}
	tail := make([]byte, min(int64(nodeBlankTailBytes), size))
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil {
		return fmt.Errorf("blank check of %s: reading the last %d bytes: %w", dev, len(tail), err)
	}
	if !bytes.Equal(head, make([]byte, len(head))) {
		return fmt.Errorf("%s: %w: its first MiB is not zero-filled; refusing to format (wipe it by hand if it is truly disposable)", dev, errNodeNotBlank)
	}
	return nil
}

// mkfs formats a device that probe proved blank. No force flags: mkfs.xfs
// then refuses a device with any signature, a second line of defence (mke2fs
// does not ask without a terminal, so for ext4 the probe is the guard).
func (ns *NodeServer) mkfs(ctx context.Context, dev, fsType string) error {
	var cmd device.Command
	switch fsType {
	case "ext4":
		// -m 0: no blocks reserved for root on a volume that holds one app's data.
		cmd = device.Command{Name: "mkfs.ext4", Args: []string{"-m", "0", dev}}
	case "xfs":
		cmd = device.Command{Name: "mkfs.xfs", Args: []string{dev}}
	default:
		return fmt.Errorf("cannot format %s as %q", dev, fsType)
	}
	cmd.Timeout = ns.cfg.FormatTimeout
	_, err := ns.cfg.Runner.Run(ctx, cmd)
	return err
}

// errNodeOnlineResizeDenied: the kernel refused online ext4 growth (the
// process lacks CAP_SYS_RESOURCE).
var errNodeOnlineResizeDenied = errors.New("online ext4 growth is not permitted here (needs CAP_SYS_RESOURCE); it happens offline at the next stage instead")

// growFS grows the filesystem on dev to the device size. mountPoint empty
// means offline (ext only: e2fsck -f then resize2fs); xfs grows only mounted.
// mount-utils' ResizeFs is not used: it runs its tools without a deadline.
func (ns *NodeServer) growFS(ctx context.Context, dev, fsType, mountPoint string) error {
	switch fsType {
	case "ext2", "ext3", "ext4":
		if mountPoint == "" {
			res, err := ns.cfg.Runner.Run(ctx, device.Command{Name: "e2fsck", Args: []string{"-f", "-p", dev}, Timeout: ns.cfg.FormatTimeout})
			// e2fsck: 1 = errors corrected, 2 = corrected, reboot advised (root fs only).
			if code, ok := device.ExitCode(err); err != nil && (!ok || code > 2) {
				return fmt.Errorf("e2fsck before offline growth: %w", err)
			} else if err != nil {
				nodeLog(ctx).Info("e2fsck corrected errors before growth", "device", dev, "output", res.Output())
			}
		}
		_, err := ns.cfg.Runner.Run(ctx, device.Command{Name: "resize2fs", Args: []string{dev}, Timeout: ns.cfg.FormatTimeout})
		if err != nil && strings.Contains(err.Error(), "Permission denied to resize filesystem") {
			return fmt.Errorf("%w: %w", errNodeOnlineResizeDenied, err)
		}
		return err
	case "xfs":
		if mountPoint == "" {
			return errors.New("xfs can only grow while mounted")
		}
		_, err := ns.cfg.Runner.Run(ctx, device.Command{Name: "xfs_growfs", Args: []string{"-d", mountPoint}, Timeout: ns.cfg.FormatTimeout})
		return err
	}
	return fmt.Errorf("growing %s filesystems is not supported", fsType)
}

// extSize returns the size in bytes of the ext filesystem on dev, from its
// superblock (dumpe2fs -h).
func (ns *NodeServer) extSize(ctx context.Context, dev string) (int64, error) {
	res, err := ns.cfg.Runner.Run(ctx, device.Command{Name: "dumpe2fs", Args: []string{"-h", dev}, Timeout: ns.cfg.CommandTimeout})
	if err != nil {
		return 0, err
	}
	var count, bsize int64
	for _, line := range strings.Split(string(res.Stdout), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Block count":
			count, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		case "Block size":
			bsize, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if count <= 0 || bsize <= 0 {
		return 0, fmt.Errorf("dumpe2fs -h %s: no block count/size in output", dev)
	}
	return count * bsize, nil
}

// nodeExtGrowSlack: resize2fs may leave a tail smaller than one block group's
// overhead unused; growth is attempted only beyond it, so that a volume is
// not checked and resized again at every stage.
const nodeExtGrowSlack = 8 << 20

// extNeedsGrowth reports whether the ext filesystem on dev is smaller than
// the device by more than the slack.
func (ns *NodeServer) extNeedsGrowth(ctx context.Context, dev string) (bool, error) {
	fsBytes, err := ns.extSize(ctx, dev)
	if err != nil {
		return false, err
	}
	devBytes, err := device.SizeBytes(dev)
	if err != nil {
		return false, err
	}
	return devBytes-fsBytes > nodeExtGrowSlack, nil
}
