package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/srvlab/rds-csi/rds/sim/simtest"
)

func TestBadFlags(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "authorized_keys")
	signer, _, err := simtest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keys, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--bogus"}, "flag provided but not defined: -bogus"},
		{"no data dir", []string{"--authorized-keys", keys}, "data directory is required"},
		{"no keys", []string{"--data-dir", data}, "authorized keys file is required"},
		{"bad capacity", []string{"--data-dir", data, "--authorized-keys", keys, "--capacity", "lots"}, "--capacity"},
		{"bad latency", []string{"--data-dir", data, "--authorized-keys", keys, "--latency", "slow"}, `latency "slow"`},
		{"public control", []string{"--data-dir", data, "--authorized-keys", keys, "--control", "0.0.0.0:9000"}, "loopback"},
		{"bad listen", []string{"--data-dir", data, "--authorized-keys", keys, "--listen", "nowhere"}, "listen address"},
		{"stray argument", []string{"--data-dir", data, "--authorized-keys", keys, "extra"}, "unexpected arguments"},
		{"negative max sessions", []string{"--data-dir", data, "--authorized-keys", keys, "--max-sessions", "-1"}, "max sessions must not be negative, got -1"},
		{"bad max sessions", []string{"--data-dir", data, "--authorized-keys", keys, "--max-sessions", "many"}, "-max-sessions"},
		{"negative copy rate", []string{"--data-dir", data, "--authorized-keys", keys, "--copy-rate", "-1M"}, `--copy-rate: copy rate "-1M": must not be negative`},
		{"bad copy rate", []string{"--data-dir", data, "--authorized-keys", keys, "--copy-rate", "fast"}, "--copy-rate"},
		{"negative flap", []string{"--data-dir", data, "--authorized-keys", keys, "--flap-after", "-1s"}, "flap-after must not be negative, got -1s"},
		{"bad flap", []string{"--data-dir", data, "--authorized-keys", keys, "--flap-after", "soon"}, "-flap-after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(context.Background(), tc.args, io.Discard, &stderr); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.want)
			}
		})
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, io.Discard, &stderr); code != 0 || !strings.Contains(stderr.String(), "-authorized-keys") {
		t.Errorf("--help: exit %d, %q", code, stderr.String())
	}
}

// TestVersionFlag: --version needs none of the required flags, prints
// "rds-sim <Version> (...)" on stdout and exits 0.
func TestVersionFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, want 0; stderr %q", code, stderr.String())
	}
	f := strings.Fields(stdout.String())
	if len(f) < 2 || f[0] != "rds-sim" || f[1] != Version {
		t.Errorf("stdout %q does not start with %q", stdout.String(), "rds-sim "+Version)
	}
	if !strings.Contains(stdout.String(), runtime.Version()) {
		t.Errorf("stdout %q lacks the Go version", stdout.String())
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	e := simtest.Start(t) // only for its keys
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--authorized-keys", e.AuthorizedKeysPath}, io.Discard, &stderr)
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}

