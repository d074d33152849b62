package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/srvlab/rds-csi/test/controller/scrape"
)

func families(t *testing.T, counts map[transition]int) scrape.Families {
	t.Helper()
	var b strings.Builder
	b.WriteString("# TYPE rds_csi_fsm_transitions_total counter\n")
	for tr, n := range counts {
		fmt.Fprintf(&b, "rds_csi_fsm_transitions_total{from=%q,to=%q,event=%q} %d\n", tr.from, tr.to, tr.event, n)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	f, err := p.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var (
	lost      = transition{"Connected", "Disconnected", "connectionLost"}
	retry     = transition{"Disconnected", "Backoff", "scheduleRetry"}
	attempt   = transition{"Backoff", "Reconnecting", "attempt"}
	failed    = transition{"Reconnecting", "Backoff", "attemptFailed"}
	reconnect = transition{"Reconnecting", "Connected", "reconnected"}
)

// TestNewTransitionsOrder: several transitions inside one 100 ms poll are
// printed in the order they happened, with the return to Connected last.
func TestNewTransitionsOrder(t *testing.T) {
	before := families(t, map[transition]int{lost: 1, retry: 1, attempt: 3, failed: 3, reconnect: 1})
	after := families(t, map[transition]int{lost: 1, retry: 1, attempt: 5, failed: 4, reconnect: 2})
	got := newTransitions(before, after, "Backoff")
	want := []transition{attempt, failed, attempt, reconnect}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := newTransitions(after, after, "Connected"); len(got) != 0 {
		t.Errorf("no change gave %v", got)
	}
}
