// Package app assembles rds-csi from a validated Config: the RDS client and
// its connection FSM, the CSI services, metrics, Kubernetes wiring, and runs
// them until the context ends. cmd/rds-csi only parses flags into a Config.
package app

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/srvlab/rds-csi/driver"
	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/driver/nodehealth"
	"github.com/srvlab/rds-csi/fsm"
	"github.com/srvlab/rds-csi/rds"
)

// Modes the binary runs in.
const (
	ModeController = "controller"
	ModeNode       = "node"
	ModeAll        = "all"
)

// Config is every flag of rds-csi after parsing. Validate reports all
// problems at once so an operator fixes a manifest in one round.
type Config struct {
	Mode       string
	Endpoint   string
	NodeID     string
	DriverName string

	// RDSConfig is the --rds-config file listing several RDS units
	// (units.go); it excludes the single-RDS flags below.
	RDSConfig string
	// units is RDSConfig loaded by Validate.
	units []UnitSpec

	RDSAddress          string
	RDSUser             string
	RDSPrivateKey       string
	RDSHostKey          string
	RDSInsecureSkipHost bool
	RDSCommandTimeout   time.Duration
	RDSCopyTimeout      time.Duration
	RDSMaxSessions      int
	HealthInterval      time.Duration
	HealthTimeout       time.Duration
	ReconnectBase       time.Duration
	ReconnectMax        time.Duration
	ProbeInterval       time.Duration

	MetricsAddress string
	Kubeconfig     string

	// Node plugin.
	NodeTopology       string
	MaxVolumesPerNode  int64
	DeviceConnector    string
	LoopRoot           string
	ManagedNQNPrefix   string
	NodeStateDir       string
	NodeHealthInterval time.Duration
	NodeReconnectBase  time.Duration
	NodeReconnectMax   time.Duration

	// Attachment reconciliation (controller).
	AttachmentGracePeriod   time.Duration
	AttachmentResyncPeriod  time.Duration
	StartupReconcileTimeout time.Duration
	LeaderElection          bool
	LeaderElectionNamespace string
	LeaseDuration           time.Duration
	RenewDeadline           time.Duration
	RetryPeriod             time.Duration

	// Orphan report (controller).
	OrphanGracePeriod time.Duration
	OrphanDelete      bool
}

