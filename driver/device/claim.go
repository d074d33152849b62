package device

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Claimed reports whether anyone on the host holds the block device at dev
// exclusively: a mounted filesystem in any mount namespace (also one this
// process cannot see in its mountinfo), device-mapper, md, or another
// O_EXCL opener. The kernel answers EBUSY to an exclusive open of a claimed
// device; the probe opens read-only with O_EXCL for an instant and closes
// at once (a node plugin that holds descriptors blocks its own unstage).
//
// A node without a device behind it (ENXIO, ENODEV) or a node that is gone
// (ENOENT) is not claimed: nothing can hold what does not exist. Any other
// error is returned, and callers must treat it as "in use".
func Claimed(dev string) (bool, error) {
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	switch {
	case err == nil:
		unix.Close(fd)
		return false, nil
	case errors.Is(err, unix.EBUSY):
		return true, nil
	case errors.Is(err, unix.ENXIO), errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENOENT):
		return false, nil
	}
	return false, &os.PathError{Op: "open O_EXCL", Path: dev, Err: err}
}
