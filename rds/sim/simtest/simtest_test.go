package simtest_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestFilesWorkWithOpenSSH checks that the key and known_hosts files of an
// Env are usable by OpenSSH as they are, also after a restart.
func TestFilesWorkWithOpenSSH(t *testing.T) {
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("no ssh client")
	}
	e := simtest.Start(t, simtest.WithIdentity("lab-rds"))
	pub, err := os.ReadFile(e.HostKeyPath)
	if err != nil || !strings.HasPrefix(string(pub), "ssh-ed25519 AAAA") {
		t.Fatalf("host key file %q, %v", pub, err)
	}
	run := func() string {
		t.Helper()
		_, port, _ := strings.Cut(e.Addr, ":")
		cmd := exec.Command(sshBin, "-F", "/dev/null", "-i", e.ClientKeyPath,
			"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
			"-o", "UserKnownHostsFile="+e.KnownHostsPath, "-o", "GlobalKnownHostsFile=/dev/null",
			"-o", "StrictHostKeyChecking=yes", "-p", port, simtest.User+"@127.0.0.1", "/system identity print")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("ssh: %v: %s", err, errOut.String())
		}
		return out.String()
	}
	if got := run(); got != "  name: lab-rds\r\n" {
		t.Errorf("got %q", got)
	}
	addr := e.Addr
	e.Restart(t)
	if e.Addr != addr {
		t.Errorf("address changed across restart: %s → %s", addr, e.Addr)
	}
	if got := run(); got != "  name: lab-rds\r\n" {
		t.Errorf("after restart: %q", got)
	}
}
