//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/rds/sim"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
	"github.com/srvlab/rds-csi/test/harness"
)

// emulator is rds-sim running as a child process. Its SSH and control ports
// and its host key are fixed at creation, so a restart after SIGKILL comes
// back where the controller expects it, with the state it had on disk.
type emulator struct {
	cp   *harness.ControlPlane
	bin  string
	args []string

	Addr       string // SSH host:port
	ControlURL string // http://host:port of the control endpoint
	DataDir    string
	ClientKey  string // OpenSSH private key the controller logs in with
	HostKeyPub string // the emulator's public host key line (--rds-host-key)

	proc *harness.Process
}

// startEmulator creates keys and a data directory and starts rds-sim.
func startEmulator(t *testing.T, cp *harness.ControlPlane, bin string) *emulator {
	t.Helper()
	return startEmulatorSized(t, cp, bin, "100G")
}

// startEmulatorSized is startEmulator with a pool of capacity (rds-sim
// --capacity).
func startEmulatorSized(t *testing.T, cp *harness.ControlPlane, bin, capacity string) *emulator {
	t.Helper()
	dir := t.TempDir()
	ports := freePorts(t, 2)
	e := &emulator{
		cp:         cp,
		bin:        bin,
		Addr:       fmt.Sprintf("127.0.0.1:%d", ports[0]),
		ControlURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		DataDir:    filepath.Join(dir, "data"),
		ClientKey:  filepath.Join(dir, "id_ed25519"),
		HostKeyPub: filepath.Join(dir, "host_key.pub"),
	}
	client, clientPEM, err := simtest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	// The host key is made here rather than by rds-sim so that the
	// controller can pin it before the emulator first starts.
	host, hostPEM, err := simtest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	authorized := filepath.Join(dir, "authorized_keys")
	for path, data := range map[string][]byte{
		e.ClientKey:  clientPEM,
		hostKey:      hostPEM,
		authorized:   ssh.MarshalAuthorizedKey(client.PublicKey()),
		e.HostKeyPub: ssh.MarshalAuthorizedKey(host.PublicKey()),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.args = []string{
		"--listen=" + e.Addr,
		"--data-dir=" + e.DataDir,
		"--host-key=" + hostKey,
		"--authorized-keys=" + authorized,
		"--control=" + strings.TrimPrefix(e.ControlURL, "http://"),
		"--capacity=" + capacity,
	}
	e.Start(t)
	return e
}

// Start runs rds-sim (again) and waits until SSH accepts connections and
// the control endpoint answers.
func (e *emulator) Start(t *testing.T) {
	t.Helper()
	e.proc = e.cp.StartBinary(e.bin, e.args...)
	hc := &http.Client{Timeout: 2 * time.Second}
	eventually(t, 30*time.Second, "rds-sim to listen", func() (bool, string, error) {
		if exited, err := e.proc.Exited(); exited {
			return false, "", fatalf("rds-sim exited: %v\n%s", err, e.proc.Tail(20))
		}
		conn, err := net.DialTimeout("tcp", e.Addr, time.Second)
		if err != nil {
			return false, err.Error(), nil
		}
		_ = conn.Close()
		resp, err := hc.Get(e.ControlURL + "/healthz")
		if err != nil {
			return false, err.Error(), nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status, nil
	})
}

// Kill SIGKILLs the emulator: no connection is closed cleanly, exactly like
// a power loss of the RDS (the state file survives, as on real hardware).
func (e *emulator) Kill(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(-e.proc.Pid(), syscall.SIGKILL); err != nil {
		t.Fatalf("killing rds-sim: %v", err)
	}
	select {
	case <-e.proc.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("rds-sim survived SIGKILL for 10s")
	}
}

// Process is the current rds-sim process (it changes on Start).
func (e *emulator) Process() *harness.Process { return e.proc }

// DiskFile is where the emulator keeps the backing file of a disk created in
// the driver's default volume path.
func (e *emulator) DiskFile(id string) string {
	return filepath.Join(e.DataDir, filepath.FromSlash(strings.TrimPrefix(rds.FilePathFor(rds.DefaultVolumePath, id), "/")))
}

// Disks reads the emulator's persisted state (state.json, rewritten
// atomically on every change): slot → size in bytes.
func (e *emulator) Disks() (map[string]int64, error) {
	data, err := os.ReadFile(filepath.Join(e.DataDir, sim.StateFileName))
	if os.IsNotExist(err) {
		return map[string]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	var st struct {
		Disks []struct {
			Slot string `json:"slot"`
			Size int64  `json:"size"`
		} `json:"disks"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("state.json: %w", err)
	}
	disks := map[string]int64{}
	for _, d := range st.Disks {
		disks[d.Slot] = d.Size
	}
	return disks, nil
}

// DiskState reports a disk as the emulator has it: whether the slot is in its
// state and the size of its backing file (-1: no file).
func (e *emulator) DiskState(id string) (inState bool, stateSize, fileSize int64, err error) {
	disks, err := e.Disks()
	if err != nil {
		return false, 0, 0, err
	}
	stateSize, inState = disks[id]
	fileSize = -1
	if st, err := os.Stat(e.DiskFile(id)); err == nil {
		fileSize = st.Size()
	} else if !os.IsNotExist(err) {
		return false, 0, 0, err
	}
	return inState, stateSize, fileSize, nil
}

// Commands returns the last n commands the running emulator received (for
// failure diagnostics).
func (e *emulator) Commands(n int) string {
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get(e.ControlURL + "/commands")
	if err != nil {
		return fmt.Sprintf("(no command log: %v)", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	lines := strings.Split(strings.TrimRight(string(body), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
