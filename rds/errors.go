package rds

import "errors"

// Sentinel errors returned by every Client implementation. Callers classify
// with errors.Is; only driver/ maps them to gRPC codes.
var (
	// ErrNotFound: the disk, file or pool does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a disk with that slot (or a file at that path) exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrNoSpace: RouterOS answered "not enough space".
	ErrNoSpace = errors.New("not enough space")
	// ErrInvalidArgument: the request was rejected before anything was sent
	// (hostile or malformed id, path, NQN, size), or RouterOS rejected an argument.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnavailable: a transport failure (dial, handshake, closed connection,
	// command deadline). Never used for a RouterOS "failure:" answer.
	ErrUnavailable = errors.New("rds unavailable")
	// ErrCommandTimeout: a command outlived its timeout. It wraps with
	// ErrUnavailable; the connection is kept and the RDS may still complete
	// the command.
	ErrCommandTimeout = errors.New("command timeout")
	// ErrSessionRefused: the RDS refused to open a session for the command
	// (resource shortage) until the caller gave up. Wraps with
	// ErrUnavailable; the connection is kept.
	ErrSessionRefused = errors.New("session refused")
	// ErrCommandFailed: RouterOS answered with a failure that fits no other sentinel.
	ErrCommandFailed = errors.New("rds command failed")
)

// CommandError carries a RouterOS answer that was not a success. It wraps one
// of the sentinels above so errors.Is keeps working, and keeps the raw text
// for logs and error messages.
type CommandError struct {
	Command string // the command line as sent (contains only validated values)
	Output  string // stdout+stderr, trimmed
	Exit    int    // remote exit status
	Kind    error  // one of the sentinels
}

func (e *CommandError) Error() string {
	return "routeros: " + e.Kind.Error() + ": " + e.Output
}

func (e *CommandError) Unwrap() error { return e.Kind }
