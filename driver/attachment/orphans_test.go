package attachment

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/srvlab/rds-csi/driver"
	"github.com/srvlab/rds-csi/metrics"
	"github.com/srvlab/rds-csi/rds"
)

// Issue 11, point 5 at the unit level (test/attachment repeats it with the
// real binaries, the emulator and an API server).

func vsc(name, driverName, snapshotHandle, sourceVolume string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{"driver": driverName, "deletionPolicy": "Delete",
			"source": map[string]any{"volumeHandle": sourceVolume}},
	}}
	if snapshotHandle != "" {
		_ = unstructured.SetNestedField(u.Object, snapshotHandle, "status", "snapshotHandle")
	}
	return u
}

type orphanWorld struct {
	e                             *env
	om                            *metrics.Orphan
	owned, young                  []string // slots that must never be reported
	unexported, exported, records []string // orphan disks
	snapOrphan                    string
	file, youngFile, foreignFile  string
	pendingSnap                   string
}

// newOrphanWorld seeds one RDS with every case the scan must tell apart.
// The RDS clock is the env's fake clock (t0); ages are set on the files.
func newOrphanWorld(t *testing.T, withVSC, del bool) *orphanWorld {
	t.Helper()
	w := &orphanWorld{om: metrics.NewOrphan(nil)}
	owned, attachedOnly := volumeID(1), volumeID(2)
	a, b := volumeID(10), volumeID(11)
	objs := []runtime.Object{readyNode("n1"), rwoPV(owned), attachedVA(attachedOnly, "n1", t0)}
	cs := fake.NewClientset(objs...)
	var opts []envOption
	opts = append(opts, func(c *Config) {
		c.NoOrphanReport = false
		c.OrphanGracePeriod = time.Hour
		c.CopyTimeout = 2 * time.Hour
		c.OrphanDelete = del
		c.OrphanMetrics = w.om
	})
	snapOwned := "snap-00000000000000a1-" + owned
	w.snapOrphan = "snap-00000000000000a2-" + owned
	w.pendingSnap = "snap-00000000000000a3-" + volumeID(3)
	if withVSC {
		cs.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{{
			GroupVersion: "snapshot.storage.k8s.io/v1", APIResources: []metav1.APIResource{{Name: "volumesnapshotcontents", Kind: "VolumeSnapshotContent"}},
		}}
		dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
			map[schema.GroupVersionResource]string{vscResource: "VolumeSnapshotContentList"},
			vsc("snapcontent-1", testDriver, snapOwned, owned),
			vsc("snapcontent-2", testDriver, "", volumeID(3)),         // still being cut
			vsc("snapcontent-3", "other.csi.io", w.snapOrphan, owned)) // another driver's
		opts = append(opts, func(c *Config) { c.Dynamic = dyn })
	}
	w.e = newEnvOn(t, cs, opts...)
	e := w.e
	e.rds.Now = e.clock.Now
	old := t0.Add(-5 * time.Hour)
	at := func(path string, ts time.Time) { e.rds.SetFileCreated(path, ts) }
	disk := func(id string, exported bool, ts time.Time) {
		v := rdsVolume(id)
		v.Exported = exported
		e.rds.AddVolume(v)
		at(v.FilePath, ts)
	}
	disk(owned, true, old)
	disk(attachedOnly, true, old)
	disk(a, false, old)                                                                              // orphan, unexported: removable
	disk(b, true, old)                                                                               // orphan, exported: reported only
	disk(volumeID(12), false, t0.Add(-time.Second))                                                  // created 1 s before the pass
	disk(volumeID(13), false, t0.Add(-90*time.Minute))                                               // older than the grace period…
	disk(driver.SourceRecordPrefix+volumeID(13)+"-0123456789abcdef", false, t0.Add(-90*time.Minute)) // …but copied: + copy timeout
	disk(snapOwned, false, old)
	disk(w.snapOrphan, false, old)
	disk(w.pendingSnap, false, old)
	disk(driver.SourceRecordPrefix+owned+"-00000000000000ff", false, old) // record of a volume with a PV
	rec := driver.SourceRecordPrefix + volumeID(20) + "-00000000000000ee"
	disk(rec, false, old)                                                                                   // record of a volume that is gone
	e.rds.AddVolume(rds.Volume{ID: "data1", FilePath: "/storage-pool/other/data1.img", SizeBytes: 1 << 20}) // not ours
	at("/storage-pool/other/data1.img", old)
	w.file = rds.FilePathFor("/storage-pool/custom", volumeID(30))
	e.rds.AddFile(w.file, 3<<20)
	at(w.file, t0.Add(-3*time.Hour-time.Second)) // older than grace + copy timeout
	w.youngFile = rds.FilePathFor(rds.DefaultVolumePath, volumeID(31))
	e.rds.AddFile(w.youngFile, 1<<20)
	at(w.youngFile, t0.Add(-2*time.Hour)) // a copy may still write it
	w.foreignFile = "/storage-pool/metal-csi/notes.img"
	e.rds.AddFile(w.foreignFile, 1)
	at(w.foreignFile, old)

	w.owned = []string{owned, attachedOnly, snapOwned, driver.SourceRecordPrefix + owned + "-00000000000000ff", "data1"}
	w.young = []string{volumeID(12), volumeID(13), driver.SourceRecordPrefix + volumeID(13) + "-0123456789abcdef"}
	w.unexported = []string{a}
	w.exported = []string{b}
	w.records = []string{rec}
	return w
}

