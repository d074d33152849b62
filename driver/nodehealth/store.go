package nodehealth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"k8s.io/klog/v2"

	"github.com/srvlab/rds-csi/rds"
)

// initializedMarker is written once the state directory holds every staged
// volume. A directory without it is new (first start, or an upgrade from a
// version without one): its connections are adopted, never cleaned up.
const initializedMarker = ".initialized"

// Store keeps the staged volumes of this node, one JSON file per volume in
// dir, or in memory only when dir is empty. A change reaches the disk
// (written to a temporary file, synced, renamed, directory synced) before
// the memory, so what the watcher acts on was persisted.
type Store struct {
	dir    string
	prefix string

	mu   sync.Mutex
	vols map[string]Volume
}

// NewStore returns a store for volumes under the managed NQN prefix. It
// reads nothing before Load.
func NewStore(dir, managedPrefix string) *Store {
	return &Store{dir: dir, prefix: managedPrefix, vols: map[string]Volume{}}
}

// Persistent reports whether the store survives a restart.
func (s *Store) Persistent() bool { return s.dir != "" }

// Load reads every record from the directory (creating it when missing)
// and reports whether the directory is new. A record that cannot be read
// is kept as an adopted volume when its file name is a managed volume id,
// so that orphan cleanup never disconnects a volume because of a damaged
// file; any other stray file is ignored and left alone.
func (s *Store) Load(logger klog.Logger) (fresh bool, err error) {
	if s.dir == "" {
		return false, nil
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return false, fmt.Errorf("state directory: %w", err)
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return false, fmt.Errorf("state directory: %w", err)
	}
	loaded := map[string]Volume{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			// A write interrupted by a crash; the record it replaced is intact.
			_ = os.Remove(filepath.Join(s.dir, name))
			continue
		}
		id, ok := strings.CutSuffix(name, ".json")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		v, err := s.readRecord(filepath.Join(s.dir, name))
		if err == nil && v.ID != id {
			err = fmt.Errorf("holds volume %q", v.ID)
		}
		if err != nil {
			adopted := Volume{ID: id, NQN: rds.NQNForHandle(id)}
			if adopted.validate(s.prefix) != nil {
				logger.Error(err, "Ignoring a file in the state directory that names no managed volume", "file", name)
				continue
			}
			logger.Error(err, "Damaged volume record: keeping the volume as adopted (watched, never reconnected)", "file", name, "volumeID", id)
			v = adopted
		}
		loaded[id] = v
	}
	_, err = os.Stat(filepath.Join(s.dir, initializedMarker))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fresh = true
	case err != nil:
		return false, fmt.Errorf("state directory: %w", err)
	}
	s.mu.Lock()
	s.vols = loaded
	s.mu.Unlock()
	return fresh, nil
}

func (s *Store) readRecord(path string) (Volume, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Volume{}, err
	}
	var v Volume
	if err := json.Unmarshal(b, &v); err != nil {
		return Volume{}, err
	}
	if err := v.validate(s.prefix); err != nil {
		return Volume{}, err
	}
	return v, nil
}

// MarkInitialized records that the directory now holds every staged volume.
func (s *Store) MarkInitialized() error {
	if s.dir == "" {
		return nil
	}
	return s.writeFile(initializedMarker, []byte("rds-csi node state, format 1\n"))
}

// Get returns a copy of the volume's record.
func (s *Store) Get(id string) (Volume, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[id]
	return v.clone(), ok
}

// List returns copies of every record, ordered by id.
func (s *Store) List() []Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Volume, 0, len(s.vols))
	for _, v := range s.vols {
		out = append(out, v.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Put writes a volume's record.
func (s *Store) Put(v Volume) error {
	if err := v.validate(s.prefix); err != nil {
		return err
	}
	v = v.clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir != "" {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if err := s.writeFile(v.ID+".json", append(b, '\n')); err != nil {
			return err
		}
	}
	s.vols[v.ID] = v
	return nil
}

// Update changes a volume's record with f; a volume without a record is
// left alone (false).
func (s *Store) Update(id string, f func(*Volume)) (bool, error) {
	v, ok := s.Get(id)
	if !ok {
		return false, nil
	}
	f(&v)
	return true, s.Put(v)
}

// Delete removes a volume's record (none: nothing to do).
func (s *Store) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir != "" {
		if err := os.Remove(filepath.Join(s.dir, id+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := syncDir(s.dir); err != nil {
			return err
		}
	}
	delete(s.vols, id)
	return nil
}

// writeFile replaces dir/name atomically and durably.
func (s *Store) writeFile(name string, data []byte) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, ".tmp-"+name+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }() // after a successful rename there is nothing left to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		return err
	}
	return syncDir(s.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
