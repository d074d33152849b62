package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// stateVersion is bumped on incompatible changes of the state file.
const stateVersion = 1

// disk is one file disk as persisted.
type disk struct {
	Slot     string `json:"slot"`
	FilePath string `json:"file_path"`
	Size     int64  `json:"size"`
	Export   bool   `json:"nvme_tcp_export"`
	Port     int    `json:"nvme_tcp_server_port"`
	NQN      string `json:"nvme_tcp_server_nqn"`
}

// state is everything the emulator must remember across restarts.
type state struct {
	Version int    `json:"version"`
	Disks   []disk `json:"disks"`
	// Created records when the emulator created a backing file (by
	// file-path): /file print shows creation-time, which a grow (truncate)
	// would otherwise lose, and files outlive their disks.
	Created map[string]time.Time `json:"created,omitempty"`

	// copies are the disks of running copies by slot: their space is taken
	// and their slot and file are in use, but they are not disks yet. Never
	// persisted (a copy cut short by a crash leaves only its file). Every
	// clone shares one map, guarded by the store lock, so a change of it
	// holds whether or not the update that made it persists anything.
	copies map[string]disk
}

func (s *state) clone() *state {
	c := &state{Version: s.Version, Disks: slices.Clone(s.Disks), Created: maps.Clone(s.Created), copies: s.copies}
	if c.Created == nil {
		c.Created = map[string]time.Time{}
	}
	if c.copies == nil {
		c.copies = map[string]disk{}
	}
	return c
}

// used is the pool space taken by disks and running copies.
func (s *state) used() int64 {
	var n int64
	for _, d := range s.Disks {
		n += d.Size
	}
	for _, d := range s.copies {
		n += d.Size
	}
	return n
}

// fileInUse reports whether a disk or a running copy has this file-path.
func (s *state) fileInUse(filePath string) bool {
	if slices.ContainsFunc(s.Disks, func(d disk) bool { return d.FilePath == filePath }) {
		return true
	}
	for _, d := range s.copies {
		if d.FilePath == filePath {
			return true
		}
	}
	return false
}

func (s *state) slotIndex(slot string) int {
	return slices.IndexFunc(s.Disks, func(d disk) bool { return d.Slot == slot })
}

// store owns the state and its file. Every mutation runs under one lock and
// is persisted before it becomes visible, so an answer of success always
// means the change is on disk.
type store struct {
	dir string
	log klog.Logger

	mu  sync.Mutex
	cur *state
}

func openStore(dir string, log klog.Logger) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// A temp file is the remains of a write cut short; the state file
	// itself was never touched by it.
	stale, _ := filepath.Glob(filepath.Join(dir, tempPattern(StateFileName)))
	for _, p := range stale {
		log.Info("Removing leftover temporary state file", "path", p)
		_ = os.Remove(p)
	}
	st := &store{dir: dir, log: log, cur: &state{Version: stateVersion}}
	data, err := os.ReadFile(filepath.Join(dir, StateFileName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		st.cur = st.cur.clone()
		return st, nil
	case err != nil:
		return nil, err
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("state file %s: %w", filepath.Join(dir, StateFileName), err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("state file %s: version %d, want %d", filepath.Join(dir, StateFileName), s.Version, stateVersion)
	}
	st.cur = s.clone()
	log.Info("Loaded state", "disks", len(s.Disks))
	return st, nil
}

// read runs fn on the current state; fn must not modify or keep it.
func (st *store) read(fn func(*state)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	fn(st.cur)
}

// update runs fn on a copy of the state. When fn reports a change and no
// error, the copy is written to disk and then becomes current. A failed write
// leaves the old state current and answers an internal failure.
func (st *store) update(fn func(*state) (changed bool, err error)) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	next := st.cur.clone()
	changed, err := fn(next)
	if err != nil || !changed {
		return err
	}
	data, err := json.MarshalIndent(next, "", "  ")
	if err == nil {
		err = writeFileAtomic(st.dir, StateFileName, data, 0o600)
	}
	if err != nil {
		st.log.Error(err, "Writing state file failed")
		return cliError(msgInternal)
	}
	st.cur = next
	return nil
}
