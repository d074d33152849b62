package nodehealth

import (
	"os"
	"strings"
)

// DefaultBootIDPath changes at every boot of the kernel.
const DefaultBootIDPath = "/proc/sys/kernel/random/boot_id"

// readBootID returns the boot id, or "" when it cannot be read (records
// then never count as from another boot).
func readBootID(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
