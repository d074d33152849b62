//go:build linux

package chaos

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// object is one name a lifecycle owns on the RDS: a volume (key = volume
// id = name) or a snapshot (key "snap:<hash16>").
type object struct {
	Key       string
	Name      string // CSI name
	Kind      string // "volume" or "snapshot"
	Lifecycle int
	ID        string // id answered by the driver (once created)
	FilePath  string // backing file seen on the RDS (once created)
	DeletedAt time.Time
}

// snapshotKey is the object key of the snapshot called name.
func snapshotKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "snap:" + hex.EncodeToString(sum[:])[:16]
}

// registry is every object any lifecycle owns, registered before its first
// create request is sent.
type registry struct {
	mu   sync.Mutex
	objs map[string]*object
}

func (r *registry) register(o *object) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.objs == nil {
		r.objs = map[string]*object{}
	}
	if _, dup := r.objs[o.Key]; dup {
		panic("chaos: two lifecycles own " + o.Key) // seeded uuids never collide
	}
	r.objs[o.Key] = o
}

// lookup returns a copy of the object with key.
func (r *registry) lookup(key string) (object, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.objs[key]
	if !ok {
		return object{}, false
	}
	return *o, true
}

func (r *registry) update(key string, f func(*object)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r.objs[key])
}

func (r *registry) all() []object {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]object, 0, len(r.objs))
	for _, o := range r.objs {
		out = append(out, *o)
	}
	return out
}

// suite is the shared state of one chaos run.
type suite struct {
	cfg            config
	sim            *emulator
	drv            *driver
	insp           *inspector
	reg            registry
	find           findings
	events         *eventLog
	dir            string
	started        time.Time
	fault          atomic.Value // string: the fault active now ("none")
	rpcs           atomic.Int64
	retries        atomic.Int64
	polls          atomic.Int64 // CreateSnapshot OK but not ready_to_use
	codes          counter      // "Op/Code" of every non-OK answer
	done           counter      // lifecycles completed per kind
	faults         counter      // faults injected per kind
	injectorErrors atomic.Int64
	calmAt         atomic.Int64 // UnixNano when the injector stopped; 0 before
	slow           slowest
}

// slowest is the request that took longest from its first attempt to its
// OK, per operation.
type slowest struct {
	mu sync.Mutex
	m  map[string]string
	d  map[string]time.Duration
}

func (s *suite) noteSlowest(op, id string, l *lifecycle, took time.Duration, attempts int) {
	s.slow.mu.Lock()
	defer s.slow.mu.Unlock()
	if s.slow.m == nil {
		s.slow.m, s.slow.d = map[string]string{}, map[string]time.Duration{}
	}
	if took > s.slow.d[op] {
		s.slow.d[op] = took
		s.slow.m[op] = fmt.Sprintf("%s %s (lifecycle %s): %s, %d attempts", op, id, l, took.Round(100*time.Millisecond), attempts)
	}
}

func (s *suite) slowestText() []string {
	s.slow.mu.Lock()
	defer s.slow.mu.Unlock()
	var out []string
	for _, v := range s.slow.m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// giveUp says why a request first sent at first is given up now, or "":
// calmBudget after the last fault (and after its first attempt), or the
// harness's own cap.
func (s *suite) giveUp(first time.Time) string {
	if calm := s.calmAt.Load(); calm != 0 {
		since := time.Since(time.Unix(0, calm))
		if since > calmBudget && time.Since(first) > calmBudget {
			return fmt.Sprintf("%s after the last fault", since.Round(time.Second))
		}
	}
	if time.Since(first) > harnessCap {
		return "the harness cap"
	}
	return ""
}

func (s *suite) activeFault() string {
	if v, ok := s.fault.Load().(string); ok {
		return v
	}
	return "none"
}

// checkReading applies the checks every reading allows, at any time: every
// disk and file must be owned by a lifecycle (the pool starts empty), no
// name may have two disks, and a name deleted OK before the reading started
// must have neither disk nor file (nor content-source record). final marks
// the reading after quiescence: then every leftover of a deleted name also
// counts in figure 1 (during the run it is a contradiction of its delete
// OK, figure 3, at once).
func (s *suite) checkReading(st rdsState, final bool) {
	perGroup := map[string][]string{}
	for _, d := range st.Disks {
		key, group, ok := slotClass(d.Slot)
		if !ok {
			s.find.add(finding{Fig: figLeftovers, Key: "disk:" + d.Slot, IDs: []string{d.Slot},
				Text: fmt.Sprintf("disk %s (file %s) is outside the managed naming: nothing should have made it", d.Slot, d.FilePath), Fault: s.activeFault()})
			continue
		}
		perGroup[group] = append(perGroup[group], d.Slot)
		s.checkOwned(st, final, key, "disk "+d.Slot+" (file "+d.FilePath+")", d.Slot)
	}
	for group, slots := range perGroup {
		if len(slots) > 1 {
			key, _, _ := slotClass(slots[0])
			o, _ := s.reg.lookup(key)
			s.find.add(finding{Fig: figDuplicates, Key: group, IDs: slots,
				Text: fmt.Sprintf("%s %q (lifecycle %d) has %d disks of one kind: %v", o.Kind, o.Name, o.Lifecycle, len(slots), slots), Fault: s.activeFault()})
		}
	}
	for _, f := range st.Files {
		key, ok := fileClass(f)
		if !ok {
			s.find.add(finding{Fig: figLeftovers, Key: "file:" + f, IDs: []string{path.Base(f)},
				Text: fmt.Sprintf("file %s is outside the managed naming: nothing should have made it", f), Fault: s.activeFault()})
			continue
		}
		s.checkOwned(st, final, key, "backing file "+f, strings.TrimSuffix(path.Base(f), ".img"))
	}
}

// checkOwned checks one disk or file (what, named slot) against the
// lifecycle object with registry key key.
func (s *suite) checkOwned(st rdsState, final bool, key, what, slot string) {
	o, owned := s.reg.lookup(key)
	switch {
	case !owned:
		s.find.add(finding{Fig: figLeftovers, Key: what, IDs: []string{slot},
			Text: fmt.Sprintf("%s is owned by no lifecycle", what), Fault: s.activeFault()})
	case !o.DeletedAt.IsZero() && st.Started.After(o.DeletedAt):
		if final {
			s.find.add(finding{Fig: figLeftovers, Key: what, IDs: []string{slot, o.ID},
				Text: fmt.Sprintf("%s of %s %s (lifecycle %d) is left on the RDS; its delete returned OK at %s",
					what, o.Kind, o.Name, o.Lifecycle, o.DeletedAt.Format("15:04:05.000")), Fault: s.activeFault()})
		}
		s.find.add(finding{Fig: figContradictions, Key: "after-delete:" + what, IDs: []string{slot, o.ID},
			Text: fmt.Sprintf("delete of %s %s (lifecycle %d) returned OK at %s, but %s is on the RDS in the reading of %s",
				o.Kind, o.Name, o.Lifecycle, o.DeletedAt.Format("15:04:05.000"), what, st.Started.Format("15:04:05.000")), Fault: s.activeFault()})
	}
}

// read is a reading that started after t, checked; a reading that cannot
// be made for 60 s is a finding (never a passed check).
func (s *suite) read(t time.Time, why string) (rdsState, bool) {
	st, err := s.insp.readAfter(t, 60*time.Second)
	if err != nil {
		s.find.add(finding{Fig: figIncomplete, Text: fmt.Sprintf("RDS reading for %s failed: %v", why, err), Fault: s.activeFault()})
		return rdsState{}, false
	}
	s.checkReading(st, false)
	return st, true
}
