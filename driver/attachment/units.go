package attachment

import (
	"strings"

	"github.com/srvlab/rds-csi/driver"
	"github.com/srvlab/rds-csi/rds"
)

// RDS units. With several RDS units every unit has its own client,
// connection gate and Reconnected notification, and a volume id (a handle,
// driver/handle.go) says which unit holds the volume: a volume is checked
// on its unit only, waits for its unit only, and a Reconnected of one unit
// reconciles that unit's volumes only. The single-RDS configuration (RDS,
// Connected, Reconnected) is one unit named "".

// Unit is one RDS unit as the reconciler sees it.
type Unit struct {
	// Name as in the volume handles.
	Name string
	// RDS, Connected and Reconnected as the single-RDS fields of Config.
	RDS         rds.Client
	Connected   func() bool
	Reconnected <-chan struct{}
}

// units returns the configured units: Config.Units, or the single RDS.
func (c Config) units() []Unit {
	if len(c.Units) > 0 {
		return c.Units
	}
	if c.RDS == nil {
		return nil
	}
	return []Unit{{RDS: c.RDS, Connected: c.Connected, Reconnected: c.Reconnected}}
}

// resolve maps a volume id to its unit and slot; ok is false for an id
// that is no volume of any unit (never sent to an RDS).
func (c *Controller) resolve(id string) (u *Unit, slot string, ok bool) {
	if len(c.cfg.Units) == 0 {
		if len(c.units) == 0 || !strings.HasPrefix(id, driver.VolumeIDPrefix) {
			return nil, "", false
		}
		return &c.units[0], id, true
	}
	if c.cfg.Resolve == nil {
		return nil, "", false
	}
	name, slot, ok := c.cfg.Resolve(id)
	if !ok || !strings.HasPrefix(slot, driver.VolumeIDPrefix) {
		return nil, "", false
	}
	for i := range c.units {
		if c.units[i].Name == name {
			return &c.units[i], slot, true
		}
	}
	return nil, "", false
}
