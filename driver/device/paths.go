package device

import (
	"context"
	"fmt"
	"strings"
)

// Kernel NVMe controller states, exactly as /sys/class/nvme/nvmeN/state
// prints them (drivers/nvme/host/core.c, nvme_sysfs_show_state).
const (
	StateNew          = "new"
	StateLive         = "live"
	StateResetting    = "resetting"
	StateConnecting   = "connecting"
	StateDeleting     = "deleting"
	StateDeletingNoIO = "deleting (no IO)"
	StateDead         = "dead"
	// StateUnknown is what the kernel prints for a state it has no name for.
	StateUnknown = "unknown state"
)

// PathState is the state of one NQN's data path on this node, summed up
// over its controllers. The set is closed (it labels a metric).
type PathState string

// Path states, from the best to the worst: a path is as good as its best
// controller.
const (
	// PathLive: a controller is live; I/O flows.
	PathLive PathState = "live"
	// PathResetting: no live controller, one is resetting (a short error
	// recovery); I/O waits.
	PathResetting PathState = "resetting"
	// PathConnecting: no live controller, the kernel is reconnecting one
	// (until ctrl_loss_tmo); I/O waits.
	PathConnecting PathState = "connecting"
	// PathNew: a controller is being set up.
	PathNew PathState = "new"
	// PathUnknown: a controller is in a state this driver does not know.
	PathUnknown PathState = "unknown"
	// PathDeleting: every controller is being deleted (ctrl_loss_tmo ran
	// out, or a disconnect); a loop device is detaching (autoclear).
	PathDeleting PathState = "deleting"
	// PathDead: every controller is dead: the kernel gave up.
	PathDead PathState = "dead"
	// PathAbsent: no controller at all.
	PathAbsent PathState = "absent"
)

// PathStates lists every PathState, best first.
var PathStates = []PathState{PathLive, PathResetting, PathConnecting, PathNew, PathUnknown, PathDeleting, PathDead, PathAbsent}

// pathStateOf maps a controller state to the path state it stands for.
func pathStateOf(ctrlState string) PathState {
	switch ctrlState {
	case StateLive:
		return PathLive
	case StateResetting:
		return PathResetting
	case StateConnecting:
		return PathConnecting
	case StateNew:
		return PathNew
	case StateDeleting, StateDeletingNoIO:
		return PathDeleting
	case StateDead:
		return PathDead
	}
	return PathUnknown
}

// rank orders path states: lower is better.
func (s PathState) rank() int {
	for i, p := range PathStates {
		if p == s {
			return i
		}
	}
	return len(PathStates)
}

// Controller is one path (an NVMe controller, or a loop device) of an NQN.
type Controller struct {
	Name    string // nvme3, loop2
	State   string // the kernel's word: live, connecting, deleting (no IO), ...
	Address string // traddr=10.0.0.1,trsvcid=4420; a loop device's backing file
}

// PathHealth is what the kernel says about one NQN's data path right now.
type PathHealth struct {
	NQN   string
	State PathState
	// Controllers are every controller of the NQN, those going away included.
	Controllers []Controller
	// Devices are the usable namespace block devices (full /dev paths),
	// first the one Device returns.
	Devices []string
}

// GaveUp reports a path the kernel no longer tries to keep: no controller,
// or only dead or deleted ones, and no usable block device. Only such a
// path is worth a new connect; anything else the kernel is still handling.
func (p PathHealth) GaveUp() bool {
	return len(p.Devices) == 0 && (p.State == PathAbsent || p.State == PathDead || p.State == PathDeleting)
}

func (p PathHealth) String() string {
	cs := make([]string, 0, len(p.Controllers))
	for _, c := range p.Controllers {
		s := c.Name + "(" + c.State
		if c.Address != "" {
			s += " " + c.Address
		}
		cs = append(cs, s+")")
	}
	return fmt.Sprintf("%s: %s controllers=[%s] devices=[%s]", p.NQN, p.State, strings.Join(cs, " "), strings.Join(p.Devices, " "))
}

// summarize sets State from the controllers: the best one decides.
func (p *PathHealth) summarize() {
	p.State = PathAbsent
	for _, c := range p.Controllers {
		if s := pathStateOf(c.State); s.rank() < p.State.rank() {
			p.State = s
		}
	}
}

// PathReader reads the health of data paths. Implementations read sysfs
// only and never run a command, so they may be called from anywhere, the
// request path included.
type PathReader interface {
	// PathHealth reads the path of one managed NQN (outside the managed
	// prefix: ErrUnmanagedNQN). No controller is PathAbsent, not an error;
	// an unreadable sysfs is an error.
	PathHealth(ctx context.Context, nqn string) (PathHealth, error)
	// ManagedPaths lists the path of every NQN under the managed prefix
	// that has at least one controller (or loop device) on this node.
	ManagedPaths(ctx context.Context) ([]PathHealth, error)
}
