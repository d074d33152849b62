package attachment

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	reconciler "github.com/srvlab/rds-csi/driver/attachment"
	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

// Orphan timings of TestOrphanReport. The grace period is long enough that
// a disk made right before a scan is provably young at that scan, short
// enough for a test; the copy timeout (the extra age a file without a disk
// needs, because a copy may still write it) is as short as the flags allow.
const (
	orphanResync = 2 * time.Second
	orphanGrace  = 8 * time.Second
	orphanCopy   = 2 * time.Second
)

// mustExec runs a RouterOS command on the emulator as an operator would.
func mustExec(t testing.TB, c *ssh.Client, cmd string) string {
	t.Helper()
	out, code, err := simtest.Exec(c, cmd)
	if err != nil || code != 0 {
		t.Fatalf("%s: exit %d, %v: %q", cmd, code, err, out)
	}
	return out
}

// diskExists asks the emulator whether a slot exists.
func diskExists(t testing.TB, c *ssh.Client, slot string) bool {
	return strings.Contains(mustExec(t, c, "/disk print detail where slot="+slot), "slot=\""+slot+"\"")
}

// fileExists asks the emulator whether a file exists.
func fileExists(t testing.TB, c *ssh.Client, path string) bool {
	return strings.Contains(mustExec(t, c, "/file print detail where name=\""+strings.TrimPrefix(path, "/")+"\""), "name=")
}