// RegisterFlags binds every field to a flag of fs with its default.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Mode, "mode", ModeAll, "which CSI services to run: controller, node or all")
	fs.StringVar(&c.Endpoint, "endpoint", "unix:///csi/csi.sock", "CSI endpoint (unix socket)")
	fs.StringVar(&c.NodeID, "node-id", "", "this node's name (required for node and all modes)")
	fs.StringVar(&c.DriverName, "driver-name", "rds.csi.srvlab.io", "CSI driver name")

	fs.StringVar(&c.RDSConfig, "rds-config", "", "YAML file listing several RDS units (name, address, user, privateKey, hostKey, nvmeAddress, nvmePort, topology, legacy); excludes --rds-address, --rds-user, --rds-private-key, --rds-host-key and --rds-insecure-skip-host-key-check")
	fs.StringVar(&c.RDSAddress, "rds-address", "", "RDS SSH address host:port (controller; the single RDS, unit \"default\")")
	fs.StringVar(&c.RDSUser, "rds-user", "admin", "RouterOS user for SSH")
	fs.StringVar(&c.RDSPrivateKey, "rds-private-key", "", "file with the SSH private key (OpenSSH format)")
	fs.StringVar(&c.RDSHostKey, "rds-host-key", "", "file with the RDS host public key (OpenSSH public-key line or known_hosts line)")
	fs.BoolVar(&c.RDSInsecureSkipHost, "rds-insecure-skip-host-key-check", false, "accept any RDS host key (tests only; logs a warning)")
	fs.DurationVar(&c.RDSCommandTimeout, "rds-command-timeout", 30*time.Second, "deadline of every RouterOS command except copies; a timeout fails that command only")
	fs.DurationVar(&c.RDSCopyTimeout, "rds-copy-timeout", rds.DefaultCopyTimeout, "deadline of one copy-from (snapshot, clone, restore); set it above your largest volume's copy time")
	fs.IntVar(&c.RDSMaxSessions, "rds-max-sessions", rds.DefaultMaxSessions, "SSH sessions open at once on the RDS connection (at least 2: one is kept for the health check, copies use at most half of the rest)")
	fs.DurationVar(&c.HealthInterval, "rds-health-interval", 2*time.Second, "how often the RDS connection is checked")
	fs.DurationVar(&c.HealthTimeout, "rds-health-timeout", 3*time.Second, "deadline of one RDS health check")
	fs.DurationVar(&c.ReconnectBase, "reconnect-base", time.Second, "first reconnect backoff step (doubles per failure)")
	fs.DurationVar(&c.ReconnectMax, "reconnect-max", 16*time.Second, "reconnect backoff cap")
	fs.DurationVar(&c.ProbeInterval, "rds-probe-interval", fsm.DefaultProbeInterval, "while the RDS refuses TCP connections, probe its port this often and dial as soon as it answers (0: off)")

	fs.StringVar(&c.MetricsAddress, "metrics-address", ":9809", "address serving /metrics, /healthz and /readyz (empty: off)")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster config when running in a Pod; none: Kubernetes features off)")

	fs.StringVar(&c.NodeTopology, "node-topology", "", "node: topology segments this node reaches, key=value,... (e.g. topology.rds.csi.srvlab.io/rds=rack-a); reported by NodeGetInfo")
	fs.Int64Var(&c.MaxVolumesPerNode, "max-volumes-per-node", 0, "max_volumes_per_node reported by NodeGetInfo (0: unlimited)")
	fs.StringVar(&c.DeviceConnector, "device-connector", "nvme-tcp", "how the node gets a block device: nvme-tcp, or loop (test mode: attaches the emulator's backing files)")
	fs.StringVar(&c.LoopRoot, "loop-root", "", "loop connector only: the emulator's --data-dir")
	fs.StringVar(&c.ManagedNQNPrefix, "managed-nqn-prefix", device.DefaultManagedPrefix, "only NQNs with this prefix are ever disconnected by the node plugin")
	fs.StringVar(&c.NodeStateDir, "node-state-dir", "", "node: directory where staged volumes are remembered across restarts (connect parameters for reconnects, Pods for events); empty: in memory only, and no orphan cleanup at start")
	fs.DurationVar(&c.NodeHealthInterval, "node-health-interval", nodehealth.DefaultInterval, "node: how often the data path (sysfs) and the mounts of every staged volume are checked")
	fs.DurationVar(&c.NodeReconnectBase, "node-reconnect-base", nodehealth.DefaultReconnectBase, "node: first backoff step of reconnecting a path the kernel gave up (doubles per failure)")
	fs.DurationVar(&c.NodeReconnectMax, "node-reconnect-max", nodehealth.DefaultReconnectMax, "node: reconnect backoff cap")

	fs.DurationVar(&c.AttachmentGracePeriod, "attachment-grace-period", 30*time.Second, "how long a node must be NotReady before its attachments count as stale")
	fs.DurationVar(&c.AttachmentResyncPeriod, "attachment-resync-period", 5*time.Minute, "period of the full attachment reconcile pass")
	fs.DurationVar(&c.StartupReconcileTimeout, "startup-reconcile-timeout", 30*time.Second, "upper bound of the startup reconcile pass before the gRPC server serves")
	fs.BoolVar(&c.LeaderElection, "leader-election", false, "run attachment reconciliation only on the Lease holder")
	fs.StringVar(&c.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the Lease (default: POD_NAMESPACE)")
	fs.DurationVar(&c.LeaseDuration, "leader-election-lease-duration", 15*time.Second, "how long a replica waits for a silent leader before taking over")
	fs.DurationVar(&c.RenewDeadline, "leader-election-renew-deadline", 10*time.Second, "how long the leader keeps retrying a renewal before it steps down")
	fs.DurationVar(&c.RetryPeriod, "leader-election-retry-period", 2*time.Second, "interval between leader-election attempts")

	fs.DurationVar(&c.OrphanGracePeriod, "orphan-grace-period", time.Hour, "minimum age, by the RDS's own creation-time, of a disk or backing file before it is reported as an orphan (plus --rds-copy-timeout for what may be a copy target)")
	fs.BoolVar(&c.OrphanDelete, "orphan-delete", false, "remove orphans that are provably unused (never an exported disk, never one younger than --orphan-grace-period); off: report only")
}

// HasController reports whether the controller service runs.
func (c *Config) HasController() bool { return c.Mode == ModeController || c.Mode == ModeAll }

// HasNode reports whether the node service runs.
func (c *Config) HasNode() bool { return c.Mode == ModeNode || c.Mode == ModeAll }

