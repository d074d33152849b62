package nodehealth

import (
	"fmt"

	"github.com/srvlab/rds-csi/driver/device"
	"github.com/srvlab/rds-csi/rds"
)

// Volume is what the node remembers about one staged volume. It is also the
// on-disk format (JSON): rename fields only with their tags.
type Volume struct {
	ID  string `json:"id"`
	NQN string `json:"nqn"`
	// Target is how the volume was connected (address, port, ctrlLossTmo,
	// reconnectDelay, keepAliveTmo): a reconnect uses exactly these. Nil for
	// a volume adopted at the first start with a new state directory, whose
	// parameters are unknown: it is watched, never reconnected.
	Target *device.Target `json:"target,omitempty"`
	// StagingPath is where a filesystem volume is mounted (empty: unknown).
	StagingPath string `json:"stagingPath,omitempty"`
	// Block: a raw block volume (staging is only the connection).
	Block bool `json:"block,omitempty"`
	// ReadOnly: staged read-only on purpose; a read-only mount is no problem.
	ReadOnly bool `json:"readOnly,omitempty"`
	// Publishes are the targets the volume is published at, with their Pods.
	Publishes []Publish `json:"publishes,omitempty"`
	// BootID is the kernel boot the volume was staged in. Connections and
	// mounts do not survive a reboot: a record of an earlier boot describes
	// nothing that exists, and is dropped at start.
	BootID string `json:"bootID,omitempty"`
}

// Publish is one target path of a volume.
type Publish struct {
	TargetPath string `json:"targetPath"`
	// Pod is the Pod it was published for (from podInfoOnMount); nil when
	// the kubelet did not say.
	Pod *PodRef `json:"pod,omitempty"`
}

// PodRef names a Pod; events about a volume regard the Pods that use it.
type PodRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
}

// Adopted reports a volume whose connect parameters are unknown.
func (v Volume) Adopted() bool { return v.Target == nil }

// clone returns a deep copy: callers never share slices with the store.
func (v Volume) clone() Volume {
	if v.Target != nil {
		t := *v.Target
		v.Target = &t
	}
	pubs := make([]Publish, 0, len(v.Publishes))
	for _, p := range v.Publishes {
		if p.Pod != nil {
			pod := *p.Pod
			p.Pod = &pod
		}
		pubs = append(pubs, p)
	}
	v.Publishes = pubs
	return v
}

// validate checks that a record names a managed volume consistently: a
// record (on disk, possibly edited by hand) can never point the watcher at
// a foreign NQN.
func (v Volume) validate(managedPrefix string) error {
	if _, _, err := rds.SplitHandle(v.ID); err != nil {
		return err
	}
	if want := rds.NQNForHandle(v.ID); v.NQN != want {
		return fmt.Errorf("volume %s: nqn %q, want %q", v.ID, v.NQN, want)
	}
	if err := device.CheckManaged(managedPrefix, v.NQN); err != nil {
		return fmt.Errorf("volume %s: %w", v.ID, err)
	}
	if v.Target != nil && v.Target.NQN != v.NQN {
		return fmt.Errorf("volume %s: target nqn %q differs from %q", v.ID, v.Target.NQN, v.NQN)
	}
	return nil
}
