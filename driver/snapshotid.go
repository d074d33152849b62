package driver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/srvlab/rds-csi/rds"
)

// Snapshot ids. RouterOS keeps no metadata on a disk (no source), so the
// snapshot id - which is also the disk slot - carries what the driver must
// know later. It is a pure function of the CreateSnapshot request, so that a
// retry after any interruption (a cancelled caller, a driver or RDS restart)
// names the very same disk and file, and the RDS itself refuses a second
// copy:
//
//	snap-<name hash>-<source volume id>
//	snap-1a2b3c4d5e6f7a8b-pvc-0f5e...   (62 characters for a pvc-<uuid> source)
//
//   - name hash: the first 16 hex digits of sha256(CreateSnapshot name).
//     Retries of CreateSnapshot find their disk by listing slots with the
//     prefix snap-<name hash>, whatever the source; a hit with another
//     source is a name conflict (AlreadyExists).
//   - source volume id: ListSnapshots(source_volume_id) and
//     CreateSnapshot idempotency need it. Sources are managed volume ids
//     (pvc-...), which is what keeps the two formats below apart.
//
// Snapshots made before this rule carry their creation time in the id:
//
//	snap-<name hash>-<created: 8 hex digits of Unix seconds>-<source volume id>
//
// They keep working unchanged. A new snapshot's creation time is the RDS's
// own creation-time of its backing file (see ControllerServer.snapshotTimes).
//
// The result only contains [a-z0-9-], so it passes rds.ValidateID.

// SnapshotIDPrefix starts every snapshot id.
const SnapshotIDPrefix = "snap-"

const (
	nameHashLen          = 16
	snapshotIDOverhead   = len(SnapshotIDPrefix) + nameHashLen + 1
	maxSnapshotSourceLen = 128 - snapshotIDOverhead
)

var (
	// timedSnapshotIDPattern: ids made before ids were pure.
	timedSnapshotIDPattern = regexp.MustCompile(`^snap-([0-9a-f]{16})-([0-9a-f]{8})-(.+)$`)
	snapshotIDPattern      = regexp.MustCompile(`^snap-([0-9a-f]{16})-(` + VolumeIDPrefix + `.+)$`)
)

// snapshotID is the parsed form of a snapshot id.
type snapshotID struct {
	NameHash string
	// Created is set for the ids that carry it (made before ids were pure);
	// zero otherwise: the RDS's file creation-time tells.
	Created        time.Time
	SourceVolumeID string
}

// snapshotNameHash returns the name part of the ids of snapshots called name.
func snapshotNameHash(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])[:nameHashLen]
}

// snapshotLookupPrefix is the slot prefix shared by every id a snapshot
// called name can have. It is itself a valid id, so any rds.Client accepts
// it as a list prefix; callers still parse each hit.
func snapshotLookupPrefix(name string) string {
	return SnapshotIDPrefix + snapshotNameHash(name)
}

// snapshotIDFor is the id of the snapshot called name of sourceVolumeID:
// the same for every attempt of the request.
func snapshotIDFor(name, sourceVolumeID string) (string, error) {
	if len(sourceVolumeID) > maxSnapshotSourceLen {
		return "", fmt.Errorf("source volume id %q is longer than %d characters and does not fit a snapshot id", sourceVolumeID, maxSnapshotSourceLen)
	}
	if !isManagedVolumeID(sourceVolumeID) {
		return "", fmt.Errorf("source volume id %q is not a volume of this driver", sourceVolumeID)
	}
	id := SnapshotIDPrefix + snapshotNameHash(name) + "-" + sourceVolumeID
	return id, rds.ValidateID(id)
}

// parseSnapshotID parses a snapshot id of either format; ok is false for
// anything that is not one (including volume ids), so callers never act on
// a foreign disk.
func parseSnapshotID(id string) (snapshotID, bool) {
	if rds.ValidateID(id) != nil {
		return snapshotID{}, false
	}
	if m := timedSnapshotIDPattern.FindStringSubmatch(id); m != nil && rds.ValidateID(m[3]) == nil {
		secs, err := strconv.ParseUint(m[2], 16, 32)
		if err != nil {
			return snapshotID{}, false
		}
		return snapshotID{NameHash: m[1], Created: time.Unix(int64(secs), 0).UTC(), SourceVolumeID: m[3]}, true
	}
	if m := snapshotIDPattern.FindStringSubmatch(id); m != nil && rds.ValidateID(m[2]) == nil {
		return snapshotID{NameHash: m[1], SourceVolumeID: m[2]}, true
	}
	return snapshotID{}, false
}