// scans runs the controller and waits for n orphan scans.
func (w *orphanWorld) scans(t *testing.T, n int) []error {
	t.Helper()
	var results []error
	done := make(chan struct{}, 16)
	w.e.c.onOrphanSync = func(err error) {
		w.e.mu.Lock()
		results = append(results, err)
		w.e.mu.Unlock()
		done <- struct{}{}
	}
	w.e.run()
	for i := range n {
		got := false
		// The resync ticker is made by a goroutine that may not have run
		// yet: step until the scan comes (as env.stepUntil does).
		for try := 0; try < 50 && !got; try++ {
			if i > 0 {
				w.e.clock.Step(w.e.c.cfg.ResyncPeriod)
			}
			select {
			case <-done:
				got = true
			case <-time.After(200 * time.Millisecond):
			}
		}
		if !got {
			t.Fatalf("orphan scan %d did not run", i+1)
		}
	}
	w.e.mu.Lock()
	defer w.e.mu.Unlock()
	return slices.Clone(results)
}

func reported(sink *recordingSink) map[string]recordedEvent {
	out := map[string]recordedEvent{}
	for _, r := range []string{ReasonOrphanDisk, ReasonOrphanFile} {
		for _, ev := range sink.byReason(r) {
			out[ev.Note] = ev
		}
	}
	return out
}

// noteNames reports whether an event names the slot (as "disk <slot> (")
// or the file path (as "file <path> (").
func noteNames(evs map[string]recordedEvent, s string) bool {
	for note := range evs {
		if strings.Contains(note, " disk "+s+" (") || strings.Contains(note, " file "+s+" (") {
			return true
		}
	}
	return false
}

