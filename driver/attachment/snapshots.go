package attachment

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

// VolumeSnapshotContents of this driver keep snapshot disks from counting
// as orphans. They are a CRD (external-snapshotter), read through the
// dynamic client: the driver has no typed client for them. The informer is
// started only when the API serves the resource; until it has synced (or
// when it is not served, or Config.Dynamic is nil), no snapshot disk is
// ever taken for an orphan.

var vscResource = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshotcontents"}

// setupSnapshotContents creates the VolumeSnapshotContent informer (not
// started) when a dynamic client is configured.
func (c *Controller) setupSnapshotContents() error {
	if c.cfg.Dynamic == nil {
		return nil
	}
	c.vscFactory = dynamicinformer.NewDynamicSharedInformerFactory(c.cfg.Dynamic, 0)
	c.vscInformer = c.vscFactory.ForResource(vscResource).Informer()
	if err := c.vscInformer.SetTransform(transformVSC(c.cfg.DriverName)); err != nil {
		return fmt.Errorf("attachment: volumesnapshotcontents informer: %w", err)
	}
	return nil
}

// startSnapshotContents starts the informer if the API serves the resource.
// It does not wait for the sync.
func (c *Controller) startSnapshotContents(ctx context.Context) {
	if c.vscInformer == nil {
		return
	}
	_, err := discovery.ToDiscoveryInterfaceWithContext(c.cfg.Client.Discovery()).
		ServerResourcesForGroupVersionWithContext(ctx, vscResource.GroupVersion().String())
	if err != nil {
		if apierrors.IsNotFound(err) {
			c.log.Info("VolumeSnapshotContents are not served (snapshot CRDs not installed): snapshot disks are never reported as orphans")
		} else {
			c.log.Error(err, "Cannot tell whether VolumeSnapshotContents are served: snapshot disks are never reported as orphans")
		}
		c.vscInformer = nil
		return
	}
	c.vscFactory.Start(ctx.Done())
}

// snapshotOwners returns the snapshot handles of the driver's
// VolumeSnapshotContents and the source volumes of those still being cut
// (no handle yet: their disk may appear before the handle is written). ok
// is false while the cache cannot answer.
func (c *Controller) snapshotOwners() (handles, pendingSources map[string]bool, ok bool) {
	if c.vscInformer == nil || !c.vscInformer.HasSynced() {
		return nil, nil, false
	}
	handles, pendingSources = map[string]bool{}, map[string]bool{}
	for _, o := range c.vscInformer.GetStore().List() {
		u, isU := o.(*unstructured.Unstructured)
		if !isU {
			continue
		}
		if d, _, _ := unstructured.NestedString(u.Object, "spec", "driver"); d != c.cfg.DriverName {
			continue
		}
		found := false
		for _, f := range [][]string{{"status", "snapshotHandle"}, {"spec", "source", "snapshotHandle"}} {
			if h, _, _ := unstructured.NestedString(u.Object, f...); h != "" {
				handles[h], found = true, true
			}
		}
		if !found {
			if v, _, _ := unstructured.NestedString(u.Object, "spec", "source", "volumeHandle"); v != "" {
				pendingSources[v] = true
			}
		}
	}
	return handles, pendingSources, true
}

// transformVSC keeps only what snapshotOwners reads; other drivers'
// objects shrink to a name.
func transformVSC(driverName string) cache.TransformFunc {
	return func(obj any) (any, error) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return obj, nil
		}
		out := &unstructured.Unstructured{Object: map[string]any{}}
		out.SetAPIVersion(u.GetAPIVersion())
		out.SetKind(u.GetKind())
		out.SetName(u.GetName())
		out.SetResourceVersion(u.GetResourceVersion())
		driver, _, _ := unstructured.NestedString(u.Object, "spec", "driver")
		if driver != driverName {
			return out, nil
		}
		out.SetUID(u.GetUID())
		if ts := u.GetDeletionTimestamp(); ts != nil {
			out.SetDeletionTimestamp(&metav1.Time{Time: ts.Time})
		}
		for _, f := range [][]string{{"spec", "driver"}, {"spec", "source", "snapshotHandle"}, {"spec", "source", "volumeHandle"}, {"status", "snapshotHandle"}} {
			if v, found, _ := unstructured.NestedString(u.Object, f...); found {
				_ = unstructured.SetNestedField(out.Object, v, f...)
			}
		}
		return out, nil
	}
}
