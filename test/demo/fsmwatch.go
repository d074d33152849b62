package main

import (
	"slices"
	"strings"

	"github.com/srvlab/rds-csi/test/controller/scrape"
)

// Metrics of the driver's RDS connection state machine.
const (
	mState       = "rds_csi_rds_connection_fsm_state"
	mTransitions = "rds_csi_fsm_transitions_total"
	mReconnects  = "rds_csi_rds_reconnect_total"
	mOutage      = "rds_csi_rds_reconnect_duration_seconds"
)

const stateConnected = "Connected"

// transition is one edge of the state machine, as its counter labels it.
type transition struct{ from, to, event string }

// currentState is the state whose gauge is 1 ("" if none is).
func currentState(f scrape.Families) string {
	for _, s := range f.Series(mState) {
		if s.Value == 1 {
			return s.Labels["state"]
		}
	}
	return ""
}

// newTransitions returns the transitions counted between two scrapes, in
// the order they must have happened: a poll every 100 ms can miss a state
// that lasted less (a refused dial takes about a millisecond), but the
// counters miss nothing. The path is rebuilt by walking from the state seen
// at the previous scrape; re-entering Connected ends an outage, so among
// several ways out of a state it is taken last.
func newTransitions(prev, cur scrape.Families, from string) []transition {
	left := map[transition]int{}
	total := 0
	for _, s := range cur.Series(mTransitions) {
		t := transition{s.Labels["from"], s.Labels["to"], s.Labels["event"]}
		old, _ := prev.Value(mTransitions, s.Labels)
		if n := int(s.Value - old); n > 0 {
			left[t] = n
			total += n
		}
	}
	var path []transition
	for state := from; total > 0; total-- {
		var next []transition
		for t, n := range left {
			if n > 0 && t.from == state {
				next = append(next, t)
			}
		}
		if len(next) == 0 {
			break
		}
		slices.SortFunc(next, func(a, b transition) int {
			if (a.to == stateConnected) != (b.to == stateConnected) {
				if a.to == stateConnected {
					return 1
				}
				return -1
			}
			return strings.Compare(a.to, b.to)
		})
		t := next[0]
		left[t]--
		path = append(path, t)
		state = t.to
	}
	// Anything that did not fit the walk (a scrape raced a transition) is
	// still shown rather than hidden.
	var rest []transition
	for t, n := range left {
		for range n {
			rest = append(rest, t)
		}
	}
	slices.SortFunc(rest, func(a, b transition) int { return strings.Compare(a.from+a.to, b.from+b.to) })
	return append(path, rest...)
}
