//go:build linux

package chaos

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/srvlab/rds-csi/test/procs"
)

// config is the run's size and seed, from the environment (see doc.go).
type config struct {
	Seed      uint64
	SeedSet   bool
	Long      int
	Short     int
	Workers   int
	CopyRate  string
	Latency   string // rds-sim --latency: none or realistic
	CopyTO    time.Duration
	Tolerance int
}

func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		tb.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

func loadConfig(tb testing.TB) config {
	c := config{
		Long:      envInt(tb, "RDS_CSI_CHAOS_LIFECYCLES", 40),
		Short:     envInt(tb, "RDS_CSI_CHAOS_SHORT_LIFECYCLES", 12),
		Workers:   envInt(tb, "RDS_CSI_CHAOS_WORKERS", 8),
		Latency:   os.Getenv("RDS_CSI_CHAOS_LATENCY"),
		CopyRate:  "512M", // 256 MiB-1.5 GiB sources copy in 0.5-3 s
		CopyTO:    20 * time.Second,
		Tolerance: 5,
	}
	switch c.Latency {
	case "":
		c.Latency = "realistic"
	case "none", "realistic":
	default:
		tb.Fatalf("RDS_CSI_CHAOS_LATENCY=%q: want none or realistic", c.Latency)
	}
	if v := os.Getenv("RDS_CSI_CHAOS_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			tb.Fatalf("RDS_CSI_CHAOS_SEED=%q: want an unsigned decimal integer", v)
		}
		c.Seed, c.SeedSet = seed, true
	} else {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Workers == 0 {
		tb.Fatal("RDS_CSI_CHAOS_WORKERS=0: want at least one worker")
	}
	return c
}

// rerun is the command that reruns this configuration with this seed.
func (c config) rerun(timeout time.Duration) string {
	return fmt.Sprintf("RDS_CSI_CHAOS_SEED=%d RDS_CSI_CHAOS_LIFECYCLES=%d RDS_CSI_CHAOS_SHORT_LIFECYCLES=%d RDS_CSI_CHAOS_WORKERS=%d RDS_CSI_CHAOS_LATENCY=%s go test -count=1 -v -timeout %s -run '^TestChaos$' ./test/chaos/",
		c.Seed, c.Long, c.Short, c.Workers, c.Latency, timeout)
}

