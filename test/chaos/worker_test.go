//go:build linux

package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Lifecycle kinds.
const (
	kindVolume   = "volume"
	kindSnapshot = "snapshot"
	kindRestore  = "restore"
	kindClone    = "clone"
)

var kinds = []string{kindVolume, kindSnapshot, kindRestore, kindClone}

const (
	longDeadline  = 30 * time.Second
	shortDeadline = 3 * time.Second
	// calmBudget bounds the retries of one request once the faults have
	// stopped: far above what any request needs then (a dead copy is
	// cleaned up after the 20 s copy timeout, the copy takes seconds), so
	// hitting it is a finding. While faults go on a request is never given
	// up: a driver restart restarts the wait for a dead copy, so progress
	// under faults is measured (the slowest request is printed), not
	// bounded.
	calmBudget = 2 * time.Minute
	// harnessCap is the harness's own bound on one request, faults or not.
	harnessCap = 30 * time.Minute
	// Retry pause: jittered exponential, as the sidecars do, but capped
	// low so that the run stays short.
	retryBase = 100 * time.Millisecond
	retryMax  = 2 * time.Second
	mib       = int64(1) << 20
)

// lifecycle is one planned lifecycle.
type lifecycle struct {
	Index    int
	Kind     string
	Deadline time.Duration
	Size     int64
	// Names, drawn from the seed.
	Source, Target, Snapshot string
}

func (l *lifecycle) String() string {
	d := "30s"
	if l.Deadline == shortDeadline {
		d = "3s"
	}
	return fmt.Sprintf("#%d %s/%s", l.Index, l.Kind, d)
}

// seededUUID is a version-4 UUID from rnd.
func seededUUID(rnd *rand.Rand) string {
	var u uuid.UUID
	for i := range u {
		u[i] = byte(rnd.UintN(256))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

// plan draws the lifecycles: kinds evenly, order shuffled, sizes
// 256 MiB-1.5 GiB (copies of 0.5-3 s at 512 MiB/s), names unique.
func plan(rnd *rand.Rand, long, short int) []*lifecycle {
	var out []*lifecycle
	for i := range long + short {
		l := &lifecycle{
			Kind:     kinds[i%len(kinds)],
			Deadline: longDeadline,
			Size:     int64(1+rnd.IntN(6)) * 256 * mib,
			Source:   "pvc-" + seededUUID(rnd),
			Target:   "pvc-" + seededUUID(rnd),
			Snapshot: "snapshot-" + seededUUID(rnd),
		}
		if i >= long {
			l.Deadline = shortDeadline
		}
		out = append(out, l)
	}
	rnd.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	for i, l := range out {
		l.Index = i + 1
	}
	return out
}

// retryable are the codes the sidecars retry.
func retryable(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted, codes.Canceled:
		return true
	}
	return false
}

// worker runs lifecycles one after the other.
type worker struct {
	s   *suite
	id  int
	rnd *rand.Rand
}

// errGaveUp ends a lifecycle whose request got no OK in time (see
// calmBudget).
type errGaveUp struct{ op string }

func (e errGaveUp) Error() string { return "gave up on " + e.op }

// call sends one request until it answers OK, each attempt under the
// lifecycle's per-call deadline, measuring every attempt.
func (w *worker) call(l *lifecycle, op, id string, fn func(ctx context.Context) error) error {
	s := w.s
	first := time.Now()
	pause := retryBase
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), l.Deadline)
		start := time.Now()
		err := fn(ctx)
		took := time.Since(start)
		cancel()
		s.rpcs.Add(1)
		if took > l.Deadline+time.Second {
			s.find.add(finding{Fig: figLate, IDs: []string{id}, Fault: s.activeFault(),
				Text: fmt.Sprintf("%s %s (lifecycle %s, attempt %d) returned after %s, deadline %s: %v", op, id, l, attempt, took.Round(time.Millisecond), l.Deadline, status.Code(err))})
		}
		if err == nil {
			s.noteSlowest(op, id, l, time.Since(first), attempt)
			return nil
		}
		code := status.Code(err)
		s.retries.Add(1)
		s.codes.add(op+"/"+code.String(), 1)
		if !retryable(code) {
			s.find.add(finding{Fig: figNonRetryable, IDs: []string{id}, Fault: s.activeFault(),
				Text: fmt.Sprintf("%s %s (lifecycle %s, attempt %d, after %s): %s: %s", op, id, l, attempt, took.Round(time.Millisecond), code, status.Convert(err).Message())})
		}
		if why := s.giveUp(first); why != "" {
			s.find.add(finding{Fig: figIncomplete, IDs: []string{id}, Fault: s.activeFault(),
				Text: fmt.Sprintf("%s %s (lifecycle %s): no OK after %d attempts in %s, %s; last: %s: %s", op, id, l, attempt, time.Since(first).Round(time.Second), why, code, status.Convert(err).Message())})
			return errGaveUp{op}
		}
		// Full jitter over [pause/2, pause].
		time.Sleep(pause/2 + time.Duration(w.rnd.Int64N(int64(pause/2)+1)))
		pause = min(2*pause, retryMax)
	}
}

