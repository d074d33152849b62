package images

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/yaml"
)

// testVersion is what the test builds: a version no other build uses, so
// that finding it in `rds-csi --version` proves the ldflags reached the
// binary in the image.
const testVersion = "v0.0.0-imagetest"

// imageSpec is what one image must be.
type imageSpec struct {
	name        string // file and component name: rds-csi-controller, rds-csi-node
	user        string // image config user
	manifest    string // deploy/base file whose container runs it
	layers      int
	description string // must also appear in the Dockerfile
}

var specs = []imageSpec{
	{name: "rds-csi-controller", user: "65532:65532", manifest: "controller.yaml", layers: 1,
		description: "rds-csi controller: CSI controller service for MikroTik ROSE Data Server (NVMe/TCP over SSH)"},
	{name: "rds-csi-node", user: "", manifest: "node.yaml", layers: 2,
		description: "rds-csi node plugin: attaches MikroTik ROSE Data Server volumes over NVMe/TCP, formats and mounts them"},
}

// command is one check run inside an image.
type command struct {
	name     string
	args     []string // replace the entrypoint
	wantExit int
	want     *regexp.Regexp // on stdout+stderr
}

// nodeCommands: every tool the node plugin (driver/device, driver/node*)
// and its init container (deploy/base/node.yaml) run, resolved through the
// image's PATH as the binary does, plus one real format-and-probe.
var nodeCommands = []command{
	{name: "nvme", args: []string{"nvme", "version"}, want: regexp.MustCompile(`nvme version \d`)},
	{name: "mkfs.xfs", args: []string{"mkfs.xfs", "-V"}, want: regexp.MustCompile(`mkfs\.xfs version \d`)},
	{name: "xfs_growfs", args: []string{"xfs_growfs", "-V"}, want: regexp.MustCompile(`xfs_growfs version \d`)},
	{name: "mkfs.ext4", args: []string{"mkfs.ext4", "-V"}, want: regexp.MustCompile(`mke2fs \d+\.\d+`)},
	{name: "e2fsck", args: []string{"e2fsck", "-V"}, want: regexp.MustCompile(`e2fsck \d+\.\d+`)},
	{name: "dumpe2fs", args: []string{"dumpe2fs", "-V"}, want: regexp.MustCompile(`dumpe2fs \d+\.\d+`)},
	// resize2fs has no version flag (usage, exit 1): its presence on PATH is what counts.
	{name: "resize2fs", args: []string{"/bin/sh", "-c", "command -v resize2fs"}, want: regexp.MustCompile(`/resize2fs\n`)},
	{name: "blkid", args: []string{"blkid", "-V"}, want: regexp.MustCompile(`blkid from util-linux \d`)},
	{name: "losetup", args: []string{"losetup", "--version"}, want: regexp.MustCompile(`losetup from util-linux \d`)},
	{name: "mount", args: []string{"mount", "--version"}, want: regexp.MustCompile(`mount from util-linux \d`)},
	{name: "umount", args: []string{"umount", "--version"}, want: regexp.MustCompile(`umount from util-linux \d`)},
	{name: "modprobe", args: []string{"modprobe", "--version"}, want: regexp.MustCompile(`kmod version \d+`)},
	// The init containers' scripts (node.yaml): /bin/sh with test and cp.
	{name: "init container shell", args: []string{"/bin/sh", "-c", "[ -d /proc/self ] && command -v cp"}, want: regexp.MustCompile(`/cp\n`)},
	{name: "format and probe", args: []string{"/bin/sh", "-c",
		"set -e; truncate -s 512M /tmp/x; mkfs.xfs -q /tmp/x; blkid -o value -s TYPE /tmp/x;" +
			" truncate -s 64M /tmp/e; mkfs.ext4 -q -F /tmp/e; blkid -o value -s TYPE /tmp/e"},
		want: regexp.MustCompile(`^xfs\next4\n$`)},
}

var controllerCommands = []command{
	// Nothing but the binary: a shell would be attack surface.
	// The failure must be the missing file, not a broken runtime.
	{name: "no shell", args: []string{"/bin/sh", "-c", "true"}, wantExit: -1, want: regexp.MustCompile(`(?i)/bin/sh.*no such file or directory`)},
}

