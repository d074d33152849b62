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

// Snapshot ids. RouterOS keeps no metadata on a disk (no source, no
// creation time that survives reliably), so the snapshot id - which is also
// the disk slot - carries everything the driver must know later:
//
//	snap-<name hash>-<created>-<source volume id>
//	snap-1a2b3c4d5e6f7a8b-6740f3a1-pvc-0f5e...   (71 characters for a pvc-<uuid> source)
//
//   - name hash: the first 16 hex digits of sha256(CreateSnapshot name).
//     Retries of CreateSnapshot find their disk by listing slots with the
//     prefix snap-<name hash>, whatever the time and source; a hit with
//     another source is a name conflict (AlreadyExists).
//   - created: Unix seconds of creation, 8 hex digits. creation_time stays
//     the same across retries, listings, restarts and replicas; an
//     in-memory record would change on every controller restart, and
//     snapshot schedulers prune by that time.
//   - source volume id: ListSnapshots(source_volume_id) and
//     CreateSnapshot idempotency need it; any valid id of at most 97
//     characters fits within the 128 of rds.ValidateID.
//
// The result only contains [a-z0-9-], so it passes rds.ValidateID.

// SnapshotIDPrefix starts every snapshot id.
const SnapshotIDPrefix = "snap-"

const (
	nameHashLen          = 16
	createdLen           = 8
	snapshotIDOverhead   = len(SnapshotIDPrefix) + nameHashLen + 1 + createdLen + 1
	maxSnapshotSourceLen = 128 - snapshotIDOverhead
)

var snapshotIDPattern = regexp.MustCompile(`^snap-([0-9a-f]{16})-([0-9a-f]{8})-(.+)$`)

// snapshotID is the parsed form of a snapshot id.
type snapshotID struct {
	NameHash       string
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

// newSnapshotID builds the id of a new snapshot.
func newSnapshotID(name, sourceVolumeID string, created time.Time) (string, error) {
	if len(sourceVolumeID) > maxSnapshotSourceLen {
		return "", fmt.Errorf("source volume id %q is longer than %d characters and does not fit a snapshot id", sourceVolumeID, maxSnapshotSourceLen)
	}
	id := fmt.Sprintf("%s%s-%08x-%s", SnapshotIDPrefix, snapshotNameHash(name), uint32(created.Unix()), sourceVolumeID)
	return id, rds.ValidateID(id)
}

// parseSnapshotID parses a snapshot id; ok is false for anything that is
// not one (including volume ids), so callers never act on a foreign disk.
func parseSnapshotID(id string) (snapshotID, bool) {
	m := snapshotIDPattern.FindStringSubmatch(id)
	if m == nil || rds.ValidateID(id) != nil || rds.ValidateID(m[3]) != nil {
		return snapshotID{}, false
	}
	secs, err := strconv.ParseUint(m[2], 16, 32)
	if err != nil {
		return snapshotID{}, false
	}
	return snapshotID{NameHash: m[1], Created: time.Unix(int64(secs), 0).UTC(), SourceVolumeID: m[3]}, true
}
