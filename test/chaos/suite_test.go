//go:build linux

package chaos

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
}

func (s *suite) activeFault() string {
	if v, ok := s.fault.Load().(string); ok {
		return v
	}
	return "none"
}

// checkReading applies the checks every reading allows, at any time:
// managed disks and files must be owned, no name may have two disks, and a
// name deleted OK before the reading started must have neither disk nor
// file. final marks the reading after quiescence (then every leftover of a
// deleted name counts in figure 1; during the run a deleted name's object
// is a contradiction of its delete OK, figure 3).
func (s *suite) checkReading(st rdsState, final bool) {
	perKey := map[string][]string{}
	for _, d := range st.Disks {
		key, ok := objectKey(d.Slot)
		if !ok {
			continue
		}
		perKey[key] = append(perKey[key], d.Slot)
		o, owned := s.reg.lookup(key)
		switch {
		case !owned:
			s.find.add(finding{Fig: figLeftovers, Key: "disk:" + d.Slot, IDs: []string{d.Slot},
				Text: fmt.Sprintf("disk %s (file %s) is owned by no lifecycle", d.Slot, d.FilePath), Fault: s.activeFault()})
		case !o.DeletedAt.IsZero() && st.Started.After(o.DeletedAt):
			if final {
				s.find.add(finding{Fig: figLeftovers, Key: "disk:" + d.Slot, IDs: []string{d.Slot},
					Text: fmt.Sprintf("disk %s of %s %s (lifecycle %d) is left on the RDS; its delete returned OK at %s",
						d.Slot, o.Kind, o.Name, o.Lifecycle, o.DeletedAt.Format("15:04:05.000")), Fault: s.activeFault()})
			}
			s.find.add(finding{Fig: figContradictions, Key: "reappeared:" + d.Slot, IDs: []string{d.Slot},
				Text: fmt.Sprintf("delete of %s %s (lifecycle %d) returned OK at %s, but its disk %s is on the RDS in the reading of %s",
					o.Kind, o.Name, o.Lifecycle, o.DeletedAt.Format("15:04:05.000"), d.Slot, st.Started.Format("15:04:05.000")), Fault: s.activeFault()})
		}
	}
	for key, slots := range perKey {
		if len(slots) > 1 {
			o, _ := s.reg.lookup(key)
			s.find.add(finding{Fig: figDuplicates, Key: key, IDs: slots,
				Text: fmt.Sprintf("%s %q (lifecycle %d) has %d disks: %v", o.Kind, o.Name, o.Lifecycle, len(slots), slots), Fault: s.activeFault()})
		}
	}
	for _, f := range st.Files {
		key, ok := fileKey(f)
		if !ok {
			continue
		}
		o, owned := s.reg.lookup(key)
		switch {
		case !owned:
			s.find.add(finding{Fig: figLeftovers, Key: "file:" + f, IDs: []string{f},
				Text: fmt.Sprintf("backing file %s is owned by no lifecycle", f), Fault: s.activeFault()})
		case !o.DeletedAt.IsZero() && st.Started.After(o.DeletedAt):
			if final {
				s.find.add(finding{Fig: figLeftovers, Key: "file:" + f, IDs: []string{o.ID, f},
					Text: fmt.Sprintf("backing file %s of %s %s (lifecycle %d) is left on the RDS; its delete returned OK at %s",
						f, o.Kind, o.Name, o.Lifecycle, o.DeletedAt.Format("15:04:05.000")), Fault: s.activeFault()})
			}
			s.find.add(finding{Fig: figContradictions, Key: "reappeared:" + f, IDs: []string{o.ID, f},
				Text: fmt.Sprintf("delete of %s %s (lifecycle %d) returned OK at %s, but its file %s is on the RDS in the reading of %s",
					o.Kind, o.Name, o.Lifecycle, o.DeletedAt.Format("15:04:05.000"), f, st.Started.Format("15:04:05.000")), Fault: s.activeFault()})
		}
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