func TestImages(t *testing.T) {
	requireBuildEnv(t)
	root := repoRoot(t)
	revision := strings.TrimSpace(gitOut(t, root, "rev-parse", "HEAD"))
	epochStr := strings.TrimSpace(gitOut(t, root, "log", "-1", "--format=%ct"))
	epoch, err := strconv.ParseInt(epochStr, 10, 64)
	if err != nil {
		t.Fatalf("commit time %q: %v", epochStr, err)
	}
	created := time.Unix(epoch, 0).UTC().Format(time.RFC3339)
	// Pinned for both builds: another commit landing in between would
	// otherwise change the labels and fail the reproducibility check.
	vars := []string{"VERSION=" + testVersion, "REVISION=" + revision}
	env := []string{"SOURCE_DATE_EPOCH=" + epochStr}

	out := t.TempDir()
	start := time.Now()
	makeImages(t, root, out, vars, env)
	t.Logf("make images: %s", time.Since(start).Round(100*time.Millisecond))

	refs := strings.Fields(makeOut(t, root, append([]string{"-s", "image-names"}, vars...), nil))
	if len(refs) != len(specs) {
		t.Fatalf("make image-names printed %q, want %d names", refs, len(specs))
	}

	for i, spec := range specs {
		t.Run(spec.name, func(t *testing.T) {
			archive := filepath.Join(out, fmt.Sprintf("%s-%s-%s.oci.tar", spec.name, testVersion, runtime.GOARCH))
			fi, err := os.Stat(archive)
			if err != nil {
				t.Fatalf("make images did not write %s: %v", archive, err)
			}
			work := t.TempDir()
			im := readArchive(t, archive, filepath.Join(work, "layout"))
			if im.ref != refs[i] {
				t.Errorf("index names the image %q, make image-names %q", im.ref, refs[i])
			}
			checkConfig(t, im, spec, revision, created)

			rootfs := filepath.Join(work, "bundle", "rootfs")
			var sizes []string
			var layers []layerStats
			var total int64
			for li, l := range im.manifest.Layers {
				st := im.unpackLayer(t, li, rootfs)
				layers = append(layers, st)
				total += st.Uncompressed
				sizes = append(sizes, fmt.Sprintf("layer %d: %s compressed, %s unpacked", li+1, mib(l.Size), mib(st.Uncompressed)))
			}
			t.Logf("%s: archive %s; %s; %s unpacked in all", im.ref, mib(fi.Size()), strings.Join(sizes, "; "), mib(total))
			checkContent(t, spec, layers)

			b := &bundle{dir: filepath.Join(work, "bundle"), config: im.config}
			cmds := controllerCommands
			if spec.name == "rds-csi-node" {
				cmds = nodeCommands
			}
			versionRE := regexp.MustCompile(`^rds-csi ` + regexp.QuoteMeta(testVersion) +
				` \(revision ` + regexp.QuoteMeta(revision) + `, go1\.[0-9.]+, linux/` + runtime.GOARCH + `\)\n$`)
			all := append([]command{{name: "rds-csi --version", args: append(slices.Clone(im.config.Config.Entrypoint), "--version"), want: versionRE}}, cmds...)
			for _, c := range all {
				t.Run(c.name, func(t *testing.T) {
					res := b.run(t, c.args...)
					switch {
					case c.wantExit == -1 && res.exitCode == 0:
						t.Errorf("%v exited 0, want a failure\nstdout: %s\nstderr: %s", c.args, res.stdout, res.stderr)
					case c.wantExit != -1 && res.exitCode != c.wantExit:
						t.Errorf("%v exited %d, want %d\nstdout: %s\nstderr: %s", c.args, res.exitCode, c.wantExit, res.stdout, res.stderr)
					}
					if c.want != nil && !c.want.MatchString(res.stdout+res.stderr) {
						t.Errorf("%v printed %q, want match for %s", c.args, res.stdout+res.stderr, c.want)
					}
				})
			}
		})
	}

	// Reproducibility: the same inputs again give the same bytes. On a cold
	// machine the first build made the Debian layer and this one takes it
	// from the cache, so this also shows that the cache changes nothing.
	again := t.TempDir()
	start = time.Now()
	makeImages(t, root, again, vars, env)
	t.Logf("make images again: %s", time.Since(start).Round(100*time.Millisecond))
	for _, spec := range specs {
		file := fmt.Sprintf("%s-%s-%s.oci.tar", spec.name, testVersion, runtime.GOARCH)
		a, b := fileSHA256(t, filepath.Join(out, file)), fileSHA256(t, filepath.Join(again, file))
		if a != b {
			t.Errorf("%s: two builds from the same inputs differ (sha256 %s vs %s): the build is not reproducible", file, a, b)
		}
	}
}

