package device

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestExecRunnerSeparatesStreamsAndExitCodes(t *testing.T) {
	r := NewExecRunner(5 * time.Second)
	res, err := r.Run(context.Background(), Command{Name: "sh", Args: []string{"-c", "echo out; echo err >&2; exit 2"}})
	if code, ok := ExitCode(err); !ok || code != 2 {
		t.Fatalf("err = %v, want exit 2", err)
	}
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitCode != 2 {
		t.Fatalf("res = %+v", res)
	}
	if _, err := r.Run(context.Background(), Command{Name: "true"}); err != nil {
		t.Fatal(err)
	}
}

func TestExecRunnerDeadline(t *testing.T) {
	r := NewExecRunner(time.Minute)
	start := time.Now()
	_, err := r.Run(context.Background(), Command{Name: "sleep", Args: []string{"30"}, Timeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrCommandTimeout) {
		t.Fatalf("err = %v, want ErrCommandTimeout", err)
	}
	if _, ok := ExitCode(err); ok {
		t.Fatal("a timeout must not look like an exit status")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s", d)
	}
	// A child keeping the pipes open must not stretch the deadline much.
	start = time.Now()
	_, err = r.Run(context.Background(), Command{Name: "sh", Args: []string{"-c", "sleep 30 & sleep 30"}, Timeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrCommandTimeout) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s with an orphaned child", d)
	}
}

func TestExecRunnerMissingBinary(t *testing.T) {
	_, err := NewExecRunner(time.Second).Run(context.Background(), Command{Name: "/nonexistent/tool"})
	if err == nil {
		t.Fatal("no error")
	}
	if _, ok := ExitCode(err); ok {
		t.Fatal("a missing binary must not look like an exit status (blkid's 2 would read as blank)")
	}
}
