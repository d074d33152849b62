package app

import (
	"errors"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/driver"
	"github.com/srvlab/rds-csi/driver/attachment"
	"github.com/srvlab/rds-csi/driver/kube"
	"github.com/srvlab/rds-csi/fsm"
	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/queue"
	"github.com/srvlab/rds-csi/rds"
)

// rdsUnit is one RDS unit at run time: its SSH connection and its
// connection state machine.
type rdsUnit struct {
	spec    UnitSpec
	conn    *rds.SSHClient
	machine *fsm.Machine
}

// controllerParts is what the controller mode runs.
type controllerParts struct {
	units       []*rdsUnit
	service     *driver.UnitsController
	attachCtl   *attachment.Controller
	hasTopology bool
}

// newController builds, for every RDS unit, an SSH client and a connection
// FSM (own backoff queue, own events, metrics labelled rds=<name>), then the
// attachment controller and the controller service over all units.
func newController(cfg Config, client kubernetes.Interface, recorder kube.Recorder, set *metricsSet, logger klog.Logger) (*controllerParts, error) {
	specs := cfg.unitSpecs()
	// One unit named "default" keeps the single-RDS driver's events,
	// queue name and logs; with several, each says which unit it is about.
	multi := len(specs) > 1 || specs[0].Name != driver.DefaultUnitName
	fsmMetrics := metrics.NewFSMSet(set.registry)
	parts := &controllerParts{}
	for _, s := range specs {
		conn, err := rds.NewSSHClient(rds.SSHConfig{
			Address:                  s.Address,
			User:                     s.User,
			PrivateKeyPath:           s.PrivateKey,
			HostKeyPath:              s.HostKey,
			InsecureSkipHostKeyCheck: s.InsecureSkipHostKeyCheck,
			DialTimeout:              cfg.dialTimeout(),
			CommandTimeout:           cfg.RDSCommandTimeout,
			CopyTimeout:              cfg.RDSCopyTimeout,
			MaxSessions:              cfg.RDSMaxSessions,
			Logger:                   logger.WithValues("rds", s.Name),
		})
		if err != nil {
			return nil, errors.Join(err, parts.close())
		}
		fc := fsm.Config{
			Conn:           conn,
			Recorder:       recorder,
			Metrics:        fsmMetrics.Unit(s.Name),
			QueueMetrics:   set.workqueue,
			HealthInterval: cfg.HealthInterval,
			HealthTimeout:  cfg.HealthTimeout,
			DialTimeout:    cfg.dialTimeout(),
			ProbeInterval:  cfg.probeInterval(),
			Backoff:        queue.LimiterConfig{Base: cfg.ReconnectBase, Max: cfg.ReconnectMax, Jitter: queue.DefaultJitter},
		}
		if multi {
			fc.Unit = s.Name
			fc.QueueName = fsm.ReconnectQueueName + "_" + s.Name
			fc.Recorder = kube.ForUnit(recorder, s.Name, s.Address)
		}
		machine, err := fsm.New(fc)
		if err != nil {
			_ = conn.Close()
			return nil, errors.Join(err, parts.close())
		}
		parts.units = append(parts.units, &rdsUnit{spec: s, conn: conn, machine: machine})
	}

	var attachments driver.Attachments = driver.NewMemoryAttachments()
	var backingFiles func(string) []string // from PVs, with Kubernetes
	nodeExistsFn := nodeExists(cfg)
	var unitConfigs []driver.UnitConfig
	for _, u := range parts.units {
		unitConfigs = append(unitConfigs, driver.UnitConfig{
			Name:     u.spec.Name,
			Legacy:   u.spec.Legacy,
			Topology: u.spec.Topology,
			Address:  u.spec.Address,
			NVMePort: u.spec.NVMePort,
			Controller: driver.ControllerConfig{
				DriverName:         cfg.DriverName,
				RDS:                u.conn,
				Connected:          u.machine.Connected,
				DefaultNVMeAddress: u.spec.NVMeAddress,
				CopyTimeout:        cfg.RDSCopyTimeout,
				Logger:             logger,
			},
		})
	}
	// The service is built twice when Kubernetes is there: its resolver
	// is needed by the attachment controller, whose attachment state the
	// final service uses. Building is cheap and does no I/O.
	probe, err := driver.NewUnitsController(driver.UnitsConfig{Units: unitConfigs, Logger: logger})
	if err != nil {
		return nil, errors.Join(err, parts.close())
	}
	if client != nil {
		// Attachment truth from VolumeAttachments; it subscribes to
		// Reconnected, so it is built before the FSM loops start.
		ac, err := newAttachmentController(cfg, client, parts, probe.ResolveHandle, recorder, set, logger)
		if err != nil {
			return nil, errors.Join(err, parts.close())
		}
		parts.attachCtl = ac
		attachments, nodeExistsFn = ac.Attachments(), ac.NodeExists
		backingFiles = ac.BackingFiles
	}
	for i := range unitConfigs {
		unitConfigs[i].Controller.NodeExists = nodeExistsFn
	}
	uc, err := driver.NewUnitsController(driver.UnitsConfig{
		Units:        unitConfigs,
		Attachments:  attachments,
		BackingFiles: backingFiles,
		Logger:       logger,
	})
	if err != nil {
		return nil, errors.Join(err, parts.close())
	}
	parts.service = uc
	parts.hasTopology = uc.HasTopology()
	return parts, nil
}

// close closes every connection made so far (a failed build).
func (p *controllerParts) close() error {
	var errs []error
	for _, u := range p.units {
		errs = append(errs, u.conn.Close())
	}
	return errors.Join(errs...)
}

// ready is the readiness rule with several units: ready while at least one
// unit is connected (a unit that is away answers Unavailable for its own
// volumes only; the others serve). Probe and /readyz use it.
func (p *controllerParts) ready() bool {
	for _, u := range p.units {
		if u.machine.Connected() {
			return true
		}
	}
	return false
}

// live: every unit's FSM loop still ticks.
func (p *controllerParts) live() error {
	var errs []error
	for _, u := range p.units {
		if err := u.machine.Live(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readiness is each unit's line of /readyz?verbose.
func (p *controllerParts) readiness() []metrics.UnitReadiness {
	out := make([]metrics.UnitReadiness, 0, len(p.units))
	for _, u := range p.units {
		out = append(out, metrics.UnitReadiness{
			Name: u.spec.Name, Address: u.spec.Address, State: string(u.machine.State()), Connected: u.machine.Connected(),
		})
	}
	return out
}
