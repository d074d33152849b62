package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/sim"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
	"github.com/srvlab/rds-csi/test/inproc"
)

// Partial RDS faults: a long copy, a session limit below the driver's,
// callers that give up while a copy runs. None of them may move the
// connection FSM out of Connected, fail a call that the RDS could serve, or
// leave a second disk behind.

// leftConnected sums the transitions out of Connected so far.
func leftConnected(t *testing.T, d *inproc.Driver) float64 {
	t.Helper()
	n := 0.0
	for _, s := range scrapeNow(t, d).Series(mTransitions) {
		if s.Labels["from"] == "Connected" {
			n += s.Value
		}
	}
	return n
}

// retryable are the codes the sidecars retry.
var retryable = map[codes.Code]bool{
	codes.Unavailable: true, codes.DeadlineExceeded: true, codes.Aborted: true,
	codes.ResourceExhausted: true, codes.Canceled: true,
}

// untilOK calls rpc with a fresh deadline of per each time, as
// external-provisioner and external-snapshotter do, until it succeeds. A
// final code, or no success within overall, is an error.
func untilOK(ctx context.Context, what string, per, overall time.Duration, rpc func(ctx context.Context) error) (attempts int, err error) {
	end := time.Now().Add(overall)
	for attempts = 1; ; attempts++ {
		callCtx, cancel := context.WithTimeout(ctx, per)
		err := rpc(callCtx)
		cancel()
		if err == nil {
			return attempts, nil
		}
		if !retryable[status.Code(err)] {
			return attempts, fmt.Errorf("%s: attempt %d: final code %v: %w", what, attempts, status.Code(err), err)
		}
		if time.Now().After(end) {
			return attempts, fmt.Errorf("%s: still failing after %s (%d attempts): %w", what, overall, attempts, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// simStats reads the emulator's counters from its control endpoint.
func simStats(t *testing.T, env *simtest.Env) sim.Stats {
	t.Helper()
	req, err := http.NewRequestWithContext(rpcCtx(t), http.MethodGet, env.ControlURL+"/stats", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var st sim.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// disksNamed lists the slots on the emulator starting with prefix.
func disksNamed(t *testing.T, env *simtest.Env, prefix string) []string {
	t.Helper()
	return printed(t, env, `/disk print detail where slot~"^`+prefix+`"`, "slot")
}

// printed runs a print command on the emulator and returns key of every
// record, read with the driver's own RouterOS parser (lines wrap inside
// values).
func printed(t *testing.T, env *simtest.Env, cmd, key string) []string {
	t.Helper()
	out, _ := env.Run(t, cmd)
	records, err := rds.ParseRecords(out)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	var values []string
	for _, r := range records {
		if v, ok := r.Get(key); ok {
			values = append(values, v)
		}
	}
	return values
}

// TestLongCloneDoesNotBlockOthers: a clone whose copy takes about 90 s at a
// realistic disk speed runs while 64 concurrent CreateVolume calls all
// succeed; the FSM never leaves Connected; the clone then succeeds, through
// retries with a provisioner-like 30 s deadline each.
func TestLongCloneDoesNotBlockOthers(t *testing.T) {
	const (
		sourceSize = 9 * gib
		copyTime   = 90 * time.Second
	)
	env := simtest.Start(t, simtest.WithLatency(sim.LatencyRealistic), simtest.WithCopyRate(int64(float64(sourceSize)/copyTime.Seconds())))
	d := inproc.Start(t, env, inproc.WithMetrics())
	src := mustCreate(t, d, createReq("clone-source", sourceSize))

	cloneReq := createReq("long-clone", sourceSize)
	cloneReq.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
		Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.GetVolumeId()}}}
	start := time.Now()
	type result struct {
		attempts int
		err      error
	}
	cloneDone := make(chan result, 1)
	var clone *csi.Volume
	go func() {
		n, err := untilOK(t.Context(), "clone", 30*time.Second, 3*copyTime, func(ctx context.Context) error {
			resp, err := d.Controller.CreateVolume(ctx, cloneReq)
			clone = resp.GetVolume()
			return err
		})
		cloneDone <- result{n, err}
	}()
	// Let the copy begin before the burst.
	time.Sleep(2 * time.Second)

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	var slowest time.Duration
	var mu sync.Mutex
	for i := range 64 {
		wg.Go(func() {
			began := time.Now()
			ctx, cancel := context.WithTimeout(t.Context(), rpcTimeout)
			defer cancel()
			resp, err := d.Controller.CreateVolume(ctx, createReq(fmt.Sprintf("burst-%02d", i), gib))
			if err != nil {
				errs <- fmt.Errorf("burst-%02d: %w", i, err)
				return
			}
			mu.Lock()
			slowest = max(slowest, time.Since(began))
			mu.Unlock()
			if _, err := d.Controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: resp.GetVolume().GetVolumeId()}); err != nil {
				errs <- fmt.Errorf("delete burst-%02d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	burstEnd := time.Since(start)
	if burstEnd >= copyTime {
		t.Errorf("the burst ended %s after the clone began: it did not run while the copy did", burstEnd)
	}
	t.Logf("64 creates+deletes done %s into the clone's copy; slowest create %s", burstEnd.Round(time.Millisecond), slowest.Round(time.Millisecond))

	res := <-cloneDone
	if res.err != nil {
		t.Fatal(res.err)
	}
	if t.Failed() {
		return
	}
	attempts := res.attempts
	took := time.Since(start)
	t.Logf("clone succeeded after %s in %d attempts", took.Round(time.Second), attempts)
	if took < copyTime*9/10 {
		t.Errorf("clone answered after %s, before its copy of ~%s could finish", took, copyTime)
	}
	if clone.GetCapacityBytes() < sourceSize {
		t.Errorf("clone has %d bytes", clone.GetCapacityBytes())
	}
	if n := leftConnected(t, d); n != 0 {
		t.Errorf("the FSM left Connected %v times", n)
	}
	if slots := disksNamed(t, env, clone.GetVolumeId()); len(slots) != 1 {
		t.Errorf("disks for the clone: %v", slots)
	}
	if _, err := d.Controller.DeleteVolume(rpcCtx(t), &csi.DeleteVolumeRequest{VolumeId: clone.GetVolumeId()}); err != nil {
		t.Error(err)
	}
}

// TestSessionLimitBelowOurs: the RDS accepts 4 sessions per connection, the
// driver starts from its default of 8: 64 concurrent creates all succeed
// and the connection never leaves Connected.
func TestSessionLimitBelowOurs(t *testing.T) {
	env := simtest.Start(t, simtest.WithMaxSessions(4))
	d := inproc.Start(t, env, inproc.WithMetrics())
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	ids := make(chan string, 64)
	for i := range 64 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), rpcTimeout)
			defer cancel()
			resp, err := d.Controller.CreateVolume(ctx, createReq(fmt.Sprintf("limited-%02d", i), gib))
			if err != nil {
				errs <- fmt.Errorf("limited-%02d: %w", i, err)
				return
			}
			ids <- resp.GetVolume().GetVolumeId()
		})
	}
	wg.Wait()
	close(errs)
	close(ids)
	for err := range errs {
		t.Error(err)
	}
	if n := leftConnected(t, d); n != 0 {
		t.Errorf("the FSM left Connected %v times", n)
	}
	// The limit must really have been hit, or this test proves nothing.
	if refused := simStats(t, env).SessionsRefused; refused == 0 {
		t.Error("the emulator refused no session: the burst never reached its limit")
	} else {
		t.Logf("the emulator refused %d sessions; every call still succeeded", refused)
	}
	for id := range ids {
		if _, err := d.Controller.DeleteVolume(rpcCtx(t), &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
			t.Error(err)
		}
	}
}

// TestSnapshotRetriesWithShortDeadlines: the snapshotter's calls give up
// long before the copy ends; every retry is answered with a retryable code
// and no second copy, the snapshot is ready only once its copy finished,
// and exactly one disk and one file exist for the name.
func TestSnapshotRetriesWithShortDeadlines(t *testing.T) {
	const copyTime = 8 * time.Second
	env := simtest.Start(t, simtest.WithCopyRate(int64(float64(2*gib)/copyTime.Seconds())))
	d := inproc.Start(t, env)
	src := mustCreate(t, d, createReq("snap-source", 2*gib))
	start := time.Now()
	var snap *csi.Snapshot
	attempts, err := untilOK(t.Context(), "CreateSnapshot", 2*time.Second, 10*copyTime, func(ctx context.Context) error {
		resp, err := d.Controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "short-deadlines", SourceVolumeId: src.GetVolumeId()})
		snap = resp.GetSnapshot()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if attempts < 2 {
		t.Errorf("answered in %d attempt(s) after %s: the copy was not slow enough to test retries", attempts, took)
	}
	if took < copyTime*9/10 || !snap.GetReadyToUse() {
		t.Errorf("snapshot %v answered after %s, its copy takes %s", snap, took, copyTime)
	}
	if ct := snap.GetCreationTime().AsTime(); ct.Before(start.Add(-2*time.Second)) || ct.After(time.Now().Add(2*time.Second)) {
		t.Errorf("creation time %s is not when the snapshot was cut (%s)", ct, start)
	}
	slots := disksNamed(t, env, "snap-")
	if len(slots) != 1 || slots[0] != snap.GetSnapshotId() {
		t.Errorf("snapshot disks %v, want only %s", slots, snap.GetSnapshotId())
	}
	if files := printed(t, env, `/file print detail where name~"snap-"`, "name"); len(files) != 1 {
		t.Errorf("snapshot files %v, want one", files)
	}
	again, err := d.Controller.CreateSnapshot(rpcCtx(t), &csi.CreateSnapshotRequest{Name: "short-deadlines", SourceVolumeId: src.GetVolumeId()})
	if err != nil || again.GetSnapshot().String() != snap.String() {
		t.Errorf("a later retry answered %v, %v; first answer %v", again, err, snap)
	}
	if _, err := d.Controller.DeleteSnapshot(rpcCtx(t), &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshotId()}); err != nil {
		t.Error(err)
	}
}
