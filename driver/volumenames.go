package driver

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// The managed naming rule: every disk slot and backing file this driver
// creates, and nothing else, is one of
//
//	pvc-<uuid>                          a volume (volumeid.go)
//	snap-<16 hex>-<source volume id>    a snapshot (snapshotid.go; also the
//	snap-<16 hex>-<8 hex>-<source>      older format with a creation time)
//	vsrc-<volume id>-<16 hex>           a content-source record (below)
//
// with its backing file <directory>/<slot>.img. Orphan reporting and the
// search for a leftover backing file only ever consider names of this rule.
//
// Content-source records. RouterOS keeps no metadata on a disk (the protocol
// notes list no comment or source field), so what a volume was created from
// is kept in a slot name, as snapshot ids keep their source: before a volume
// is created from a snapshot or a volume, the driver adds a 1 MiB, unexported
// record disk vsrc-<volume id>-<16 hex of sha256 of the source>, in the
// volume's directory. A retried CreateVolume of an existing volume compares
// its content source with the record (none for a volume created empty) and
// answers AlreadyExists on a difference, as CSI requires. Volumes made before
// records existed (this driver's earlier versions and the earlier driver)
// have none and count as created empty; their every other operation is
// unchanged. DeleteVolume removes a volume's records with it.

// SourceRecordPrefix starts the slot of every content-source record.
const SourceRecordPrefix = "vsrc-"

// sourceRecordBytes is the size of a record disk (the RDS's smallest, sparse).
const sourceRecordBytes int64 = 1 << 20

const sourceHashLen = 16

var sourceRecordPattern = regexp.MustCompile(`^vsrc-(.+)-([0-9a-f]{16})$`)

// sourceKey names a content source: its kind and id. "" for none.
func sourceKey(src *csi.VolumeContentSource) string {
	switch {
	case src.GetSnapshot() != nil:
		return "snapshot:" + src.GetSnapshot().GetSnapshotId()
	case src.GetVolume() != nil:
		return "volume:" + src.GetVolume().GetVolumeId()
	}
	return ""
}

// sourceHash is the record's hash part for a source key.
func sourceHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])[:sourceHashLen]
}

// sourceRecordListPrefix is the slot prefix of every record of volumeID.
func sourceRecordListPrefix(volumeID string) string {
	return SourceRecordPrefix + volumeID + "-"
}

// sourceRecordID is the slot of the record "volumeID was made from key".
func sourceRecordID(volumeID, key string) string {
	return sourceRecordListPrefix(volumeID) + sourceHash(key)
}

// parseSourceRecord returns the volume id and source hash of a record slot.
func parseSourceRecord(slot string) (volumeID, hash string, ok bool) {
	m := sourceRecordPattern.FindStringSubmatch(slot)
	if m == nil || !isManagedVolumeID(m[1]) {
		return "", "", false
	}
	return m[1], m[2], true
}

// SlotKind says what a slot of the managed naming rule is.
type SlotKind string

// Kinds of managed slots; "" is a slot outside the rule.
const (
	SlotVolume       SlotKind = "volume"
	SlotSnapshot     SlotKind = "snapshot"
	SlotSourceRecord SlotKind = "source-record"
)

// ManagedSlot classifies a disk slot (or a backing file's name without
// ".img") under the managed naming rule. owner is what keeps it alive: the
// volume id of a volume or of a record's volume, the snapshot id of a
// snapshot. source is a snapshot's source volume. A slot outside the rule
// has kind "".
func ManagedSlot(slot string) (kind SlotKind, owner, source string) {
	if strings.HasPrefix(slot, SourceRecordPrefix) {
		if vol, _, ok := parseSourceRecord(slot); ok {
			return SlotSourceRecord, vol, ""
		}
		return "", "", ""
	}
	if sid, ok := parseSnapshotID(slot); ok {
		return SlotSnapshot, slot, sid.SourceVolumeID
	}
	if provisionerName.MatchString(slot) {
		return SlotVolume, slot, ""
	}
	return "", "", ""
}