// TestChaos: see the package documentation.
func TestChaos(t *testing.T) {
	cfg := loadConfig(t)
	t.Logf("chaos: seed %d, %d lifecycles with 30s deadlines + %d with 3s deadlines, %d workers, emulator latency %s", cfg.Seed, cfg.Long, cfg.Short, cfg.Workers, cfg.Latency)

	dir, err := os.MkdirTemp("", "rdschaos-")
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-in first-out: this one runs after every child
	// (registered later) has stopped.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos: working directory kept: %s (events.log, rds-sim-*.log, rds-csi-*.log)", dir)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})
	evFile, err := os.Create(filepath.Join(dir, "events.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = evFile.Close() })

	s := &suite{cfg: cfg, dir: dir, started: time.Now()}
	s.events = &eventLog{f: evFile, start: s.started}
	s.find = findings{seen: map[string]bool{}, events: s.events}
	s.fault.Store("none")
	s.events.printf("seed %d; rerun: %s", cfg.Seed, cfg.rerun(30*time.Minute))

	keys := procs.NewSSHKeys(t, dir)
	s.sim = &emulator{tb: t, addr: procs.FreeAddr(t), control: procs.FreeAddr(t), dir: dir, keys: keys, copyRate: cfg.CopyRate,
		extra: []string{"--latency=" + cfg.Latency}}
	if err := s.sim.start(); err != nil {
		t.Fatal(err)
	}
	hostKey, err := procs.EmulatorHostKey(s.sim.dataDir(), filepath.Join(dir, "host_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	s.insp = newInspector(s.sim.addr, keys, hostKey)
	t.Cleanup(s.insp.close)
	if s.drv, err = newDriver(t, dir, s.sim.addr, keys, filepath.Join(dir, "host_key.pub"), cfg.CopyTO); err != nil {
		t.Fatal(err)
	}
	if err := s.drv.start(); err != nil {
		t.Fatal(err)
	}
	if !waitStartup(50*time.Millisecond, s.drv.ready) {
		t.Fatalf("rds-csi not ready (connected to the RDS) after %s", startupTimeout)
	}
	// Baseline: connected, idle, the test's gRPC connection established.
	time.Sleep(time.Second)
	baseline, err := s.drv.minGoroutines()
	if err != nil {
		t.Fatalf("baseline go_goroutines: %v", err)
	}
	s.events.printf("baseline go_goroutines %d", baseline)
	if st, ok := s.read(time.Now(), "start"); ok && (len(st.Disks) > 0 || len(st.Files) > 0) {
		t.Fatalf("the fresh RDS is not empty: %+v", st)
	}

	// The run: workers drain the plan while the injector breaks things.
	lifecycles := plan(rand.New(rand.NewPCG(cfg.Seed, 2)), cfg.Long, cfg.Short)
	queue := make(chan *lifecycle, len(lifecycles))
	for _, l := range lifecycles {
		queue <- l
	}
	close(queue)
	stop := make(chan struct{})
	injDone := make(chan struct{})
	inj := &injector{s: s, rnd: rand.New(rand.NewPCG(cfg.Seed, 1))}
	go func() {
		defer close(injDone)
		inj.run(stop)
	}()
	runStart := time.Now()
	var wg sync.WaitGroup
	var abandoned []string
	var abMu sync.Mutex
	for i := range cfg.Workers {
		w := &worker{s: s, id: i, rnd: rand.New(rand.NewPCG(cfg.Seed, uint64(100+i)))}
		wg.Go(func() {
			for l := range queue {
				if !w.run(l) {
					abMu.Lock()
					abandoned = append(abandoned, l.String())
					abMu.Unlock()
				}
			}
		})
	}
	progressDone := make(chan struct{})
	go func() {
		tick := time.NewTicker(15 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-progressDone:
				return
			case <-tick.C:
				t.Logf("chaos: +%s: %d/%d lifecycles done, %d RPCs, %d retries, faults %s",
					time.Since(runStart).Round(time.Second), s.done.total(), len(lifecycles), s.rpcs.Load(), s.retries.Load(), s.faults.String())
			}
		}
	}()
	// The injector stops once every lifecycle has been handed to a worker:
	// the last ones (at most one per worker) finish in calm, which is when
	// a request that still gets no OK is given up (calmBudget).
	var faultsTook time.Duration
	go func() {
		for len(queue) > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		close(stop)
		<-injDone
		faultsTook = time.Since(runStart)
		s.calmAt.Store(time.Now().UnixNano())
		s.events.printf("every lifecycle started; injector stopped after %s", faultsTook.Round(time.Millisecond))
	}()
	wg.Wait()
	<-injDone
	close(progressDone)
	runTook := time.Since(runStart)
	for s.calmAt.Load() == 0 { // set right after injDone closes
		time.Sleep(10 * time.Millisecond)
	}
	s.events.printf("all lifecycles ended after %s", runTook.Round(time.Millisecond))

	// Quiescence: every fault off, both processes up, Probe ready, the RDS
	// state and the driver unchanged over three readings 1 s apart.
	endChecks(s)
	qStart := time.Now()
	quiet := false
	var prev string
	stable := 0
	for time.Since(qStart) < cfg.CopyTO+30*time.Second {
		st, err := s.insp.readAfter(time.Now(), 10*time.Second)
		if err != nil {
			stable, prev = 0, ""
			time.Sleep(time.Second)
			continue
		}
		sig := st.signature()
		if s.drv.ready() && sig == prev {
			stable++
		} else {
			stable = 0
		}
		prev = sig
		if stable >= 2 {
			quiet = true
			break
		}
		time.Sleep(time.Second)
	}
	qTook := time.Since(qStart)
	if !quiet {
		s.find.add(finding{Fig: figIncomplete, Text: fmt.Sprintf("no quiescence within %s of the end (RDS state still changing or driver not ready)", qTook.Round(time.Second))})
	}
	s.events.printf("quiescence after %s (reached: %v)", qTook.Round(time.Millisecond), quiet)

	final, ok := s.read(time.Now(), "final")
	if ok {
		s.checkReading(final, true)
	}
	finalG, gErr := s.drv.minGoroutines()
	if gErr != nil {
		s.find.add(finding{Fig: figIncomplete, Text: fmt.Sprintf("final go_goroutines: %v", gErr)})
	} else if finalG > baseline+cfg.Tolerance {
		s.find.add(finding{Fig: figGoroutines, Text: fmt.Sprintf("go_goroutines %d at the end, baseline %d, tolerance +%d", finalG, baseline, cfg.Tolerance)})
	}
	for _, p := range scanPanics(append(s.drv.logFiles(), s.sim.logFiles()...)) {
		s.find.add(finding{Fig: figPanics, Text: p})
	}
	// Owned objects never deleted: the lifecycle was abandoned.
	for _, o := range s.reg.all() {
		if o.DeletedAt.IsZero() {
			where := "not on the RDS"
			if _, found := final.disk(o.ID); found && o.ID != "" {
				where = "its disk is still on the RDS"
			}
			s.find.add(finding{Fig: figIncomplete, IDs: []string{o.ID, o.Name}, Text: fmt.Sprintf("%s %s (lifecycle %d, id %q) was never deleted OK; %s", o.Kind, o.Name, o.Lifecycle, o.ID, where)})
		}
	}
	abMu.Lock()
	sort.Strings(abandoned)
	abMu.Unlock()

	report(t, s, reportData{
		baseline: baseline, finalG: finalG, gErr: gErr, runTook: runTook, qTook: qTook, faultsTook: faultsTook,
		planned: len(lifecycles), abandoned: abandoned, total: time.Since(s.started),
	})
}

// endChecks verifies the end state the figures assume: no fault on, both
// processes running.
func endChecks(s *suite) {
	f, err := s.sim.faults()
	if err != nil {
		s.find.add(finding{Fig: figIncomplete, Text: fmt.Sprintf("GET /faults at the end: %v", err)})
	} else {
		// Every fault off, whatever the emulator lists: false, 0, "" or
		// "0s"; copy-rate is the run's setting, not a fault.
		off := len(f) > 0
		for k, v := range f {
			if k == "copy-rate" {
				continue
			}
			switch v {
			case false, float64(0), "", "0s":
			default:
				off = false
			}
		}
		if !off {
			s.find.add(finding{Fig: figIncomplete, Text: fmt.Sprintf("faults still on at the end: %v", f)})
		}
		s.events.printf("faults at the end: %v", f)
	}
	if p := s.sim.current(); p.Exited() {
		s.find.add(finding{Fig: figIncomplete, Text: fmt.Sprintf("%s is not running at the end: %v", p.Name, p.Err())})
	}
	if p, _ := s.drv.current(); p.Exited() {
		s.find.add(finding{Fig: figIncomplete, Text: fmt.Sprintf("%s is not running at the end: %v", p.Name, p.Err())})
	}
}

type reportData struct {
	baseline, finalG int
	gErr             error
	runTook, qTook   time.Duration
	faultsTook       time.Duration
	total            time.Duration
	planned          int
	abandoned        []string
}

// report prints the figures and fails the test on any non-zero one.
func report(t *testing.T, s *suite, r reportData) {
	cfg := s.cfg
	figs := s.find.byFigure()
	drvProc, drvStart := s.drv.current()
	var b strings.Builder
	fmt.Fprintf(&b, "\n==================== chaos figures ====================\n")
	fmt.Fprintf(&b, "seed:                %d (%s)\n", cfg.Seed, map[bool]string{true: "from RDS_CSI_CHAOS_SEED", false: "time-based"}[cfg.SeedSet])
	fmt.Fprintf(&b, "rerun:               %s\n", cfg.rerun(timeoutFor(cfg)))
	fmt.Fprintf(&b, "size:                %d lifecycles with 30s deadlines + %d with 3s deadlines, %d workers, mixed in one queue; emulator latency %s\n", cfg.Long, cfg.Short, cfg.Workers, cfg.Latency)
	fmt.Fprintf(&b, "duration:            run %s (faults during the first %s), quiescence %s, total %s\n",
		r.runTook.Round(time.Second), r.faultsTook.Round(time.Second), r.qTook.Round(time.Second), r.total.Round(time.Second))
	fmt.Fprintf(&b, "lifecycles done:     %d of %d: %s\n", s.done.total(), r.planned, s.done.String())
	if len(r.abandoned) > 0 {
		fmt.Fprintf(&b, "abandoned:           %s\n", strings.Join(r.abandoned, ", "))
	}
	fmt.Fprintf(&b, "RPCs:                %d (retries %d, not-ready snapshot polls %d)\n", s.rpcs.Load(), s.retries.Load(), s.polls.Load())
	fmt.Fprintf(&b, "non-OK answers:      %s\n", s.codes.String())
	for i, line := range s.slowestText() {
		fmt.Fprintf(&b, "%-21s%s\n", map[bool]string{true: "slowest to OK:", false: ""}[i == 0], line)
	}
	fmt.Fprintf(&b, "faults injected:     %d: %s\n", s.faults.total(), s.faults.String())
	fmt.Fprintf(&b, "processes:           rds-sim started %d times, rds-csi started %d times (final %s up %s)\n",
		len(s.sim.logFiles()), len(s.drv.logFiles()), drvProc.Name, time.Since(drvStart).Round(time.Second))
	fmt.Fprintf(&b, "RDS readings:        %d\n", s.insp.count())
	if r.gErr == nil {
		fmt.Fprintf(&b, "go_goroutines:       baseline %d, end %d (tolerance +%d)\n", r.baseline, r.finalG, cfg.Tolerance)
	} else {
		fmt.Fprintf(&b, "go_goroutines:       baseline %d, end unreadable: %v\n", r.baseline, r.gErr)
	}
	fmt.Fprintf(&b, "--------------------------------------------------------\n")
	failed := false
	for fig := 1; fig <= numFigures; fig++ {
		n := len(figs[fig])
		if fig == figGoroutines && r.gErr == nil {
			// The figure is the excess itself.
			n = max(0, r.finalG-r.baseline-cfg.Tolerance)
		}
		fmt.Fprintf(&b, "(%d) %-66s %d\n", fig, figureTitles[fig]+":", n)
		if n > 0 || len(figs[fig]) > 0 {
			failed = true
		}
	}
	fmt.Fprintf(&b, "========================================================\n")
	t.Log(b.String())
	if path := os.Getenv("RDS_CSI_CHAOS_REPORT"); path != "" {
		// go test shows a passing package's log only with -v: make test
		// prints this file instead.
		if err := os.WriteFile(path, []byte("test/chaos:"+b.String()), 0o644); err != nil {
			t.Errorf("writing the report: %v", err)
		}
	}
	if !failed {
		return
	}
	var d strings.Builder
	drvLogs := s.drv.logFiles()
	for fig := 1; fig <= numFigures; fig++ {
		list := figs[fig]
		if len(list) == 0 {
			continue
		}
		fmt.Fprintf(&d, "\n(%d) %s: %d\n", fig, figureTitles[fig], len(list))
		for i, fd := range list {
			if i == 25 {
				fmt.Fprintf(&d, "  ... %d more in events.log\n", len(list)-i)
				break
			}
			fmt.Fprintf(&d, "  %s [fault: %s] %s\n", fd.At.Format("15:04:05.000"), fd.Fault, fd.Text)
			if i < 5 {
				d.WriteString(logEvidence(drvLogs, fd.IDs))
			}
		}
	}
	t.Errorf("chaos: non-zero figures (seed %d; rerun: %s):%s", cfg.Seed, cfg.rerun(timeoutFor(cfg)), d.String())
}

// timeoutFor is a go test -timeout generous for the configuration: about
// 2 s of worker time per lifecycle RPC, plus setup and quiescence.
func timeoutFor(c config) time.Duration {
	per := time.Duration((c.Long+c.Short)*40/max(c.Workers, 1)) * time.Second
	return (10*time.Minute + per).Round(time.Minute)
}