// checkConfig compares the image config with what the build was asked for.
func checkConfig(t *testing.T, im *image, spec imageSpec, revision, created string) {
	t.Helper()
	c := im.config
	if c.OS != "linux" || c.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", c.OS, c.Architecture, runtime.GOARCH)
	}
	if !slices.Equal(c.Config.Entrypoint, []string{"/rds-csi"}) || len(c.Config.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want [/rds-csi] and no cmd", c.Config.Entrypoint, c.Config.Cmd)
	}
	if c.Config.User != spec.user {
		t.Errorf("user %q, want %q", c.Config.User, spec.user)
	}
	if !slices.ContainsFunc(c.Config.Env, func(e string) bool {
		return strings.HasPrefix(e, "PATH=") && strings.Contains(e, "/usr/sbin") && strings.Contains(e, "/usr/bin")
	}) {
		t.Errorf("env %q has no PATH with /usr/sbin and /usr/bin (the node plugin finds its tools through PATH)", c.Config.Env)
	}
	if c.Created != created {
		t.Errorf("created %q, want the commit time %q", c.Created, created)
	}
	if len(im.manifest.Layers) != spec.layers {
		t.Errorf("%d layers, want %d", len(im.manifest.Layers), spec.layers)
	}
	want := map[string]string{
		"org.opencontainers.image.title":       spec.name,
		"org.opencontainers.image.description": spec.description,
		"org.opencontainers.image.source":      "https://github.com/srvlab/rds-csi",
		"org.opencontainers.image.version":     testVersion,
		"org.opencontainers.image.revision":    revision,
		"org.opencontainers.image.created":     created,
	}
	for k, v := range want {
		if got := c.Config.Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}
	if c.Config.Labels["org.opencontainers.image.licenses"] == "" {
		t.Errorf("label org.opencontainers.image.licenses missing")
	}
}

// checkContent: the controller holds exactly its files; the node's Debian
// layer has no device nodes, no apt, no build-host files, keeps the
// copyright files, and its second layer is only the binary.
func checkContent(t *testing.T, spec imageSpec, layers []layerStats) {
	t.Helper()
	top := layers[len(layers)-1].Entries
	bin, ok := top["rds-csi"]
	if !ok || bin.Type != '0' || bin.Mode.Perm() != 0o755 || bin.UID != 0 {
		t.Errorf("last layer: rds-csi is %+v, want a regular file 0755 owned by root", bin)
	}
	switch spec.name {
	case "rds-csi-controller":
		wantPaths := []string{"dev", "etc", "etc/group", "etc/passwd", "proc", "rds-csi", "sys", "tmp"}
		var got []string
		for p := range top {
			got = append(got, p)
		}
		slices.Sort(got)
		if !slices.Equal(got, wantPaths) {
			t.Errorf("controller layer holds %q, want exactly %q", got, wantPaths)
		}
		if tmp := top["tmp"]; tmp.Mode&os.ModeSticky == 0 || tmp.Mode.Perm() != 0o777 {
			t.Errorf("/tmp mode %v, want 1777", tmp.Mode)
		}
	case "rds-csi-node":
		if got := len(top); got != 2 {
			t.Errorf("node binary layer holds %d entries, want 2 (dev, rds-csi)", got)
		}
		base := layers[0].Entries
		for _, p := range []string{"etc/resolv.conf", "etc/hostname", "usr/bin/apt", "usr/lib/usrmerge"} {
			if _, ok := base[p]; ok {
				t.Errorf("Debian layer contains %s", p)
			}
		}
		var copyrights, docs int
		for p, e := range base {
			if strings.HasPrefix(p, "dev/") {
				t.Errorf("Debian layer contains %s (type %q): device nodes do not belong in a layer", p, e.Type)
			}
			if strings.HasPrefix(p, "usr/share/doc/") {
				docs++
				if strings.HasSuffix(p, "/copyright") {
					copyrights++
				}
			}
			if strings.HasPrefix(p, "usr/share/man/") && e.Type != '5' {
				t.Errorf("Debian layer contains the man page %s", p)
			}
		}
		if copyrights < 50 {
			t.Errorf("Debian layer has %d copyright files; every package's should stay", copyrights)
		}
		t.Logf("Debian layer: %d entries, %d copyright files", len(base), copyrights)
	}
}

