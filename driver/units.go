package driver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
)

// Several RDS units behind one controller service. Each unit keeps a whole
// ControllerServer of its own (its RDS client, its connection gate, its
// locks and copies), which knows nothing of the others and sees only disk
// slots. UnitsController routes every call to the unit its ids name
// (handle.go), places new volumes (units_place.go) and merges what spans
// units (lists, capacity). A unit that is away answers Unavailable for its
// own volumes only.

// UnitConfig describes one RDS unit of the controller.
type UnitConfig struct {
	// Name is the unit's name (UnitNamePattern): StorageClass parameter
	// "rds", volume handles, events and metrics use it.
	Name string
	// Legacy: this unit's volumes have bare ids (the single-RDS driver's
	// ids). At most one unit is legacy.
	Legacy bool
	// Topology is the unit's accessible topology (segment key → value);
	// empty: reachable from every node, no accessible_topology reported.
	Topology map[string]string
	// Address names the unit in messages (SSH host:port).
	Address string
	// NVMePort is the NVMe/TCP port of volumes on this unit when the
	// StorageClass names none (0: rds.DefaultNVMeTCPPort).
	NVMePort int
	// Controller configures the unit's own controller service. Its
	// Attachments and BackingFiles are set by NewUnitsController from the
	// shared ones (keyed by handle); DefaultNVMeAddress is the unit's
	// nvmeAddress.
	Controller ControllerConfig
}

// UnitsConfig wires the multi-unit controller service.
type UnitsConfig struct {
	Units []UnitConfig
	// Attachments is shared by every unit, keyed by volume handle. Nil: a
	// fresh MemoryAttachments.
	Attachments Attachments
	// BackingFiles as in ControllerConfig, keyed by volume handle.
	BackingFiles func(volumeID string) []string
	// Logger is the fallback logger.
	Logger klog.Logger
}

// unit is one configured RDS unit at run time.
type unit struct {
	UnitConfig
	cs *ControllerServer
}

// connected is the unit's connection gate (an atomic read).
func (u *unit) connected() bool { return u.cs.cfg.Connected() }

// handle is the volume or snapshot id of slot on this unit.
func (u *unit) handle(slot string) string { return joinHandle(u.Name, u.Legacy, slot) }

// notConnected is the Unavailable answer for a call that needs this unit.
func (u *unit) notConnected() error {
	return status.Errorf(codes.Unavailable, "RDS unit %s (%s) is not connected; retry later", u.Name, u.Address)
}

// UnitsController implements csi.ControllerServer over several units.
type UnitsController struct {
	csi.UnimplementedControllerServer

	units  []*unit // in configuration order
	byName map[string]*unit
	legacy *unit // nil: no bare ids
	logger klog.Logger
	// names locks CreateVolume names while a unit is chosen: two attempts
	// of one name must not place it on two units.
	names *VolumeLocks
	// placed remembers the unit each name was sent to, so that a retry of
	// a create whose unit is away now waits for that unit instead of
	// creating a second disk elsewhere. Lost on restart (then the disk is
	// found by looking on every connected unit).
	placedMu sync.Mutex
	placed   map[string]string
}

var _ csi.ControllerServer = (*UnitsController)(nil)

