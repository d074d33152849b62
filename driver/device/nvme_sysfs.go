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
	Name    string // nvme3
	State   string // live, connecting, resetting, deleting, ... (the kernel's word)
	Address string // traddr=10.0.0.1,trsvcid=4420 (empty when sysfs has none)
}

// goingAway reports a controller state that can no longer carry I/O.
func goingAway(state string) bool {
	return state == StateDeleting || state == StateDeletingNoIO || state == StateDead
}

// nvmeView is what sysfs says about one NQN right now.
type nvmeView struct {
	// Controllers are the usable controllers: not being deleted, not dead.
	Controllers []nvmeController
	// All is every controller of the NQN, those going away included: path
	// health reports them.
	All []nvmeController
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

// nvmeTopo is the raw topology of one subsystem NQN: controller and
// namespace names, before states and /dev nodes are read.
type nvmeTopo struct {
	ctrls map[string]bool
	ns    map[string]bool
}

// scan collects every controller and namespace whose subsystem NQN passes
// match, grouped by NQN, from both the subsystem class (native multipath)
// and the controller class (non-multipath namespaces, hidden multipath
// paths). One pass serves a single NQN (lookup) and the whole node (paths).
func (s sysfsNVMe) scan(match func(nqn string) bool) (map[string]*nvmeTopo, error) {
	out := map[string]*nvmeTopo{}
	topo := func(nqn string) *nvmeTopo {
		t := out[nqn]
		if t == nil {
			t = &nvmeTopo{ctrls: map[string]bool{}, ns: map[string]bool{}}
			out[nqn] = t
		}
		return t
	}

	subsysDir := filepath.Join(s.sysfs, "class", "nvme-subsystem")
	subsystems, err := readDirNames(subsysDir)
	if err != nil {
		return nil, err
	}
	for _, sub := range subsystems {
		got, ok, err := readAttr(filepath.Join(subsysDir, sub, "subsysnqn"))
		if err != nil {
			return nil, err
		}
		if !ok || !match(got) {
			continue
		}
		children, err := readDirNames(filepath.Join(subsysDir, sub))
		if err != nil {
			return nil, err
		}
		t := topo(got)
		for _, c := range children {
			switch {
			case ctrlName.MatchString(c):
				t.ctrls[c] = true
			case nsName.MatchString(c):
				t.ns[c] = true
			}
		}
	}

	ctrlDir := filepath.Join(s.sysfs, "class", "nvme")
	controllers, err := readDirNames(ctrlDir)
	if err != nil {
		return nil, err
	}
	for _, c := range controllers {
		if !ctrlName.MatchString(c) {
			continue
		}
		got, ok, err := readAttr(filepath.Join(ctrlDir, c, "subsysnqn"))
		if err != nil {
			return nil, err
		}
		if !ok || !match(got) {
			continue
		}
		t := topo(got)
		t.ctrls[c] = true
		children, err := readDirNames(filepath.Join(ctrlDir, c))
		if err != nil {
			return nil, err
		}
		for _, child := range children {
			if nsName.MatchString(child) {
				t.ns[child] = true
			} else if m := pathName.FindStringSubmatch(child); m != nil {
				t.ns["nvme"+m[1]+"n"+m[3]] = true
			}
		}
	}
	return out, nil
}

// view reads the states of a topology's controllers and the /dev nodes of
// its namespaces.
func (s sysfsNVMe) view(t *nvmeTopo) (nvmeView, error) {
	var v nvmeView
	if t == nil {
		return v, nil
	}
	ctrlDir := filepath.Join(s.sysfs, "class", "nvme")
	for c := range t.ctrls {
		state, _, err := readAttr(filepath.Join(ctrlDir, c, "state"))
		if err != nil {
			return nvmeView{}, err
		}
		addr, _, err := readAttr(filepath.Join(ctrlDir, c, "address"))
		if err != nil {
			return nvmeView{}, err
		}
		ctrl := nvmeController{Name: c, State: state, Address: addr}
		v.All = append(v.All, ctrl)
		if !goingAway(state) {
			// Going away: neither a device to use nor a reason to call it connected.
			v.Controllers = append(v.Controllers, ctrl)
		}
	}
	byIndex := func(cs []nvmeController) {
		sort.Slice(cs, func(i, j int) bool { return ctrlIndex(cs[i].Name) < ctrlIndex(cs[j].Name) })
	}
	byIndex(v.All)
	byIndex(v.Controllers)

	if len(v.Controllers) == 0 {
		// An orphaned subsystem (or one whose controllers are all going
		// away) has no usable namespace: the volume is not connected.
		return v, nil
	}
	for name := range t.ns {
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

// lookup returns the view of one NQN.
func (s sysfsNVMe) lookup(nqn string) (nvmeView, error) {
	topos, err := s.scan(func(got string) bool { return got == nqn })
	if err != nil {
		return nvmeView{}, err
	}
	return s.view(topos[nqn])
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
