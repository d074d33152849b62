package device

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var (
	ctrlName = regexp.MustCompile(`^nvme([0-9]+)$`)
	// nvme<subsys>n<nsid>: a multipath head, or a plain namespace without multipath.
	nsName = regexp.MustCompile(`^nvme([0-9]+)n([0-9]+)$`)
	// nvme<subsys>c<ctrl>n<nsid>: a hidden per-path device of a multipath head.
	pathName = regexp.MustCompile(`^nvme([0-9]+)c([0-9]+)n([0-9]+)$`)
)

// nvmeController is one controller (a path) of a subsystem.
type nvmeController struct {
	Name  string // nvme3
	State string // live, connecting, resetting, deleting, ...
}

// nvmeView is what sysfs says about one NQN right now.
type nvmeView struct {
	Controllers []nvmeController
	// Namespaces are block device names (nvme0n1), ordered by nsid, with a
	// /dev node present. Hidden multipath paths are reported as their head.
	Namespaces []string
}

// sysfsNVMe reads the NVMe topology under a sysfs root. It never caches:
// controller and namespace names change when a controller reconnects.
type sysfsNVMe struct {
	sysfs string // e.g. /sys
	dev   string // e.g. /dev
}

// readAttr reads a one-line sysfs attribute; missing → "", ok=false.
func readAttr(path string) (string, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return strings.TrimSpace(string(b)), true, nil
}

// readDirNames lists a directory; a directory that does not exist (module
// not loaded, object removed while we looked) is empty, any other error is
// an error: "cannot read" must never be mistaken for "not connected".
func readDirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// lookup collects every controller and namespace whose subsystem NQN is nqn,
// from both the subsystem class (native multipath) and the controller class
// (non-multipath namespaces, hidden multipath paths).
func (s sysfsNVMe) lookup(nqn string) (nvmeView, error) {
	ctrls := map[string]bool{}
	ns := map[string]bool{}

	subsysDir := filepath.Join(s.sysfs, "class", "nvme-subsystem")
	subsystems, err := readDirNames(subsysDir)
	if err != nil {
		return nvmeView{}, err
	}
	for _, sub := range subsystems {
		got, ok, err := readAttr(filepath.Join(subsysDir, sub, "subsysnqn"))
		if err != nil {
			return nvmeView{}, err
		}
		if !ok || got != nqn {
			continue
		}
		children, err := readDirNames(filepath.Join(subsysDir, sub))
		if err != nil {
			return nvmeView{}, err
		}
		for _, c := range children {
			switch {
			case ctrlName.MatchString(c):
				ctrls[c] = true
			case nsName.MatchString(c):
				ns[c] = true
			}
		}
	}

	ctrlDir := filepath.Join(s.sysfs, "class", "nvme")
	controllers, err := readDirNames(ctrlDir)
	if err != nil {
		return nvmeView{}, err
	}
	for _, c := range controllers {
		if !ctrlName.MatchString(c) {
			continue
		}
		got, ok, err := readAttr(filepath.Join(ctrlDir, c, "subsysnqn"))
		if err != nil {
			return nvmeView{}, err
		}
		if !ok || got != nqn {
			continue
		}
		ctrls[c] = true
		children, err := readDirNames(filepath.Join(ctrlDir, c))
		if err != nil {
			return nvmeView{}, err
		}
		for _, child := range children {
			if nsName.MatchString(child) {
				ns[child] = true
			} else if m := pathName.FindStringSubmatch(child); m != nil {
				ns["nvme"+m[1]+"n"+m[3]] = true
			}
		}
	}

	var v nvmeView
	for c := range ctrls {
		state, _, err := readAttr(filepath.Join(ctrlDir, c, "state"))
		if err != nil {
			return nvmeView{}, err
		}
		if state == "deleting" || state == "deleting (no IO)" || state == "dead" {
			// Going away: neither a device to use nor a reason to call it connected.
			continue
		}
		v.Controllers = append(v.Controllers, nvmeController{Name: c, State: state})
	}
	sort.Slice(v.Controllers, func(i, j int) bool { return ctrlIndex(v.Controllers[i].Name) < ctrlIndex(v.Controllers[j].Name) })

	if len(v.Controllers) == 0 {
		// An orphaned subsystem (or one whose controllers are all going
		// away) has no usable namespace: the volume is not connected.
		return v, nil
	}
	for name := range ns {
		if _, err := os.Stat(filepath.Join(s.dev, name)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // not yet (or no longer) created by devtmpfs/udev
			}
			return nvmeView{}, err
		}
		v.Namespaces = append(v.Namespaces, name)
	}
	sort.Slice(v.Namespaces, func(i, j int) bool { return nsLess(v.Namespaces[i], v.Namespaces[j]) })
	return v, nil
}

func ctrlIndex(name string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(name, "nvme"))
	return n
}

// nsLess orders by nsid first (an RDS export has nsid 1), then by name.
func nsLess(a, b string) bool {
	ma, mb := nsName.FindStringSubmatch(a), nsName.FindStringSubmatch(b)
	na, _ := strconv.Atoi(ma[2])
	nb, _ := strconv.Atoi(mb[2])
	if na != nb {
		return na < nb
	}
	sa, _ := strconv.Atoi(ma[1])
	sb, _ := strconv.Atoi(mb[1])
	return sa < sb
}

func (v nvmeView) String() string {
	var cs []string
	for _, c := range v.Controllers {
		cs = append(cs, fmt.Sprintf("%s(%s)", c.Name, c.State))
	}
	return fmt.Sprintf("controllers=[%s] namespaces=[%s]", strings.Join(cs, " "), strings.Join(v.Namespaces, " "))
}
