package driver

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/rds"
)

// nodeVolumeCap is a validated volume capability.
type nodeVolumeCap struct {
	Block      bool
	FSType     string   // mount only
	MountFlags []string // mount only
	ReadOnly   bool     // access mode is a reader-only mode
	// SingleTarget: SINGLE_NODE_SINGLE_WRITER allows one published target
	// path on the node, unlike SINGLE_NODE_MULTI_WRITER / SINGLE_NODE_WRITER.
	SingleTarget bool
}

func nodeCheckPath(field, p string) error {
	if p == "" {
		return status.Errorf(codes.InvalidArgument, "%s is required", field)
	}
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return status.Errorf(codes.InvalidArgument, "%s %q must be a clean absolute path", field, p)
	}
	return nil
}

// nodeCheckVolumePath validates the volume_path of NodeGetVolumeStats and
// NodeExpandVolume. Only the empty path is malformed; any other path that is
// not clean and absolute cannot be where we published a volume, so the
// truthful answer is NotFound (what the CSI spec asks for an unknown path).
func nodeCheckVolumePath(p string) error {
	if p == "" {
		return status.Error(codes.InvalidArgument, "volume_path is required")
	}
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return status.Errorf(codes.NotFound, "volume_path %q is not a published volume (not a clean absolute path)", p)
	}
	return nil
}

// nodeCheckCapability accepts what the controller accepts: single-node access
// modes for mount and block, MULTI_NODE_MULTI_WRITER for block only, and
// ext4/xfs filesystems. ctxFSType is the volume context's fsType fallback.
func nodeCheckCapability(c *csi.VolumeCapability, ctxFSType string) (nodeVolumeCap, error) {
	if c == nil {
		return nodeVolumeCap{}, status.Error(codes.InvalidArgument, "volume_capability is required")
	}
	var out nodeVolumeCap
	switch at := c.GetAccessType().(type) {
	case *csi.VolumeCapability_Block:
		out.Block = true
	case *csi.VolumeCapability_Mount:
		out.FSType = at.Mount.GetFsType()
		if out.FSType == "" {
			out.FSType = ctxFSType
		}
		if out.FSType == "" {
			out.FSType = DefaultFSType
		}
		if !supportedFSTypes[out.FSType] {
			return out, status.Errorf(codes.InvalidArgument, "filesystem %q is not supported (ext4, xfs)", out.FSType)
		}
		for _, f := range at.Mount.GetMountFlags() {
			if f == "" || strings.ContainsAny(f, " \t\n") || f == "bind" || f == "rbind" || f == "remount" {
				return out, status.Errorf(codes.InvalidArgument, "mount flag %q is not allowed", f)
			}
		}
		out.MountFlags = at.Mount.GetMountFlags()
	default:
		return out, status.Error(codes.InvalidArgument, "volume_capability needs an access type (mount or block)")
	}
	if c.GetAccessMode() == nil {
		return out, status.Error(codes.InvalidArgument, "volume_capability.access_mode is required")
	}
	switch m := c.GetAccessMode().GetMode(); m {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER:
		out.SingleTarget = true
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY:
		out.ReadOnly = true
	case csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER:
		if !out.Block {
			return out, status.Error(codes.InvalidArgument, "MULTI_NODE_MULTI_WRITER is supported for block volumes only")
		}
	default:
		return out, status.Errorf(codes.InvalidArgument, "access mode %s is not supported", m)
	}
	return out, nil
}

// nodeContextValue prefers the publish context, then the volume context.
func nodeContextValue(pub, vol map[string]string, pubKey, volKey string) string {
	if v := pub[pubKey]; v != "" && pubKey != "" {
		return v
	}
	return vol[volKey]
}

func nodeIntValue(field, v string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return 0, status.Errorf(codes.InvalidArgument, "%s %q must be an integer in [%d, %d]", field, v, lo, hi)
	}
	return n, nil
}

// nodeTarget builds the connector target of a volume from the publish
// context (preferred) and the volume context (keys written by the earlier
// driver too).
func nodeTarget(volumeID, managedPrefix string, pub, vol map[string]string) (device.Target, error) {
	t := device.Target{
		NQN:      nodeContextValue(pub, vol, PubNQN, CtxNQN),
		Address:  nodeContextValue(pub, vol, PubNVMeAddress, CtxNVMeAddress),
		FilePath: vol[CtxFilePath],
	}
	want := nodeNQN(volumeID)
	if t.NQN == "" {
		t.NQN = want
	}
	if err := rds.ValidateNQN(t.NQN); err != nil {
		return t, status.Errorf(codes.InvalidArgument, "nqn: %v", err)
	}
	if t.NQN != want {
		// Unstage knows only the volume id and disconnects NQNFor(id): any
		// other NQN would be left connected forever.
		return t, status.Errorf(codes.InvalidArgument, "nqn %q does not belong to volume %s (want %q)", t.NQN, volumeID, want)
	}
	if err := device.CheckManaged(managedPrefix, t.NQN); err != nil {
		return t, status.Errorf(codes.InvalidArgument, "nqn: %v", err)
	}
	var err error
	if t.Port, err = nodeIntValue("nvmePort", nodeContextValue(pub, vol, PubNVMePort, CtxNVMePort), rds.DefaultNVMeTCPPort, 1, 65535); err != nil {
		return t, err
	}
	if t.CtrlLossTmo, err = nodeIntValue("ctrlLossTmo", vol[CtxCtrlLossTmo], DefaultCtrlLossTmo, -1, 1<<30); err != nil {
		return t, err
	}
	// 0 is accepted (kernel default) for volumes written by the earlier driver.
	if t.ReconnectDelay, err = nodeIntValue("reconnectDelay", vol[CtxReconnectDelay], DefaultReconnectDelay, 0, 1<<30); err != nil {
		return t, err
	}
	if t.KeepAliveTmo, err = nodeIntValue("keepAliveTmo", vol[CtxKeepAliveTmo], DefaultKeepAliveTmo, 0, 1<<30); err != nil {
		return t, err
	}
	if t.FilePath != "" {
		if err := rds.ValidatePath(t.FilePath); err != nil {
			return t, status.Errorf(codes.InvalidArgument, "volumePath: %v", err)
		}
	}
	return t, nil
}

// nodeNQN is the NQN unstage and friends act on: they know only the id
// (a validated handle: its slot's NQN).
func nodeNQN(volumeID string) string { return rds.NQNForHandle(volumeID) }

// validateVolumeHandle checks a volume id taken from a node request: a
// slot, or a unit and a slot (handle.go).
func validateVolumeHandle(id string) error {
	_, _, err := splitHandle("volume_id", id)
	return err
}

func nodeErrorf(c codes.Code, volumeID, format string, args ...any) error {
	return status.Errorf(c, "volume %s: %s", volumeID, fmt.Sprintf(format, args...))
}
