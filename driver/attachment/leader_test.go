package attachment

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func replica(name string) envOption {
	return func(c *Config) {
		c.LeaderElection = true
		c.PodName = name
		// Short, valid timings (lease > renew > 1.2 × retry).
		c.LeaseDuration, c.RenewDeadline, c.RetryPeriod = time.Second, 500*time.Millisecond, 100*time.Millisecond
	}
}

func TestLeaderElectionOneReplicaReconciles(t *testing.T) {
	vol := volumeID(1)
	cs := fake.NewClientset([]runtime.Object{readyNode("a"), readyNode("b"), rwoPV(vol), attachedVA(vol, "a", t0)}...)
	a := newEnvOn(t, cs, replica("ctrl-a"))
	a.addRDSVolume(vol, true)
	a.run()
	waitFor(t, "a leads", func() bool { return a.c.term.Load() != nil })
	if s, err := a.c.StartupPass(withTimeout(t, 10*time.Second)); err != nil || s.Role != RoleLeader || s.Processed != 1 {
		t.Fatalf("leader StartupPass = %+v, %v", s, err)
	}

	b := newEnvOn(t, cs, replica("ctrl-b"))
	b.c.cfg.RDS = a.rds
	b.run()
	s, err := b.c.StartupPass(withTimeout(t, 10*time.Second))
	if err != nil || s.Role != RoleFollower || s.Leader != "ctrl-a" {
		t.Fatalf("follower StartupPass = %+v, %v", s, err)
	}
	// The follower runs no workers and writes no reconciliation events,
	// but answers publish decisions from its own caches.
	if b.c.term.Load() != nil || b.syncCount("", "") != 0 || len(b.sink.byReason(ReasonStartupReconciliation)) != 0 {
		t.Fatal("the follower reconciles")
	}
	if testutil.ToFloat64(b.m.Leader) != 0 {
		t.Error("follower leader gauge != 0")
	}
	mustRefuse(t, b.c.Publish(b.ctx, vol, "b", false), "node a")

	// The leader goes away (Lease released on cancel): the follower takes
	// over and starts with a full pass.
	a.cancelRun()
	<-a.runDone
	if a.c.term.Load() != nil || testutil.ToFloat64(a.m.Leader) != 0 {
		t.Fatal("old leader still running a term")
	}
	waitFor(t, "b leads", func() bool { return b.c.term.Load() != nil })
	waitFor(t, "b's full pass", func() bool { return len(b.sink.byReason(ReasonStartupReconciliation)) == 1 })
	if b.syncCount(vol, "") == 0 {
		t.Fatal("new leader did not reconcile")
	}
}

// OnStoppedLeading runs when a replica that never led stops: Run must
// return cleanly, without a term.
func TestLeaderElectionStopWithoutLeading(t *testing.T) {
	cs := fake.NewClientset()
	a := newEnvOn(t, cs, replica("ctrl-a"))
	a.run()
	waitFor(t, "a leads", func() bool { return a.c.term.Load() != nil })

	b := newEnvOn(t, cs, replica("ctrl-b"))
	b.run()
	if s, err := b.c.StartupPass(withTimeout(t, 10*time.Second)); err != nil || s.Role != RoleFollower {
		t.Fatalf("StartupPass = %+v, %v", s, err)
	}
	b.cancelRun()
	select {
	case <-b.runDone:
	case <-time.After(10 * time.Second):
		t.Fatal("Run of a never-leading replica did not return")
	}
	if a.c.term.Load() == nil {
		t.Fatal("the leader lost its term")
	}
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
