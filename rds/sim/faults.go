package sim

import "sync"

// Fault is a misbehaviour that can be switched on and off at run time. The
// faults that take a value (session limit, copy rate, flapping) are set
// through knobs.go instead.
type Fault string

const (
	// FaultRefuse accepts TCP connections and closes them before the SSH
	// handshake, like a device whose SSH service is down.
	FaultRefuse Fault = "refuse"
	// FaultHang holds every command received while it is on; the commands
	// proceed when it is turned off, also those whose session or connection
	// is gone meanwhile (a RouterOS command outlives its caller). Only
	// closing the server abandons them.
	FaultHang Fault = "hang"
	// FaultDiskFull makes every allocation (add, copy, grow) answer
	// "failure: not enough space".
	FaultDiskFull Fault = "disk-full"
)

// Faults lists every fault, for the control endpoint and tests.
var Faults = []Fault{FaultRefuse, FaultHang, FaultDiskFull}

func (f Fault) valid() bool {
	for _, k := range Faults {
		if f == k {
			return true
		}
	}
	return false
}

// faultSet is the current state of all faults.
type faultSet struct {
	mu       sync.Mutex
	refuse   bool
	diskFull bool
	// hang is non-nil while FaultHang is on; closing it releases the
	// commands waiting on it.
	hang chan struct{}
}

func (s *faultSet) set(f Fault, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch f {
	case FaultRefuse:
		s.refuse = on
	case FaultDiskFull:
		s.diskFull = on
	case FaultHang:
		switch {
		case on && s.hang == nil:
			s.hang = make(chan struct{})
		case !on && s.hang != nil:
			close(s.hang)
			s.hang = nil
		}
	}
}

func (s *faultSet) get(f Fault) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch f {
	case FaultRefuse:
		return s.refuse
	case FaultDiskFull:
		return s.diskFull
	case FaultHang:
		return s.hang != nil
	}
	return false
}

// hangGate returns a channel that closes when the hang fault is turned off,
// or nil when it is off now.
func (s *faultSet) hangGate() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hang
}
