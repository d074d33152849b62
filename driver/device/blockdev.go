package device

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SizeBytes returns the size of the block device at path (BLKGETSIZE64).
// The descriptor is opened read-only and closed before returning: a node
// plugin that holds device descriptors blocks its own unstage.
func SizeBytes(path string) (int64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var size uint64
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size))); errno != 0 {
		return 0, &os.PathError{Op: "ioctl BLKGETSIZE64", Path: path, Err: errno}
	}
	if size > 1<<62 {
		return 0, fmt.Errorf("%s: implausible size %d", path, size)
	}
	return int64(size), nil
}

// BlockRdev returns the device number of the block device node at path
// (following symlinks) or an error if path is not a block device.
func BlockRdev(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, fmt.Errorf("%s is not a block device (mode %#o)", path, st.Mode)
	}
	return st.Rdev, nil
}
