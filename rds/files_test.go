package rds

import (
	"testing"
	"time"
)

func TestParseRDSTime(t *testing.T) {
	want := time.Date(2025, 11, 12, 0, 36, 13, 0, time.UTC)
	tests := []struct {
		name, in string
		offset   time.Duration
		want     time.Time
		wantErr  bool
	}{
		{name: "iso utc", in: "2025-11-12 00:36:13", want: want},
		{name: "iso east of utc", in: "2025-11-12 01:36:13", offset: time.Hour, want: want},
		{name: "iso west of utc", in: "2025-11-11 19:06:13", offset: -(5*time.Hour + 30*time.Minute), want: want},
		{name: "month name", in: "nov/12/2025 00:36:13", want: want},
		{name: "month name capitalised", in: "Nov/12/2025 02:36:13", offset: 2 * time.Hour, want: want},
		{name: "garbage", in: "yesterday", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRDSTime(tc.in, tc.offset)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			if !tc.wantErr && !got.Equal(tc.want) {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseGMTOffset(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "+00:00"}, {in: "+01:00", want: time.Hour}, {in: "-05:30", want: -(5*time.Hour + 30*time.Minute)},
		{in: "+14:00", want: 14 * time.Hour}, {in: "01:00", wantErr: true}, {in: "+1:00", wantErr: true},
		{in: "+01:60", wantErr: true}, {in: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseGMTOffset(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
