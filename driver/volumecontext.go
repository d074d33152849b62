package driver

// Volume context and StorageClass parameter keys. The volume-context keys are
// the ones the earlier rds-csi driver wrote into every PV it provisioned, so
// its volumes keep staging with this driver. Note the historical quirk:
// "volumePath" in a volume context is the backing *file* path, while in
// StorageClass parameters it is the *directory* holding backing files.
const (
	// StorageClass parameters.
	ParamVolumePath       = "volumePath"     // directory of backing files, default rds.DefaultVolumePath
	ParamNVMeAddress      = "nvmeAddress"    // NVMe/TCP target address the nodes connect to
	ParamNVMePort         = "nvmePort"       // NVMe/TCP port, default 4420
	ParamCtrlLossTmo      = "ctrlLossTmo"    // nvme connect -l, seconds; -1 unlimited (default), 0 kernel default
	ParamReconnectDelay   = "reconnectDelay" // nvme connect -c, seconds > 0, default 5
	ParamKeepAliveTmo     = "keepAliveTmo"   // nvme connect -k, seconds >= 0, 0 kernel default (default)
	ParamMigrationTimeout = "migrationTimeoutSeconds"
	ParamFSType           = "csi.storage.k8s.io/fstype"
	// Accepted for StorageClasses written for the earlier driver.
	ParamLegacyRDSAddress = "rdsAddress" // fallback for nvmeAddress
	ParamLegacyFSType     = "fsType"     // alias of csi.storage.k8s.io/fstype
	ParamLegacySSHPort    = "sshPort"    // ignored: the controller's --rds-address decides
	ParamLegacyNQNPrefix  = "nqnPrefix"  // must equal the managed prefix

	// Volume context keys (controller → node).
	CtxNVMeAddress      = "nvmeAddress"
	CtxNVMePort         = "nvmePort"
	CtxNQN              = "nqn"
	CtxFilePath         = "volumePath" // file path of the backing file (historical key)
	CtxFSType           = "fsType"
	CtxCtrlLossTmo      = "ctrlLossTmo"
	CtxReconnectDelay   = "reconnectDelay"
	CtxKeepAliveTmo     = "keepAliveTmo"
	CtxMigrationTimeout = "migrationTimeoutSeconds"

	// Publish context keys (ControllerPublish → NodeStage).
	PubNVMeAddress = "nvmeAddress"
	PubNVMePort    = "nvmePort"
	PubNQN         = "nqn"
)

// Defaults applied when a StorageClass leaves a parameter out.
const (
	DefaultCtrlLossTmo      = -1
	DefaultReconnectDelay   = 5
	DefaultKeepAliveTmo     = 0
	DefaultMigrationTimeout = 300 // seconds, clamped to [30, 3600]
	DefaultFSType           = "ext4"
)
