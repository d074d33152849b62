package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
)

// TestWorkqueueSharedProvider runs two queues through one provider: the
// vectors are registered once, and each queue's series carry its own name.
func TestWorkqueueSharedProvider(t *testing.T) {
	reg := prometheus.NewRegistry()
	provider := NewWorkqueue(reg)
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	newQueue := func(name string) workqueue.TypedRateLimitingInterface[string] {
		return workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, time.Minute),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name, MetricsProvider: provider, Clock: clk})
	}
	a, b := newQueue("a"), newQueue("b")
	defer a.ShutDown()
	defer b.ShutDown()

	a.Add("x")
	a.Add("y")
	b.Add("z")
	b.AddRateLimited("w")
	item, _ := a.Get()
	clk.Step(250 * time.Millisecond)
	a.Done(item)

	want := `
# HELP workqueue_adds_total Total number of adds handled by the workqueue.
# TYPE workqueue_adds_total counter
workqueue_adds_total{name="a"} 2
workqueue_adds_total{name="b"} 1
# HELP workqueue_depth Current depth of the workqueue.
# TYPE workqueue_depth gauge
workqueue_depth{name="a"} 1
workqueue_depth{name="b"} 1
# HELP workqueue_retries_total Total number of rate-limited (delayed) adds handled by the workqueue.
# TYPE workqueue_retries_total counter
workqueue_retries_total{name="a"} 0
workqueue_retries_total{name="b"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"workqueue_adds_total", "workqueue_depth", "workqueue_retries_total"); err != nil {
		t.Error(err)
	}
	for _, name := range []string{
		"workqueue_queue_duration_seconds", "workqueue_work_duration_seconds",
		"workqueue_unfinished_work_seconds", "workqueue_longest_running_processor_seconds",
	} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 2 {
			t.Errorf("%s: %d series (err %v), want one per queue", name, n, err)
		}
	}
}
