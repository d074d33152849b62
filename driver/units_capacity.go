package driver

import (
	"context"
	"maps"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// GetCapacity implements csi.ControllerServer per unit and per topology
// segment. The units asked are the one the parameter "rds" names, else
// those reachable from the request's accessible_topology (every unit
// without one). available_capacity is the sum of their free bytes, since
// volumes may land on any of them; maximum_volume_size is the largest
// volume one of them can hold (free space, capped by the size limit): a
// volume never spans units. A unit that is away is left out (its space is
// not usable now); when all asked units are away the answer is
// Unavailable, so the capacity producer keeps its last value and retries.
func (uc *UnitsController) GetCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	params := maps.Clone(req.GetParameters())
	pinned, err := uc.pinnedUnit(params)
	if err != nil {
		return nil, err
	}
	delete(params, ParamRDS)
	r := proto.CloneOf(req)
	r.Parameters = params

	var asked []*unit
	for _, u := range uc.units {
		if (pinned == nil || u == pinned) && (req.GetAccessibleTopology() == nil || u.reachableFrom(req.GetAccessibleTopology())) {
			asked = append(asked, u)
		}
	}
	if len(asked) == 0 {
		return &csi.GetCapacityResponse{MaximumVolumeSize: wrapperspb.Int64(0)}, nil
	}
	var total, largest int64
	answered := 0
	var lastErr error
	for _, u := range asked {
		if !u.connected() {
			lastErr = u.notConnected()
			continue
		}
		resp, err := u.cs.GetCapacity(ctx, r)
		if status.Code(err) == codes.InvalidArgument {
			return nil, err // the request's fault, whichever unit
		} else if err != nil {
			lastErr = err
			continue
		}
		answered++
		total += resp.GetAvailableCapacity()
		largest = max(largest, resp.GetMaximumVolumeSize().GetValue())
	}
	if answered == 0 {
		return nil, lastErr
	}
	return &csi.GetCapacityResponse{AvailableCapacity: total, MaximumVolumeSize: wrapperspb.Int64(largest)}, nil
}