// TestNamesAgree: `make image-names` (the names the build and the release
// workflow use) and deploy/base (the names the manifests use) name the
// same images, and the Dockerfile builds the same content. No root needed.
func TestNamesAgree(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	root := repoRoot(t)
	refs := strings.Fields(makeOut(t, root, []string{"-s", "image-names"}, nil))
	if len(refs) != len(specs) {
		t.Fatalf("make image-names printed %q, want %d names", refs, len(specs))
	}
	raw, err := os.ReadFile(filepath.Join(root, "deploy/base/kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Images []kustomizeImage `json:"images"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		t.Fatalf("deploy/base/kustomization.yaml: %v", err)
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for i, spec := range specs {
		t.Run(spec.name, func(t *testing.T) {
			repo := refs[i][:strings.LastIndex(refs[i], ":")]
			idx := slices.IndexFunc(k.Images, func(e kustomizeImage) bool { return e.NewName == repo })
			if idx < 0 {
				t.Fatalf("deploy/base/kustomization.yaml has no images entry with newName %s (make image-names: %s)", repo, refs[i])
			}
			e := k.Images[idx]
			if e.NewTag == "" {
				t.Errorf("images entry %s has no newTag", e.Name)
			}
			m, err := os.ReadFile(filepath.Join(root, "deploy/base", spec.manifest))
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`(?m)^\s+image: ` + regexp.QuoteMeta(e.Name) + `\s*$`).Match(m) {
				t.Errorf("deploy/base/%s has no container with image: %s (the name kustomize replaces)", spec.manifest, e.Name)
			}
			for _, s := range []string{
				`org.opencontainers.image.title="` + spec.name + `"`,
				`org.opencontainers.image.description="` + spec.description + `"`,
			} {
				if !bytes.Contains(dockerfile, []byte(s)) {
					t.Errorf("Dockerfile lacks %s: it and hack/images/build.sh must label the images alike", s)
				}
			}
		})
	}
	for _, s := range []string{"hack/images/node-packages.txt", "hack/images/controller/etc/passwd", "USER 65532:65532"} {
		if !bytes.Contains(dockerfile, []byte(s)) {
			t.Errorf("Dockerfile lacks %q: it must build what hack/images/build.sh builds", s)
		}
	}
}

// kustomizeImage is one entry of a kustomization's images: stanza.
type kustomizeImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName"`
	NewTag  string `json:"newTag"`
}

// requireBuildEnv skips (fails with RDS_CSI_REQUIRE_ROOT=1, as make test
// sets) when the build or the runtime cannot work here.
func requireBuildEnv(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (mmdebstrap root mode, the OCI runtime)")
	}
	for _, tool := range []string{"make", "git", "mmdebstrap", "umoci", ociRuntime()} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "image build and run need " + strings.Join(missing, ", ") + " (hack/install-test-deps.sh installs the tools)"
	if os.Getenv("RDS_CSI_REQUIRE_ROOT") == "1" {
		t.Fatal(msg + " (RDS_CSI_REQUIRE_ROOT=1 makes this a failure; RDS_CSI_ALLOW_NONROOT=1 with make test skips it knowingly)")
	}
	t.Skip(msg)
}

func makeImages(t *testing.T, root, out string, vars, env []string) {
	t.Helper()
	args := append([]string{"images", "IMAGES_DIR=" + out}, vars...)
	makeOut(t, root, args, env)
}

// makeOut runs make in the repository; without the outer make's job-server
// variables (make test runs this test: its jobserver fds are not inherited).
func makeOut(t *testing.T, root string, args, env []string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-C", root, "--no-print-directory"}, args...)...)
	for _, e := range os.Environ() {
		switch k, _, _ := strings.Cut(e, "="); k {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES":
			continue
		}
		cmd.Env = append(cmd.Env, e)
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("make %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), tail(stderr.String(), 4000))
	}
	return stdout.String()
}

func gitOut(t *testing.T, root string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", root}, args...)...).Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "hack/images/build.sh")); err != nil {
		t.Fatalf("repository root not found from the test directory: %v", err)
	}
	return root
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
