package driver

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/srvlab/rds-csi/driver/device"
)

// Acceptance 5: NodeExpandVolume grows the filesystem only after the
// rescan shows the new size; a failed rescan, or one after which the device
// still shows the old size, is a retryable error and grows nothing.
func TestNodeLoopExpandGrowsOnlyAfterTheRescanShowsTheSize(t *testing.T) {
	nodeRequireRoot(t, "mkfs.xfs", "xfs_growfs")
	e := newNodeLoopEnv(t)
	e.ns.cfg.ResizeWait = 300 * time.Millisecond
	vc := e.volume(nodeVolA, nodeSize)
	vcap := nodeMountCap("xfs", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	target := e.target(nodeVolA, "pod1")
	e.must(e.stage(nodeVolA, vc, vcap))
	e.must(e.publish(nodeVolA, target, vcap, false))
	fsBefore := nodeStatfsBytes(t, target)
	e.grow(2 * nodeSize) // the RDS grew the volume; the node has not seen it yet

	var mu sync.Mutex
	var order []string
	expand := func() (*csi.NodeExpandVolumeResponse, error) {
		return e.ns.NodeExpandVolume(context.Background(), &csi.NodeExpandVolumeRequest{
			VolumeId: nodeVolA, VolumePath: target, VolumeCapability: vcap,
			CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * nodeSize},
		})
	}
	tests := []struct {
		name   string
		rescan func(c device.Command) (device.Result, error, bool) // nil: the real losetup -c
		want   codes.Code
	}{
		{name: "rescan fails", want: codes.Unavailable, rescan: func(c device.Command) (device.Result, error, bool) {
			res := device.Result{ExitCode: 1, Stderr: []byte("losetup: /dev/loop0: set capacity failed: No such device or address")}
			return res, &device.ExitError{Command: c.String(), Code: 1, Output: res.Output()}, true
		}},
		{name: "rescan does not show the new size", want: codes.Unavailable, rescan: func(device.Command) (device.Result, error, bool) {
			return device.Result{}, nil, true // "succeeds" without the kernel re-reading the size
		}},
		{name: "rescan shows the new size", want: codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			order = nil
			mu.Unlock()
			e.runner.mu.Lock()
			e.runner.intercept = func(c device.Command) (device.Result, error, bool) {
				mu.Lock()
				order = append(order, c.Name+" "+c.Args[0])
				mu.Unlock()
				if c.Name == "losetup" && c.Args[0] == "-c" && tc.rescan != nil {
					return tc.rescan(c)
				}
				return device.Result{}, nil, false
			}
			e.runner.mu.Unlock()
			growsBefore := e.runner.count("xfs_growfs")

			resp, err := expand()
			mu.Lock()
			seen := slices.Clone(order)
			mu.Unlock()
			if tc.want != codes.OK {
				nodeWantCode(t, err, tc.want)
				if n := e.runner.count("xfs_growfs") - growsBefore; n != 0 {
					t.Fatalf("xfs_growfs ran %d times before the device showed the size (%v)", n, seen)
				}
				if got := nodeStatfsBytes(t, target); got != fsBefore {
					t.Fatalf("filesystem %d → %d bytes after a failed expansion", fsBefore, got)
				}
				return
			}
			e.must(err)
			size, err := device.SizeBytes(e.device(nodeVolA))
			e.must(err)
			if resp.GetCapacityBytes() != size || size != 2*nodeSize {
				t.Fatalf("capacity %d, device %d, want %d", resp.GetCapacityBytes(), size, 2*nodeSize)
			}
			rescan, grow := slices.Index(seen, "losetup -c"), slices.Index(seen, "xfs_growfs -d")
			if rescan < 0 || grow < rescan {
				t.Fatalf("commands %v: want the rescan before the growth", seen)
			}
			if got := nodeStatfsBytes(t, target); got < fsBefore+nodeSize*9/10 {
				t.Fatalf("filesystem %d → %d bytes: not grown", fsBefore, got)
			}
		})
	}
	e.must(e.unpublish(nodeVolA, target))
	e.must(e.unstage(nodeVolA))
}

// The NVMe connector's rescan failures map to retryable codes.
func TestNodeRescanErrorCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"no live controller", device.ErrNotConnected, codes.Unavailable},
		{"nvme-cli failed", &device.ExitError{Command: "nvme ns-rescan /dev/nvme0", Code: 1}, codes.Unavailable},
		{"nvme-cli timed out", device.ErrCommandTimeout, codes.DeadlineExceeded},
		{"request cancelled", context.Canceled, codes.Canceled},
		{"foreign NQN", device.ErrUnmanagedNQN, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodeWantCode(t, nodeRescanError(nodeTestVol, tc.err), tc.want)
		})
	}
}
