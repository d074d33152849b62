package device

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// DefaultCommandTimeout bounds an external command whose caller set no
// timeout of its own. nvme-cli once hung a node plugin forever: nothing we
// run is allowed to do that again.
const DefaultCommandTimeout = 60 * time.Second

// abandonAfter is how long a killed command may take to exit before the
// caller stops waiting for it.
const abandonAfter = 5 * time.Second

// Command is one external program invocation.
type Command struct {
	Name string
	Args []string
	// Timeout overrides the runner's default deadline (e.g. mkfs on a big
	// volume). Zero means the runner default. The caller's context deadline
	// applies as well; the earlier one wins.
	Timeout time.Duration
}

func (c Command) String() string {
	return strings.TrimSpace(c.Name + " " + strings.Join(c.Args, " "))
}

// Result is what a finished command left behind.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int // -1 when the process did not exit normally (killed, never started)
}

// Output returns stdout and stderr joined, trimmed, for error messages.
func (r Result) Output() string {
	return strings.TrimSpace(strings.TrimSpace(string(r.Stdout)) + "\n" + strings.TrimSpace(string(r.Stderr)))
}

// Runner runs external programs. Implementations must enforce a deadline on
// every command. A non-zero exit is reported as *ExitError (with the Result
// still returned), a deadline as an error wrapping ErrCommandTimeout.
type Runner interface {
	Run(ctx context.Context, cmd Command) (Result, error)
}

// ErrCommandTimeout marks a command killed because its deadline passed.
var ErrCommandTimeout = errors.New("command timed out")

// ExitError is a command that ran and exited non-zero.
type ExitError struct {
	Command string
	Code    int
	Output  string // stdout+stderr, trimmed
}

func (e *ExitError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("%s: exit status %d", e.Command, e.Code)
	}
	return fmt.Sprintf("%s: exit status %d: %s", e.Command, e.Code, e.Output)
}

// ExitCode reports the exit status carried by err, if it is an *ExitError.
func ExitCode(err error) (int, bool) {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code, true
	}
	return 0, false
}

// ExecRunner runs commands with os/exec under a deadline.
type ExecRunner struct {
	// Timeout is the default deadline; zero means DefaultCommandTimeout.
	Timeout time.Duration
}

// NewExecRunner returns a runner whose commands default to timeout.
func NewExecRunner(timeout time.Duration) *ExecRunner { return &ExecRunner{Timeout: timeout} }

// Run implements Runner. stdin is empty (/dev/null) so that no tool can
// sit waiting for an answer to a prompt.
func (r *ExecRunner) Run(ctx context.Context, c Command) (Result, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = r.Timeout
	}
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Own process group, killed as a whole at the deadline: a tool's helpers
	// (mount.<type>, fsck.<type>) must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A killed tool may leave children holding the output pipes open; do
	// not wait for them past a short grace period.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return Result{ExitCode: -1}, fmt.Errorf("%s: %w", c, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		// The group has been sent SIGKILL. A process stuck in uninterruptible
		// I/O (umount of a dead NVMe namespace) dies only when the I/O ends:
		// do not let it hold this call, abandon it to the waiting goroutine.
		select {
		case err = <-done:
		case <-time.After(abandonAfter):
			return Result{ExitCode: -1}, fmt.Errorf("%s: %w after %s; the process did not exit after SIGKILL and was abandoned (%w)",
				c, ErrCommandTimeout, timeout, ctx.Err())
		}
	}
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: -1}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	if err == nil {
		return res, nil
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("%s: %w after %s (%w)", c, ErrCommandTimeout, timeout, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && res.ExitCode >= 0 {
		return res, &ExitError{Command: c.String(), Code: res.ExitCode, Output: res.Output()}
	}
	return res, fmt.Errorf("%s: %w", c, err)
}
