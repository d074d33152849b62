package attachment

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: informers, workers, the
// election and the delaying queue all end with their contexts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// klog's flush daemon is process-wide and started by klog itself.
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
	)
}
