package rds

import (
	"fmt"
	"regexp"
	"strings"
)

// Handles: a driver id that names its RDS unit as well as the disk slot,
// "<unit>:<slot>", or a bare slot for the legacy unit (driver/handle.go
// tells the whole rule). Kept here, next to the slot rules, because the
// node plugin's state store needs the slot of a handle too; only the
// validated slot ever reaches a command line.

// UnitNamePattern is the shape of an RDS unit name: a short DNS label.
var UnitNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// HandleSeparator separates the unit from the slot; it is in neither.
const HandleSeparator = ":"

// ValidateUnitName checks an RDS unit name.
func ValidateUnitName(name string) error {
	if !UnitNamePattern.MatchString(name) {
		return fmt.Errorf("RDS unit name %q must match %s", name, UnitNamePattern)
	}
	return nil
}

// SplitHandle splits a handle into its unit ("" for a bare slot) and its
// slot, both validated.
func SplitHandle(id string) (unit, slot string, err error) {
	unit, slot, ok := strings.Cut(id, HandleSeparator)
	if !ok {
		unit, slot = "", id
	} else if err := ValidateUnitName(unit); err != nil {
		return "", "", err
	}
	if err := ValidateID(slot); err != nil {
		return "", "", err
	}
	return unit, slot, nil
}

// NQNForHandle is the NQN of the disk a handle names (its slot's); "" for
// an invalid handle.
func NQNForHandle(id string) string {
	_, slot, err := SplitHandle(id)
	if err != nil {
		return ""
	}
	return NQNFor(slot)
}
