package main

import (
	"context"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// Sizes the walkthrough asks for. One decimal gigabyte is not a whole
// number of MiB: it shows that the driver rounds up and reports what the
// RDS really allocated (the earlier driver truncated sizes).
const (
	requestBytes = 1_000_000_000
	expandBytes  = 2 << 30
)

// Names of the demo's objects, as a CO would send them.
const (
	volumeName   = "demo-volume"
	snapshotName = "demo-snapshot"
	cloneName    = "demo-clone"
)

// objects the demo created, for the later steps and the final delete.
type objects struct {
	volume, clone, snapshot string
}

func volumeRequest(name string, size int64) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{
		Name:          name,
		CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		}},
	}
}

// provision creates a volume, lists volumes, snapshots the volume, clones
// a new volume from the snapshot and expands the original.
func (d *demo) provision(ctx context.Context) error {
	d.section("Provisioning")
	resp, err := d.ctrl.CreateVolume(ctx, volumeRequest(volumeName, requestBytes))
	if err != nil {
		return fmt.Errorf("CreateVolume: %w", err)
	}
	v := resp.GetVolume()
	d.objs.volume = v.GetVolumeId()
	d.say("CreateVolume %q → volume %s", volumeName, v.GetVolumeId())
	d.say("  asked for %d bytes (1 GB); the RDS allocated %s.", int64(requestBytes), human(v.GetCapacityBytes()))
	if v.GetCapacityBytes() < requestBytes {
		return fmt.Errorf("volume %s has %d bytes, less than the %d requested", v.GetVolumeId(), v.GetCapacityBytes(), requestBytes)
	}
	d.say("  Sizes are rounded UP to whole MiB, and the reply carries the real size, read back from the RDS.")
	d.say("  NVMe/TCP target for the nodes: %s:%s, NQN %s",
		v.GetVolumeContext()["nvmeAddress"], v.GetVolumeContext()["nvmePort"], v.GetVolumeContext()["nqn"])

	if err := d.listVolumes(ctx, 1); err != nil {
		return err
	}

	snap, err := d.ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: snapshotName, SourceVolumeId: v.GetVolumeId()})
	if err != nil {
		return fmt.Errorf("CreateSnapshot: %w", err)
	}
	s := snap.GetSnapshot()
	d.objs.snapshot = s.GetSnapshotId()
	d.say("CreateSnapshot %q → snapshot %s", snapshotName, s.GetSnapshotId())
	d.say("  %s, ready to use: %v. It is an independent copy of the disk on the RDS;", human(s.GetSizeBytes()), s.GetReadyToUse())
	d.say("  its id carries the name hash, creation time and source volume, since RouterOS keeps no metadata.")
	if !s.GetReadyToUse() {
		return fmt.Errorf("snapshot %s is not ready to use", s.GetSnapshotId())
	}

	req := volumeRequest(cloneName, requestBytes)
	req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
		Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: s.GetSnapshotId()},
	}}
	clone, err := d.ctrl.CreateVolume(ctx, req)
	if err != nil {
		return fmt.Errorf("CreateVolume from snapshot: %w", err)
	}
	d.objs.clone = clone.GetVolume().GetVolumeId()
	d.say("CreateVolume %q from the snapshot → volume %s, %s, with the snapshot's data.",
		cloneName, clone.GetVolume().GetVolumeId(), human(clone.GetVolume().GetCapacityBytes()))

	exp, err := d.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
		VolumeId: v.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: expandBytes},
	})
	if err != nil {
		return fmt.Errorf("ControllerExpandVolume: %w", err)
	}
	d.say("ControllerExpandVolume %s to %s → now %s; the node grows the file system next (node_expansion_required=%v).",
		v.GetVolumeId(), human(expandBytes), human(exp.GetCapacityBytes()), exp.GetNodeExpansionRequired())
	if exp.GetCapacityBytes() < expandBytes {
		return fmt.Errorf("expanded volume has %d bytes, want at least %d", exp.GetCapacityBytes(), expandBytes)
	}
	return d.listVolumes(ctx, 2)
}

// listVolumes prints ListVolumes and checks how many volumes there are.
func (d *demo) listVolumes(ctx context.Context, want int) error {
	resp, err := d.ctrl.ListVolumes(ctx, &csi.ListVolumesRequest{})
	if err != nil {
		return fmt.Errorf("ListVolumes: %w", err)
	}
	if len(resp.GetEntries()) == 0 {
		d.say("ListVolumes → no volumes.")
	} else {
		d.say("ListVolumes → %d volume(s):", len(resp.GetEntries()))
	}
	for _, e := range resp.GetEntries() {
		d.say("  %s  %s", e.GetVolume().GetVolumeId(), human(e.GetVolume().GetCapacityBytes()))
	}
	if len(resp.GetEntries()) != want {
		return fmt.Errorf("ListVolumes shows %d volumes, want %d", len(resp.GetEntries()), want)
	}
	return nil
}