// TestPartialFaultFlags checks that --max-sessions, --copy-rate and
// --flap-after reach the server, as the control endpoint reports them.
func TestPartialFaultFlags(t *testing.T) {
	e := simtest.Start(t) // only for its keys
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"defaults", nil, `{"copy-rate":0,"disk-full":false,"drop-answer":"","flap":"0s","hang":false,"max-sessions":0,"refuse":false}`},
		{"set", []string{"--max-sessions", "2", "--copy-rate", "100M", "--flap-after", "5s"},
			`{"copy-rate":104857600,"disk-full":false,"drop-answer":"","flap":"5s","hang":false,"max-sessions":2,"refuse":false}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctl := "127.0.0.1:" + freePort(t)
			args := append([]string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
				"--authorized-keys", e.AuthorizedKeysPath, "--control", ctl}, tc.flags...)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			var stderr bytes.Buffer
			go func() { done <- run(ctx, args, io.Discard, &stderr) }()
			defer func() {
				cancel()
				if code := <-done; code != 0 {
					t.Errorf("exit %d", code)
				}
			}()
			var body []byte
			deadline := time.Now().Add(10 * time.Second)
			for {
				req, _ := http.NewRequest(http.MethodGet, "http://"+ctl+"/faults", nil)
				req.Close = true
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("control endpoint did not come up: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if got := strings.TrimSpace(string(body)); got != tc.want {
				t.Errorf("GET /faults = %s\nwant          %s", got, tc.want)
			}
		})
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// TestBinaryWithOpenSSH builds rds-sim and drives it with /usr/bin/ssh,
// the client real operators use, then kills it with SIGKILL and checks that
// the state survived.
func TestBinaryWithOpenSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("no ssh client")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "rds-sim")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	// Keys: one authorized, one stranger, both as OpenSSH private key files.
	writeKey := func(name string) ssh.Signer {
		s, pemBytes, err := simtest.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		return s
	}
	client := writeKey("id_client")
	writeKey("id_stranger")
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, ssh.MarshalAuthorizedKey(client.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	port, ctlPort := freePort(t), freePort(t)

	start := func() *exec.Cmd {
		t.Helper()
		cmd := exec.Command(bin, "--listen", "127.0.0.1:"+port, "--data-dir", data,
			"--authorized-keys", authorized, "--control", "127.0.0.1:"+ctlPort, "--capacity", "500G", "-v", "2")
		cmd.Stderr = &bytes.Buffer{}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := http.Get("http://127.0.0.1:" + ctlPort + "/healthz")
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("emulator did not come up: %s", cmd.Stderr)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return cmd
	}
	proc := start()
	t.Cleanup(func() {
		if proc.ProcessState == nil {
			_ = proc.Process.Kill()
			_ = proc.Wait()
		}
	})

	// The host key the process created is what the client pins.
	hostPEM, err := os.ReadFile(filepath.Join(data, "ssh_host_ed25519_key"))
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.ParsePrivateKey(hostPEM)
	if err != nil {
		t.Fatal(err)
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	line := fmt.Sprintf("[127.0.0.1]:%s %s", port, ssh.MarshalAuthorizedKey(hostSigner.PublicKey()))
	if err := os.WriteFile(knownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}

	runSSH := func(key, command string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(sshBin, "-F", "/dev/null", "-i", filepath.Join(dir, key),
			"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
			"-o", "UserKnownHostsFile="+knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
			"-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10",
			"-p", port, "admin@127.0.0.1", command)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), code
	}

	const id = "pvc-5b1e7c2a-9d3f-4e8b-a6c0-0123456789ab"
	add := "/disk add type=file file-path=/storage-pool/metal-csi/" + id + ".img file-size=10G slot=" + id +
		" nvme-tcp-export=yes nvme-tcp-server-port=4420 nvme-tcp-server-nqn=nqn.2000-02.com.mikrotik:" + id
	if out, errOut, code := runSSH("id_client", add); code != 0 || out != "" {
		t.Fatalf("add: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	print := "/disk print detail where slot=" + id
	out, errOut, code := runSSH("id_client", print)
	if code != 0 {
		t.Fatalf("print: exit %d, stderr %q", code, errOut)
	}
	checkPrint := func(out string) {
		t.Helper()
		if !strings.HasPrefix(out, "Flags: ") || !strings.HasSuffix(out, "\r\n") {
			t.Errorf("print output framing: %q", out)
		}
		for i, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
			if strings.ContainsAny(l, "\r\n") || len(l) > 80 {
				t.Errorf("line %d: %q", i+1, l)
			}
		}
		for _, want := range []string{"size=10 737 418 240 ", "file-size=10.0GiB", `slot="` + id + `"`} {
			if !strings.Contains(out, want) {
				t.Errorf("print output lacks %q:\n%s", want, out)
			}
		}
	}
	checkPrint(out)
	if out, _, code := runSSH("id_client", "/disk frob"); code != 1 || out != "bad command name frob (line 1 column 7)\r\n" {
		t.Errorf("bad command: exit %d, %q", code, out)
	}
	if out, errOut, code := runSSH("id_stranger", print); code != 255 || out != "" || !strings.Contains(errOut, "Permission denied") {
		t.Errorf("stranger key: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// kill -9, restart: same host key (StrictHostKeyChecking) and the disk is still there.
	if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = proc.Wait()
	proc = start()
	out, errOut, code = runSSH("id_client", print)
	if code != 0 {
		t.Fatalf("print after kill -9: exit %d, stderr %q", code, errOut)
	}
	checkPrint(out)

	// SIGTERM stops gracefully with status 0.
	if err := proc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- proc.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, proc.Stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}
