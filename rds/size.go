package rds

import (
	"fmt"
	"strconv"
)

// Binary units of RouterOS file-size suffixes.
const (
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
	TiB int64 = 1 << 40
	PiB int64 = 1 << 50
)

// MaxFileSizeBytes is the largest size a request may ask for. It keeps the
// rounding arithmetic far from int64 overflow and is above any RDS pool.
const MaxFileSizeBytes = PiB

// FileSizeArg turns a requested size into a RouterOS file-size argument.
//
// The rule: round the request UP to a whole MiB (a request of 0 becomes the
// minimum, 1 MiB), then write it with the largest suffix (T, G, M; powers of
// 1024) that represents the rounded size exactly: 1.5 GiB → "1536M",
// 10 GiB → "10G", 10 GiB + 1 B → "10241M". A size is never truncated (the
// earlier driver turned 1.5 GiB into "1G"); the caller reports the returned
// byte count, which is what RouterOS allocates. Negative sizes and sizes
// above MaxFileSizeBytes are ErrInvalidArgument.
func FileSizeArg(sizeBytes int64) (arg string, allocatedBytes int64, err error) {
	if sizeBytes < 0 || sizeBytes > MaxFileSizeBytes {
		return "", 0, fmt.Errorf("%w: size %d bytes is outside [0, %d]", ErrInvalidArgument, sizeBytes, MaxFileSizeBytes)
	}
	rounded := max((sizeBytes+MiB-1)/MiB*MiB, MiB)
	for _, unit := range []struct {
		bytes  int64
		suffix string
	}{{TiB, "T"}, {GiB, "G"}, {MiB, "M"}} {
		if rounded%unit.bytes == 0 {
			return strconv.FormatInt(rounded/unit.bytes, 10) + unit.suffix, rounded, nil
		}
	}
	// unreachable: rounded is a whole number of MiB
	return "", 0, fmt.Errorf("%w: size %d bytes", ErrInvalidArgument, sizeBytes)
}
