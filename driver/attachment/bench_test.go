package attachment

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/rds/rdsfake"
)

// Scale of the startup benchmarks: 10,000 attached volumes over 1,000 nodes.
const (
	benchNodes   = 1000
	benchVolumes = 10000
)

func benchNode(i int) string { return fmt.Sprintf("node-%04d", i) }

// BenchmarkStartupPass10k measures, against a real kube-apiserver, what a
// controller start costs at scale: informer list + sync (Start) and the
// full startup pass (StartupPass), plus the heap the controller keeps and
// the process RSS. Goals: pass ≤ 10 s, memory ≤ 200 MiB.
//
//	RDS_CSI_TOOLS_BIN=... go test -run '^$' -bench StartupPass10k -benchtime 1x ./driver/attachment/
func BenchmarkStartupPass10k(b *testing.B) {
	lc := startCluster(b)
	ctx := b.Context()
	begin := time.Now()
	populate(ctx, b, lc.cs)
	b.Logf("created %d nodes, %d PVs and %d attached VAs in %v", benchNodes, benchVolumes, benchVolumes, time.Since(begin).Round(time.Second))
	benchStartup(b, lc.cs)
}

// BenchmarkStartupPass10kFake is the same over the fake clientset: no
// API server, so it isolates the controller's own CPU and memory.
func BenchmarkStartupPass10kFake(b *testing.B) {
	objs := make([]k8sruntime.Object, 0, benchNodes+2*benchVolumes)
	for i := range benchNodes {
		objs = append(objs, readyNode(benchNode(i)))
	}
	for i := range benchVolumes {
		objs = append(objs, rwoPV(volumeID(i)), attachedVA(volumeID(i), benchNode(i%benchNodes), t0))
	}
	benchStartup(b, fake.NewClientset(objs...))
}

func benchStartup(b *testing.B, cs kubernetes.Interface) {
	rdsF := rdsfake.New()
	for i := range benchVolumes {
		rdsF.AddVolume(rdsVolume(volumeID(i)))
	}
	quiet := klog.NewContext(b.Context(), klog.Background().V(1)) // the test's klog flags stay quiet
	var startDur, passDur time.Duration
	var heapMiB, rssMiB float64
	for b.Loop() {
		heap0 := heapAlloc()
		ctx, cancel := context.WithCancel(quiet)
		c, err := New(Config{Client: cs, DriverName: testDriver, Namespace: "kube-system", PodName: "bench", RDS: rdsF})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := c.Start(ctx); err != nil {
			b.Fatal(err)
		}
		startDur = time.Since(t0)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = c.Run(ctx)
		}()
		pctx, pcancel := context.WithTimeout(ctx, time.Minute)
		s, err := c.StartupPass(pctx)
		pcancel()
		if err != nil {
			b.Fatal(err)
		}
		passDur = s.Duration
		if s.Processed != benchVolumes || s.Attachments != benchVolumes {
			b.Fatalf("summary = %+v", s)
		}
		b.StopTimer()
		heapMiB = float64(heapAlloc()-heap0) / (1 << 20)
		rssMiB = float64(rssBytes()) / (1 << 20)
		runtime.KeepAlive(c)
		cancel()
		<-done
		b.StartTimer()
		b.Logf("Start (list+sync) %v, StartupPass %v (%d volumes, RDS calls %d), controller heap %.1f MiB, process RSS %.1f MiB",
			startDur.Round(time.Millisecond), passDur.Round(time.Millisecond), s.Processed, rdsF.CallCount(""), heapMiB, rssMiB)
		rdsF.ResetCalls()
	}
	b.ReportMetric(startDur.Seconds(), "start-s")
	b.ReportMetric(passDur.Seconds(), "pass-s")
	b.ReportMetric((startDur + passDur).Seconds(), "total-s")
	b.ReportMetric(heapMiB, "heap-MiB")
	b.ReportMetric(rssMiB, "rss-MiB")
}

// populate creates the nodes, PVs and attached VAs with 32 parallel writers.
func populate(ctx context.Context, b *testing.B, cs kubernetes.Interface) {
	lc := &liveCluster{cs: cs}
	jobs := make(chan func(), 256)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for j := range jobs {
				j()
			}
		})
	}
	for i := range benchNodes {
		jobs <- func() { lc.createNode(ctx, b, benchNode(i)) }
	}
	for i := range benchVolumes {
		jobs <- func() { lc.attach(ctx, b, volumeID(i), benchNode(i%benchNodes)) }
	}
	close(jobs)
	wg.Wait()
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// rssBytes reads VmRSS from /proc (Linux); 0 elsewhere.
func rssBytes() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
