package device

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
)

var _ PathReader = (*NVMeTCP)(nil)

// PathHealth implements PathReader from sysfs.
func (c *NVMeTCP) PathHealth(_ context.Context, nqn string) (PathHealth, error) {
	if err := CheckManaged(c.o.ManagedPrefix, nqn); err != nil {
		return PathHealth{}, err
	}
	v, err := c.fs.lookup(nqn)
	if err != nil {
		return PathHealth{}, fmt.Errorf("reading NVMe topology for %s: %w", nqn, err)
	}
	return c.health(nqn, v), nil
}

// ManagedPaths implements PathReader: one sysfs pass over every subsystem.
// NQNs outside the managed prefix are not even read further.
func (c *NVMeTCP) ManagedPaths(context.Context) ([]PathHealth, error) {
	topos, err := c.fs.scan(func(nqn string) bool { return CheckManaged(c.o.ManagedPrefix, nqn) == nil })
	if err != nil {
		return nil, fmt.Errorf("reading NVMe topology: %w", err)
	}
	out := make([]PathHealth, 0, len(topos))
	for nqn, t := range topos {
		if len(t.ctrls) == 0 {
			continue // a subsystem left without controllers: nothing connected
		}
		v, err := c.fs.view(t)
		if err != nil {
			return nil, fmt.Errorf("reading NVMe topology for %s: %w", nqn, err)
		}
		out = append(out, c.health(nqn, v))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NQN < out[j].NQN })
	return out, nil
}

func (c *NVMeTCP) health(nqn string, v nvmeView) PathHealth {
	p := PathHealth{NQN: nqn}
	for _, ctrl := range v.All {
		p.Controllers = append(p.Controllers, Controller(ctrl))
	}
	for _, ns := range v.Namespaces {
		p.Devices = append(p.Devices, filepath.Join(c.o.DevRoot, ns))
	}
	p.summarize()
	return p
}
