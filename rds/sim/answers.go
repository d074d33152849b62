package sim

import "fmt"

// Failure texts. The client maps on the first five, so they never change;
// the rest cover situations the protocol notes do not describe and are the
// emulator's own wording.
const (
	msgNoSuchItem   = "failure: no such item"
	msgSlotExists   = "failure: disk with such slot already exists"
	msgFileExists   = "failure: file already exists"
	msgNoSpace      = "failure: not enough space"
	msgSizeDecrease = "failure: file size can not be decreased"

	msgDiskMounted = "failure: disk is mounted"
	msgFileInUse   = "failure: file is in use by a disk"
	msgDirNotEmpty = "failure: directory is not empty"
	msgInternal    = "failure: internal error"
)

// cliError is an answer to a command that did not succeed. Its text is
// printed verbatim (plus CRLF) and the exit status is 1.
type cliError string

func (e cliError) Error() string { return string(e) }

func badCommand(word string, col int) error {
	return cliError(fmt.Sprintf("bad command name %s (line 1 column %d)", word, col))
}

func endOfCommand(col int) error {
	return cliError(fmt.Sprintf("expected end of command (line 1 column %d)", col))
}

func invalidValue(arg string) error {
	return cliError("invalid value for argument " + arg)
}

func notSpecified(arg string) error {
	return cliError("failure: " + arg + " not specified")
}