// Validate checks every flag and returns all problems joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch c.Mode {
	case ModeController, ModeNode, ModeAll:
	default:
		bad("--mode=%q: want controller, node or all", c.Mode)
	}
	if _, err := driver.SocketPath(c.Endpoint); err != nil {
		bad("--endpoint: %w", err)
	}
	if c.DriverName == "" {
		bad("--driver-name is empty")
	}
	if c.HasNode() && c.NodeID == "" {
		bad("--node-id is required in %s mode", c.Mode)
	}
	if c.HasController() {
		if c.RDSConfig != "" {
			c.validateRDSConfig(bad)
		} else {
			c.validateRDSFlags(bad)
		}
		positive := map[string]time.Duration{
			"--rds-command-timeout": c.RDSCommandTimeout, "--rds-copy-timeout": c.RDSCopyTimeout, "--rds-health-interval": c.HealthInterval,
			"--rds-health-timeout": c.HealthTimeout, "--reconnect-base": c.ReconnectBase,
			"--reconnect-max": c.ReconnectMax, "--attachment-grace-period": c.AttachmentGracePeriod,
			"--attachment-resync-period": c.AttachmentResyncPeriod, "--startup-reconcile-timeout": c.StartupReconcileTimeout,
			"--orphan-grace-period": c.OrphanGracePeriod,
		}
		for name, d := range positive {
			if d <= 0 {
				bad("%s=%s must be positive", name, d)
			}
		}
		if c.RDSMaxSessions < 2 {
			bad("--rds-max-sessions=%d: at least 2 (one for commands, one for the health check)", c.RDSMaxSessions)
		}
		if c.RDSCopyTimeout > 0 && c.RDSCopyTimeout < c.RDSCommandTimeout {
			bad("--rds-copy-timeout=%s is below --rds-command-timeout=%s", c.RDSCopyTimeout, c.RDSCommandTimeout)
		}
		if c.ReconnectMax < c.ReconnectBase {
			bad("--reconnect-max=%s is below --reconnect-base=%s", c.ReconnectMax, c.ReconnectBase)
		}
		if c.LeaderElection && (c.RetryPeriod <= 0 || c.RetryPeriod >= c.RenewDeadline || c.RenewDeadline >= c.LeaseDuration) {
			bad("leader election needs 0 < --leader-election-retry-period (%s) < --leader-election-renew-deadline (%s) < --leader-election-lease-duration (%s)",
				c.RetryPeriod, c.RenewDeadline, c.LeaseDuration)
		}
	}
	if c.HasNode() {
		if _, err := ParseNodeTopology(c.NodeTopology); err != nil {
			errs = append(errs, err)
		}
		if c.MaxVolumesPerNode < 0 {
			bad("--max-volumes-per-node=%d must not be negative", c.MaxVolumesPerNode)
		}
		switch c.DeviceConnector {
		case "nvme-tcp":
			if c.LoopRoot != "" {
				bad("--loop-root applies only to --device-connector=loop")
			}
		case "loop":
			if !strings.HasPrefix(c.LoopRoot, "/") {
				bad("--loop-root=%q: the loop connector needs the emulator's absolute --data-dir", c.LoopRoot)
			}
		default:
			bad("--device-connector=%q: want nvme-tcp or loop", c.DeviceConnector)
		}
		if !strings.HasPrefix(c.ManagedNQNPrefix, "nqn.") || strings.ContainsAny(c.ManagedNQNPrefix, " ;\"'$[]\\\n") {
			bad("--managed-nqn-prefix=%q is not an NQN prefix", c.ManagedNQNPrefix)
		}
		if c.NodeStateDir != "" && !filepath.IsAbs(c.NodeStateDir) {
			bad("--node-state-dir=%q must be an absolute path", c.NodeStateDir)
		}
		for name, d := range map[string]time.Duration{
			"--node-health-interval": c.NodeHealthInterval, "--node-reconnect-base": c.NodeReconnectBase, "--node-reconnect-max": c.NodeReconnectMax,
		} {
			if d <= 0 {
				bad("%s=%s must be positive", name, d)
			}
		}
		if c.NodeReconnectMax < c.NodeReconnectBase {
			bad("--node-reconnect-max=%s is below --node-reconnect-base=%s", c.NodeReconnectMax, c.NodeReconnectBase)
		}
	}
	return errors.Join(errs...)
}

// validateRDSFlags checks the single-RDS flags.
func (c *Config) validateRDSFlags(bad func(string, ...any)) {
	if _, _, err := net.SplitHostPort(c.RDSAddress); err != nil || c.RDSAddress == "" {
		bad("--rds-address=%q: want host:port", c.RDSAddress)
	}
	if c.RDSUser == "" {
		bad("--rds-user is empty")
	}
	if c.RDSPrivateKey == "" {
		bad("--rds-private-key is required in %s mode", c.Mode)
	}
	if c.RDSHostKey == "" && !c.RDSInsecureSkipHost {
		bad("--rds-host-key is required (or --rds-insecure-skip-host-key-check for tests)")
	}
	if c.RDSHostKey != "" && c.RDSInsecureSkipHost {
		bad("--rds-host-key and --rds-insecure-skip-host-key-check exclude each other")
	}
}

// validateRDSConfig loads --rds-config; the single-RDS flags must be unset
// (--rds-user at its default), so that no setting is silently ignored.
func (c *Config) validateRDSConfig(bad func(string, ...any)) {
	for flag, set := range map[string]bool{
		"--rds-address": c.RDSAddress != "", "--rds-private-key": c.RDSPrivateKey != "",
		"--rds-host-key": c.RDSHostKey != "", "--rds-insecure-skip-host-key-check": c.RDSInsecureSkipHost,
		"--rds-user": c.RDSUser != "admin",
	} {
		if set {
			bad("%s and --rds-config exclude each other: set it per unit in the file", flag)
		}
	}
	units, err := LoadRDSConfig(c.RDSConfig)
	if err != nil {
		bad("%w", err)
		return
	}
	c.units = units
}

// DefaultConfig returns a Config holding every flag's default, for tests and
// tools that build a Config in code.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("defaults", flag.ContinueOnError))
	return c
}
