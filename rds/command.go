package rds

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Command lines of the RouterOS protocol. Every builder validates each value
// it formats (ids, paths, NQNs, prefixes, ports, sizes) before formatting,
// even when the caller already did: this file is the last place where a
// hostile value could become RouterOS syntax. A builder that refuses returns
// "" and an error wrapping ErrInvalidArgument.

// identityCommand is the cheap read used as the liveness check.
const identityCommand = "/system identity print"

// clockCommand reads the RDS clock (its gmt-offset converts file times).
const clockCommand = "/system clock print"

// fileSizeArgPattern is what FileSizeArg produces: a positive number with an
// optional binary suffix.
var fileSizeArgPattern = regexp.MustCompile(`^[1-9][0-9]{0,15}[KMGT]?$`)

// filterValue formats a value for a where/find filter: bare when it holds
// only [A-Za-z0-9._-], double-quoted otherwise. Validated values never hold
// '"', '\' or '$', so quoting needs no escapes.
func filterValue(v string) string {
	if segmentPattern.MatchString(v) {
		return v
	}
	return `"` + v + `"`
}

// quoted formats a value that the protocol always writes in quotes (regex
// matches, file names, mount points).
func quoted(v string) string { return `"` + v + `"` }

// findSlot is the selector of one disk by slot.
func findSlot(id string) string { return "[find slot=" + filterValue(id) + "]" }

func validatePort(port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("%w: port %d is outside 1-65535", ErrInvalidArgument, port)
	}
	return nil
}

func validateFileSizeArg(size string) error {
	if !fileSizeArgPattern.MatchString(size) {
		return fmt.Errorf("%w: file-size %q", ErrInvalidArgument, size)
	}
	return nil
}

// exportArgs are the arguments that turn an NVMe/TCP export on.
func exportArgs(port int, nqn string) (string, error) {
	if err := validatePort(port); err != nil {
		return "", err
	}
	if err := ValidateNQN(nqn); err != nil {
		return "", err
	}
	return " nvme-tcp-export=yes nvme-tcp-server-port=" + strconv.Itoa(port) + " nvme-tcp-server-nqn=" + nqn, nil
}

// isCopyCommand reports whether cmd is a "/disk add ... copy-from=" (for
// error messages; the client knows what it builds).
func isCopyCommand(cmd string) bool { return strings.Contains(cmd, " copy-from=") }

// createDiskCommand builds "/disk add" for a new file disk, or for a copy
// when req.CopyFrom is set. fileSize is a FileSizeArg result; it may be ""
// only for a copy (the copy then keeps the source's size).
//
//	/disk add type=file file-path=<path> file-size=<size> slot=<id> [export]
//	/disk add type=file copy-from=[find slot=<src>] file-path=<path> slot=<id> [file-size=<size>] [export]
//
// where [export] is " nvme-tcp-export=yes nvme-tcp-server-port=<port> nvme-tcp-server-nqn=<nqn>".
func createDiskCommand(req CreateVolumeRequest, fileSize string) (string, error) {
	if err := ValidateID(req.ID); err != nil {
		return "", err
	}
	if err := ValidatePath(req.FilePath); err != nil {
		return "", err
	}
	if fileSize != "" || req.CopyFrom == "" {
		if err := validateFileSizeArg(fileSize); err != nil {
			return "", err
		}
	}
	export := ""
	if req.Export {
		var err error
		if export, err = exportArgs(req.Port, req.NQN); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	b.WriteString("/disk add type=file")
	if req.CopyFrom != "" {
		if err := ValidateID(req.CopyFrom); err != nil {
			return "", fmt.Errorf("copy source: %w", err)
		}
		b.WriteString(" copy-from=" + findSlot(req.CopyFrom))
		b.WriteString(" file-path=" + req.FilePath + " slot=" + req.ID)
		if fileSize != "" {
			b.WriteString(" file-size=" + fileSize)
		}
	} else {
		b.WriteString(" file-path=" + req.FilePath + " file-size=" + fileSize + " slot=" + req.ID)
	}
	b.WriteString(export)
	return checkCommand(b.String())
}

// getDiskCommand: /disk print detail where slot=<id>
func getDiskCommand(id string) (string, error) {
	if err := ValidateID(id); err != nil {
		return "", err
	}
	return checkCommand("/disk print detail where slot=" + filterValue(id))
}

// diskByFileCommand: /disk print detail where file-path="<path>".
func diskByFileCommand(filePath string) (string, error) {
	if err := ValidatePath(filePath); err != nil {
		return "", err
	}
	return checkCommand("/disk print detail where file-path=" + quoted(filePath))
}

// listDisksCommand: /disk print detail where slot~"<prefix>". The operator is
// a regex match anywhere in the slot, so callers filter the answer by
// strings.HasPrefix as well.
func listDisksCommand(prefix string) (string, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return "", err
	}
	return checkCommand("/disk print detail where slot~" + quoted(prefix))
}

