//go:build linux

package chaos

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Fault kinds of the injector.
const (
	faultRDSKill     = "rds-kill"
	faultDrop        = "drop"
	faultHang        = "hang"
	faultMaxSessions = "max-sessions"
	faultDiskFull    = "disk-full"
	faultFlap        = "flap"
	faultDriverKill  = "driver-kill"
)

var faultKinds = []string{faultRDSKill, faultDrop, faultHang, faultMaxSessions, faultDiskFull, faultFlap, faultDriverKill}

// injector applies one fault at a time: a calm pause of 2-5 s, the fault
// for its duration, its revert, and again, until stopped.
type injector struct {
	s   *suite
	rnd *rand.Rand
}

// between returns a duration in [lo, hi].
func (in *injector) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(in.rnd.Int64N(int64(hi-lo)+1))
}

// run injects until stop closes; it returns after reverting the fault in
// progress.
func (in *injector) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(in.between(2*time.Second, 5*time.Second)):
		}
		kind := faultKinds[in.rnd.IntN(len(faultKinds))]
		in.apply(kind)
	}
}

// fail records an injector error: the fault schedule could not be kept,
// so the run did not test what it claims (figure 8).
func (in *injector) fail(kind string, err error) {
	in.s.injectorErrors.Add(1)
	in.s.find.add(finding{Fig: figIncomplete, Fault: kind, Text: fmt.Sprintf("fault injector, %s: %v", kind, err)})
}

func (in *injector) apply(kind string) {
	s := in.s
	s.faults.add(kind, 1)
	s.fault.Store(kind)
	defer s.fault.Store("none")
	sim := s.sim
	switch kind {
	case faultRDSKill:
		pause := in.between(500*time.Millisecond, 5*time.Second)
		s.events.printf("fault %s: kill -9 %s, restart after %s", kind, sim.current().Name, pause)
		if err := sim.kill9(); err != nil {
			in.fail(kind, err)
		}
		time.Sleep(pause)
		// A restart that fails is retried: the rest of the run needs the RDS.
		for attempt := 1; ; attempt++ {
			err := sim.start()
			if err == nil {
				break
			}
			in.fail(kind, fmt.Errorf("restart attempt %d: %w", attempt, err))
			if attempt == 3 {
				return
			}
			if p := sim.current(); p != nil {
				_ = p.Kill9(killTimeout)
			}
		}
		s.events.printf("fault %s: %s up", kind, sim.current().Name)
	case faultDrop:
		s.events.printf("fault %s: POST /drop", kind)
		if err := sim.controlDo("POST", "/drop", ""); err != nil {
			in.fail(kind, err)
		}
	case faultHang:
		d := in.between(time.Second, 4*time.Second)
		s.events.printf("fault %s: on for %s", kind, d)
		in.onOff(kind, "/faults/hang", "on", "off", d)
	case faultMaxSessions:
		d := in.between(2*time.Second, 6*time.Second)
		s.events.printf("fault %s: 2 for %s", kind, d)
		in.onOff(kind, "/faults/max-sessions", "2", "0", d)
	case faultDiskFull:
		d := in.between(time.Second, 4*time.Second)
		s.events.printf("fault %s: on for %s", kind, d)
		in.onOff(kind, "/faults/disk-full", "on", "off", d)
	case faultFlap:
		after := in.between(200*time.Millisecond, time.Second).Round(time.Millisecond)
		d := in.between(2*time.Second, 5*time.Second)
		s.events.printf("fault %s: %s for %s", kind, after, d)
		in.onOff(kind, "/faults/flap", after.String(), "off", d)
	case faultDriverKill:
		pause := in.between(0, time.Second)
		p, _ := s.drv.current()
		s.events.printf("fault %s: kill -9 %s, restart after %s", kind, p.Name, pause)
		if err := s.drv.kill9(); err != nil {
			in.fail(kind, err)
		}
		time.Sleep(pause)
		for attempt := 1; ; attempt++ {
			err := s.drv.start()
			if err == nil {
				break
			}
			in.fail(kind, fmt.Errorf("restart attempt %d: %w", attempt, err))
			if attempt == 3 {
				return
			}
			if p, _ := s.drv.current(); p != nil {
				_ = p.Kill9(killTimeout)
			}
		}
		p, _ = s.drv.current()
		s.events.printf("fault %s: %s up", kind, p.Name)
	}
}

// onOff sets a fault, waits d and reverts it. The revert is retried: a
// fault left on would be blamed on the driver.
func (in *injector) onOff(kind, path, on, off string, d time.Duration) {
	if err := in.s.sim.controlDo("PUT", path, on); err != nil {
		in.fail(kind, err)
	}
	time.Sleep(d)
	var err error
	for range 5 {
		if err = in.s.sim.controlDo("PUT", path, off); err == nil {
			in.s.events.printf("fault %s: off", kind)
			return
		}
		time.Sleep(time.Second)
	}
	in.fail(kind, fmt.Errorf("turning it off: %w", err))
}
