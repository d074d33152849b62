package nodehealth

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
	mount "k8s.io/mount-utils"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/metrics"
)

// Problem reasons: CamelCase, a closed set (they are event reasons and
// metric labels).
const (
	// ReasonPathReconnecting: no live controller; one is connecting,
	// resetting or new. The kernel keeps trying; I/O waits.
	ReasonPathReconnecting = "PathReconnecting"
	// ReasonPathDeleting: every controller is being deleted (a loop device
	// is detaching).
	ReasonPathDeleting = "PathDeleting"
	// ReasonPathLost: no controller, or only dead ones: the kernel gave up.
	ReasonPathLost = "PathLost"
	// ReasonPathStateUnknown: a controller state this driver does not know.
	ReasonPathStateUnknown = "PathStateUnknown"
	// ReasonDeviceMissing: a live controller, but no namespace block device.
	ReasonDeviceMissing = "DeviceMissing"
	// ReasonStagingNotMounted: a filesystem volume's staging path is not mounted.
	ReasonStagingNotMounted = "StagingNotMounted"
	// ReasonStagingDeviceStale: the staging mount is on another device than
	// the volume's current one (renumbered after a reconnect).
	ReasonStagingDeviceStale = "StagingDeviceStale"
	// ReasonReadOnlyAfterError: the kernel switched the filesystem to
	// read-only after an error.
	ReasonReadOnlyAfterError = "ReadOnlyAfterError"
	// ReasonPublishedDeviceStale: a block volume's published device node is
	// another device than the volume's current one.
	ReasonPublishedDeviceStale = "PublishedDeviceStale"
	// ReasonHealthUnknown: sysfs or the mount table could not be read.
	ReasonHealthUnknown = "HealthUnknown"
)

// Reasons lists every problem reason.
var Reasons = []string{
	ReasonPathReconnecting, ReasonPathDeleting, ReasonPathLost, ReasonPathStateUnknown,
	ReasonDeviceMissing, ReasonStagingNotMounted, ReasonStagingDeviceStale,
	ReasonReadOnlyAfterError, ReasonPublishedDeviceStale, ReasonHealthUnknown,
}

// Problem is one abnormal finding about a volume.
type Problem struct {
	Reason  string
	Message string
	// Degraded: the volume still works, with limits (read-only). Otherwise
	// it is inaccessible from this node.
	Degraded bool
}

// Condition is a volume's health as last seen: no problem means normal.
type Condition struct {
	Problems []Problem
	// Path is the data path it was computed from.
	Path device.PathHealth
}

// Abnormal reports a condition with at least one problem.
func (c Condition) Abnormal() bool { return len(c.Problems) > 0 }

// Reason is the first problem's reason, or Healthy.
func (c Condition) Reason() string {
	if len(c.Problems) == 0 {
		return metrics.NodeConditionHealthy
	}
	return c.Problems[0].Reason
}

// Message joins the problems' messages.
func (c Condition) Message() string {
	msgs := make([]string, 0, len(c.Problems))
	for _, p := range c.Problems {
		msgs = append(msgs, p.Message)
	}
	return strings.Join(msgs, "; ")
}

// targetFact is what a block volume's publish target looks like now.
type targetFact struct {
	path    string
	mounted bool
	rdev    uint64 // device number of the node bound there; 0: unknown
}

// facts is everything read about one volume for one evaluation. Reading
// (gather) and judging (evaluate) are apart so that judging is a pure
// function of its inputs.
type facts struct {
	vol     Volume
	path    device.PathHealth
	pathErr error
	// devRdev is the device number of the volume's current block device
	// (path.Devices[0]); 0 when there is none or it cannot be read.
	devRdev   uint64
	mountsErr error
	staging   *mount.MountInfo // nil: not mounted
	targets   []targetFact
}

// evaluate judges the facts. It reports what is wrong; it decides nothing.
func evaluate(f facts) []Problem {
	var out []Problem
	add := func(reason string, degraded bool, format string, args ...any) {
		out = append(out, Problem{Reason: reason, Message: fmt.Sprintf(format, args...), Degraded: degraded})
	}
	p := f.path
	if f.pathErr != nil {
		add(ReasonHealthUnknown, false, "cannot read the data path of %s: %v", f.vol.NQN, f.pathErr)
	} else {
		switch p.State {
		case device.PathLive:
			if len(p.Devices) == 0 {
				add(ReasonDeviceMissing, false, "%s is live but has no namespace block device (export removed on the RDS?)", controllers(p))
			}
		case device.PathResetting, device.PathConnecting, device.PathNew:
			add(ReasonPathReconnecting, false, "no live path: %s; the kernel keeps reconnecting (ctrlLossTmo) and I/O waits meanwhile", controllers(p))
		case device.PathUnknown:
			add(ReasonPathStateUnknown, false, "no live path: %s", controllers(p))
		case device.PathDeleting:
			add(ReasonPathDeleting, false, "every path is being deleted: %s", controllers(p))
		case device.PathDead, device.PathAbsent:
			what := "no controller left"
			if len(p.Controllers) > 0 {
				what = controllers(p)
			}
			next := "it is reconnected with the volume's own parameters"
			if f.vol.Adopted() {
				next = "its connect parameters are unknown (adopted at the first start), so it is not reconnected"
			}
			add(ReasonPathLost, false, "the kernel gave up the path of %s (%s): %s", f.vol.NQN, what, next)
		}
	}

	if f.mountsErr != nil {
		add(ReasonHealthUnknown, false, "cannot read the mount table: %v", f.mountsErr)
		return out
	}
	if m := f.staging; !f.vol.Block && f.vol.StagingPath != "" {
		if m == nil {
			add(ReasonStagingNotMounted, false, "staging path %s is not mounted", f.vol.StagingPath)
		} else {
			if f.devRdev != 0 && !device.SameDev(m, f.devRdev) {
				add(ReasonStagingDeviceStale, false,
					"staging path %s is mounted from device %d:%d but the volume's device is now %s (%s): the controller was renumbered after a reconnect; restart the Pods using the volume so that it is staged again (a mount in use is never force-unmounted)",
					f.vol.StagingPath, m.Major, m.Minor, p.Devices[0], devNum(f.devRdev))
			}
			if !f.vol.ReadOnly && device.ReadOnlyAfterError(m) {
				add(ReasonReadOnlyAfterError, true,
					"the filesystem at %s was switched to read-only by the kernel after an error (superblock options %s); writes fail until it is checked and mounted again",
					f.vol.StagingPath, strings.Join(m.SuperOptions, ","))
			}
		}
	}
	if f.vol.Block && f.devRdev != 0 {
		for _, t := range f.targets {
			if t.mounted && t.rdev != 0 && t.rdev != f.devRdev {
				add(ReasonPublishedDeviceStale, false,
					"published target %s is device %s but the volume's device is now %s (%s): restart the Pod using it",
					t.path, devNum(t.rdev), p.Devices[0], devNum(f.devRdev))
			}
		}
	}
	return out
}

func controllers(p device.PathHealth) string {
	cs := make([]string, 0, len(p.Controllers))
	for _, c := range p.Controllers {
		s := c.Name + " " + c.State
		if c.Address != "" {
			s += " (" + c.Address + ")"
		}
		cs = append(cs, s)
	}
	return strings.Join(cs, ", ")
}

func devNum(rdev uint64) string { return fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev)) }
