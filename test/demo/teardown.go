package main

import (
	"context"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// deleteAll deletes what provision created: the clone, the snapshot, then
// the volume (a snapshot is an independent copy, so the order is free).
func (d *demo) deleteAll(ctx context.Context) error {
	d.section("Deleting everything")
	for _, id := range []string{d.objs.clone, d.objs.volume} {
		if _, err := d.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
			return fmt.Errorf("DeleteVolume %s: %w", id, err)
		}
		d.say("DeleteVolume %s: disk and backing file removed.", id)
		if id == d.objs.clone {
			if _, err := d.ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: d.objs.snapshot}); err != nil {
				return fmt.Errorf("DeleteSnapshot %s: %w", d.objs.snapshot, err)
			}
			d.say("DeleteSnapshot %s: removed.", d.objs.snapshot)
		}
	}
	return d.listVolumes(ctx, 0)
}

// stopAll stops the controller, then the emulator, each with SIGTERM, and
// reports a process that had died or did not stop cleanly.
func (d *demo) stopAll(context.Context) error {
	d.section("Stopping")
	_ = d.conn.Close()
	d.conn = nil
	for _, p := range []*process{d.driver, d.sim} {
		if err := p.stop(stopGrace); err != nil {
			return err
		}
		d.say("Stopped %s (pid %d).", p.name, p.pid())
	}
	return nil
}
