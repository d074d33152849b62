package nodehealth

import (
	"context"

	mount "k8s.io/mount-utils"

	"github.com/srvlab/rds-csi/driver/device"
)

// gather reads what evaluate and the reconnect decision need about one
// volume: its path in sysfs, its current device number, its staging mount
// and its block targets in the mount table mis (read once per pass by the
// caller; misErr when that failed). It reads files only; nothing here runs
// a command or opens a device.
func (w *Watcher) gather(ctx context.Context, vol Volume, mis []mount.MountInfo, misErr error) facts {
	f := facts{vol: vol, mountsErr: misErr}
	f.path, f.pathErr = w.cfg.Paths.PathHealth(ctx, vol.NQN)
	if f.pathErr == nil && len(f.path.Devices) > 0 {
		// stat, not open: a device whose path is down must not hang us. A
		// node that vanished meanwhile just leaves the number unknown.
		if rdev, err := device.BlockRdev(f.path.Devices[0]); err == nil {
			f.devRdev = rdev
		}
	}
	if misErr != nil {
		return f
	}
	if !vol.Block && vol.StagingPath != "" {
		m, err := device.MountAt(mis, vol.StagingPath)
		if err != nil {
			f.mountsErr = err
			return f
		}
		f.staging = m
	}
	if vol.Block {
		for _, p := range vol.Publishes {
			m, err := device.MountAt(mis, p.TargetPath)
			t := targetFact{path: p.TargetPath, mounted: err == nil && m != nil}
			if t.mounted {
				if rdev, err := device.BlockRdev(p.TargetPath); err == nil {
					t.rdev = rdev
				}
			}
			f.targets = append(f.targets, t)
		}
	}
	return f
}

// dependent reports whether a mount still depends on the volume's
// connection: its staging mount (filesystem), or one of its published
// targets (block; a block volume staged but not yet published counts too).
// A volume nothing depends on is left to the kubelet: after a reboot, say,
// it stages again what it still wants, and reconnecting on our own could
// attach a volume that has meanwhile moved to another node.
func dependent(f facts) bool {
	if !f.vol.Block {
		return f.staging != nil
	}
	if len(f.vol.Publishes) == 0 {
		return true
	}
	for _, t := range f.targets {
		if t.mounted {
			return true
		}
	}
	return false
}

// wantsReconnect reports a volume whose path the kernel gave up while a
// mount depends on it, and that this driver staged in this boot with known
// parameters.
func (w *Watcher) wantsReconnect(f facts) bool {
	return !f.vol.Adopted() && f.vol.BootID == w.bootID && f.pathErr == nil && f.mountsErr == nil &&
		f.path.GaveUp() && dependent(f)
}
