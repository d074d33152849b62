package rds

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Naming conventions shared with volumes created by the earlier driver on
// real hardware; changing them orphans existing volumes.
const (
	// DefaultVolumePath is where backing files live unless a StorageClass says otherwise.
	DefaultVolumePath = "/storage-pool/metal-csi"
	// NQNPrefix precedes the volume id in every export NQN.
	NQNPrefix = "nqn.2000-02.com.mikrotik:"
	// DefaultNVMeTCPPort is the NVMe/TCP service port.
	DefaultNVMeTCPPort = 4420
	// BackingFileSuffix is appended to the volume id to name its backing file.
	BackingFileSuffix = ".img"
)

var (
	idPattern  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,126}[a-z0-9])?$`)
	nqnPattern = regexp.MustCompile(`^nqn\.[0-9]{4}-[0-9]{2}\.[a-z0-9.-]+:[a-z0-9][a-z0-9.:-]{0,190}$`)
	// path segments: letters, digits, '.', '_', '-'; no "." or ".." segments.
	segmentPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// ValidateID accepts a disk slot / volume id: lower-case letters, digits and
// inner dashes, at most 128 characters.
func ValidateID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: id %q must match %s", ErrInvalidArgument, id, idPattern)
	}
	return nil
}

// ValidateNQN accepts an NVMe qualified name without RouterOS metacharacters.
func ValidateNQN(nqn string) error {
	if !nqnPattern.MatchString(nqn) || strings.Contains(nqn, "..") {
		return fmt.Errorf("%w: NQN %q must match %s", ErrInvalidArgument, nqn, nqnPattern)
	}
	return nil
}

// ValidatePath accepts a clean absolute path of at least two segments made
// of [A-Za-z0-9._-], at most 255 characters, with no ".." anywhere (not even
// inside a name: a simple rule is one nobody can talk their way around).
func ValidatePath(p string) error {
	if len(p) == 0 || len(p) > 255 || p[0] != '/' || path.Clean(p) != p || strings.Contains(p, "..") {
		return fmt.Errorf("%w: path %q must be a clean absolute path", ErrInvalidArgument, p)
	}
	segs := strings.Split(p[1:], "/")
	if len(segs) < 2 {
		return fmt.Errorf("%w: path %q must be below a pool (e.g. /storage-pool/dir)", ErrInvalidArgument, p)
	}
	for _, s := range segs {
		if s == "." || s == ".." || !segmentPattern.MatchString(s) {
			return fmt.Errorf("%w: path %q has a forbidden segment %q", ErrInvalidArgument, p, s)
		}
	}
	return nil
}

// ValidateVolumePath accepts a volumePath StorageClass parameter: a clean
// absolute directory as ValidatePath, or a pool root of one segment.
func ValidateVolumePath(p string) error {
	if len(p) > 1 && p[0] == '/' && !strings.Contains(p[1:], "/") {
		if segmentPattern.MatchString(p[1:]) && p[1:] != "." && !strings.Contains(p, "..") {
			return nil
		}
	}
	return ValidatePath(p)
}

// NQNFor returns the export NQN of a volume id.
func NQNFor(id string) string { return NQNPrefix + id }

// FilePathFor returns the backing-file path of a volume id under volumePath.
func FilePathFor(volumePath, id string) string {
	return path.Join(volumePath, id+BackingFileSuffix)
}

// PoolOf returns the mount point (first path component, without slash) of a path.
func PoolOf(p string) string {
	p = strings.TrimPrefix(p, "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return p
}

// prefixPattern is deliberately narrower than the filter syntax needs: a
// listing prefix such as "pvc-" or "snap-" goes into a quoted regex filter,
// where anything but [a-z0-9-] could change the match or the command.
var prefixPattern = regexp.MustCompile(`^[a-z0-9-]{1,128}$`)

// ValidatePrefix accepts a slot prefix for listings (e.g. "pvc-", "snap-"):
// one to 128 lower-case letters, digits and dashes.
func ValidatePrefix(prefix string) error {
	if !prefixPattern.MatchString(prefix) {
		return fmt.Errorf("%w: prefix %q must match %s", ErrInvalidArgument, prefix, prefixPattern)
	}
	return nil
}
