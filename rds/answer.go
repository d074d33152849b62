package rds

import (
	"strings"
)

// answer is what one command produced on an SSH session that completed with
// an exit status. Transport failures never become an answer.
type answer struct {
	Stdout string
	Stderr string
	Exit   int
}

// failurePrefixes mark RouterOS error text. Such text makes a command a
// failure even with exit status 0, because whether RouterOS sets a non-zero
// exit status (and whether it writes to stdout or stderr) is unverified.
// Successful output never starts with them: it is empty, a "Flags:" legend,
// a record index, or "key: value".
var failurePrefixes = append([]string{"failure:", "no such item", "not enough space"}, syntaxErrorPhrases...)

// syntaxErrorPhrases are RouterOS's answers to a command or argument it
// rejects; they start a line and classify as ErrInvalidArgument.
var syntaxErrorPhrases = []string{
	"bad command name",
	"expected end of command",
	"expected command name",
	"invalid value",
	"syntax error",
	"value out of range",
	"input does not match",
	"ambiguous value",
	"missing value",
}

// failureKinds maps RouterOS failure text to a sentinel. Order matters: the
// first rule whose phrase occurs anywhere in the text (case-insensitively)
// wins, and the more specific outcomes come first.
var failureKinds = []struct {
	phrases []string
	kind    error
}{
	{[]string{"not enough space", "no space left"}, ErrNoSpace},
	{[]string{"already exists", "already have"}, ErrAlreadyExists},
	{[]string{"no such item", "not found"}, ErrNotFound},
	{syntaxErrorPhrases, ErrInvalidArgument},
}

// classifyFailure returns the sentinel for a RouterOS failure text.
func classifyFailure(text string) error {
	lower := strings.ToLower(text)
	for _, rule := range failureKinds {
		for _, p := range rule.phrases {
			if strings.Contains(lower, p) {
				return rule.kind
			}
		}
	}
	return ErrCommandFailed
}

// isFailureText reports whether the first non-blank line of out is RouterOS
// error text.
func isFailureText(out string) bool {
	for line := range strings.Lines(out) {
		line = strings.ToLower(strings.TrimSpace(line))
		if line == "" {
			continue
		}
		for _, p := range failurePrefixes {
			if strings.HasPrefix(line, p) {
				return true
			}
		}
		return false
	}
	return false
}

// err turns an answer into nil or a *CommandError: a non-zero exit status,
// or failure text on stdout or stderr, is a failure.
func (a answer) err(cmd string) error {
	if a.Exit == 0 && !isFailureText(a.Stdout) && !isFailureText(a.Stderr) {
		return nil
	}
	out := strings.TrimSpace(strings.TrimSpace(a.Stdout) + "\n" + strings.TrimSpace(a.Stderr))
	return &CommandError{Command: cmd, Output: out, Exit: a.Exit, Kind: classifyFailure(out)}
}
