package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/srvlab/rds-csi/cmd/rds-csi/app"
	"github.com/srvlab/rds-csi/driver"
	"github.com/srvlab/rds-csi/test/inproc"
)

// marker is in every hostile value, so "did it reach the RDS?" is a plain
// substring search over the emulator's command log: legitimate commands
// contain quotes and brackets, but never this word.
const marker = "pwn"

// hostileSuffixes are RouterOS metacharacters and separators, each able to
// end a value and start new syntax in a command line.
var hostileSuffixes = []string{
	";/system/reboot", "]", "[", `"`, "$x", `\`, "\n/system/reboot", "\r", " x=y", "\x00", "..",
}

// hostile returns prefix+marker+suffix for every suffix.
func hostile(prefix string) []string {
	out := make([]string, 0, len(hostileSuffixes))
	for _, s := range hostileSuffixes {
		out = append(out, prefix+marker+s)
	}
	return out
}

// hostileVolumePaths are volumePath parameters that are invalid as such or
// would escape the volume directory.
func hostileVolumePaths() []string {
	return append(hostile("/storage-pool/"),
		"/storage-pool/../"+marker, "/storage-pool/"+marker+"/../../etc", "/storage-pool/"+marker+"..x",
		"storage-pool/"+marker, "/"+marker+"/./x", "/storage-pool//"+marker)
}

// hostileRequest is one RPC the controller must refuse on its own.
type hostileRequest struct {
	name string
	code codes.Code
	call func(ctx context.Context, c csi.ControllerClient) error
}

func hostileRequests() []hostileRequest {
	var reqs []hostileRequest
	add := func(name string, code codes.Code, call func(context.Context, csi.ControllerClient) error) {
		reqs = append(reqs, hostileRequest{name, code, call})
	}
	const validVolume = "pvc-0b9c1e7e-3d8f-4b43-9a50-1f2e3d4c5b6a"
	invalid := codes.InvalidArgument

	createWith := func(mutate func(*csi.CreateVolumeRequest)) func(context.Context, csi.ControllerClient) error {
		return func(ctx context.Context, c csi.ControllerClient) error {
			r := createReq("hostile-params", gib)
			mutate(r)
			_, err := c.CreateVolume(ctx, r)
			return err
		}
	}
	for _, p := range hostileVolumePaths() {
		add(fmt.Sprintf("CreateVolume volumePath=%q", p), invalid, createWith(func(r *csi.CreateVolumeRequest) {
			r.Parameters = map[string]string{driver.ParamVolumePath: p}
		}))
		add(fmt.Sprintf("GetCapacity volumePath=%q", p), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.GetCapacity(ctx, &csi.GetCapacityRequest{Parameters: map[string]string{driver.ParamVolumePath: p}})
			return err
		})
	}
	for _, a := range append(hostile("10.0.0.1"), hostile("rds.example.com")...) {
		for _, key := range []string{driver.ParamNVMeAddress, driver.ParamLegacyRDSAddress} {
			add(fmt.Sprintf("CreateVolume %s=%q", key, a), invalid, createWith(func(r *csi.CreateVolumeRequest) {
				r.Parameters = map[string]string{key: a}
			}))
		}
		add(fmt.Sprintf("ControllerPublishVolume context nvmeAddress=%q", a), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{
				VolumeId: validVolume, NodeId: "node-1", VolumeCapability: mountCap(),
				VolumeContext: map[string]string{driver.CtxNVMeAddress: a},
			})
			return err
		})
	}
	for _, v := range hostile("") {
		add(fmt.Sprintf("CreateVolume nvmePort=%q", "4420"+v), invalid, createWith(func(r *csi.CreateVolumeRequest) {
			r.Parameters = map[string]string{driver.ParamNVMePort: "4420" + v}
		}))
		add(fmt.Sprintf("CreateVolume fsType=%q", "ext4"+v), invalid, createWith(func(r *csi.CreateVolumeRequest) {
			r.Parameters = map[string]string{driver.ParamFSType: "ext4" + v}
		}))
		add(fmt.Sprintf("CreateVolume capability fs_type=%q", "ext4"+v), invalid, createWith(func(r *csi.CreateVolumeRequest) {
			r.VolumeCapabilities[0].GetMount().FsType = "ext4" + v
		}))
		add(fmt.Sprintf("CreateVolume parameter key %q", v), invalid, createWith(func(r *csi.CreateVolumeRequest) {
			r.Parameters = map[string]string{v: "x"}
		}))
	}
	for _, id := range append(hostile("pvc-"), hostile("snap-0123456789abcdef-6740f3a1-pvc-")...) {
		add(fmt.Sprintf("CreateVolume source snapshot %q", id), invalid, createWith(func(r *csi.CreateVolumeRequest) {
			r.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
				Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: id}}}
		}))
		add(fmt.Sprintf("CreateVolume source volume %q", id), invalid, createWith(func(r *csi.CreateVolumeRequest) {
			r.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
				Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: id}}}
		}))
		add(fmt.Sprintf("DeleteVolume %q", id), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id})
			return err
		})
		add(fmt.Sprintf("ControllerExpandVolume %q", id), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib}})
			return err
		})
		add(fmt.Sprintf("ControllerGetVolume %q", id), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.ControllerGetVolume(ctx, &csi.ControllerGetVolumeRequest{VolumeId: id})
			return err
		})
		add(fmt.Sprintf("ValidateVolumeCapabilities %q", id), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: id, VolumeCapabilities: []*csi.VolumeCapability{mountCap()}})
			return err
		})
		add(fmt.Sprintf("ControllerPublishVolume volume %q", id), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: "node-1", VolumeCapability: mountCap()})
			return err
		})
		add(fmt.Sprintf("ControllerUnpublishVolume volume %q", id), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: "node-1"})
			return err
		})
		add(fmt.Sprintf("CreateSnapshot source %q", id), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "hostile-source", SourceVolumeId: id})
			return err
		})
		add(fmt.Sprintf("DeleteSnapshot %q", id), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: id})
			return err
		})
		add(fmt.Sprintf("GetSnapshot %q", id), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.GetSnapshot(ctx, &csi.GetSnapshotRequest{SnapshotId: id})
			return err
		})
		add(fmt.Sprintf("ListSnapshots snapshot_id %q", id), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: id})
			return err
		})
		add(fmt.Sprintf("ListSnapshots source_volume_id %q", id), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SourceVolumeId: id})
			return err
		})
		// CSI: a starting_token the plugin cannot use is Aborted.
		add(fmt.Sprintf("ListVolumes starting_token %q", id), codes.Aborted, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.ListVolumes(ctx, &csi.ListVolumesRequest{StartingToken: id})
			return err
		})
	}
	for _, n := range append(hostile(""), hostile("node-")...) {
		add(fmt.Sprintf("ControllerPublishVolume node %q", n), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: validVolume, NodeId: n, VolumeCapability: mountCap()})
			return err
		})
		add(fmt.Sprintf("ControllerUnpublishVolume node %q", n), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: validVolume, NodeId: n})
			return err
		})
	}
	for _, v := range hostile("") {
		add(fmt.Sprintf("CreateSnapshot parameter key %q", v), invalid, func(ctx context.Context, c csi.ControllerClient) error {
			_, err := c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "hostile-param", SourceVolumeId: validVolume, Parameters: map[string]string{v: "x"}})
			return err
		})
	}
	return reqs
}

// quietHealth keeps the health check's /system identity print out of the
// command log while the hostile requests run, so "no new command" is exact.
func quietHealth(c *app.Config) { c.HealthInterval = time.Hour }

// TestHostileRequestsNeverReachTheRDS sends requests with RouterOS
// metacharacters, newlines, spaces and path traversal in every field that
// could end up in a command line. Each must be refused with InvalidArgument
// (Aborted for a page token, as CSI says) and not one command may reach the
// emulator for it: the controller decides these without the RDS.
func TestHostileRequestsNeverReachTheRDS(t *testing.T) {
	env, d := setup(t, inproc.WithConfig(quietHealth))
	log := markCommands(env)
	reqs := hostileRequests()
	for _, r := range reqs {
		err := r.call(rpcCtx(t), d.Controller)
		wantCode(t, err, r.code, r.name)
		if cmds := log.since(); len(cmds) > 0 {
			t.Errorf("%s sent %d command(s) to the RDS: %q", r.name, len(cmds), cmds)
		}
	}
	// Control: a valid request does show up in the log, so the silence
	// above is the driver's doing, not a blind log.
	if _, err := d.Controller.ListVolumes(rpcCtx(t), &csi.ListVolumesRequest{}); err != nil {
		t.Fatalf("ListVolumes: %v", err)
	}
	if len(log.since()) == 0 {
		t.Fatal("a valid ListVolumes left no trace in the command log: the checks above prove nothing")
	}
	assertMarkerNeverSent(t, env.Server.Commands())
	t.Logf("%d hostile requests refused without a command reaching the RDS", len(reqs))
}

// TestHostileNamesStayOutOfCommands: CSI names are free text and valid with
// any characters, so CreateVolume and CreateSnapshot accept them, but the
// driver maps them to ids (pvc-<uuid v5>, snap-<sha256 prefix>-…) and the
// name itself must never appear in a command line. Retries must find the
// same volume and snapshot by name.
func TestHostileNamesStayOutOfCommands(t *testing.T) {
	env, d := setup(t, inproc.WithConfig(quietHealth))
	for i, name := range hostile("name-") {
		v := mustCreate(t, d, createReq(name, mib))
		if !volumeIDShape.MatchString(v.GetVolumeId()) {
			t.Errorf("name %q: volume id %q is not pvc-<uuid>", name, v.GetVolumeId())
		}
		if again := mustCreate(t, d, createReq(name, mib)); again.GetVolumeId() != v.GetVolumeId() {
			t.Errorf("name %q: retry got %s, first %s", name, again.GetVolumeId(), v.GetVolumeId())
		}
		snapName := fmt.Sprintf("%s-snap-%d", name, i)
		snap, err := d.Controller.CreateSnapshot(rpcCtx(t), &csi.CreateSnapshotRequest{Name: snapName, SourceVolumeId: v.GetVolumeId()})
		if err != nil {
			t.Fatalf("CreateSnapshot(%q): %v", snapName, err)
		}
		again, err := d.Controller.CreateSnapshot(rpcCtx(t), &csi.CreateSnapshotRequest{Name: snapName, SourceVolumeId: v.GetVolumeId()})
		if err != nil || again.GetSnapshot().GetSnapshotId() != snap.GetSnapshot().GetSnapshotId() {
			t.Errorf("CreateSnapshot(%q) retry: %v, %v; first %s", snapName, again, err, snap.GetSnapshot().GetSnapshotId())
		}
		if _, err := d.Controller.DeleteSnapshot(rpcCtx(t), &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshot().GetSnapshotId()}); err != nil {
			t.Errorf("DeleteSnapshot: %v", err)
		}
	}
	cmds := env.Server.Commands()
	if len(cmds) == 0 {
		t.Fatal("the emulator logged no commands at all: the check below would prove nothing")
	}
	assertMarkerNeverSent(t, cmds)
}

func assertMarkerNeverSent(t *testing.T, cmds []string) {
	t.Helper()
	for _, c := range cmds {
		if strings.Contains(c, marker) {
			t.Errorf("a hostile value reached the RDS: %q", c)
		}
	}
}
