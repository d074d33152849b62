package sim

import (
	"context"
	"errors"
	"math"
	"os"
	"time"

	"k8s.io/klog/v2"
)

// errAbandoned ends a command cut off by the server closing: it gets no
// answer, as at a power loss.
var errAbandoned = errors.New("command abandoned: server closing")

// copyTime is how long copying size bytes takes at rate bytes per second;
// rate 0 is instant. Absurd ratios saturate instead of overflowing.
func copyTime(size, rate int64) time.Duration {
	if rate <= 0 || size <= 0 {
		return 0
	}
	secs := float64(size) / float64(rate)
	if secs >= math.MaxInt64/float64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(secs * float64(time.Second))
}

// diskCopy is /disk add copy-from=[find ...], in three steps (the model is
// described in doc.go):
//
//  1. Under the state lock: the checks of any add, then the target file is
//     created empty and the copy registered, which takes its space, slot and
//     file. The source file is opened here, so the copy reads the source it
//     started from even if that disk and file are removed meanwhile.
//  2. Without the lock: wait (source size)/CopyRate, then write the data.
//     Every other command proceeds meanwhile.
//  3. Under the lock: the disk record appears and the state is persisted;
//     only then does the add answer.
//
// A server closing during step 2 leaves the target file and no record, as a
// power loss would; nothing cleans that file at the next start.
func (s *Server) diskCopy(ctx context.Context, log klog.Logger, r addRequest, ex exportSettings) error {
	var (
		host    string
		src     *os.File
		srcSize int64
		d       disk
		created time.Time
	)
	err := s.store.update(func(st *state) (bool, error) {
		h, err := s.checkNew(st, r)
		if err != nil {
			return false, err
		}
		idx, _ := s.findDisks(st, r.copyFrom)
		switch {
		case len(idx) == 0:
			return false, cliError(msgNoSuchItem)
		case len(idx) > 1:
			return false, invalidValue("copy-from")
		}
		source := st.Disks[idx[0]]
		size := r.size
		if size == 0 {
			size = source.Size
		} else if size < source.Size {
			return false, cliError(msgSizeDecrease)
		}
		if err := s.checkSpace(st, size); err != nil {
			return false, err
		}
		in, err := os.Open(hostPath(s.cfg.DataDir, source.FilePath))
		if err != nil {
			return false, s.internal(err, "Opening copy source failed", "slot", source.Slot)
		}
		if err := createSparse(h, 0); err != nil {
			_ = in.Close()
			return false, s.internal(err, "Creating backing file failed", "path", h)
		}
		host, src, srcSize, created = h, in, source.Size, s.now()
		d = disk{Slot: r.slot, FilePath: r.filePath, Size: size, Port: defaultNVMeTCPPort}
		ex.apply(&d)
		st.copies[r.slot] = d
		return false, nil // nothing to persist: a running copy lives in memory only
	})
	if err != nil {
		return err
	}
	defer src.Close()

	wait := copyTime(srcSize, s.CopyRate())
	log.V(1).Info("Copy started", "slot", d.Slot, "path", d.FilePath, "sourceBytes", srcSize, "duration", wait)
	if !sleepCtx(ctx, wait) {
		s.endCopy(d.Slot)
		log.Info("Copy cut off by shutdown; its backing file stays without a disk", "slot", d.Slot, "path", d.FilePath)
		return errAbandoned
	}
	if err := fillCopy(host, src, d.Size); err != nil {
		s.endCopy(d.Slot)
		s.removeFailed(host)
		return s.internal(err, "Copying backing file failed", "slot", d.Slot, "path", host)
	}
	err = s.store.update(func(st *state) (bool, error) {
		delete(st.copies, d.Slot) // the copy is over whether or not the record persists
		st.Disks = append(st.Disks, d)
		st.Created[d.FilePath] = created
		return true, nil
	})
	if err != nil {
		s.removeFailed(host)
		return err
	}
	log.V(1).Info("Copy finished", "slot", d.Slot)
	return nil
}

// endCopy forgets a running copy that will not become a disk.
func (s *Server) endCopy(slot string) {
	_ = s.store.update(func(st *state) (bool, error) {
		delete(st.copies, slot)
		return false, nil
	})
}
