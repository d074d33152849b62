package sim_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/ssh"

	"github.com/srvlab/rds-csi/rds/sim"
	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

const (
	legend = "Flags: X - DISABLED; B - BLOCK-DEVICE; M - MOUNTED; t - NVME-TCP-EXPORT\r\n"
	idA    = "pvc-0f8b1c9e-5a2d-4c3b-9e7f-123456789abc"
	pathA  = "/storage-pool/metal-csi/" + idA + ".img"
	nqnA   = "nqn.2000-02.com.mikrotik:" + idA
)

// TestMain fails the package when a goroutine outlives its test: Close must
// wait for every connection, session and command goroutine.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func addCmd(id, path, size string) string {
	return fmt.Sprintf("/disk add type=file file-path=%s file-size=%s slot=%s nvme-tcp-export=yes nvme-tcp-server-port=4420 nvme-tcp-server-nqn=nqn.2000-02.com.mikrotik:%s", path, size, id, id)
}

// mustRun runs a command that must succeed with the given output.
func mustRun(t *testing.T, e *simtest.Env, cmd, want string) {
	t.Helper()
	out, exit := e.Run(t, cmd)
	if exit != 0 || out != want {
		t.Fatalf("%s\n got exit %d, %q\nwant exit 0, %q", cmd, exit, out, want)
	}
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestAuthentication(t *testing.T) {
	e := simtest.Start(t)
	if out, exit := e.Run(t, "/system identity print"); out != "  name: rds-sim\r\n" || exit != 0 {
		t.Errorf("identity: %q, exit %d", out, exit)
	}
	stranger, _, err := simtest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.ClientConfig()
	cfg.Auth = []ssh.AuthMethod{ssh.PublicKeys(stranger)}
	if c, err := ssh.Dial("tcp", e.Addr, cfg); err == nil {
		c.Close()
		t.Fatal("an unknown key was accepted")
	} else if !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("unknown key: %v", err)
	}
	cfg.Auth = []ssh.AuthMethod{ssh.Password("admin")}
	if c, err := ssh.Dial("tcp", e.Addr, cfg); err == nil {
		c.Close()
		t.Fatal("password authentication was accepted")
	}
	// authorized_keys is read on every attempt, like sshd.
	f, err := os.OpenFile(e.AuthorizedKeysPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write(append([]byte("# added later\n"), ssh.MarshalAuthorizedKey(stranger.PublicKey())...))
	f.Close()
	c, err := ssh.Dial("tcp", e.Addr, cfg2(cfg, stranger))
	if err != nil {
		t.Fatalf("key added to authorized_keys: %v", err)
	}
	c.Close()
}

func cfg2(c *ssh.ClientConfig, s ssh.Signer) *ssh.ClientConfig {
	n := *c
	n.Auth = []ssh.AuthMethod{ssh.PublicKeys(s)}
	return &n
}

func TestHostKeyPersistsAcrossRestart(t *testing.T) {
	e := simtest.Start(t)
	before := e.Server.HostPublicKey().Marshal()
	pem1, err := os.ReadFile(filepath.Join(e.DataDir, sim.HostKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(pem1, []byte("BEGIN OPENSSH PRIVATE KEY")) {
		t.Errorf("host key is not an OpenSSH PEM key:\n%s", pem1)
	}
	if e.Server.HostPublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Errorf("host key type %s", e.Server.HostPublicKey().Type())
	}
	e.Restart(t)
	if !bytes.Equal(before, e.Server.HostPublicKey().Marshal()) {
		t.Error("host key changed across restart")
	}
	e.Run(t, "/system identity print") // FixedHostKey of the old key still works
}

func TestOnlyExec(t *testing.T) {
	e := simtest.Start(t)
	c := e.Dial(t)
	for _, req := range []string{"shell", "pty-req", "subsystem"} {
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		var ok bool
		switch req {
		case "shell":
			ok = s.Shell() == nil
		case "pty-req":
			ok = s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}) == nil
		case "subsystem":
			ok = s.RequestSubsystem("sftp") == nil
		}
		if ok {
			t.Errorf("%s request was accepted", req)
		}
		s.Close()
	}
	// Other channel types are refused.
	if _, _, err := c.OpenChannel("direct-tcpip", nil); err == nil {
		t.Error("direct-tcpip channel was accepted")
	}
	// The connection still serves exec afterwards.
	if out, _, err := simtest.Exec(c, "/system identity print"); err != nil || out != "  name: rds-sim\r\n" {
		t.Errorf("exec after refusals: %q, %v", out, err)
	}
}

