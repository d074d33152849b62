package driver

import (
	"context"
	"slices"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Lists span every unit. With one unit they go straight to it (its paging
// and tokens unchanged). With several, each unit lists everything, the
// entries get their handles, and the merged list is paged by handle the way
// a unit pages by id (controller_list.go). A list needs every unit: an
// incomplete ListVolumes would read as "detached" to the external-attacher,
// so a unit that is away makes the whole list Unavailable.

// mergedToken validates a starting token of a merged list: a handle.
func mergedToken(token string) error {
	if token == "" {
		return nil
	}
	if _, _, err := splitHandle("starting_token", token); err != nil {
		return status.Errorf(codes.Aborted, "starting_token %q is not valid", token)
	}
	return nil
}

// tokenSlot turns the handle in a starting token into the slot the one
// unit pages by.
func tokenSlot(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	_, slot, err := splitHandle("starting_token", token)
	if err != nil {
		return "", status.Errorf(codes.Aborted, "starting_token %q is not valid", token)
	}
	return slot, nil
}

// allConnected is nil when every unit is connected, else Unavailable
// naming the first one that is not.
func (uc *UnitsController) allConnected() error {
	for _, u := range uc.units {
		if !u.connected() {
			return u.notConnected()
		}
	}
	return nil
}

// ListVolumes implements csi.ControllerServer.
func (uc *UnitsController) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	if uc.single() {
		r := proto.CloneOf(req)
		var err error
		if r.StartingToken, err = tokenSlot(r.StartingToken); err != nil {
			return nil, err
		}
		resp, err := uc.units[0].cs.ListVolumes(ctx, r)
		if err == nil {
			for _, e := range resp.GetEntries() {
				uc.units[0].outVolume(e.GetVolume())
			}
			if resp.NextToken != "" {
				resp.NextToken = uc.units[0].handle(resp.NextToken)
			}
		}
		return resp, err
	}
	page, next, err := mergedList(uc, req.GetStartingToken(), req.GetMaxEntries(),
		func(u *unit) ([]*csi.ListVolumesResponse_Entry, error) {
			resp, err := u.cs.ListVolumes(ctx, &csi.ListVolumesRequest{})
			for _, e := range resp.GetEntries() {
				u.outVolume(e.GetVolume())
			}
			return resp.GetEntries(), err
		},
		func(e *csi.ListVolumesResponse_Entry) string { return e.GetVolume().GetVolumeId() })
	if err != nil {
		return nil, err
	}
	return &csi.ListVolumesResponse{Entries: page, NextToken: next}, nil
}

// ControllerListVolumeHealth implements csi.ControllerServer.
func (uc *UnitsController) ControllerListVolumeHealth(ctx context.Context, req *csi.ControllerListVolumeHealthRequest) (*csi.ControllerListVolumeHealthResponse, error) {
	if uc.single() {
		r := proto.CloneOf(req)
		var err error
		if r.StartingToken, err = tokenSlot(r.StartingToken); err != nil {
			return nil, err
		}
		resp, err := uc.units[0].cs.ControllerListVolumeHealth(ctx, r)
		if err == nil {
			for _, e := range resp.GetEntries() {
				e.VolumeId = uc.units[0].handle(e.GetVolumeId())
			}
			if resp.NextToken != "" {
				resp.NextToken = uc.units[0].handle(resp.NextToken)
			}
		}
		return resp, err
	}
	page, next, err := mergedList(uc, req.GetStartingToken(), req.GetMaxEntries(),
		func(u *unit) ([]*csi.VolumeHealth, error) {
			resp, err := u.cs.ControllerListVolumeHealth(ctx, &csi.ControllerListVolumeHealthRequest{})
			for _, e := range resp.GetEntries() {
				e.VolumeId = u.handle(e.GetVolumeId())
			}
			return resp.GetEntries(), err
		},
		func(e *csi.VolumeHealth) string { return e.GetVolumeId() })
	if err != nil {
		return nil, err
	}
	return &csi.ControllerListVolumeHealthResponse{Entries: page, NextToken: next}, nil
}

// ListSnapshots implements csi.ControllerServer. A snapshot id or a source
// volume id names one unit; an id no unit can hold lists nothing.
func (uc *UnitsController) ListSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	byID, bySource := req.GetSnapshotId(), req.GetSourceVolumeId()
	if uc.single() || byID != "" || bySource != "" {
		u, r := uc.units[0], proto.CloneOf(req)
		if byID != "" || bySource != "" {
			field, id := "snapshot_id", byID
			if byID == "" {
				field, id = "source_volume_id", bySource
			}
			var slot string
			var err error
			if u, slot, err = uc.resolve(field, id); status.Code(err) == codes.InvalidArgument {
				return nil, err
			} else if err != nil {
				return &csi.ListSnapshotsResponse{}, nil
			}
			if byID != "" {
				r.SnapshotId = slot
				if bySource != "" {
					su, sslot, err := uc.resolve("source_volume_id", bySource)
					if err != nil || su != u {
						return &csi.ListSnapshotsResponse{}, nil
					}
					r.SourceVolumeId = sslot
				}
			} else {
				r.SourceVolumeId = slot
			}
		}
		if uc.single() {
			var err error
			if r.StartingToken, err = tokenSlot(r.StartingToken); err != nil {
				return nil, err
			}
		} else if !uc.single() && r.StartingToken != "" {
			return nil, status.Errorf(codes.Aborted, "starting_token %q is not valid for a list by id", r.StartingToken)
		}
		if !u.connected() {
			return nil, u.notConnected()
		}
		resp, err := u.cs.ListSnapshots(ctx, r)
		if err != nil {
			return nil, err
		}
		for _, e := range resp.GetEntries() {
			u.outSnapshot(e.GetSnapshot())
		}
		if resp.NextToken != "" {
			resp.NextToken = u.handle(resp.NextToken)
		}
		return resp, nil
	}
	page, next, err := mergedList(uc, req.GetStartingToken(), req.GetMaxEntries(),
		func(u *unit) ([]*csi.ListSnapshotsResponse_Entry, error) {
			resp, err := u.cs.ListSnapshots(ctx, &csi.ListSnapshotsRequest{})
			for _, e := range resp.GetEntries() {
				u.outSnapshot(e.GetSnapshot())
			}
			return resp.GetEntries(), err
		},
		func(e *csi.ListSnapshotsResponse_Entry) string { return e.GetSnapshot().GetSnapshotId() })
	if err != nil {
		return nil, err
	}
	return &csi.ListSnapshotsResponse{Entries: page, NextToken: next}, nil
}

// mergedList is one page of every unit's whole list, entries in handle
// order (list fetches a unit's entries, ids already handles): the merged
// token is a handle, so pages stay stable across units. Every unit must be
// connected: a partial list would read as "gone" to the sidecars.
func mergedList[E any](uc *UnitsController, token string, maxEntries int32, list func(u *unit) ([]E, error), id func(E) string) ([]E, string, error) {
	if err := validateMaxEntries(maxEntries); err != nil {
		return nil, "", err
	}
	if err := mergedToken(token); err != nil {
		return nil, "", err
	}
	if err := uc.allConnected(); err != nil {
		return nil, "", err
	}
	var all []E
	for _, u := range uc.units {
		entries, err := list(u)
		if err != nil {
			return nil, "", err
		}
		all = append(all, entries...)
	}
	slices.SortFunc(all, func(a, b E) int { return strings.Compare(id(a), id(b)) })
	page, next := paginate(all, id, token, maxEntries)
	return page, next, nil
}
