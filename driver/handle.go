package driver

import (
	"github.com/srvlab/rds-csi/rds"
)

// Volume and snapshot handles with several RDS units. The disk slot on an
// RDS never changes (pvc-<uuid>, snap-..., the contract of existing
// volumes), but DeleteVolume, ControllerExpandVolume and CreateSnapshot
// carry nothing but the id, so the id itself must say which unit holds the
// disk:
//
//	pvc-<uuid>            a disk on the legacy unit (the one named "default",
//	                      or the one marked legacy): every id the single-RDS
//	                      driver ever handed out, unchanged
//	<unit>:pvc-<uuid>     a disk on any other unit
//	<unit>:snap-...       a snapshot on that unit
//
// The unit part matches UnitNamePattern, the slot part rds.ValidateID; the
// colon appears in neither, so a handle splits in exactly one way. Nothing of
// a handle reaches RouterOS but its validated slot.

// DefaultUnitName is the unit the single-RDS flags describe. It is legacy:
// its volumes keep their bare ids.
const DefaultUnitName = "default"

// ValidateUnitName checks an RDS unit name (rds.UnitNamePattern).
func ValidateUnitName(name string) error { return rds.ValidateUnitName(name) }

// splitHandle splits an id into its unit ("" for a bare, legacy id) and its
// slot, validating both. Errors are InvalidArgument statuses naming field.
func splitHandle(field, id string) (unit, slot string, err error) {
	if id == "" {
		return "", "", invalidArg("%s is required", field)
	}
	unit, slot, e := rds.SplitHandle(id)
	if e != nil {
		return "", "", invalidArg("%s %q: %v", field, id, e)
	}
	return unit, slot, nil
}

// SlotOfHandle returns the disk slot of a volume handle, for the node
// plugin, which needs the slot (NQN) but not the unit. Errors are
// InvalidArgument statuses.
func SlotOfHandle(field, id string) (string, error) {
	_, slot, err := splitHandle(field, id)
	return slot, err
}

// joinHandle is the id of slot on unit: the bare slot on the legacy unit.
func joinHandle(unit string, legacy bool, slot string) string {
	if legacy || slot == "" {
		return slot
	}
	return unit + rds.HandleSeparator + slot
}
