//go:build linux && race

package e2e

// raceEnabled: this test binary was built with -race, so the binaries under
// test are too; a race in a child process then shows up in its log.
const raceEnabled = true
