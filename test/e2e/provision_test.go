//go:build linux

package e2e

import (
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// testProvision: a claim of the e2e StorageClass is provisioned by the real
// csi-provisioner through our controller: the PV binds, the disk and its
// backing file exist on the emulator, and the controller's log maps the disk
// to the claim (names from --extra-create-metadata). Deleting the claim
// removes PV, disk and backing file.
func (c *cluster) testProvision(t *testing.T) {
	c.dumpOnFailure(t)
	const name = "provision"
	c.createPVC(t, c.newPVC(t, name, "1Gi"))
	pv := c.waitBound(t, name)
	id := pv.Spec.CSI.VolumeHandle

	requested := int64(1 << 30)
	if got := pv.Spec.Capacity[corev1.ResourceStorage]; got.Value() < requested {
		t.Errorf("PV %s capacity %s, want at least 1Gi", pv.Name, got.String())
	}
	size := c.waitDisk(t, id, requested)
	t.Logf("PV %s: volume handle %s, backing file %s (%d bytes)", pv.Name, id, c.rds.DiskFile(id), size)
	if fsType := pv.Spec.CSI.FSType; fsType != "ext4" {
		t.Errorf("PV fsType %q, want ext4", fsType)
	}

	// klog's text format quotes string values: pvc="e2e/provision".
	created := regexp.MustCompile(`"Created volume".*` + regexp.QuoteMeta(`volumeID="`+id+`"`))
	var line string
	for l := range strings.SplitSeq(c.controller.Log(t), "\n") {
		if created.MatchString(l) {
			line = l
			break
		}
	}
	switch {
	case line == "":
		t.Errorf("controller log has no \"Created volume\" line for %s", id)
	case !strings.Contains(line, `pvc="`+testNamespace+"/"+name+`"`) || !strings.Contains(line, `pv="`+pv.Name+`"`):
		t.Errorf("controller log line does not name PVC %s/%s and PV %s:\n%s", testNamespace, name, pv.Name, line)
	default:
		t.Logf("controller: %s", line)
	}

	c.deletePVCAndWait(t, name, pv)
}
