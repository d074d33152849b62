package attachment

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/srvlab/rds-csi/test/harness"
)

// testEnv is one test's world: a control plane, a running emulator and a
// directory for keys and logs.
type testEnv struct {
	dir     string
	cluster *cluster
	emu     *emulator
}

// setup starts the control plane (or skips the test without the binaries)
// and the emulator.
func setup(t *testing.T) *testEnv {
	t.Helper()
	cl := startCluster(t) // skips here when RDS_CSI_TOOLS_BIN is unset
	if csiBin == "" {
		t.Fatal("the binaries were not built (TestMain)")
	}
	env := &testEnv{dir: logDir(t), cluster: cl}
	env.emu = newEmulator(t, env.dir)
	env.emu.start(t)
	return env
}

// pvName is a fresh name as the external-provisioner gives it to a PV and to
// CreateVolume: "pvc-" + the claim's UID.
func pvName() string { return "pvc-" + string(uuid.NewUUID()) }

// logDir is where a test keeps keys, the emulator's data and the process
// logs: under RDS_CSI_K8S_LOGS_DIR when set (kept for inspection, as the
// harness does with its own logs), else in the test's temp dir.
func logDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv(harness.EnvLogsDir)
	if root == "" {
		return t.TempDir()
	}
	safe := regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(t.Name(), "_")
	dir := filepath.Join(root, safe+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+"-procs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
