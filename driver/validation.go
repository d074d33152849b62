package driver

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/srvlab/rds-csi/rds"
)

// Request validation that needs no RDS: every check here runs before a lock
// is taken or a command is sent, so a hostile value never reaches RouterOS
// and a malformed request costs nothing.

// DefaultVolumeSize is allocated when a request names no size (CSI lets the
// plugin choose).
const DefaultVolumeSize int64 = 1 << 30

// nodeIDPattern: Kubernetes node names and the like; never whitespace,
// quotes or RouterOS metacharacters.
var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$`)

// validateID checks a volume or snapshot id taken from a request: required,
// and of the only shape that may go into a RouterOS command line.
func validateID(field, id string) error {
	if id == "" {
		return invalidArg("%s is required", field)
	}
	if err := rds.ValidateID(id); err != nil {
		return invalidArg("%s: %v", field, err)
	}
	return nil
}

// validateNodeID checks a CSI node id.
func validateNodeID(id string) error {
	if id == "" {
		return invalidArg("node_id is required")
	}
	if !nodeIDPattern.MatchString(id) {
		return invalidArg("node_id %q must match %s", id, nodeIDPattern)
	}
	return nil
}

// validateHost accepts an IP address (without zone) or a DNS-1123 host name:
// the address nodes pass to nvme connect.
func validateHost(h string) error {
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
			return fmt.Errorf("address %q is not a usable unicast address", h)
		}
		return nil
	}
	if errs := validation.IsDNS1123Subdomain(h); len(errs) > 0 {
		return fmt.Errorf("address %q is neither an IP address nor a DNS name: %s", h, strings.Join(errs, "; "))
	}
	// "10.0.0" passes as a DNS name but is a mistyped address: a real host
	// name never has an all-numeric top-level label.
	last := h[strings.LastIndexByte(h, '.')+1:]
	if strings.Trim(last, "0123456789") == "" {
		return fmt.Errorf("address %q looks like a malformed IP address", h)
	}
	return nil
}

// capacityFor validates a capacity range and picks the size to request:
// required bytes, or DefaultVolumeSize (capped by the limit) when none.
func capacityFor(cr *csi.CapacityRange, maxSize int64) (size, limit int64, err error) {
	req, lim := cr.GetRequiredBytes(), cr.GetLimitBytes()
	if req < 0 || lim < 0 {
		return 0, 0, invalidArg("capacity_range must not be negative (required %d, limit %d)", req, lim)
	}
	if lim > 0 && lim < req {
		return 0, 0, invalidArg("capacity_range limit %d is below required %d", lim, req)
	}
	size = req
	if size == 0 {
		size = DefaultVolumeSize
		if lim > 0 && lim < size {
			size = lim
		}
	}
	if size > maxSize {
		return 0, 0, status.Errorf(codes.OutOfRange, "requested %d bytes exceeds the maximum volume size %d", size, maxSize)
	}
	return size, lim, nil
}

// supportedFSTypes are the file systems the node plugin formats.
var supportedFSTypes = map[string]bool{"ext4": true, "xfs": true}

// capabilityProblem returns why a capability is unsupported, or "" when it
// is supported. ValidateVolumeCapabilities reports the text as its message;
// other RPCs turn it into InvalidArgument.
func capabilityProblem(c *csi.VolumeCapability) string {
	if c == nil {
		return "volume capability is empty"
	}
	block := c.GetBlock() != nil
	mount := c.GetMount()
	switch {
	case block && mount != nil:
		return "volume capability has both block and mount access types"
	case !block && mount == nil:
		return "volume capability needs an access type (block or mount)"
	case mount != nil && mount.GetFsType() != "" && !supportedFSTypes[mount.GetFsType()]:
		return fmt.Sprintf("file system %q is not supported (ext4, xfs)", mount.GetFsType())
	}
	mode := c.GetAccessMode().GetMode()
	switch mode {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:
		return ""
	case csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER:
		if block {
			return ""
		}
		return "MULTI_NODE_MULTI_WRITER is supported for block volumes only (KubeVirt live migration); a file system cannot be mounted on two nodes"
	case csi.VolumeCapability_AccessMode_UNKNOWN:
		return "volume capability needs an access mode"
	default:
		return fmt.Sprintf("access mode %s is not supported: an RDS volume is attached to one node (two only for a block live migration)", mode)
	}
}

// validateCapabilities checks a non-empty capability list and returns the
// file system the mount capabilities ask for ("" when none names one).
func validateCapabilities(caps []*csi.VolumeCapability) (fsType string, err error) {
	if len(caps) == 0 {
		return "", invalidArg("volume_capabilities are required")
	}
	for _, c := range caps {
		if p := capabilityProblem(c); p != "" {
			return "", invalidArg("%s", p)
		}
		fs := c.GetMount().GetFsType()
		if fs == "" {
			continue
		}
		if fsType != "" && fs != fsType {
			return "", invalidArg("volume capabilities ask for two file systems (%s, %s)", fsType, fs)
		}
		fsType = fs
	}
	return fsType, nil
}

// isMultiNode reports whether a capability lets more than one node attach.
func isMultiNode(c *csi.VolumeCapability) bool {
	return c.GetAccessMode().GetMode() == csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
}
