package rds

import (
	"errors"
	"testing"
)

func TestAnswerErr(t *testing.T) {
	for _, tc := range []struct {
		name string
		ans  answer
		want error // nil: success
	}{
		{"empty success", answer{}, nil},
		{"listing", answer{Stdout: "Flags: X - disabled\r\n 0 slot=a\r\n"}, nil},
		{"identity", answer{Stdout: "  name: rds\r\n"}, nil},
		{"stderr noise with exit 0", answer{Stderr: "warning: something harmless\r\n"}, nil},
		{"no such item on stdout, exit 0", answer{Stdout: "failure: no such item\r\n"}, ErrNotFound},
		{"no such item on stderr, exit 1", answer{Stderr: "failure: no such item\r\n", Exit: 1}, ErrNotFound},
		{"bare no such item", answer{Stdout: "no such item\r\n"}, ErrNotFound},
		{"not found", answer{Stdout: "failure: file not found\r\n", Exit: 1}, ErrNotFound},
		{"already exists", answer{Stdout: "failure: disk with such slot already exists\r\n"}, ErrAlreadyExists},
		{"already have", answer{Stderr: "failure: already have device with such name\r\n", Exit: 1}, ErrAlreadyExists},
		{"not enough space", answer{Stdout: "failure: not enough space\r\n", Exit: 1}, ErrNoSpace},
		{"not enough space on stderr, exit 0", answer{Stderr: "failure: not enough space"}, ErrNoSpace},
		{"invalid value", answer{Stdout: "invalid value for argument file-size\r\n"}, ErrInvalidArgument},
		{"expected end of command", answer{Stdout: "expected end of command (line 1 column 12)\r\n"}, ErrInvalidArgument},
		{"bad command name", answer{Stdout: "bad command name prnt (line 1 column 7)\r\n"}, ErrInvalidArgument},
		{"syntax error", answer{Stderr: "syntax error (line 1 column 5)", Exit: 1}, ErrInvalidArgument},
		{"value out of range", answer{Stdout: "value out of range\r\n"}, ErrInvalidArgument},
		{"failure without known text", answer{Stdout: "failure: device busy\r\n"}, ErrCommandFailed},
		{"non-zero exit without text", answer{Exit: 2}, ErrCommandFailed},
		{"non-zero exit with listing", answer{Stdout: " 0 slot=a\r\n", Exit: 1}, ErrCommandFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.ans.err("/disk print")
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var ce *CommandError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CommandError", err)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v (kind %v), want %v", err, ce.Kind, tc.want)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Errorf("a RouterOS answer must never be ErrUnavailable: %v", err)
			}
			if ce.Command != "/disk print" || ce.Exit != tc.ans.Exit {
				t.Errorf("command %q exit %d", ce.Command, ce.Exit)
			}
		})
	}
}
