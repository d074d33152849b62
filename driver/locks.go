package driver

import "sync"

// VolumeLocks serialises operations per volume (or snapshot) id without a
// global mutex: a second concurrent request for the same id is refused at
// once (the caller answers Aborted) instead of queueing behind the first.
type VolumeLocks struct {
	mu    sync.Mutex
	inUse map[string]struct{}
}

// NewVolumeLocks returns an empty lock set.
func NewVolumeLocks() *VolumeLocks {
	return &VolumeLocks{inUse: make(map[string]struct{})}
}

// TryAcquire takes the lock for id and reports whether it got it.
func (l *VolumeLocks) TryAcquire(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, busy := l.inUse[id]; busy {
		return false
	}
	l.inUse[id] = struct{}{}
	return true
}

// Release frees the lock for id.
func (l *VolumeLocks) Release(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.inUse, id)
}