// NewUnitsController validates cfg and builds one ControllerServer per unit.
func NewUnitsController(cfg UnitsConfig) (*UnitsController, error) {
	if len(cfg.Units) == 0 {
		return nil, errors.New("controller: no RDS unit configured")
	}
	if cfg.Attachments == nil {
		cfg.Attachments = NewMemoryAttachments()
	}
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = klog.Background()
	}
	uc := &UnitsController{byName: map[string]*unit{}, logger: cfg.Logger, names: NewVolumeLocks(), placed: map[string]string{}}
	var errs []error
	for _, c := range cfg.Units {
		if err := ValidateUnitName(c.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := uc.byName[c.Name]; dup {
			errs = append(errs, fmt.Errorf("RDS unit %q is configured twice", c.Name))
			continue
		}
		u := &unit{UnitConfig: c}
		u.Topology = maps.Clone(c.Topology)
		if c.Legacy {
			if uc.legacy != nil {
				errs = append(errs, fmt.Errorf("RDS units %q and %q are both legacy (bare volume ids); at most one may be", uc.legacy.Name, c.Name))
				continue
			}
			uc.legacy = u
		}
		cc := c.Controller
		cc.Attachments = unitAttachments{shared: cfg.Attachments, u: u}
		if cfg.BackingFiles != nil {
			files := cfg.BackingFiles
			cc.BackingFiles = func(slot string) []string { return files(u.handle(slot)) }
		}
		if cc.Logger.GetSink() == nil {
			cc.Logger = cfg.Logger
		}
		cc.Logger = cc.Logger.WithValues("rds", c.Name)
		cs, err := NewControllerServer(cc)
		if err != nil {
			errs = append(errs, fmt.Errorf("RDS unit %q: %w", c.Name, err))
			continue
		}
		u.cs = cs
		uc.units = append(uc.units, u)
		uc.byName[c.Name] = u
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return uc, nil
}

// WaitCopies blocks until every unit's copies have ended.
func (uc *UnitsController) WaitCopies() {
	for _, u := range uc.units {
		u.cs.WaitCopies()
	}
}

// UnitNames lists the configured units in order.
func (uc *UnitsController) UnitNames() []string {
	names := make([]string, 0, len(uc.units))
	for _, u := range uc.units {
		names = append(names, u.Name)
	}
	return names
}

// HasTopology reports whether any unit has a topology: only then is
// VOLUME_ACCESSIBILITY_CONSTRAINTS advertised.
func (uc *UnitsController) HasTopology() bool {
	return slices.ContainsFunc(uc.units, func(u *unit) bool { return len(u.Topology) > 0 })
}

// single reports whether there is one unit only: then nothing is placed or
// merged and every call goes straight to it, exactly as before units.
func (uc *UnitsController) single() bool { return len(uc.units) == 1 }

// resolve returns the unit and slot an id names. A bare id belongs to the
// legacy unit; without one, or for a unit not configured, the answer is
// FailedPrecondition: the id is well formed but this configuration cannot
// serve it (a unit removed from --rds-config, or the legacy mark dropped).
func (uc *UnitsController) resolve(field, id string) (*unit, string, error) {
	name, slot, err := splitHandle(field, id)
	if err != nil {
		return nil, "", err
	}
	if name == "" {
		if uc.legacy == nil {
			return nil, "", status.Errorf(codes.FailedPrecondition,
				"%s %s has no RDS unit prefix and no unit is legacy (name it %q or set legacy: true in --rds-config)", field, id, DefaultUnitName)
		}
		return uc.legacy, slot, nil
	}
	u, ok := uc.byName[name]
	if !ok {
		return nil, "", status.Errorf(codes.FailedPrecondition, "%s %s is on RDS unit %q, which is not configured", field, id, name)
	}
	if u.Legacy {
		// One id per disk: the legacy unit's ids are bare.
		return nil, "", status.Errorf(codes.NotFound, "%s %s: RDS unit %q is legacy, its ids carry no unit prefix", field, id, name)
	}
	return u, slot, nil
}

// ControllerGetCapabilities implements csi.ControllerServer: every unit's
// service has the same ones.
func (uc *UnitsController) ControllerGetCapabilities(ctx context.Context, req *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	return uc.units[0].cs.ControllerGetCapabilities(ctx, req)
}

// unitAttachments lets a unit's service, which knows slots only, use the
// shared attachment state, which knows handles (VolumeAttachments name
// handles).
type unitAttachments struct {
	shared Attachments
	u      *unit
}

func (a unitAttachments) Publish(ctx context.Context, slot, nodeID string, multiNode bool) error {
	return a.shared.Publish(ctx, a.u.handle(slot), nodeID, multiNode)
}

func (a unitAttachments) Unpublish(ctx context.Context, slot, nodeID string) error {
	return a.shared.Unpublish(ctx, a.u.handle(slot), nodeID)
}

func (a unitAttachments) PublishedNodes(slot string) []string {
	return a.shared.PublishedNodes(a.u.handle(slot))
}

func (a unitAttachments) Ready() error { return a.shared.Ready() }

// ResolveHandle maps a volume id to its unit's name and slot for the
// attachment reconciler; ok is false for an id no configured unit holds.
func (uc *UnitsController) ResolveHandle(id string) (unitName, slot string, ok bool) {
	u, slot, err := uc.resolve("volume_id", id)
	if err != nil {
		return "", "", false
	}
	return u.Name, slot, true
}
