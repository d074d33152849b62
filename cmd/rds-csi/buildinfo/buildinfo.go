// Package buildinfo formats the --version line of the project's binaries
// (rds-csi and rds-sim). It lives in its own package so that rds-sim can use
// it without linking the driver.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Line is what --version prints: "<name> <version> (revision <rev>,
// <go version>, <os>/<arch>)". The version is the second word, the shape the
// Kubernetes sidecars print, so one script reads both alike.
func Line(name, version, revision string) string {
	return name + " " + version + " (revision " + Revision(revision) + ", " + runtime.Version() + ", " +
		runtime.GOOS + "/" + runtime.GOARCH + ")"
}

// Revision returns explicit when it is set (a build without .git, such as
// the Dockerfile's, passes it with -ldflags -X); otherwise the VCS revision
// the Go toolchain stamped into the binary, with "-dirty" when the tree had
// uncommitted changes; otherwise "unknown".
func Revision(explicit string) string {
	if explicit != "" {
		return explicit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return fromSettings(info.Settings)
}

func fromSettings(settings []debug.BuildSetting) string {
	var rev, modified string
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "unknown"
	}
	if modified == "true" {
		rev += "-dirty"
	}
	return rev
}
