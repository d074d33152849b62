package driver

import (
	"regexp"
	"strings"

	"github.com/google/uuid"
)

// Volume ids. Every volume this driver creates has the id pvc-<lower-case
// uuid>: the naming convention of existing volumes on real RDS hardware
// (disk slot = PV name). The external-provisioner sends exactly that as the
// volume name, so the name is used verbatim. Any other name (csi-sanity,
// other COs) is mapped to pvc-<UUIDv5 of the name> in volumeIDNamespace: a
// pure function of the name, so retries land on the same disk, and the id
// keeps the pvc-<uuid> shape the node plugin's managed-NQN prefix expects.

// VolumeIDPrefix starts every volume id the driver manages. Operations on
// ids without it never touch the RDS (a snapshot or a foreign disk must not
// be deleted or attached through a volume RPC).
const VolumeIDPrefix = "pvc-"

// volumeIDNamespace is the UUIDv5 namespace of derived volume ids. Changing
// it changes the id of every derived volume: never do.
var volumeIDNamespace = uuid.NewSHA1(uuid.NameSpaceDNS, []byte("rds.csi.srvlab.io"))

var provisionerName = regexp.MustCompile(`^pvc-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// volumeIDForName returns the volume id for a CreateVolume name.
func volumeIDForName(name string) string {
	if provisionerName.MatchString(name) {
		return name
	}
	return VolumeIDPrefix + uuid.NewSHA1(volumeIDNamespace, []byte(name)).String()
}

// isManagedVolumeID reports whether a (validated) id names a volume of this
// driver, including volumes of the earlier driver (any pvc- slot).
func isManagedVolumeID(id string) bool {
	return strings.HasPrefix(id, VolumeIDPrefix)
}
