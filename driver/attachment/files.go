package attachment

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/srvlab/rds-csi/driver"
)

// BackingFiles returns the backing-file paths the driver's PVs record for a
// volume (volume context key "volumePath", the file path), sorted: the
// driver.ControllerConfig.BackingFiles hook, answered from the PV cache. A
// DeleteVolume whose disk is already gone finds a file under a custom
// StorageClass volumePath through it. Nil for a nil Controller or before
// the caches are synced.
func (c *Controller) BackingFiles(volumeID string) []string {
	if c == nil || !c.synced.Load() {
		return nil
	}
	var out []string
	for _, pv := range c.pvsOf(volumeID) {
		if p := pv.Spec.CSI.VolumeAttributes[driver.CtxFilePath]; p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// pvFilePath returns the backing-file path a cached PV of the driver
// records ("" for others).
func pvFilePath(obj any) string {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok || pv.Spec.CSI == nil {
		return ""
	}
	return pv.Spec.CSI.VolumeAttributes[driver.CtxFilePath]
}
