package attachment

import (
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/srvlab/rds-csi/driver"
)

// Informer transforms. Every cached object is rebuilt with only the fields
// this package reads, so the cache stays flat at thousands of nodes and
// volumes: a Node keeps its Ready condition (without the heartbeat) and the
// out-of-service taint instead of images, addresses, volumesInUse,
// volumesAttached, managedFields and annotations. Objects of other drivers
// cannot be filtered out of a list/watch (no field selector exists for
// spec.attacher or spec.csi.driver), so they shrink to a name-only stub that
// no index or handler looks at.
//
// Rebuilding (rather than clearing fields) keeps a transform correct when
// the API grows new fields, and makes it idempotent, which client-go asks for.

func transformNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	out := &corev1.Node{ObjectMeta: slimMeta(&n.ObjectMeta)}
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeOutOfService {
			out.Spec.Taints = append(out.Spec.Taints, t)
		}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			// The heartbeat changes every update and is never read; the
			// message can be long. Status, reason and transition time stay.
			c.LastHeartbeatTime = metav1.Time{}
			c.Message = ""
			out.Status.Conditions = []corev1.NodeCondition{c}
			break
		}
	}
	return out, nil
}

func transformVA(driverName string) cache.TransformFunc {
	return func(obj any) (any, error) {
		va, ok := obj.(*storagev1.VolumeAttachment)
		if !ok {
			return obj, nil
		}
		out := &storagev1.VolumeAttachment{ObjectMeta: slimMeta(&va.ObjectMeta)}
		out.Spec.Attacher = va.Spec.Attacher
		if va.Spec.Attacher != driverName {
			out.ObjectMeta = metav1.ObjectMeta{Name: va.Name, ResourceVersion: va.ResourceVersion}
			return out, nil
		}
		out.Spec.NodeName = va.Spec.NodeName
		out.Spec.Source.PersistentVolumeName = va.Spec.Source.PersistentVolumeName
		if in := va.Spec.Source.InlineVolumeSpec; in != nil && in.CSI != nil {
			out.Spec.Source.InlineVolumeSpec = &corev1.PersistentVolumeSpec{
				AccessModes:            in.AccessModes,
				PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: slimCSI(in.CSI)},
			}
		}
		out.Status.Attached = va.Status.Attached
		return out, nil
	}
}

func transformPV(driverName string) cache.TransformFunc {
	return func(obj any) (any, error) {
		pv, ok := obj.(*corev1.PersistentVolume)
		if !ok {
			return obj, nil
		}
		if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != driverName {
			return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: pv.Name, ResourceVersion: pv.ResourceVersion}}, nil
		}
		out := &corev1.PersistentVolume{ObjectMeta: slimMeta(&pv.ObjectMeta)}
		out.Spec.AccessModes = pv.Spec.AccessModes
		out.Spec.VolumeMode = pv.Spec.VolumeMode
		out.Spec.CSI = slimCSI(pv.Spec.CSI)
		return out, nil
	}
}

// slimMeta keeps identity and lifecycle: no labels, annotations,
// finalizers, owner references or managedFields.
func slimMeta(m *metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:              m.Name,
		UID:               m.UID,
		ResourceVersion:   m.ResourceVersion,
		CreationTimestamp: m.CreationTimestamp,
		DeletionTimestamp: m.DeletionTimestamp,
	}
}

// slimCSI keeps the driver, the volume id and the two volume-context keys
// read here: migrationTimeoutSeconds, and the backing-file path that
// DeleteVolume and the orphan report use.
func slimCSI(in *corev1.CSIPersistentVolumeSource) *corev1.CSIPersistentVolumeSource {
	out := &corev1.CSIPersistentVolumeSource{Driver: in.Driver, VolumeHandle: in.VolumeHandle}
	for _, k := range []string{driver.CtxMigrationTimeout, driver.CtxFilePath} {
		if v, ok := in.VolumeAttributes[k]; ok {
			if out.VolumeAttributes == nil {
				out.VolumeAttributes = map[string]string{}
			}
			out.VolumeAttributes[k] = v
		}
	}
	return out
}
