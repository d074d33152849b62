package device

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/srvlab/rds-csi/rds"
)

var _ PathReader = (*Loop)(nil)

// Loop devices have no controllers; each attached device stands for one,
// so that health, conditions and orphan cleanup work the same in test mode.
// Its state:
//   - live: attached to its backing file;
//   - deleting: autoclear is set (losetup -d on a busy device): the kernel
//     detaches it as soon as its last user closes it;
//   - dead: its backing file was deleted (the volume is gone on the RDS).
// The device of a deleting or dead loop still answers I/O until it goes,
// so it is listed as a device: nothing reconnects over it.

// PathHealth implements PathReader from /sys/block/loop*.
func (l *Loop) PathHealth(_ context.Context, nqn string) (PathHealth, error) {
	id, err := l.volumeID(nqn)
	if err != nil {
		return PathHealth{}, err
	}
	devs, err := l.devicesFor(id)
	if err != nil {
		return PathHealth{}, fmt.Errorf("listing loop devices: %w", err)
	}
	return loopHealth(nqn, devs), nil
}

// ManagedPaths implements PathReader: loop devices over <root>/**/<id>.img
// whose NQN is under the managed prefix. Anything else (a loop device the
// host uses for itself) is not listed, hence never touched.
func (l *Loop) ManagedPaths(context.Context) ([]PathHealth, error) {
	all, err := l.loops()
	if err != nil {
		return nil, fmt.Errorf("listing loop devices: %w", err)
	}
	byNQN := map[string][]loopDev{}
	for _, d := range all {
		if !within(l.root, d.backing) {
			continue
		}
		id, ok := strings.CutSuffix(filepath.Base(d.backing), rds.BackingFileSuffix)
		if !ok || rds.ValidateID(id) != nil {
			continue
		}
		nqn := rds.NQNFor(id)
		if CheckManaged(l.o.ManagedPrefix, nqn) != nil {
			continue
		}
		byNQN[nqn] = append(byNQN[nqn], d)
	}
	out := make([]PathHealth, 0, len(byNQN))
	for nqn, devs := range byNQN {
		out = append(out, loopHealth(nqn, devs))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NQN < out[j].NQN })
	return out, nil
}

func loopHealth(nqn string, devs []loopDev) PathHealth {
	p := PathHealth{NQN: nqn}
	for _, d := range devs {
		state := StateLive
		switch {
		case d.deleted:
			state = StateDead
		case d.autoclear:
			state = StateDeleting
		}
		p.Controllers = append(p.Controllers, Controller{Name: d.name, State: state, Address: d.backing})
		p.Devices = append(p.Devices, "/dev/"+d.name)
	}
	p.summarize()
	return p
}
