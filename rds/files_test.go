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

func TestParseClock(t *testing.T) {
	ros7 := "                  time: 10:30:45\r\n                  date: 2025-11-12\r\n" +
		"  time-zone-autodetect: no\r\n        time-zone-name: Europe/Riga\r\n            gmt-offset: +02:00\r\n            dst-active: no\r\n"
	ros6 := "      time: 10:30:45\r\n      date: nov/12/2025\r\n  gmt-offset: -01:00\r\n"
	tests := []struct {
		name, in   string
		want       time.Time
		wantOffset time.Duration
		wantErr    bool
	}{
		{name: "7.x layout", in: ros7, want: time.Date(2025, 11, 12, 8, 30, 45, 0, time.UTC), wantOffset: 2 * time.Hour},
		{name: "month-name date", in: ros6, want: time.Date(2025, 11, 12, 11, 30, 45, 0, time.UTC), wantOffset: -time.Hour},
		{name: "no date", in: "  time: 10:30:45\r\n  gmt-offset: +00:00\r\n", wantErr: true},
		{name: "no offset", in: "  time: 10:30:45\r\n  date: 2025-11-12\r\n", wantErr: true},
		{name: "bad time", in: "  time: soon\r\n  date: 2025-11-12\r\n  gmt-offset: +00:00\r\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, off, err := parseClock(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			if tc.wantErr {
				return
			}
			if !got.Equal(tc.want) || off != tc.wantOffset || got.Location() != time.UTC {
				t.Fatalf("got %s (offset %v), want %s (offset %v)", got, off, tc.want, tc.wantOffset)
			}
		})
	}
}
