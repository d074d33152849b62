package driver

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/rds"
)

// Placement of a new volume without a content source or a pinned unit. A
// retry must land where the first attempt did (that attempt's disk may
// exist), so placement is, in this order:
//
//  1. the unit this process sent the name to before (even when it is away
//     now: the retry waits for it, Unavailable);
//  2. the unit that already has the disk slot of the name, looked up on
//     every connected unit (after a controller restart);
//  3. a new choice among the candidate units: reachable from a requisite
//     topology (all units without requirements), narrowed to those
//     reachable from the first preferred topology that has any; connected;
//     with at least the required bytes free. The most free space wins,
//     compared in whole GiB so that units within a GiB tie, and a tie goes
//     to the highest hash of (name, unit): stable for a name, spread over
//     names.
//
// The hole: a first attempt whose answer was lost, then a controller
// restart, then that unit away while the retry runs: the retry creates on
// another unit and the first disk is left to the orphan report.

// placeBucket is the granularity of free space comparisons.
const placeBucket = 1 << 30

// place chooses the unit of a new volume.
func (uc *UnitsController) place(ctx context.Context, name string, req *csi.CreateVolumeRequest) (*unit, error) {
	if uc.single() {
		// Nothing to choose, and no lookups: the single-RDS driver's
		// command sequence, unchanged.
		if u := uc.units[0]; u.reachableFromAny(req.GetAccessibilityRequirements().GetRequisite()) {
			return u, nil
		}
		return nil, status.Errorf(codes.ResourceExhausted, "RDS unit %s is not reachable from any requisite topology of the request", uc.units[0].Name)
	}
	if u := uc.remembered(name); u != nil {
		return u, nil
	}
	slot := volumeIDForName(name)
	for _, u := range uc.units {
		if !u.connected() {
			continue
		}
		_, err := u.cs.cfg.RDS.GetVolume(ctx, slot)
		switch {
		case err == nil:
			return u, nil
		case !errors.Is(err, rds.ErrNotFound):
			return nil, rdsStatus(err, "CreateVolume: looking for "+slot+" on RDS unit "+u.Name, slot)
		}
	}

	candidates := uc.candidates(req.GetAccessibilityRequirements())
	if len(candidates) == 0 {
		return nil, status.Errorf(codes.ResourceExhausted, "no RDS unit is reachable from the requested topology")
	}
	need := req.GetCapacityRange().GetRequiredBytes()
	if need <= 0 {
		need = DefaultVolumeSize
	}
	if p, ok := req.GetParameters()[ParamVolumePath]; ok {
		if err := rds.ValidateVolumePath(p); err != nil {
			return nil, invalidArg("parameter %s: %v", ParamVolumePath, err)
		}
	}
	type choice struct {
		u    *unit
		free int64
	}
	var fits []choice
	var away []string
	for _, u := range candidates {
		if !u.connected() {
			away = append(away, u.Name)
			continue
		}
		c, err := u.cs.cfg.RDS.PoolCapacity(ctx, volumePathParam(req.GetParameters(), u))
		if err != nil {
			klogFor(ctx, uc.logger).Info("Free space of an RDS unit unknown; not placing there", "rds", u.Name, "err", err)
			continue
		}
		if c.FreeBytes >= need {
			fits = append(fits, choice{u, c.FreeBytes})
		}
	}
	if len(fits) == 0 {
		if len(away) > 0 {
			return nil, status.Errorf(codes.Unavailable, "no connected RDS unit has %d bytes free; not connected: %v", need, away)
		}
		return nil, status.Errorf(codes.ResourceExhausted, "no RDS unit reachable from the requested topology has %d bytes free", need)
	}
	best := slices.MaxFunc(fits, func(a, b choice) int {
		if c := cmp.Compare(a.free/placeBucket, b.free/placeBucket); c != 0 {
			return c
		}
		return cmp.Compare(placeHash(name, a.u.Name), placeHash(name, b.u.Name))
	})
	klogFor(ctx, uc.logger).V(2).Info("Placed new volume", "name", name, "rds", best.u.Name, "freeBytes", best.free, "candidates", len(fits))
	return best.u, nil
}

// candidates are the units the accessibility requirements allow, narrowed
// by the first preferred topology that any of them is reachable from.
func (uc *UnitsController) candidates(ar *csi.TopologyRequirement) []*unit {
	var allowed []*unit
	for _, u := range uc.units {
		if u.reachableFromAny(ar.GetRequisite()) {
			allowed = append(allowed, u)
		}
	}
	for _, p := range ar.GetPreferred() {
		var preferred []*unit
		for _, u := range allowed {
			if u.reachableFrom(p) {
				preferred = append(preferred, u)
			}
		}
		if len(preferred) > 0 {
			return preferred
		}
	}
	return allowed
}

// volumePathParam is the backing-file directory a request uses on u.
func volumePathParam(params map[string]string, u *unit) string {
	if p := params[ParamVolumePath]; p != "" {
		return p
	}
	return u.cs.cfg.DefaultVolumePath
}

// placeHash orders units for a name: the tie-break of equal free space.
func placeHash(name, unit string) uint64 {
	sum := sha256.Sum256([]byte(name + "\x00" + unit))
	return binary.BigEndian.Uint64(sum[:8])
}

// klogFor is the request's logger, or fallback.
func klogFor(ctx context.Context, fallback klog.Logger) klog.Logger {
	if l, err := logr.FromContext(ctx); err == nil {
		return l
	}
	return fallback
}
