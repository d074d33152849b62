package images

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// envRuntime names the OCI runtime binary; crun by default (from Debian),
// runc (what containerd runs on Kubernetes nodes) with
// RDS_CSI_OCI_RUNTIME=runc. Both take the same arguments.
const envRuntime = "RDS_CSI_OCI_RUNTIME"

func ociRuntime() string {
	if r := os.Getenv(envRuntime); r != "" {
		return r
	}
	return "crun"
}

// runtimeCommand is one command of the OCI runtime rt. crun 1.8 refuses
// hybrid cgroup hosts (cgroup v1 controllers plus a cgroup2 hierarchy at
// /sys/fs/cgroup/unified), as these test machines are. The test containers
// set no cgroup limits, so crun runs with --cgroup-manager=disabled, and on
// a hybrid host in a private mount namespace (unshare's default
// propagation is private) without the cgroup2 hierarchy: the host's mounts
// are untouched.
func runtimeCommand(ctx context.Context, rt string, args ...string) *exec.Cmd {
	if filepath.Base(rt) != "crun" {
		return exec.CommandContext(ctx, rt, args...)
	}
	args = append([]string{"--cgroup-manager=disabled"}, args...)
	if !hybridCgroups() {
		return exec.CommandContext(ctx, rt, args...)
	}
	script := `umount -l /sys/fs/cgroup/unified && exec "$0" "$@"`
	return exec.CommandContext(ctx, "unshare", append([]string{"-m", "sh", "-c", script, rt}, args...)...)
}

// hybridCgroups tells whether the host mounts a cgroup2 hierarchy beside
// cgroup v1 controllers (systemd's "hybrid" layout).
func hybridCgroups() bool {
	var fs unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup/unified", &fs) == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC
}

var containerSeq atomic.Int64

// bundle is an unpacked image ready for the runtime: rootfs plus the
// image's config (user, env, working directory).
type bundle struct {
	dir    string
	config imageConfig
}

// result is one container run.
type result struct {
	exitCode int
	stdout   string
	stderr   string
}

// run starts args in a fresh container of the bundle and waits (60 s at
// most). The root filesystem is read-only like the manifests' containers;
// /tmp is a tmpfs. args replace the image's entrypoint: run(b, "/rds-csi",
// "--version") is what `kubectl run --image ... -- --version` runs.
func (b *bundle) run(t *testing.T, args ...string) result {
	t.Helper()
	uid, gid, err := parseUser(b.config.Config.User)
	if err != nil {
		t.Fatalf("image user: %v", err)
	}
	cwd := b.config.Config.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	spec := runtimeSpec(args, b.config.Config.Env, cwd, uid, gid)
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("rds-csi-imgtest-%d-%d", os.Getpid(), containerSeq.Add(1))
	// Runtime state in the test's temp dir: nothing left in /run after a crash.
	state := filepath.Join(filepath.Dir(b.dir), "runtime-state")
	rt := ociRuntime()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := runtimeCommand(ctx, rt, "--root", state, "run", "--bundle", b.dir, id)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	// A container that outlived the run (timeout) must not outlive the test.
	if out, err := runtimeCommand(context.Background(), rt, "--root", state, "delete", "--force", id).CombinedOutput(); err != nil &&
		!strings.Contains(string(out), "does not exist") && !strings.Contains(string(out), "not found") {
		t.Logf("%s delete %s: %v: %s", rt, id, err, out)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s run %v: no exit within 60 s\nstdout: %s\nstderr: %s", rt, args, stdout.String(), stderr.String())
	}
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	if runErr != nil {
		var ee *exec.ExitError
		if !errors.As(runErr, &ee) {
			t.Fatalf("%s run: %v", rt, runErr)
		}
		res.exitCode = ee.ExitCode()
	}
	return res
}

// parseUser accepts the numeric "uid[:gid]" form the build writes; names
// would need the image's /etc/passwd and are not used.
func parseUser(u string) (uint32, uint32, error) {
	if u == "" {
		return 0, 0, nil
	}
	us, gs, hasGroup := strings.Cut(u, ":")
	uid, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("user %q is not numeric", u)
	}
	gid := uid
	if hasGroup {
		if gid, err = strconv.ParseUint(gs, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("group in %q is not numeric", u)
		}
	}
	return uint32(uid), uint32(gid), nil
}

// runtimeSpec is a minimal OCI runtime config: own namespaces (no network
// reachable), read-only root, the usual /proc, /dev, /sys, a tmpfs /tmp, no
// cgroup limits (the test machines run cgroup v1/hybrid; limits are not what
// is tested), and the default unprivileged capability set.
func runtimeSpec(args, env []string, cwd string, uid, gid uint32) map[string]any {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"terminal": false,
			"user":     map[string]any{"uid": uid, "gid": gid},
			"args":     args,
			"env":      env,
			"cwd":      cwd,
			"capabilities": map[string]any{
				"bounding": caps, "effective": caps, "permitted": caps,
			},
			"rlimits":         []map[string]any{{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}},
			"noNewPrivileges": true,
		},
		"root":     map[string]any{"path": "rootfs", "readonly": true},
		"hostname": "rds-csi-image-test",
		"mounts": []map[string]any{
			{"destination": "/proc", "type": "proc", "source": "proc"},
			{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": []string{"nosuid", "noexec", "nodev", "ro"}},
			{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "nodev", "mode=1777", "size=1g"}},
		},
		"linux": map[string]any{
			"namespaces": []map[string]any{
				{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
			},
			"maskedPaths":   []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"},
			"readonlyPaths": []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}
