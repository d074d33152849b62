package attachment

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/srvlab/rds-csi/driver"
	"github.com/srvlab/rds-csi/rds"
)

// viewMaxAge bounds how long a pass trusts one RDS listing. A pass over
// thousands of volumes finishes well within it; after it, checks go back to
// per-volume reads.
const viewMaxAge = 30 * time.Second

// rdsView is one listing of the RDS shared by the volumes of a full pass
// (start of term, resync, reconnect). Asking the RDS once per volume would
// make a pass over 10,000 volumes take 10,000 SSH round trips; one listing
// answers every healthy volume. The listing is only trusted for the good
// news: a volume it shows missing or unexported is read again with
// GetVolume before anything is reported or repaired, so a listing that is a
// few seconds old never triggers an action.
type rdsView struct {
	created time.Time
	once    sync.Once
	vols    map[string]rds.Volume
	err     error
}

// newView starts a fresh listing of every unit for the term's next pass
// (each loaded lazily by the first volume that needs it).
func (c *Controller) newView(t *term) {
	for i := range c.units {
		c.newUnitView(t, &c.units[i])
	}
}

// newUnitView starts a fresh listing of one unit.
func (c *Controller) newUnitView(t *term, u *Unit) {
	if p := t.views[u.Name]; p != nil {
		p.Store(&rdsView{created: c.clock.Now()})
	}
}

// load lists the RDS once; concurrent callers wait for the one listing.
func (v *rdsView) load(ctx context.Context, client rds.Client) (map[string]rds.Volume, error) {
	v.once.Do(func() {
		list, err := client.ListVolumes(ctx, driver.VolumeIDPrefix)
		if err != nil {
			v.err = err
			return
		}
		v.vols = make(map[string]rds.Volume, len(list))
		for _, vol := range list {
			v.vols[vol.ID] = vol
		}
	})
	return v.vols, v.err
}

// rdsVolume returns the volume as its unit has it: from the pass's listing
// when that shows it healthy, else from GetVolume.
func (c *Controller) rdsVolume(ctx context.Context, t *term, u *Unit, id string) (rds.Volume, error) {
	view := t.views[u.Name]
	if view == nil {
		return u.RDS.GetVolume(ctx, id)
	}
	if v := view.Load(); v != nil {
		if c.clock.Since(v.created) > viewMaxAge {
			view.CompareAndSwap(v, nil)
		} else {
			vols, err := v.load(ctx, u.RDS)
			switch {
			case err == nil:
				if vol, ok := vols[id]; ok && vol.Exported {
					return vol, nil
				}
			case errors.Is(err, rds.ErrUnavailable):
				// Retried with backoff; the listing is dropped so the
				// retry asks the RDS again instead of this cached failure.
				view.CompareAndSwap(v, nil)
				return rds.Volume{}, err
			default:
				// A listing the client could not parse: per-volume reads.
				view.CompareAndSwap(v, nil)
			}
		}
	}
	return u.RDS.GetVolume(ctx, id)
}