var mountCap = []*csi.VolumeCapability{{
	AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
	AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
}}

// createVolume creates name (optionally from a content source) and checks
// the answer against the RDS right after.
func (w *worker) createVolume(l *lifecycle, name string, size int64, src *csi.VolumeContentSource) error {
	s := w.s
	s.reg.register(&object{Key: name, Name: name, Kind: "volume", Lifecycle: l.Index})
	req := &csi.CreateVolumeRequest{
		Name:                name,
		CapacityRange:       &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities:  mountCap,
		VolumeContentSource: src,
	}
	var resp *csi.CreateVolumeResponse
	err := w.call(l, "CreateVolume", name, func(ctx context.Context) (err error) {
		resp, err = s.drv.ctrl.CreateVolume(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	okAt := time.Now()
	v := resp.GetVolume()
	s.reg.update(name, func(o *object) { o.ID = v.GetVolumeId() })
	if v.GetVolumeId() != name {
		// The driver uses a provisioner's pvc-<uuid> name as the id.
		s.find.add(finding{Fig: figContradictions, IDs: []string{name, v.GetVolumeId()}, Fault: s.activeFault(),
			Text: fmt.Sprintf("CreateVolume %s (lifecycle %s) answered volume id %q, not the name", name, l, v.GetVolumeId())})
	}
	st, ok := s.read(okAt, "CreateVolume "+name)
	if !ok {
		return nil
	}
	d, found := st.disk(v.GetVolumeId())
	switch {
	case !found:
		s.find.add(finding{Fig: figContradictions, IDs: []string{v.GetVolumeId()}, Fault: s.activeFault(),
			Text: fmt.Sprintf("CreateVolume %s (lifecycle %s) returned OK at %s, but no disk %s is on the RDS right after (reading of %s: %d disks)",
				name, l, okAt.Format("15:04:05.000"), v.GetVolumeId(), st.Started.Format("15:04:05.000"), len(st.Disks))})
	case d.Size != v.GetCapacityBytes() || d.Size < size:
		s.find.add(finding{Fig: figContradictions, IDs: []string{v.GetVolumeId()}, Fault: s.activeFault(),
			Text: fmt.Sprintf("CreateVolume %s (lifecycle %s) answered %d bytes (asked %d); the disk on the RDS has %d", name, l, v.GetCapacityBytes(), size, d.Size)})
	}
	if found {
		s.reg.update(name, func(o *object) { o.FilePath = d.FilePath })
	}
	return nil
}

// createSnapshot snapshots source as name until OK with ready_to_use and
// checks the disk right after. It returns the snapshot id.
func (w *worker) createSnapshot(l *lifecycle, name, source string) (string, error) {
	s := w.s
	key := snapshotKey(name)
	s.reg.register(&object{Key: key, Name: name, Kind: "snapshot", Lifecycle: l.Index})
	req := &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: source}
	var resp *csi.CreateSnapshotResponse
	first := time.Now()
	for {
		err := w.call(l, "CreateSnapshot", name, func(ctx context.Context) (err error) {
			resp, err = s.drv.ctrl.CreateSnapshot(ctx, req)
			return err
		})
		if err != nil {
			return "", err
		}
		if resp.GetSnapshot().GetReadyToUse() {
			break
		}
		// The snapshotter polls a snapshot that is not ready yet.
		s.polls.Add(1)
		if why := s.giveUp(first); why != "" {
			s.find.add(finding{Fig: figIncomplete, IDs: []string{resp.GetSnapshot().GetSnapshotId()}, Fault: s.activeFault(),
				Text: fmt.Sprintf("CreateSnapshot %s (lifecycle %s): not ready_to_use after %s, %s", name, l, time.Since(first).Round(time.Second), why)})
			return "", errGaveUp{"CreateSnapshot (ready_to_use)"}
		}
		time.Sleep(500 * time.Millisecond)
	}
	okAt := time.Now()
	snap := resp.GetSnapshot()
	id := snap.GetSnapshotId()
	s.reg.update(key, func(o *object) { o.ID = id })
	wantPrefix := "snap-" + strings.TrimPrefix(key, "snap:") + "-"
	if !strings.HasPrefix(id, wantPrefix) || !strings.HasSuffix(id, "-"+source) || snap.GetSourceVolumeId() != source {
		s.find.add(finding{Fig: figContradictions, IDs: []string{id}, Fault: s.activeFault(),
			Text: fmt.Sprintf("CreateSnapshot %s of %s (lifecycle %s) answered id %q with source %q: want %s...-%s",
				name, source, l, id, snap.GetSourceVolumeId(), wantPrefix, source)})
	}
	st, ok := s.read(okAt, "CreateSnapshot "+name)
	if !ok {
		return id, nil
	}
	d, found := st.disk(id)
	switch {
	case !found:
		s.find.add(finding{Fig: figContradictions, IDs: []string{id}, Fault: s.activeFault(),
			Text: fmt.Sprintf("CreateSnapshot %s (lifecycle %s) returned OK, ready_to_use, at %s, but no disk %s is on the RDS right after (reading of %s)",
				name, l, okAt.Format("15:04:05.000"), id, st.Started.Format("15:04:05.000"))})
	case d.Size != snap.GetSizeBytes():
		s.find.add(finding{Fig: figContradictions, IDs: []string{id}, Fault: s.activeFault(),
			Text: fmt.Sprintf("CreateSnapshot %s (lifecycle %s) answered %d bytes; the disk on the RDS has %d", name, l, snap.GetSizeBytes(), d.Size)})
	}
	if found {
		s.reg.update(key, func(o *object) { o.FilePath = d.FilePath })
	}
	return id, nil
}

// deleteObject deletes the volume or snapshot with object key key until OK,
// then checks that neither its disk nor its backing file is on the RDS.
func (w *worker) deleteObject(l *lifecycle, key string) error {
	s := w.s
	o, _ := s.reg.lookup(key)
	op := "DeleteVolume"
	fn := func(ctx context.Context) error {
		_, err := s.drv.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: o.ID})
		return err
	}
	if o.Kind == "snapshot" {
		op = "DeleteSnapshot"
		fn = func(ctx context.Context) error {
			_, err := s.drv.ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: o.ID})
			return err
		}
	}
	if err := w.call(l, op, o.ID, fn); err != nil {
		return err
	}
	okAt := time.Now()
	s.reg.update(key, func(o *object) { o.DeletedAt = okAt })
	st, ok := s.read(okAt, op+" "+o.ID)
	if !ok {
		return nil
	}
	// checkReading already reports a disk or file of the deleted name; the
	// file at the path the disk had is checked here as well, in case it is
	// not named like its slot.
	if o.FilePath != "" && st.hasFile(o.FilePath) {
		s.find.add(finding{Fig: figContradictions, Key: "after-delete:backing file " + o.FilePath, IDs: []string{o.ID}, Fault: s.activeFault(),
			Text: fmt.Sprintf("%s %s (lifecycle %s) returned OK at %s, but its backing file %s is still on the RDS (reading of %s)",
				op, o.ID, l, okAt.Format("15:04:05.000"), o.FilePath, st.Started.Format("15:04:05.000"))})
	}
	return nil
}

