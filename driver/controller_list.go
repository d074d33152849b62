package driver

import (
	"context"
	"slices"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/rds"
)

// Pagination of ListVolumes and ListSnapshots is keyset-based: entries are
// sorted by id and next_token is the last id returned. The next page starts
// after that id whether or not it still exists, so deleting or adding
// volumes between pages neither repeats nor skips the untouched ones, and
// the controller keeps no cursor state (restarts and replicas don't matter).
// A token that is not an id of the listed kind is Aborted, as CSI asks.

// pageStart validates a starting token for ids with prefix.
func pageStart(token, prefix string) error {
	if token == "" {
		return nil
	}
	if rds.ValidateID(token) != nil || !strings.HasPrefix(token, prefix) {
		return status.Errorf(codes.Aborted, "starting_token %q is not valid", token)
	}
	return nil
}

// paginate returns the page of sorted after token and the next token ("" on
// the last page). maxEntries 0 means all.
func paginate[T any](sorted []T, id func(T) string, token string, maxEntries int32) (page []T, next string) {
	start := 0
	if token != "" {
		start, _ = slices.BinarySearchFunc(sorted, token, func(e T, t string) int { return strings.Compare(id(e), t) })
		if start < len(sorted) && id(sorted[start]) == token {
			start++
		}
	}
	page = sorted[start:]
	if maxEntries > 0 && len(page) > int(maxEntries) {
		page = page[:maxEntries]
		next = id(page[len(page)-1])
	}
	return page, next
}

func validateMaxEntries(n int32) error {
	if n < 0 {
		return invalidArg("max_entries %d must not be negative", n)
	}
	return nil
}

func volumeIDOf(v rds.Volume) string { return v.ID }

// ListVolumes implements csi.ControllerServer.
func (cs *ControllerServer) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	if err := validateMaxEntries(req.GetMaxEntries()); err != nil {
		return nil, err
	}
	if err := pageStart(req.GetStartingToken(), VolumeIDPrefix); err != nil {
		return nil, err
	}
	if err := cs.gate(); err != nil {
		return nil, err
	}
	// The external-attacher reconciles VolumeAttachments against the
	// published nodes listed here: an incomplete answer would read as
	// "detached".
	if err := cs.cfg.Attachments.Ready(); err != nil {
		return nil, rdsStatus(err, "ListVolumes", VolumeIDPrefix)
	}
	vols, err := cs.cfg.RDS.ListVolumes(ctx, VolumeIDPrefix)
	if err != nil {
		return nil, rdsStatus(err, "ListVolumes", VolumeIDPrefix)
	}
	vols = slices.DeleteFunc(vols, func(v rds.Volume) bool { return !isManagedVolumeID(v.ID) })
	slices.SortFunc(vols, func(a, b rds.Volume) int { return strings.Compare(a.ID, b.ID) })
	page, next := paginate(vols, volumeIDOf, req.GetStartingToken(), req.GetMaxEntries())
	resp := &csi.ListVolumesResponse{NextToken: next, Entries: make([]*csi.ListVolumesResponse_Entry, 0, len(page))}
	for _, v := range page {
		resp.Entries = append(resp.Entries, &csi.ListVolumesResponse_Entry{
			Volume: diskVolume(v),
			Status: &csi.ListVolumesResponse_VolumeStatus{PublishedNodeIds: cs.cfg.Attachments.PublishedNodes(v.ID)},
		})
	}
	return resp, nil
}
