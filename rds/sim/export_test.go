package sim

import "time"

// SetNow fixes the creation-time of files created from now on. It takes the
// store lock, which every command that reads the clock holds too.
func SetNow(s *Server, now func() time.Time) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.now = now
}