func TestConcurrentSessionsOnOneConnection(t *testing.T) {
	e := simtest.Start(t)
	c := e.Dial(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("pvc-c%02d", i)
			if out, exit, err := simtest.Exec(c, addCmd(id, "/storage-pool/c/"+id+".img", "1G")); err != nil || exit != 0 || out != "" {
				errs <- fmt.Errorf("add %s: %q %d %w", id, out, exit, err)
				return
			}
			out, exit, err := simtest.Exec(c, "/disk print detail where slot="+id)
			if err != nil || exit != 0 || !strings.Contains(out, `slot="`+id+`"`) {
				errs <- fmt.Errorf("print %s: %q %d %w", id, out, exit, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	out, _ := e.Run(t, `/disk print detail where slot~"^pvc-c"`)
	if n := strings.Count(out, "type=file"); n != 16 {
		t.Errorf("%d disks listed, want 16", n)
	}
}

func TestCommandOutputGolden(t *testing.T) {
	e := simtest.Start(t, simtest.WithCapacity(100<<30), simtest.WithIdentity("RDS"))
	at := time.Date(2025, 11, 12, 0, 36, 13, 0, time.UTC)
	sim.SetNow(e.Server, func() time.Time { return at })

	mustRun(t, e, "/system identity print", "  name: RDS\r\n")
	mustRun(t, e, "/disk", "") // a bare menu path changes directory: no output
	mustRun(t, e, "/disk print detail where slot=nothing", legend)
	mustRun(t, e, addCmd("pvc-test-123", "/storage-pool/test.img", "50G"), "")
	mustRun(t, e, addCmd(idA, pathA, "1G"), "")

	record1 := ` 1  B t        type=file slot="pvc-test-123" slot-default="" parent="" fs=-
               model="/storage-pool/test.img"
               size=53 687 091 200 mount-filesystem=yes mount-read-only=no
               compress=no sector-size=512 raid-master=none
               nvme-tcp-export=yes nvme-tcp-server-port=4420
               nvme-tcp-server-nqn="nqn.2000-02.com.mikrotik:pvc-test-123"
               nvme-tcp-server-allow-host-name="" iscsi-export=no
               nfs-sharing=no smb-sharing=no media-sharing=no
               media-interface=none swap=no
               file-path=/storage-pool/test.img
               file-size=50.0GiB file-offset=0
`
	record2 := ` 2  B t        type=file slot="pvc-0f8b1c9e-5a2d-4c3b-9e7f-123456789abc"
               slot-default="" parent="" fs=-
               model="/storage-pool/metal-csi/pvc-0f8b1c9e-5a2d-4c3b-9e7f-123456
               789abc.img"
               size=1 073 741 824 mount-filesystem=yes mount-read-only=no
               compress=no sector-size=512 raid-master=none
               nvme-tcp-export=yes nvme-tcp-server-port=4420
               nvme-tcp-server-nqn="nqn.2000-02.com.mikrotik:pvc-0f8b1c9e-5a2d-4
               c3b-9e7f-123456789abc"
               nvme-tcp-server-allow-host-name="" iscsi-export=no
               nfs-sharing=no smb-sharing=no media-sharing=no
               media-interface=none swap=no
               file-path=/storage-pool/metal-csi/pvc-0f8b1c9e-5a2d-4c3b-9e7f-123
               456789abc.img
               file-size=1024.0MiB file-offset=0
`
	pool := ` 0  BM         slot=storage-pool type=partition mount-point=storage-pool
               file-system=btrfs
               size=107 374 182 400 free=52 613 349 376 use=51%
`
	mustRun(t, e, "/disk print detail where slot=pvc-test-123", legend+crlf(record1))
	mustRun(t, e, `/disk print detail where slot="pvc-test-123"`, legend+crlf(record1))
	mustRun(t, e, `/disk print detail where slot~"^pvc-"`, legend+crlf(record1+"\n"+record2))
	mustRun(t, e, `/disk print detail where mount-point="storage-pool"`, legend+crlf(pool))
	mustRun(t, e, `/disk print detail`, legend+crlf(pool+"\n"+record1+"\n"+record2))

	// Export off, then the record says so and loses the t flag.
	mustRun(t, e, "/disk set [find slot=pvc-test-123] nvme-tcp-export=no", "")
	out, _ := e.Run(t, "/disk print detail where slot=pvc-test-123")
	if !strings.HasPrefix(out, legend+" 1  B          type=file") || !strings.Contains(out, "nvme-tcp-export=no nvme-tcp-server-port=4420") {
		t.Errorf("after export=no:\n%s", out)
	}

	files := ` 0 D name=storage-pool/metal-csi type=directory
     creation-time=%s

 1   name=storage-pool/metal-csi/pvc-0f8b1c9e-5a2d-4c3b-9e7f-123456789abc.img
     type=.img file size=1 073 741 824 creation-time=2025-11-12 00:36:13

 2   name=storage-pool/test.img type=.img file size=53 687 091 200
     creation-time=2025-11-12 00:36:13
`
	fi, err := os.Stat(filepath.Join(e.DataDir, "storage-pool/metal-csi"))
	if err != nil {
		t.Fatal(err)
	}
	dirTime := fi.ModTime().UTC().Format("2006-01-02 15:04:05")
	mustRun(t, e, "/file print detail", "Flags: D - DIRECTORY\r\n"+crlf(fmt.Sprintf(files, dirTime)))
	mustRun(t, e, `/file print detail where name~"pvc-"`, "Flags: D - DIRECTORY\r\n"+crlf(
		` 1   name=storage-pool/metal-csi/pvc-0f8b1c9e-5a2d-4c3b-9e7f-123456789abc.img
     type=.img file size=1 073 741 824 creation-time=2025-11-12 00:36:13
`))
	mustRun(t, e, `/file print detail where name~"nothing"`, "Flags: D - DIRECTORY\r\n")
}

func TestDiskLifecycle(t *testing.T) {
	e := simtest.Start(t)
	mustRun(t, e, addCmd(idA, pathA, "1G"), "")
	host := filepath.Join(e.DataDir, pathA)

	// Grow: the file follows, sparse; equal size is a no-op.
	mustRun(t, e, "/disk set [find slot="+idA+"] file-size=2G", "")
	mustRun(t, e, "/disk set [find slot="+idA+"] file-size=2048M", "")
	if fi, err := os.Stat(host); err != nil || fi.Size() != 2<<30 {
		t.Fatalf("after grow: %v %v", fi, err)
	}
	out, _ := e.Run(t, "/disk print detail where slot="+idA)
	if !strings.Contains(out, "size=2 147 483 648 ") || !strings.Contains(out, "file-size=2.0GiB") {
		t.Errorf("after grow:\n%s", out)
	}

	// Remove keeps the backing file, like RouterOS; a second remove is a no-op.
	mustRun(t, e, "/disk remove [find slot="+idA+"]", "")
	mustRun(t, e, "/disk remove [find slot="+idA+"]", "")
	mustRun(t, e, "/disk print detail where slot="+idA, legend)
	if _, err := os.Stat(host); err != nil {
		t.Fatalf("backing file gone after /disk remove: %v", err)
	}
	// Adding onto the leftover file fails until the file is removed.
	if out, exit := e.Run(t, addCmd(idA, pathA, "1G")); exit != 1 || out != "failure: file already exists\r\n" {
		t.Errorf("add onto leftover file: %q %d", out, exit)
	}
	name := strings.TrimPrefix(pathA, "/")
	mustRun(t, e, `/file remove [find name="`+name+`"]`, "")
	mustRun(t, e, `/file remove [find name="`+name+`"]`, "")
	if _, err := os.Stat(host); !os.IsNotExist(err) {
		t.Fatalf("backing file after /file remove: %v", err)
	}
	mustRun(t, e, addCmd(idA, pathA, "1G"), "")
	// A file that backs a disk is not removed.
	if out, exit := e.Run(t, `/file remove [find name="`+name+`"]`); exit != 1 || out != "failure: file is in use by a disk\r\n" {
		t.Errorf("remove of a backing file in use: %q %d", out, exit)
	}
}

func TestFailureAnswers(t *testing.T) {
	e := simtest.Start(t, simtest.WithCapacity(10<<30))
	mustRun(t, e, addCmd("pvc-a", "/storage-pool/a.img", "2G"), "")
	for _, tc := range []struct{ cmd, want string }{
		{"/disk set [find slot=pvc-x] file-size=3G", "failure: no such item"},
		{"/disk set [find slot=pvc-x] nvme-tcp-export=no", "failure: no such item"},
		{addCmd("pvc-a", "/storage-pool/other.img", "1G"), "failure: disk with such slot already exists"},
		{addCmd("pvc-b", "/storage-pool/a.img", "1G"), "failure: file already exists"},
		{addCmd("pvc-b", "/storage-pool/b.img", "9G"), "failure: not enough space"},
		{"/disk set [find slot=pvc-a] file-size=1G", "failure: file size can not be decreased"},
		{"/disk set [find slot=pvc-a] file-size=11G", "failure: not enough space"},
		{"/disk add type=file copy-from=[find slot=pvc-a] file-path=/storage-pool/c.img slot=pvc-c file-size=1G", "failure: file size can not be decreased"},
		{"/disk add type=file copy-from=[find slot=pvc-x] file-path=/storage-pool/c.img slot=pvc-c", "failure: no such item"},
		{"/disk remove [find slot=storage-pool]", "failure: disk is mounted"},
		{"/disk frob", "bad command name frob (line 1 column 7)"},
		{"/disk add type=file slot=pvc-b bogus=1", "expected end of command (line 1 column 32)"},
		{addCmd("pvc-b", "/storage-pool/b.img", "lots"), "invalid value for argument file-size"},
		{addCmd("pvc-b", "/storage-pool/b.img", "0"), "invalid value for argument file-size"},
		{addCmd("pvc-b", "/storage-pool/../b.img", "1G"), "invalid value for argument file-path"},
		{addCmd("pvc-b", "storage-pool/b.img", "1G"), "invalid value for argument file-path"},
		{addCmd("pvc-b", "/elsewhere/b.img", "1G"), "invalid value for argument file-path"},
		{"/disk add type=file file-path=/storage-pool/b.img file-size=1G slot=pvc-b nvme-tcp-export=maybe", "invalid value for argument nvme-tcp-export"},
		{"/disk add type=file file-path=/storage-pool/b.img file-size=1G slot=pvc-b nvme-tcp-server-port=70000", "invalid value for argument nvme-tcp-server-port"},
		{"/disk set [find slot=pvc-a] nvme-tcp-export=1", "invalid value for argument nvme-tcp-export"},
		{"/disk add type=tmpfs slot=pvc-b", "invalid value for argument type"},
		{"/disk add type=file file-path=/storage-pool/b.img slot=pvc-b", "failure: file-size not specified"},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			out, exit := e.Run(t, tc.cmd)
			if exit != 1 || out != tc.want+"\r\n" {
				t.Errorf("got exit %d, %q; want exit 1, %q", exit, out, tc.want+"\r\n")
			}
		})
	}
	// Nothing of the failed commands left a trace.
	out, _ := e.Run(t, "/disk print detail")
	if strings.Count(out, "type=file") != 1 || !strings.Contains(out, "size=2 147 483 648 ") {
		t.Errorf("state after failures:\n%s", out)
	}
	for _, f := range []string{"b.img", "c.img", "other.img"} {
		if _, err := os.Stat(filepath.Join(e.DataDir, "storage-pool", f)); !os.IsNotExist(err) {
			t.Errorf("%s exists after a failed add: %v", f, err)
		}
	}
}

func TestCapacity(t *testing.T) {
	e := simtest.Start(t, simtest.WithCapacity(4<<30))
	mustRun(t, e, addCmd("pvc-a", "/storage-pool/a.img", "2G"), "")
	mustRun(t, e, addCmd("pvc-b", "/storage-pool/b.img", "2G"), "") // exactly full
	out, _ := e.Run(t, `/disk print detail where mount-point=storage-pool`)
	if !strings.Contains(out, "size=4 294 967 296 free=0 use=100%") {
		t.Errorf("pool when full:\n%s", out)
	}
	for _, cmd := range []string{
		addCmd("pvc-c", "/storage-pool/c.img", "1"),
		"/disk set [find slot=pvc-a] file-size=3G",
		"/disk add type=file copy-from=[find slot=pvc-a] file-path=/storage-pool/c.img slot=pvc-c",
	} {
		if out, exit := e.Run(t, cmd); exit != 1 || out != "failure: not enough space\r\n" {
			t.Errorf("%s: %q %d", cmd, out, exit)
		}
	}
	// Removing a disk frees its space even though its file stays.
	mustRun(t, e, "/disk remove [find slot=pvc-b]", "")
	mustRun(t, e, "/disk add type=file copy-from=[find slot=pvc-a] file-path=/storage-pool/c.img slot=pvc-c", "")
}

func TestSparseBackingFile(t *testing.T) {
	e := simtest.Start(t)
	mustRun(t, e, addCmd(idA, pathA, "100G"), "")
	fi, err := os.Stat(filepath.Join(e.DataDir, pathA))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 100<<30 {
		t.Errorf("size %d", fi.Size())
	}
	if used := fi.Sys().(*syscall.Stat_t).Blocks * 512; used > 1<<20 {
		t.Errorf("100 GiB disk allocates %d bytes", used)
	}
}

func TestCopyIsIndependentDataCopy(t *testing.T) {
	e := simtest.Start(t)
	mustRun(t, e, addCmd("pvc-src", "/storage-pool/src.img", "1G"), "")
	src := filepath.Join(e.DataDir, "storage-pool/src.img")
	data := []byte("filesystem superblock stand-in")
	writeAt(t, src, data, 1<<20)
	mustRun(t, e, "/disk add type=file copy-from=[find slot=pvc-src] file-path=/storage-pool/snap/snap-1.img slot=snap-1", "")
	mustRun(t, e, `/disk add type=file copy-from=[find slot="pvc-src"] file-path=/storage-pool/clone.img slot=pvc-clone file-size=2G nvme-tcp-export=yes nvme-tcp-server-nqn=nqn.2000-02.com.mikrotik:pvc-clone`, "")
	// Changing the source afterwards must not show in the copies.
	writeAt(t, src, []byte("CHANGED"), 1<<20)
	for _, c := range []struct {
		path string
		size int64
	}{{"storage-pool/snap/snap-1.img", 1 << 30}, {"storage-pool/clone.img", 2 << 30}} {
		p := filepath.Join(e.DataDir, c.path)
		got := make([]byte, len(data))
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.ReadAt(got, 1<<20); err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		f.Close()
		if !bytes.Equal(got, data) {
			t.Errorf("%s holds %q, want %q", c.path, got, data)
		}
		if fi.Size() != c.size {
			t.Errorf("%s size %d, want %d", c.path, fi.Size(), c.size)
		}
		if used := fi.Sys().(*syscall.Stat_t).Blocks * 512; used > 1<<20 {
			t.Errorf("%s allocates %d bytes, want sparse", c.path, used)
		}
	}
	out, _ := e.Run(t, "/disk print detail where slot=snap-1")
	if !strings.Contains(out, "nvme-tcp-export=no") || !strings.Contains(out, `nvme-tcp-server-nqn=""`) {
		t.Errorf("snapshot copy is exported:\n%s", out)
	}
	out, _ = e.Run(t, "/disk print detail where slot=pvc-clone")
	if !strings.Contains(out, "nvme-tcp-export=yes") || !strings.Contains(out, "file-size=2.0GiB") {
		t.Errorf("clone:\n%s", out)
	}
}

func writeAt(t *testing.T, name string, data []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	e := simtest.Start(t)
	mustRun(t, e, addCmd("pvc-a", "/storage-pool/a.img", "1G"), "")
	mustRun(t, e, addCmd("pvc-b", "/storage-pool/b.img", "2G"), "")
	mustRun(t, e, "/disk set [find slot=pvc-a] file-size=3G", "")
	mustRun(t, e, "/disk remove [find slot=pvc-b]", "")
	before, _ := e.Run(t, "/disk print detail")
	filesBefore, _ := e.Run(t, "/file print detail")
	// A leftover temp file of an interrupted state write is ignored.
	if err := os.WriteFile(filepath.Join(e.DataDir, ".state.json.tmp-999"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := e.Server
	e.Restart(t)
	if e.Server == old {
		t.Fatal("Restart kept the old server")
	}
	after, _ := e.Run(t, "/disk print detail")
	filesAfter, _ := e.Run(t, "/file print detail")
	if before != after || filesBefore != filesAfter {
		t.Errorf("state changed across restart:\n%s\n---\n%s\n---\n%s\n---\n%s", before, after, filesBefore, filesAfter)
	}
	if !strings.Contains(after, `slot="pvc-a"`) || strings.Contains(after, `slot="pvc-b"`) {
		t.Errorf("after restart:\n%s", after)
	}
}

func TestRestartCutsConnections(t *testing.T) {
	e := simtest.Start(t)
	c := e.Dial(t)
	e.Restart(t)
	if _, _, err := simtest.Exec(c, "/system identity print"); err == nil {
		t.Error("a connection survived the restart")
	}
}

// control calls the HTTP control endpoint.
func control(t *testing.T, e *simtest.Env, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.ControlURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	// No keep-alive: an idle client connection would look like a leak.
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestControlBasics(t *testing.T) {
	e := simtest.Start(t)
	if code, body := control(t, e, "GET", "/healthz", ""); code != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	e.Run(t, "/system identity print")
	e.Run(t, "/disk frob")
	if code, body := control(t, e, "GET", "/commands", ""); code != 200 || body != "/system identity print\n/disk frob\n" {
		t.Errorf("commands: %d %q", code, body)
	}
	if got := e.Server.Commands(); len(got) != 2 || got[1] != "/disk frob" {
		t.Errorf("Commands() = %q", got)
	}
	code, body := control(t, e, "GET", "/stats", "")
	if code != 200 || !strings.HasPrefix(body, `{"commands":2,"command_seconds":`) {
		t.Errorf("stats: %d %q", code, body)
	}
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"PUT", "/faults/explode", "on", 404},
		{"PUT", "/faults/hang", "maybe", 400},
		{"GET", "/drop", "", 405},
		{"PUT", "/faults/disk-full", "on\n", 204},
	} {
		if code, _ := control(t, e, tc.method, tc.path, tc.body); code != tc.want {
			t.Errorf("%s %s %q: %d, want %d", tc.method, tc.path, tc.body, code, tc.want)
		}
	}
	if code, body := control(t, e, "GET", "/faults", ""); code != 200 || body != `{"copy-rate":0,"disk-full":true,"drop-answer":"","flap":"0s","hang":false,"max-sessions":0,"refuse":false}`+"\n" {
		t.Errorf("faults: %d %q", code, body)
	}
}

func TestFaultRefuse(t *testing.T) {
	e := simtest.Start(t)
	control(t, e, "PUT", "/faults/refuse", "on")
	// TCP connects, then the server hangs up before its SSH banner.
	nc, err := net.DialTimeout("tcp", e.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("TCP connect while refusing: %v", err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc.Read(make([]byte, 64)); n != 0 || err == nil {
		t.Errorf("read %d bytes, %v; want EOF before any banner", n, err)
	}
	nc.Close()
	if c, err := ssh.Dial("tcp", e.Addr, e.ClientConfig()); err == nil {
		c.Close()
		t.Fatal("SSH dial succeeded while refusing")
	}
	control(t, e, "PUT", "/faults/refuse", "off")
	e.Run(t, "/system identity print")
}

func TestFaultDiskFull(t *testing.T) {
	e := simtest.Start(t)
	mustRun(t, e, addCmd("pvc-a", "/storage-pool/a.img", "1G"), "")
	control(t, e, "PUT", "/faults/disk-full", "on")
	for _, cmd := range []string{
		addCmd("pvc-b", "/storage-pool/b.img", "1G"),
		"/disk set [find slot=pvc-a] file-size=2G",
		"/disk add type=file copy-from=[find slot=pvc-a] file-path=/storage-pool/c.img slot=pvc-c",
	} {
		if out, exit := e.Run(t, cmd); exit != 1 || out != "failure: not enough space\r\n" {
			t.Errorf("%s: %q %d", cmd, out, exit)
		}
	}
	// Reads and space-neutral changes still work.
	mustRun(t, e, "/disk set [find slot=pvc-a] nvme-tcp-export=no", "")
	control(t, e, "PUT", "/faults/disk-full", "off")
	mustRun(t, e, addCmd("pvc-b", "/storage-pool/b.img", "1G"), "")
}

// startExec runs a command in the background; the result arrives on the channel.
func startExec(c *ssh.Client, cmd string) <-chan error {
	done := make(chan error, 1)
	go func() {
		out, exit, err := simtest.Exec(c, cmd)
		if err == nil && (exit != 0 || out != "") {
			err = fmt.Errorf("exit %d, %q", exit, out)
		}
		done <- err
	}()
	return done
}

func TestFaultHangReleasedByOff(t *testing.T) {
	e := simtest.Start(t)
	c := e.Dial(t)
	control(t, e, "PUT", "/faults/hang", "on")
	done := startExec(c, addCmd("pvc-a", "/storage-pool/a.img", "1G"))
	select {
	case err := <-done:
		t.Fatalf("command answered during hang: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	control(t, e, "PUT", "/faults/hang", "off")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("released command: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("command still held after the fault was turned off")
	}
	out, _ := e.Run(t, "/disk print detail where slot=pvc-a")
	if !strings.Contains(out, `slot="pvc-a"`) {
		t.Errorf("released add did not run:\n%s", out)
	}
}

func TestFaultHangReleasedByDrop(t *testing.T) {
	e := simtest.Start(t)
	c := e.Dial(t)
	e.Server.SetFault(sim.FaultHang, true)
	done := startExec(c, addCmd("pvc-a", "/storage-pool/a.img", "1G"))
	time.Sleep(200 * time.Millisecond)
	if code, _ := control(t, e, "POST", "/drop", ""); code != 204 {
		t.Fatalf("drop: %d", code)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("held command answered successfully after a drop")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("held command not released by drop")
	}
	// The command outlives its connection, as on RouterOS: released, it
	// runs although nobody hears the answer.
	e.Server.SetFault(sim.FaultHang, false)
	waitFor(t, "the held add to run after the drop", func() bool {
		out, _ := e.Run(t, "/disk print detail where slot=pvc-a")
		return strings.Contains(out, `slot="pvc-a"`)
	})
}

func TestCloseReleasesHeldCommands(t *testing.T) {
	e := simtest.Start(t)
	c := e.Dial(t)
	e.Server.SetFault(sim.FaultHang, true)
	done := startExec(c, "/system identity print")
	time.Sleep(100 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- e.Server.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked on a held command")
	}
	if err := <-done; err == nil {
		t.Error("held command succeeded after Close")
	}
}

func TestRealisticLatencyAndStats(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps")
	}
	e := simtest.Start(t, simtest.WithLatency(sim.LatencyRealistic))
	start := time.Now()
	c := e.Dial(t)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("connect+auth took %v, want at least 200ms", d)
	}
	start = time.Now()
	if _, _, err := simtest.Exec(c, "/disk print detail"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("/disk print took %v, want at least 50ms", d)
	}
	st := e.Server.Stats()
	if st.Commands != 1 || st.CommandTime < 50*time.Millisecond || st.CommandTime > time.Since(start) {
		t.Errorf("stats %+v", st)
	}
}

func TestRunStopsOnContext(t *testing.T) {
	e := simtest.Start(t)
	cfg := e.Server.Config()
	cfg.Listen = "127.0.0.1:0"
	cfg.ControlListen = ""
	cfg.DataDir = t.TempDir()
	cfg.HostKeyPath = ""
	srv, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Addr() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestFailedStateWriteLeavesNoBackingFile: when the state file cannot be
// written, /disk add answers a failure and must not leave its new backing
// file behind; it used to, and every retry then answered "file already
// exists" although no disk had been added.
func TestFailedStateWriteLeavesNoBackingFile(t *testing.T) {
	e := simtest.Start(t)
	stateFile := filepath.Join(e.DataDir, sim.StateFileName)
	if err := os.Remove(stateFile); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	// A directory in the state file's place makes the atomic rename fail
	// (also for root, unlike permission bits).
	if err := os.Mkdir(stateFile, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, exit := e.Run(t, addCmd(idA, pathA, "1G")); exit != 1 || out != "failure: internal error\r\n" {
		t.Fatalf("add with an unwritable state file: %q %d", out, exit)
	}
	if _, err := os.Lstat(filepath.Join(e.DataDir, pathA)); !os.IsNotExist(err) {
		t.Errorf("backing file of the failed add: %v", err)
	}
	if err := os.Remove(stateFile); err != nil {
		t.Fatal(err)
	}
	mustRun(t, e, addCmd(idA, pathA, "1G"), "")
}

// waitFor polls cond until it holds, failing the test after 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// received reports whether a command containing part reached the server.
func received(e *simtest.Env, part string) bool {
	for _, c := range e.Server.Commands() {
		if strings.Contains(c, part) {
			return true
		}
	}
	return false
}