func TestOrphanReport(t *testing.T) {
	for _, tc := range []struct {
		name    string
		withVSC bool
		del     bool
	}{
		{"report only", true, false},
		{"with --orphan-delete", true, true},
		{"no VolumeSnapshotContent cache: snapshots never orphans", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newOrphanWorld(t, tc.withVSC, tc.del)
			if tc.withVSC {
				waitFor(t, "VolumeSnapshotContent cache", func() bool { _, _, ok := w.e.c.snapshotOwners(); return ok })
			}
			for i, err := range w.scans(t, 2) {
				if err != nil {
					t.Fatalf("scan %d: %v", i+1, err)
				}
			}
			evs := reported(w.e.sink)
			wantDisks := slices.Concat(w.unexported, w.exported, w.records)
			if tc.withVSC {
				wantDisks = append(wantDisks, w.snapOrphan)
			}
			for _, slot := range wantDisks {
				if !noteNames(evs, slot) {
					t.Errorf("orphan disk %s not reported", slot)
				}
			}
			if !noteNames(evs, w.file) {
				t.Errorf("orphan file %s not reported", w.file)
			}
			never := slices.Concat(w.owned, w.young, []string{w.youngFile, w.foreignFile, w.pendingSnap})
			if !tc.withVSC {
				never = append(never, w.snapOrphan)
			}
			for _, s := range never {
				if noteNames(evs, s) {
					t.Errorf("%s reported as an orphan", s)
				}
			}
			// One event per orphan over two scans, each with its own action
			// (events.k8s.io would merge equal actions into one series).
			if len(evs) != len(wantDisks)+1 {
				t.Errorf("%d orphan events, want %d", len(evs), len(wantDisks)+1)
			}
			actions := map[string]bool{}
			for _, ev := range evs {
				if ev.Regarding == nil || ev.Regarding.Kind != "Pod" || ev.Type != "Warning" || actions[ev.Action] {
					t.Errorf("event %+v: want a Warning regarding the controller Pod with a distinct action", ev)
				}
				actions[ev.Action] = true
			}
			// The gauges describe the second scan: with --orphan-delete only
			// the exported disk is left by then.
			leftDisks, leftFiles := len(wantDisks), 1
			if tc.del {
				leftDisks, leftFiles = len(w.exported), 0
			}
			if got := testutil.ToFloat64(w.om.Disks); int(got) != leftDisks {
				t.Errorf("rds_csi_orphan_disks = %v, want %d", got, leftDisks)
			}
			if got := testutil.ToFloat64(w.om.Files); int(got) != leftFiles {
				t.Errorf("rds_csi_orphan_files = %v, want %d", got, leftFiles)
			}
			wantBytes := float64(leftDisks*(1<<30) + leftFiles*(3<<20))
			if got := testutil.ToFloat64(w.om.Bytes); got != wantBytes {
				t.Errorf("rds_csi_orphan_bytes = %v, want %v", got, wantBytes)
			}

			// Deletion: only with the flag, never an exported disk, never
			// anything not reported.
			files := w.e.rds.Files()
			removed := func(slot string) bool {
				_, ok := w.e.rds.Volume(slot)
				return !ok
			}
			for _, s := range slices.Concat(w.unexported, w.records) {
				if removed(s) != tc.del {
					t.Errorf("disk %s removed=%v, want %v", s, removed(s), tc.del)
				}
			}
			if tc.withVSC && removed(w.snapOrphan) != tc.del {
				t.Errorf("snapshot disk %s removed=%v, want %v", w.snapOrphan, removed(w.snapOrphan), tc.del)
			}
			if slices.Contains(files, w.file) == tc.del {
				t.Errorf("orphan file %s removed=%v, want %v", w.file, !slices.Contains(files, w.file), tc.del)
			}
			for _, s := range slices.Concat(w.exported, w.owned, w.young, []string{w.pendingSnap}) {
				if removed(s) {
					t.Errorf("%s removed", s)
				}
			}
			for _, f := range []string{w.youngFile, w.foreignFile} {
				if !slices.Contains(files, f) {
					t.Errorf("%s removed", f)
				}
			}
			if got := testutil.ToFloat64(w.om.Deleted.WithLabelValues(metrics.OrphanKindDisk)); tc.del && got == 0 {
				t.Error("no deleted-disk count")
			}
			if n := len(w.e.sink.byReason(ReasonOrphanDeleted)); tc.del != (n > 0) {
				t.Errorf("%d OrphanDeleted events with delete=%v", n, tc.del)
			}
		})
	}
}

// TestOrphanScanRetriedWhileDisconnected: a scan that cannot reach the RDS
// goes back to the queue with backoff, and Reconnected runs it at once.
func TestOrphanScanRetriedWhileDisconnected(t *testing.T) {
	w := newOrphanWorld(t, false, false)
	w.e.connected.Store(false)
	results := w.scans(t, 1)
	if !errors.Is(results[0], errNotConnected) {
		t.Fatalf("scan while disconnected: %v", results[0])
	}
	if got := testutil.ToFloat64(w.om.Scans.WithLabelValues(metrics.OrphanScanRequeue)); got != 1 {
		t.Errorf("requeue scans = %v", got)
	}
	tm := w.e.c.term.Load()
	if n := tm.orphans.q.NumRequeues(orphanKey); n != 1 {
		t.Errorf("NumRequeues = %d, want 1 (AddRateLimited exactly once)", n)
	}
	// A resync while the scan waits out its backoff does not run it.
	tm.orphans.enqueue()
	time.Sleep(30 * time.Millisecond)
	if got := testutil.ToFloat64(w.om.Scans.WithLabelValues(metrics.OrphanScanRequeue)); got != 1 {
		t.Errorf("a producer cut the backoff short: %v requeue scans", got)
	}
	w.e.connected.Store(true)
	w.e.reconnect <- struct{}{}
	waitFor(t, "scan after Reconnected", func() bool {
		return testutil.ToFloat64(w.om.Scans.WithLabelValues(metrics.OrphanScanSuccess)) == 1
	})
	if tm.orphans.q.NumRequeues(orphanKey) != 0 {
		t.Error("the successful scan did not Forget the key")
	}
}
