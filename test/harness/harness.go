package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// AdminUser is the static-token user of ControlPlane.RESTConfig and
// ControlPlane.KubeconfigPath; it is in group system:masters.
const AdminUser = "rds-csi-admin"

// Binary names expected in the bin directory.
const (
	BinEtcd                  = "etcd"
	BinKubeAPIServer         = "kube-apiserver"
	BinKubeControllerManager = "kube-controller-manager"
	BinKubeScheduler         = "kube-scheduler"
	BinKubectl               = "kubectl"
	BinCSIProvisioner        = "csi-provisioner"
	BinCSIAttacher           = "csi-attacher"
	BinCSIResizer            = "csi-resizer"
	BinCSISnapshotter        = "csi-snapshotter"
	BinSnapshotController    = "snapshot-controller"
)

// ServiceClusterIPRange is the --service-cluster-ip-range of the API server.
const ServiceClusterIPRange = "10.0.0.0/24"

// tailLines is how much of each log is printed when a test fails.
const tailLines = 50

// User is an extra static-token identity, e.g. to run a sidecar as
// "system:serviceaccount:kube-system:rds-csi-controller" (groups
// "system:serviceaccounts", "system:serviceaccounts:kube-system",
// "system:authenticated") so the driver's RBAC manifests are exercised.
type User struct {
	Name   string
	Groups []string
}

// Options configure Start. The zero value starts etcd and kube-apiserver.
type Options struct {
	// ControllerManager also starts kube-controller-manager (needed for the
	// attach/detach controller, PV/PVC binding, garbage collection,
	// service-account and namespace controllers, ...).
	ControllerManager bool
	// Controllers is kube-controller-manager's --controllers; default ["*"].
	Controllers []string
	// Users get static tokens next to the admin user; see KubeconfigFor.
	Users []User
	// APIServerArgs and ControllerManagerArgs are appended to the generated
	// flags (the last occurrence of a flag wins).
	APIServerArgs         []string
	ControllerManagerArgs []string
	// StartTimeout bounds the wait for each component; default 2 minutes
	// (the machines are shared, readiness normally takes a few seconds).
	StartTimeout time.Duration
}

// ControlPlane is a running etcd + kube-apiserver (+ kube-controller-manager).
// Everything is stopped by t.Cleanup; Stop may be called earlier.
type ControlPlane struct {
	BinDir string // RDS_CSI_TOOLS_BIN
	CRDDir string // snapshot CRDs, BinDir/../crds
	Dir    string // per-test temporary directory (data, certificates, kubeconfigs)
	LogDir string // one <component>.log per process

	KubeconfigPath string // admin kubeconfig (token auth, CA-verified TLS)
	RESTConfig     *rest.Config
	Clientset      kubernetes.Interface

	APIServerURL string // https://127.0.0.1:<port>
	EtcdURL      string // http://127.0.0.1:<port>
	CAFile       string // CA of the API server's serving certificate

	Etcd              *Process
	APIServer         *Process
	ControllerManager *Process // nil unless Options.ControllerManager

	// Time from starting each component to it being ready.
	EtcdReady, APIServerReady, ControllerManagerReady time.Duration

	t        testing.TB
	pki      *pki
	timeout  time.Duration
	mu       sync.Mutex
	procs    []*Process
	stopped  bool
	logNames map[string]int
	stopOnce sync.Once
}

// Start starts the control plane or skips the test if the binaries are not
// configured (fails instead when RDS_CSI_REQUIRE_K8S=1).
func Start(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	binDir := BinDirOrSkip(t)

	cp := &ControlPlane{
		BinDir:   binDir,
		CRDDir:   filepath.Join(filepath.Dir(binDir), "crds"),
		Dir:      t.TempDir(),
		t:        t,
		timeout:  opts.StartTimeout,
		logNames: map[string]int{},
	}
	if cp.timeout <= 0 {
		cp.timeout = 2 * time.Minute
	}
	cp.LogDir = filepath.Join(cp.Dir, "logs")
	if d := os.Getenv(EnvLogsDir); d != "" {
		cp.LogDir = filepath.Join(d, sanitize(t.Name())+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	}
	if err := os.MkdirAll(cp.LogDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		cp.Stop()
		if t.Failed() {
			cp.dumpLogs()
		}
	})

	var err error
	if cp.pki, err = newPKI(cp.Dir, opts.Users); err != nil {
		t.Fatalf("harness: generating certificates and tokens: %v", err)
	}
	cp.CAFile = cp.pki.caPath

	cp.startEtcd()
	cp.startAPIServer(opts)
	if cp.KubeconfigPath, err = cp.writeKubeconfig(AdminUser); err != nil {
		t.Fatalf("harness: %v", err)
	}
	cp.RESTConfig = cp.RESTConfigFor(AdminUser)
	if cp.Clientset, err = kubernetes.NewForConfig(cp.RESTConfig); err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Logf("harness: etcd ready in %v, kube-apiserver ready in %v at %s (logs in %s)",
		cp.EtcdReady.Round(time.Millisecond), cp.APIServerReady.Round(time.Millisecond), cp.APIServerURL, cp.LogDir)
	if opts.ControllerManager {
		cp.startControllerManager(opts)
		t.Logf("harness: kube-controller-manager healthy in %v", cp.ControllerManagerReady.Round(time.Millisecond))
	}
	return cp
}