// run runs one lifecycle; it returns false when a request was given up.
func (w *worker) run(l *lifecycle) bool {
	err := w.lifecycle(l)
	if err != nil {
		w.s.events.printf("lifecycle %s abandoned: %v", l, err)
		return false
	}
	w.s.done.add(l.Kind, 1)
	return true
}

func (w *worker) lifecycle(l *lifecycle) error {
	switch l.Kind {
	case kindVolume:
		if err := w.createVolume(l, l.Target, l.Size, nil); err != nil {
			return err
		}
		return w.deleteObject(l, l.Target)
	case kindSnapshot:
		if err := w.createVolume(l, l.Source, l.Size, nil); err != nil {
			return err
		}
		if _, err := w.createSnapshot(l, l.Snapshot, l.Source); err != nil {
			return err
		}
		if err := w.deleteObject(l, snapshotKey(l.Snapshot)); err != nil {
			return err
		}
		return w.deleteObject(l, l.Source)
	case kindRestore:
		if err := w.createVolume(l, l.Source, l.Size, nil); err != nil {
			return err
		}
		snapID, err := w.createSnapshot(l, l.Snapshot, l.Source)
		if err != nil {
			return err
		}
		src := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snapID}}}
		if err := w.createVolume(l, l.Target, l.Size, src); err != nil {
			return err
		}
		if err := w.deleteObject(l, l.Target); err != nil {
			return err
		}
		if err := w.deleteObject(l, snapshotKey(l.Snapshot)); err != nil {
			return err
		}
		return w.deleteObject(l, l.Source)
	case kindClone:
		if err := w.createVolume(l, l.Source, l.Size, nil); err != nil {
			return err
		}
		src := &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: l.Source}}}
		if err := w.createVolume(l, l.Target, l.Size, src); err != nil {
			return err
		}
		if err := w.deleteObject(l, l.Target); err != nil {
			return err
		}
		return w.deleteObject(l, l.Source)
	}
	return fmt.Errorf("unknown kind %q", l.Kind)
}
