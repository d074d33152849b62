package driver

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

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
//  2. the unit that already has the disk slot of the name, or its backing
//     file (an add still running), looked up on every connected unit (after
//     a controller restart);
//  3. the candidate units: reachable from a requisite topology (all units
//     without requirements), narrowed to those reachable from the first
//     preferred topology that has any. If any candidate is not connected,
//     Unavailable naming it: see below;
//  4. a new choice among the candidates with at least the required bytes
//     free. The most free space wins, compared in whole GiB so that units
//     within a GiB tie, and a tie goes to the highest hash of (name, unit):
//     stable for a name, spread over names.
//
// Why 3 refuses: "this process sent the name nowhere and no connected unit
// has its disk" does not prove that no unit has it. A first attempt whose
// answer was lost, then a controller restart, then the unit that got the
// disk away while the retry runs: placing the retry on another connected
// unit would make a second disk for one name. A unit that is away might
// hold the name, so a name nobody has placed is never placed while a
// candidate is away; the sidecar retries, and the create goes through when
// the unit is back (or at once with a StorageClass that pins a unit: rds).

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
		held, err := u.holds(ctx, slot, volumePathParam(req.GetParameters(), u))
		if err != nil {
			return nil, rdsStatus(err, "CreateVolume: looking for "+slot+" on RDS unit "+u.Name, slot)
		}
		if held {
			return u, nil
		}
	}

	candidates := uc.candidates(req.GetAccessibilityRequirements())
	if len(candidates) == 0 {
		return nil, status.Errorf(codes.ResourceExhausted, "no RDS unit is reachable from the requested topology")
	}
	if away := awayUnits(candidates); len(away) > 0 {
		return nil, cannotRuleOut(name, away)
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
	for _, u := range candidates {
		if !u.connected() {
			// Gone since the check above: the same answer.
			return nil, cannotRuleOut(name, []*unit{u})
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

// holds tells whether u has the disk slot, or its backing file in dir: an
// earlier attempt's add still running on the RDS shows its file before its
// disk, and the retry must go where that file is (the unit's create then
// waits for it, controller_leftover.go).
func (u *unit) holds(ctx context.Context, slot, dir string) (bool, error) {
	_, err := u.cs.cfg.RDS.GetVolume(ctx, slot)
	switch {
	case err == nil:
		return true, nil
	case !errors.Is(err, rds.ErrNotFound):
		return false, err
	}
	if rds.ValidateVolumePath(dir) != nil {
		return false, nil // refused by the unit's own validation later
	}
	files, err := u.cs.cfg.RDS.ListFiles(ctx, dir)
	if err != nil {
		return false, err
	}
	file := rds.FilePathFor(dir, slot)
	return slices.ContainsFunc(files, func(f rds.File) bool { return f.Path == file }), nil
}

// awayUnits are the units of us that are not connected.
func awayUnits(us []*unit) []*unit {
	var away []*unit
	for _, u := range us {
		if !u.connected() {
			away = append(away, u)
		}
	}
	return away
}

// cannotRuleOut is the Unavailable answer for a name that this process has
// not placed while candidate units that might hold its disk are away.
func cannotRuleOut(name string, away []*unit) error {
	names := make([]string, 0, len(away))
	for _, u := range away {
		names = append(names, fmt.Sprintf("%s (%s)", u.Name, u.Address))
	}
	who, holds := "RDS unit "+names[0], "holds"
	back := away[0].Name + " is"
	if len(names) > 1 {
		who, holds = "RDS units "+strings.Join(names, ", "), "hold"
		short := make([]string, 0, len(away))
		for _, u := range away {
			short = append(short, u.Name)
		}
		back = strings.Join(short, ", ") + " are"
	}
	return status.Errorf(codes.Unavailable,
		"CreateVolume %s: cannot rule out that %s %s this name (not connected, and an earlier attempt may have created its disk there); pin the StorageClass with %s: or retry when %s back",
		name, who, holds, ParamRDS, back)
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
