package rds

import (
	"errors"
	"testing"
)

func TestFileSizeArg(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        int64
		wantArg   string
		wantBytes int64
		wantErr   bool
	}{
		{name: "0 becomes the 1 MiB minimum", in: 0, wantArg: "1M", wantBytes: MiB},
		{name: "1 B rounds up to 1 MiB", in: 1, wantArg: "1M", wantBytes: MiB},
		{name: "1 MiB", in: MiB, wantArg: "1M", wantBytes: MiB},
		{name: "1 MiB + 1 B", in: MiB + 1, wantArg: "2M", wantBytes: 2 * MiB},
		{name: "1 KiB below 1 GiB", in: GiB - KiB, wantArg: "1G", wantBytes: GiB},
		{name: "1.5 GiB is not truncated to 1G", in: GiB + GiB/2, wantArg: "1536M", wantBytes: 1536 * MiB},
		{name: "exact 1 GiB", in: GiB, wantArg: "1G", wantBytes: GiB},
		{name: "exact 10 GiB", in: 10 * GiB, wantArg: "10G", wantBytes: 10 * GiB},
		{name: "10 GiB + 1 B", in: 10*GiB + 1, wantArg: "10241M", wantBytes: 10*GiB + MiB},
		{name: "exact 1 TiB", in: TiB, wantArg: "1T", wantBytes: TiB},
		{name: "1 TiB + 1 GiB", in: TiB + GiB, wantArg: "1025G", wantBytes: TiB + GiB},
		{name: "maximum 1 PiB", in: PiB, wantArg: "1024T", wantBytes: PiB},
		{name: "above the maximum", in: PiB + 1, wantErr: true},
		{name: "max int64", in: 1<<63 - 1, wantErr: true},
		{name: "negative", in: -1, wantErr: true},
		{name: "min int64", in: -1 << 63, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arg, bytes, err := FileSizeArg(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidArgument) || arg != "" {
					t.Fatalf("FileSizeArg(%d) = %q, %d, %v; want ErrInvalidArgument", tc.in, arg, bytes, err)
				}
				return
			}
			if err != nil || arg != tc.wantArg || bytes != tc.wantBytes {
				t.Fatalf("FileSizeArg(%d) = %q, %d, %v; want %q, %d", tc.in, arg, bytes, err, tc.wantArg, tc.wantBytes)
			}
			if bytes < tc.in {
				t.Fatalf("allocation %d is below the request %d", bytes, tc.in)
			}
			if err := validateFileSizeArg(arg); err != nil {
				t.Fatalf("builders would refuse %q: %v", arg, err)
			}
		})
	}
}
