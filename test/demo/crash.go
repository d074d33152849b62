package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/srvlab/rds-csi/test/controller/scrape"
)

// pollEvery is how often the crash step reads the driver's metrics.
const pollEvery = 100 * time.Millisecond

// reconnectTimeout bounds the wait for Connected after the restart; with
// the demo's 1 s backoff cap it takes about a second.
const reconnectTimeout = 20 * time.Second

// crash kills the emulator, restarts it after the outage, and narrates the
// driver's connection state machine from its metrics, as Prometheus sees it.
func (d *demo) crash(ctx context.Context) error {
	d.section("RDS crash and recovery")
	before, err := scrape.Get(ctx, d.metricsURL)
	if err != nil {
		return err
	}
	state := currentState(before)
	if state != stateConnected {
		return fmt.Errorf("FSM state before the crash is %q, want Connected", state)
	}
	d.say("FSM state: %s. Killing the RDS emulator (pid %d) with SIGKILL, like a power cut.", state, d.sim.pid())
	d.say("Watching %s every %s; restarting the RDS after %s.", mState, pollEvery, d.opt.outage)
	d.sim.kill()
	killed := time.Now()

	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	deadline := time.After(d.opt.outage + reconnectTimeout)
	prev, restarted := before, false
	for !restarted || state != stateConnected {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("the driver did not reconnect within %s of the restart (state %s)", reconnectTimeout, state)
		case <-tick.C:
		}
		if !restarted && time.Since(killed) >= d.opt.outage {
			if err := d.startSim(ctx); err != nil {
				return fmt.Errorf("restarting the emulator: %w", err)
			}
			restarted = true
			d.say("Restarted the RDS emulator (pid %d) after %.1fs down; same address, host key and disks.",
				d.sim.pid(), time.Since(killed).Seconds())
		}
		cur, err := scrape.Get(ctx, d.metricsURL)
		if err != nil {
			return err
		}
		at := time.Since(killed).Seconds()
		for _, t := range newTransitions(prev, cur, state) {
			d.say("  +%.2fs  FSM %-12s → %-12s (%s)", at, t.from, t.to, t.event)
		}
		if s := currentState(cur); s != "" && s != state {
			d.say("  +%.2fs  %s{state=%q} = 1", at, mState, s)
			state = s
		}
		prev = cur
	}
	d.say("Connected again %.2fs after the crash; CreateVolume and friends work again.", time.Since(killed).Seconds())
	return d.reportReconnect(ctx, before, prev)
}

// reportReconnect prints the reconnect metrics of the outage and checks
// that they saw it.
func (d *demo) reportReconnect(ctx context.Context, before, after scrape.Families) error {
	delta := func(status string) float64 {
		a, _ := after.Value(mReconnects, map[string]string{"status": status})
		b, _ := before.Value(mReconnects, map[string]string{"status": status})
		return a - b
	}
	n0, s0, _ := before.Histogram(mOutage, nil)
	n1, s1, ok := after.Histogram(mOutage, nil)
	d.say("%s: %v successful, %v failed attempt(s) during the outage.", mReconnects, delta("success"), delta("failure"))
	if !ok || n1 != n0+1 {
		return errors.New("the reconnect duration histogram did not record the outage")
	}
	d.say("%s: one more outage observed, %.2fs long (connection lost → connected again).", mOutage, s1-s0)
	if delta("success") != 1 {
		return fmt.Errorf("%s{status=success} rose by %v, want 1", mReconnects, delta("success"))
	}
	d.say("The volumes survived the crash:")
	return d.listVolumes(ctx, 2)
}
