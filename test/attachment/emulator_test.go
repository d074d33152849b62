package attachment

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/srvlab/rds-csi/rds/sim/simtest"
	"github.com/srvlab/rds-csi/test/harness"
)

// emulator is the rds-sim binary on a fixed SSH address, data directory and
// host key, so that a restart comes back exactly where the driver (which
// pins the host key) expects it, with the disks it had.
type emulator struct {
	dir        string
	addr       string // SSH host:port, the same across restarts
	controlURL string // http://127.0.0.1:port, the same across restarts

	clientKeyPath  string // rds-csi --rds-private-key
	hostPubPath    string // rds-csi --rds-host-key
	hostKeyPath    string // rds-sim --host-key (private)
	authorizedKeys string

	clientSigner ssh.Signer
	hostPub      ssh.PublicKey

	proc   *child // current (or last) process
	starts int
}

// newEmulator writes the keys and reserves the ports; start runs it.
func newEmulator(t testing.TB, dir string) *emulator {
	t.Helper()
	e := &emulator{
		dir:            dir,
		addr:           fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t)),
		controlURL:     fmt.Sprintf("http://127.0.0.1:%d", harness.FreePort(t)),
		clientKeyPath:  filepath.Join(dir, "id_ed25519"),
		hostPubPath:    filepath.Join(dir, "rds_host_key.pub"),
		hostKeyPath:    filepath.Join(dir, "rds_host_key"),
		authorizedKeys: filepath.Join(dir, "authorized_keys"),
	}
	client, clientPEM, err := simtest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	host, hostPEM, err := simtest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	e.clientSigner, e.hostPub = client, host.PublicKey()
	for path, data := range map[string][]byte{
		e.clientKeyPath:  clientPEM,
		e.hostKeyPath:    hostPEM,
		e.hostPubPath:    ssh.MarshalAuthorizedKey(host.PublicKey()),
		e.authorizedKeys: ssh.MarshalAuthorizedKey(client.PublicKey()),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// start runs a new rds-sim process and returns once its control endpoint
// answers (rds-sim opens it only after the SSH listener).
func (e *emulator) start(t testing.TB) {
	t.Helper()
	e.starts++
	name := fmt.Sprintf("rds-sim#%d", e.starts)
	e.proc = startChild(t, name, filepath.Join(e.dir, fmt.Sprintf("rds-sim-%d.log", e.starts)), simBin, nil,
		"--listen="+e.addr,
		"--data-dir="+filepath.Join(e.dir, "rds-data"),
		"--host-key="+e.hostKeyPath,
		"--authorized-keys="+e.authorizedKeys,
		"--control="+strings.TrimPrefix(e.controlURL, "http://"),
		"--capacity=1T",
	)
	p := e.proc
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	_, ok := pollUntil(finePoll, 20*time.Second, func() bool {
		if p.exited() {
			return true
		}
		resp, err := hc.Get(e.controlURL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if !ok || p.exited() {
		p.dumpLog(t)
		t.Fatalf("%s is not serving on %s (exited: %v)", name, e.addr, p.exited())
	}
}

// dial opens an SSH connection of our own (a second client next to the
// driver's), pinned to the host key; closed when the test ends.
func (e *emulator) dial(t testing.TB) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", e.addr, &ssh.ClientConfig{
		User:            simtest.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(e.clientSigner)},
		HostKeyCallback: ssh.FixedHostKey(e.hostPub),
		Timeout:         5 * time.Second,
	})
	if err != nil {
		t.Fatalf("dialling the emulator: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// exportField finds the export flag in a "print detail" record. Records
// wrap at 80 columns with 15-space continuation lines; those are joined
// first so a wrap can never split the field.
var exportField = regexp.MustCompile(`nvme-tcp-export=(yes|no)`)

// exported asks the emulator, exactly as an operator would, whether the
// disk in slot id is exported over NVMe/TCP.
func exported(c *ssh.Client, id string) (bool, error) {
	out, status, err := simtest.Exec(c, "/disk print detail where slot="+id)
	if err != nil {
		return false, err
	}
	joined := strings.ReplaceAll(out, "\r\n               ", "")
	m := exportField.FindStringSubmatch(joined)
	if status != 0 || m == nil {
		return false, fmt.Errorf("/disk print detail where slot=%s: exit %d: %q", id, status, out)
	}
	return m[1] == "yes", nil
}

// unexport turns a disk's export off behind the driver's back.
func unexport(t testing.TB, c *ssh.Client, id string) {
	t.Helper()
	cmd := "/disk set [ find where slot=" + id + " ] nvme-tcp-export=no"
	out, status, err := simtest.Exec(c, cmd)
	if err != nil || status != 0 {
		t.Fatalf("%s: exit %d, %v: %q", cmd, status, err, out)
	}
}

// drop cuts every SSH connection through the control endpoint: the driver
// sees a connection loss and reconnects.
func (e *emulator) drop(t testing.TB) {
	t.Helper()
	resp, err := http.Post(e.controlURL+"/drop", "text/plain", nil)
	if err != nil {
		t.Fatalf("POST /drop: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /drop: %s", resp.Status)
	}
}