// growDiskCommand: /disk set [find slot=<id>] file-size=<size>
func growDiskCommand(id, fileSize string) (string, error) {
	if err := ValidateID(id); err != nil {
		return "", err
	}
	if err := validateFileSizeArg(fileSize); err != nil {
		return "", err
	}
	return checkCommand("/disk set " + findSlot(id) + " file-size=" + fileSize)
}

// exportCommand: /disk set [find slot=<id>] nvme-tcp-export=yes|no. When
// turning the export on with a port and NQN (a disk created without an
// export has none), they are set in the same command:
// /disk set [find slot=<id>] nvme-tcp-export=yes nvme-tcp-server-port=<port> nvme-tcp-server-nqn=<nqn>
func exportCommand(id string, on bool, port int, nqn string) (string, error) {
	if err := ValidateID(id); err != nil {
		return "", err
	}
	switch {
	case !on:
		return checkCommand("/disk set " + findSlot(id) + " nvme-tcp-export=no")
	case port == 0 && nqn == "":
		return checkCommand("/disk set " + findSlot(id) + " nvme-tcp-export=yes")
	}
	export, err := exportArgs(port, nqn)
	if err != nil {
		return "", err
	}
	return checkCommand("/disk set " + findSlot(id) + export)
}

// removeDiskCommand: /disk remove [find slot=<id>]
func removeDiskCommand(id string) (string, error) {
	if err := ValidateID(id); err != nil {
		return "", err
	}
	return checkCommand("/disk remove " + findSlot(id))
}

// removeFileCommand: /file remove [find name="<path without leading slash>"]
// (/file names carry no leading slash).
func removeFileCommand(filePath string) (string, error) {
	if err := ValidatePath(filePath); err != nil {
		return "", err
	}
	return checkCommand("/file remove [find name=" + quoted(strings.TrimPrefix(filePath, "/")) + "]")
}

// listFilesCommand: /file print detail where name~"^<dir without leading slash>/".
// A '.' in dir matches any character in the regex: the listing may hold a
// few extra names, never fewer; callers filter.
func listFilesCommand(dir string) (string, error) {
	if err := ValidateVolumePath(dir); err != nil {
		return "", err
	}
	return checkCommand("/file print detail where name~" + quoted("^"+strings.TrimPrefix(dir, "/")+"/"))
}

// poolCapacityCommand: /disk print detail where mount-point="<pool>", the
// pool being the first component of volumePath.
func poolCapacityCommand(volumePath string) (string, error) {
	if err := ValidateVolumePath(volumePath); err != nil {
		return "", err
	}
	return checkCommand("/disk print detail where mount-point=" + quoted(PoolOf(volumePath)))
}

// checkCommand is defence in depth behind the validators: no command line
// may carry a statement separator, a variable, an escape or a control
// character, whatever a future builder forgets to validate.
func checkCommand(cmd string) (string, error) {
	for i := 0; i < len(cmd); i++ {
		if c := cmd[i]; c < 0x20 || c == 0x7f || c == ';' || c == '$' || c == '\\' || c == '`' {
			return "", fmt.Errorf("%w: refusing command with byte %q: %q", ErrInvalidArgument, c, cmd)
		}
	}
	return cmd, nil
}