// BinDirOrSkip returns RDS_CSI_TOOLS_BIN after checking that it holds the
// control-plane binaries. Unset: skips the test, or fails it when
// RDS_CSI_REQUIRE_K8S=1. Set but incomplete: always fails.
func BinDirOrSkip(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(EnvToolsBin)
	if dir == "" {
		msg := EnvToolsBin + " is not set: build the Kubernetes binaries once (15-30 min cold on 2 shared cores, then cached outside the repo) with\n" +
			"\texport " + EnvToolsBin + "=\"$(test/tools/build.sh)\"   (or: make tools)"
		if os.Getenv(EnvRequireK8s) == "1" {
			t.Fatal(msg + "\n(" + EnvRequireK8s + "=1 makes this a failure)")
		}
		t.Skip(msg)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{BinEtcd, BinKubeAPIServer, BinKubeControllerManager, BinKubectl} {
		if _, err := resolveBinary(dir, b); err != nil {
			t.Fatalf("%s=%s: %v (rebuild with test/tools/build.sh)", EnvToolsBin, dir, err)
		}
	}
	return dir
}

// Stop stops every process the harness started, newest first. It runs
// automatically in t.Cleanup.
func (cp *ControlPlane) Stop() {
	cp.stopOnce.Do(func() {
		cp.mu.Lock()
		cp.stopped = true
		procs := cp.procs
		cp.mu.Unlock()
		for i := len(procs) - 1; i >= 0; i-- {
			if err := procs[i].Stop(); err != nil {
				cp.t.Logf("harness: %s exited with %v", procs[i].Name, err)
			}
		}
	})
}

func (cp *ControlPlane) dumpLogs() {
	cp.mu.Lock()
	procs := cp.procs
	cp.mu.Unlock()
	for _, p := range procs {
		cp.t.Logf("harness: ----- last %d lines of %s -----\n%s", tailLines, p.LogPath, p.Tail(tailLines))
	}
}

// StartBinary starts name (a binary in BinDir, or a path) with args, logging
// to LogDir/<name>.log. The process belongs to the control plane: it is
// stopped by Stop / t.Cleanup and its log is printed if the test fails.
func (cp *ControlPlane) StartBinary(name string, args ...string) *Process {
	cp.t.Helper()
	p, err := cp.startBinary(name, args...)
	if err != nil {
		cp.t.Fatalf("harness: %v", err)
	}
	return p
}

func (cp *ControlPlane) startBinary(name string, args ...string) (*Process, error) {
	bin, err := resolveBinary(cp.BinDir, name)
	if err != nil {
		return nil, err
	}
	base := filepath.Base(name)
	// Held across the start so that Stop never misses a process.
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.stopped {
		return nil, fmt.Errorf("starting %s: control plane already stopped", name)
	}
	cp.logNames[base]++
	logName := base
	if n := cp.logNames[base]; n > 1 {
		logName = fmt.Sprintf("%s-%d", base, n)
	}
	p, err := startProcess(logName, filepath.Join(cp.LogDir, logName+".log"), bin, args...)
	if err != nil {
		return nil, err
	}
	cp.procs = append(cp.procs, p)
	return p, nil
}

// waitReady polls check until it succeeds, the process exits or the timeout
// passes.
func (cp *ControlPlane) waitReady(p *Process, what string, check func() error) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(cp.timeout)
	var last error
	for {
		if last = check(); last == nil {
			return time.Since(start), nil
		}
		if exited, werr := p.Exited(); exited {
			if werr == nil {
				werr = errors.New("exit status 0")
			}
			return 0, fmt.Errorf("%s exited before it was ready (%w); see %s (printed below)", p.Name, werr, p.LogPath)
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s not ready after %v: %w; see %s (printed below)", what, cp.timeout, last, p.LogPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freePorts reserves n distinct loopback ports. They are released before the
// component binds them, so a start that loses the race is retried.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreePort returns a currently free loopback port, e.g. for a sidecar's
// --http-endpoint. Another process may take it before it is bound.
func FreePort(t testing.TB) int {
	t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return ports[0]
}

// startWithRetry runs attempt up to three times when it fails because a port
// was taken between freePorts and the bind.
func (cp *ControlPlane) startWithRetry(what string, attempt func() (*Process, error)) *Process {
	cp.t.Helper()
	var err error
	for i := 0; i < 3; i++ {
		var p *Process
		if p, err = attempt(); err == nil {
			return p
		}
		if p == nil || !strings.Contains(tailFile(p.LogPath, 200), "address already in use") {
			break
		}
		cp.t.Logf("harness: %s lost a port race, retrying", what)
	}
	cp.t.Fatalf("harness: starting %s: %v", what, err)
	return nil
}

func (cp *ControlPlane) startEtcd() {
	cp.t.Helper()
	cp.Etcd = cp.startWithRetry("etcd", func() (*Process, error) {
		ports, err := freePorts(2)
		if err != nil {
			return nil, err
		}
		client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		dataDir := filepath.Join(cp.Dir, "etcd-"+strconv.Itoa(ports[0]))
		p, err := cp.startBinary(BinEtcd,
			"--name=harness",
			"--data-dir="+dataDir,
			"--listen-client-urls="+client,
			"--advertise-client-urls="+client,
			"--listen-peer-urls="+peer,
			"--initial-advertise-peer-urls="+peer,
			"--initial-cluster=harness="+peer,
			"--unsafe-no-fsync",
			"--log-level=warn",
		)
		if err != nil {
			return nil, err
		}
		hc := &http.Client{Timeout: 2 * time.Second}
		d, err := cp.waitReady(p, "etcd", func() error { return httpOK(hc, client+"/health", "") })
		if err != nil {
			_ = p.Stop()
			return p, err
		}
		cp.EtcdURL, cp.EtcdReady = client, d
		return p, nil
	})
}

func (cp *ControlPlane) startAPIServer(opts Options) {
	cp.t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cp.pki.caPEM)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	cp.APIServer = cp.startWithRetry("kube-apiserver", func() (*Process, error) {
		ports, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		url := fmt.Sprintf("https://127.0.0.1:%d", ports[0])
		args := []string{
			"--etcd-servers=" + cp.EtcdURL,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(ports[0]),
			"--cert-dir=" + filepath.Join(cp.Dir, "apiserver-certs"),
			"--tls-cert-file=" + cp.pki.servingCert,
			"--tls-private-key-file=" + cp.pki.servingKey,
			"--token-auth-file=" + cp.pki.tokenFile,
			"--authorization-mode=Node,RBAC",
			"--service-account-issuer=https://kubernetes.default.svc",
			"--service-account-key-file=" + cp.pki.saPublicKey,
			"--service-account-signing-key-file=" + cp.pki.saPrivateKey,
			"--service-cluster-ip-range=" + ServiceClusterIPRange,
			"--endpoint-reconciler-type=none",
			"--allow-privileged=true",
			"--profiling=false",
		}
		args = append(args, opts.APIServerArgs...)
		p, err := cp.startBinary(BinKubeAPIServer, args...)
		if err != nil {
			return nil, err
		}
		d, err := cp.waitReady(p, "kube-apiserver", func() error {
			return httpOK(hc, url+"/readyz", cp.pki.adminBearerToken)
		})
		if err != nil {
			_ = p.Stop()
			return p, err
		}
		cp.APIServerURL, cp.APIServerReady = url, d
		return p, nil
	})
}

func (cp *ControlPlane) startControllerManager(opts Options) {
	cp.t.Helper()
	controllers := opts.Controllers
	if len(controllers) == 0 {
		controllers = []string{"*"}
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// kube-controller-manager serves a self-signed certificate from --cert-dir.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback test process
	}}
	defer hc.CloseIdleConnections()
	cp.ControllerManager = cp.startWithRetry("kube-controller-manager", func() (*Process, error) {
		ports, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		args := []string{
			"--kubeconfig=" + cp.KubeconfigPath,
			"--authentication-kubeconfig=" + cp.KubeconfigPath,
			"--authorization-kubeconfig=" + cp.KubeconfigPath,
			// Bearer tokens are checked with TokenReview; there is no client or
			// front-proxy CA to look up in extension-apiserver-authentication.
			"--authentication-skip-lookup=true",
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(ports[0]),
			"--cert-dir=" + filepath.Join(cp.Dir, "kcm-certs"),
			"--leader-elect=false",
			"--use-service-account-credentials=false",
			"--controllers=" + strings.Join(controllers, ","),
			"--root-ca-file=" + cp.pki.caPath,
			"--service-cluster-ip-range=" + ServiceClusterIPRange,
		}
		args = append(args, opts.ControllerManagerArgs...)
		p, err := cp.startBinary(BinKubeControllerManager, args...)
		if err != nil {
			return nil, err
		}
		url := fmt.Sprintf("https://127.0.0.1:%d/healthz", ports[0])
		d, err := cp.waitReady(p, "kube-controller-manager", func() error { return httpOK(hc, url, "") })
		if err != nil {
			_ = p.Stop()
			return p, err
		}
		cp.ControllerManagerReady = d
		return p, nil
	})
}

func httpOK(hc *http.Client, url, token string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// Token returns the bearer token of a static-token user (AdminUser or one of
// Options.Users).
func (cp *ControlPlane) Token(user string) string {
	cp.t.Helper()
	tok, ok := cp.pki.tokens[user]
	if !ok {
		cp.t.Fatalf("harness: unknown user %q (add it to Options.Users)", user)
	}
	return tok
}

// RESTConfigFor returns a client configuration authenticating as user.
func (cp *ControlPlane) RESTConfigFor(user string) *rest.Config {
	cp.t.Helper()
	return &rest.Config{
		Host:            cp.APIServerURL,
		BearerToken:     cp.Token(user),
		TLSClientConfig: rest.TLSClientConfig{CAData: cp.pki.caPEM},
		QPS:             100,
		Burst:           200,
		UserAgent:       "rds-csi-harness/" + user,
	}
}

// KubeconfigFor writes (once) and returns a kubeconfig file authenticating as
// user, e.g. for a sidecar's --kubeconfig.
func (cp *ControlPlane) KubeconfigFor(user string) string {
	cp.t.Helper()
	path, err := cp.writeKubeconfig(user)
	if err != nil {
		cp.t.Fatalf("harness: %v", err)
	}
	return path
}

func (cp *ControlPlane) writeKubeconfig(user string) (string, error) {
	tok, ok := cp.pki.tokens[user]
	if !ok {
		return "", fmt.Errorf("unknown user %q (add it to Options.Users)", user)
	}
	name := "kubeconfig"
	if user != AdminUser {
		name += "-" + sanitize(user)
	}
	path := filepath.Join(cp.Dir, name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["rds-csi-test"] = &clientcmdapi.Cluster{Server: cp.APIServerURL, CertificateAuthorityData: cp.pki.caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: tok}
	cfg.Contexts["rds-csi-test"] = &clientcmdapi.Context{Cluster: "rds-csi-test", AuthInfo: user}
	cfg.CurrentContext = "rds-csi-test"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("writing kubeconfig: %w", err)
	}
	return path, nil
}

// Kubectl runs the harness's kubectl against the control plane as the admin
// user and returns its combined output. It has a 2-minute deadline.
func (cp *ControlPlane) Kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, err := resolveBinary(cp.BinDir, BinKubectl)
	if err != nil {
		return "", err
	}
	full := append([]string{"--kubeconfig=" + cp.KubeconfigPath, "--cache-dir=" + filepath.Join(cp.Dir, "kubectl-cache")}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	// Ignore the developer's ~/.kube/kuberc preferences.
	cmd.Env = append(os.Environ(), "KUBERC=off", "KUBECONFIG="+cp.KubeconfigPath)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (deadline exceeded)", err)
		}
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// ApplyCRDs applies every manifest in dir (CRDDir when dir is "") with
// server-side apply and waits until the CRDs are Established. It fails the
// test on error.
func (cp *ControlPlane) ApplyCRDs(dir string) {
	cp.t.Helper()
	if dir == "" {
		dir = cp.CRDDir
	}
	if _, err := cp.Kubectl("apply", "--server-side", "--force-conflicts", "-f", dir); err != nil {
		cp.t.Fatalf("harness: applying CRDs from %s: %v", dir, err)
	}
	if _, err := cp.Kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", dir); err != nil {
		cp.t.Fatalf("harness: waiting for CRDs from %s: %v", dir, err)
	}
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func sanitize(s string) string { return unsafeChars.ReplaceAllString(s, "_") }
