package driver

import (
	"strconv"
	"strings"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/rds"
)

// StorageClass parameters: parsed and validated once, before anything else
// happens, so a bad StorageClass fails with InvalidArgument naming the key
// instead of producing a half-usable volume.

// reservedParamPrefix marks keys the CSI sidecars add (with
// --extra-create-metadata: PVC/PV/VolumeSnapshot names). They carry no
// configuration and are ignored, except the fstype key.
const reservedParamPrefix = "csi.storage.k8s.io/"

// Keys added by --extra-create-metadata, logged so that an operator can map
// a disk on the RDS back to its claim.
const (
	paramPVCName      = "csi.storage.k8s.io/pvc/name"
	paramPVCNamespace = "csi.storage.k8s.io/pvc/namespace"
	paramPVName       = "csi.storage.k8s.io/pv/name"

	paramSnapshotName      = "csi.storage.k8s.io/volumesnapshot/name"
	paramSnapshotNamespace = "csi.storage.k8s.io/volumesnapshot/namespace"
)

// Bounds of migrationTimeoutSeconds: numeric values outside are clamped
// (an operator's typo should not block provisioning); non-numeric values
// are rejected. The attachment controller clamps the volume-context value
// the same way.
const (
	MinMigrationTimeout = 30
	MaxMigrationTimeout = 3600
)

// volumeParams is a validated parameter set with every default applied.
type volumeParams struct {
	VolumePath       string // directory of backing files
	NVMeAddress      string
	NVMePort         int
	CtrlLossTmo      int
	ReconnectDelay   int
	KeepAliveTmo     int
	MigrationTimeout int
	FSType           string // "" when the parameters name none
	// Metadata holds the csi.storage.k8s.io/* keys, for logging only.
	Metadata map[string]string
}

// parseVolumeParams validates StorageClass parameters. defaultAddress is the
// host of --rds-address; defaultPath the default backing-file directory.
func parseVolumeParams(logger klog.Logger, params map[string]string, defaultAddress, defaultPath string) (volumeParams, error) {
	p := volumeParams{
		VolumePath:       defaultPath,
		NVMeAddress:      defaultAddress,
		NVMePort:         rds.DefaultNVMeTCPPort,
		CtrlLossTmo:      DefaultCtrlLossTmo,
		ReconnectDelay:   DefaultReconnectDelay,
		KeepAliveTmo:     DefaultKeepAliveTmo,
		MigrationTimeout: DefaultMigrationTimeout,
		Metadata:         map[string]string{},
	}
	var err error
	for key, val := range params {
		switch key {
		case ParamVolumePath:
			if e := rds.ValidateVolumePath(val); e != nil {
				return p, invalidArg("parameter %s: %v", key, e)
			}
			p.VolumePath = val
		case ParamNVMeAddress:
			if e := validateHost(val); e != nil {
				return p, invalidArg("parameter %s: %v", key, e)
			}
			p.NVMeAddress = val
		case ParamLegacyRDSAddress:
			// Only a fallback: nvmeAddress wins when both are set.
			if e := validateHost(val); e != nil {
				return p, invalidArg("parameter %s: %v", key, e)
			}
			if _, ok := params[ParamNVMeAddress]; !ok {
				p.NVMeAddress = val
			}
		case ParamNVMePort:
			p.NVMePort, err = intParam(key, val, 1, 65535)
		case ParamCtrlLossTmo:
			p.CtrlLossTmo, err = intParam(key, val, -1, maxInt)
		case ParamReconnectDelay:
			p.ReconnectDelay, err = intParam(key, val, 1, maxInt)
		case ParamKeepAliveTmo:
			p.KeepAliveTmo, err = intParam(key, val, 0, maxInt)
		case ParamMigrationTimeout:
			p.MigrationTimeout, err = intParam(key, val, minInt, maxInt)
			if err == nil {
				if c := min(max(p.MigrationTimeout, MinMigrationTimeout), MaxMigrationTimeout); c != p.MigrationTimeout {
					logger.Info("Clamped StorageClass parameter", "key", key, "value", p.MigrationTimeout, "used", c)
					p.MigrationTimeout = c
				}
			}
		case ParamFSType, ParamLegacyFSType:
			if !supportedFSTypes[val] {
				return p, invalidArg("parameter %s: file system %q is not supported (ext4, xfs)", key, val)
			}
			if p.FSType != "" && p.FSType != val {
				return p, invalidArg("parameters %s and %s name different file systems", ParamFSType, ParamLegacyFSType)
			}
			p.FSType = val
		case ParamLegacySSHPort:
			if _, err = intParam(key, val, 1, 65535); err == nil {
				logger.V(2).Info("Ignoring legacy StorageClass parameter: the controller's --rds-address decides", "key", key, "value", val)
			}
		case ParamLegacyNQNPrefix:
			// The earlier driver's StorageClasses may spell it without the colon.
			if strings.TrimSuffix(val, ":") != strings.TrimSuffix(rds.NQNPrefix, ":") {
				return p, invalidArg("parameter %s=%q: only %q is supported", key, val, rds.NQNPrefix)
			}
		default:
			if !strings.HasPrefix(key, reservedParamPrefix) {
				return p, invalidArg("unknown parameter %q", key)
			}
			p.Metadata[key] = val
		}
		if err != nil {
			return p, err
		}
	}
	if p.NVMeAddress == "" {
		return p, invalidArg("no %s parameter and no default NVMe/TCP address configured", ParamNVMeAddress)
	}
	return p, nil
}

const (
	maxInt = int(^uint(0) >> 1)
	minInt = -maxInt - 1
)

// intParam parses a decimal parameter within [lo, hi].
func intParam(key, val string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(val)
	if err != nil {
		return 0, invalidArg("parameter %s=%q: not an integer", key, val)
	}
	if n < lo || n > hi {
		return 0, invalidArg("parameter %s=%d: out of range [%d, %d]", key, n, lo, hi)
	}
	return n, nil
}

// volumeContext is what the node plugin needs to stage a volume: the
// controller → node contract of volumecontext.go. Values describing the
// export come from the disk as RouterOS reports it.
func (p volumeParams) volumeContext(v rds.Volume, fsType string) map[string]string {
	port, nqn := v.NVMeTCPPort, v.NQN
	if port == 0 { // not reported: the disk was made with our parameters
		port = p.NVMePort
	}
	if nqn == "" {
		nqn = rds.NQNFor(v.ID)
	}
	return map[string]string{
		CtxNVMeAddress:      p.NVMeAddress,
		CtxNVMePort:         strconv.Itoa(port),
		CtxNQN:              nqn,
		CtxFilePath:         v.FilePath,
		CtxFSType:           fsType,
		CtxCtrlLossTmo:      strconv.Itoa(p.CtrlLossTmo),
		CtxReconnectDelay:   strconv.Itoa(p.ReconnectDelay),
		CtxKeepAliveTmo:     strconv.Itoa(p.KeepAliveTmo),
		CtxMigrationTimeout: strconv.Itoa(p.MigrationTimeout),
	}
}