// Issue 11, acceptance point 5: disks and a file planted under the managed
// naming rule without a PV are reported (metric + one event each on the
// controller Pod) within one resync of turning old enough by the RDS's
// clock; with --orphan-delete the unexported ones are removed, the exported
// one never; a volume with a PV is never touched; a disk made a moment
// before a scan is neither reported nor removed.
func TestOrphanReport(t *testing.T) {
	env := setup(t)
	pod := env.cluster.controllerPod(t, "rds-csi-controller-orphans")
	d := env.startDriver(t, driverOpts{name: "rds-csi", pod: pod, extraArgs: []string{
		"--attachment-resync-period=" + orphanResync.String(),
		"--orphan-grace-period=" + orphanGrace.String(),
		"--rds-command-timeout=" + orphanCopy.String(), "--rds-copy-timeout=" + orphanCopy.String(),
		"--orphan-delete",
	}})
	d.waitSocket(t)
	d.waitReady(t)
	rdsc := env.emu.dial(t)

	// A real volume with its PV: never an orphan, however old.
	keepPV := pvName()
	keep := d.createVolume(t, keepPV)
	ctx, cancel := apiCtx()
	defer cancel()
	_, err := env.cluster.cs.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: keepPV},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(keep.GetCapacityBytes(), resource.BinarySI)},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: driverName, VolumeHandle: keep.GetVolumeId(), VolumeAttributes: keep.GetVolumeContext(),
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Planted by hand: an unexported disk, an exported one, and a file left
	// by a disk removed without its file (under a custom directory).
	unexp, exp, fileSlot := pvName(), pvName(), pvName()
	dir := "/storage-pool/metal-csi/"
	filePath := "/storage-pool/leftovers/" + fileSlot + ".img"
	planted := time.Now()
	mustExec(t, rdsc, "/disk add type=file file-path="+dir+unexp+".img file-size=1M slot="+unexp)
	mustExec(t, rdsc, "/disk add type=file file-path="+dir+exp+".img file-size=1M slot="+exp+
		" nvme-tcp-export=yes nvme-tcp-server-port=4420 nvme-tcp-server-nqn=nqn.2000-02.com.mikrotik:"+exp)
	mustExec(t, rdsc, "/disk add type=file file-path="+filePath+" file-size=2M slot="+fileSlot)
	mustExec(t, rdsc, "/disk remove [find slot="+fileSlot+"]")

	// Reported within one resync of being old enough (RDS creation-times
	// are whole seconds: up to 1 s more).
	events := func(reason string) []string {
		var notes []string
		for _, e := range env.cluster.events(t, pod.namespace, reason, "Pod", pod.name) {
			notes = append(notes, e.Note)
		}
		return notes
	}
	named := func(notes []string, s string) bool {
		for _, n := range notes {
			if strings.Contains(n, " "+s+" (") {
				return true
			}
		}
		return false
	}
	diskReported := waitFor(t, "both orphan disks reported (metric and events)", finePoll, orphanGrace+4*orphanResync, func() bool {
		ev := events(reconciler.ReasonOrphanDisk)
		return d.metric("rds_csi_orphan_disks", nil) >= 2 || (named(ev, unexp) && named(ev, exp))
	})
	waitFor(t, "OrphanDisk events for both", coarsePoll, 10*time.Second, func() bool {
		ev := events(reconciler.ReasonOrphanDisk)
		return named(ev, unexp) && named(ev, exp)
	})
	fileReported := waitFor(t, "the orphan file reported", finePoll, orphanGrace+orphanCopy+4*orphanResync, func() bool {
		return named(events(reconciler.ReasonOrphanFile), filePath)
	})
	diskLate := diskReported.Sub(planted) - orphanGrace
	fileLate := fileReported.Sub(planted) - orphanGrace - orphanCopy
	t.Logf("orphan disks reported %v after planting (%v past the grace period); the file %v after (%v past grace + copy timeout); resync %v",
		diskReported.Sub(planted).Round(time.Millisecond), diskLate.Round(time.Millisecond),
		fileReported.Sub(planted).Round(time.Millisecond), fileLate.Round(time.Millisecond), orphanResync)
	if diskLate < -time.Second || diskLate > orphanResync+1500*time.Millisecond {
		t.Errorf("disks reported %v past the grace period, want within one resync (%v) and never before it", diskLate, orphanResync)
	}
	if fileLate < -time.Second || fileLate > orphanResync+1500*time.Millisecond {
		t.Errorf("file reported %v past grace + copy timeout, want within one resync (%v) and never before it", fileLate, orphanResync)
	}

	// --orphan-delete: the unexported disk and the file go, the exported
	// disk and the real volume stay.
	waitFor(t, "unexported orphan disk and orphan file removed", finePoll, 4*orphanResync, func() bool {
		return !diskExists(t, rdsc, unexp) && !fileExists(t, rdsc, filePath)
	})
	if !diskExists(t, rdsc, exp) {
		t.Error("the exported orphan disk was removed")
	}
	if !diskExists(t, rdsc, keep.GetVolumeId()) {
		t.Error("a volume with a PV was removed")
	}
	if d.metric("rds_csi_orphans_deleted_total", map[string]string{"kind": metrics.OrphanKindDisk}) < 1 ||
		d.metric("rds_csi_orphans_deleted_total", map[string]string{"kind": metrics.OrphanKindFile}) < 1 {
		t.Error("rds_csi_orphans_deleted_total did not count the removals")
	}
	if n := len(events(reconciler.ReasonOrphanDisk)); n != 2 {
		t.Errorf("%d OrphanDisk events after several scans, want 2 (one per orphan)", n)
	}

	// A disk made a moment before a scan: that scan (and the next ones
	// within the grace period) neither reports nor removes it.
	young := pvName()
	scans := func() float64 {
		return d.metric("rds_csi_orphan_scans_total", map[string]string{"result": metrics.OrphanScanSuccess})
	}
	before := scans()
	mustExec(t, rdsc, "/disk add type=file file-path="+dir+young+".img file-size=1M slot="+young)
	made := time.Now()
	at := waitFor(t, "a scan after the young disk was made", finePoll, 3*orphanResync, func() bool { return scans() >= before+2 })
	t.Logf("young disk: %v old at the second scan after it (grace %v)", at.Sub(made).Round(time.Millisecond), orphanGrace)
	if at.Sub(made) >= orphanGrace-time.Second {
		t.Fatalf("the scans came too late (%v) to judge a young disk", at.Sub(made))
	}
	if named(events(reconciler.ReasonOrphanDisk), young) {
		t.Error("a disk younger than the grace period was reported")
	}
	if !diskExists(t, rdsc, young) {
		t.Error("a disk younger than the grace period was removed")
	}
	mustExec(t, rdsc, "/disk remove [find slot="+young+"]")
	mustExec(t, rdsc, "/file remove [find name=\""+strings.TrimPrefix(dir, "/")+young+".img\"]")
}
