package images

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// The subset of the OCI image spec these tests read.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	Manifests     []descriptor `json:"manifests"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type imageConfig struct {
	Created      string `json:"created"`
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User       string            `json:"User"`
		Env        []string          `json:"Env"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		WorkingDir string            `json:"WorkingDir"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

const (
	mediaManifest  = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig    = "application/vnd.oci.image.config.v1+json"
	mediaLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
	annotationRef  = "org.opencontainers.image.ref.name"
)

// image is one OCI image archive, unpacked to a layout directory and
// verified: its single manifest, config and layer blobs.
type image struct {
	layout   string
	ref      string
	manifest manifest
	config   imageConfig
}

// blobPath is where a verified blob lives in the layout.
func (im *image) blobPath(d descriptor) string {
	alg, hexPart, _ := strings.Cut(d.Digest, ":")
	return filepath.Join(im.layout, "blobs", alg, hexPart)
}

// readArchive unpacks the archive (plain files and directories only) into
// dir and checks it is an OCI layout with exactly one image whose blobs all
// match their descriptors.
func readArchive(t *testing.T, archive, dir string) *image {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", archive, err)
		}
		name := path.Clean(hdr.Name)
		if name == "." || strings.HasPrefix(name, "../") || path.IsAbs(name) {
			t.Fatalf("%s: entry %q outside the layout", archive, hdr.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := os.Create(target)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			if err := out.Close(); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: entry %q has type %q; an image layout holds only files and directories", archive, hdr.Name, hdr.Typeflag)
		}
	}

	im := &image{layout: dir}
	var layoutFile struct {
		Version string `json:"imageLayoutVersion"`
	}
	readJSON(t, filepath.Join(dir, "oci-layout"), &layoutFile)
	if layoutFile.Version != "1.0.0" {
		t.Errorf("oci-layout: imageLayoutVersion %q, want 1.0.0", layoutFile.Version)
	}
	var idx index
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	if idx.SchemaVersion != 2 || len(idx.Manifests) != 1 {
		t.Fatalf("index.json: schemaVersion %d with %d manifests, want 2 with exactly 1", idx.SchemaVersion, len(idx.Manifests))
	}
	md := idx.Manifests[0]
	if md.MediaType != mediaManifest {
		t.Fatalf("index.json: manifest media type %q", md.MediaType)
	}
	im.ref = md.Annotations[annotationRef]
	im.verifyBlob(t, md)
	readJSON(t, im.blobPath(md), &im.manifest)
	if im.manifest.Config.MediaType != mediaConfig {
		t.Fatalf("manifest: config media type %q", im.manifest.Config.MediaType)
	}
	im.verifyBlob(t, im.manifest.Config)
	readJSON(t, im.blobPath(im.manifest.Config), &im.config)
	if len(im.config.RootFS.DiffIDs) != len(im.manifest.Layers) {
		t.Fatalf("config has %d diff ids for %d layers", len(im.config.RootFS.DiffIDs), len(im.manifest.Layers))
	}
	for i, l := range im.manifest.Layers {
		if l.MediaType != mediaLayerGzip {
			t.Fatalf("layer %d: media type %q, want %s", i, l.MediaType, mediaLayerGzip)
		}
		im.verifyBlob(t, l)
	}
	return im
}

// verifyBlob fails unless the blob's size and sha256 are the descriptor's.
func (im *image) verifyBlob(t *testing.T, d descriptor) {
	t.Helper()
	if !strings.HasPrefix(d.Digest, "sha256:") {
		t.Fatalf("descriptor %s: only sha256 digests are expected", d.Digest)
	}
	f, err := os.Open(im.blobPath(d))
	if err != nil {
		t.Fatalf("blob %s: %v", d.Digest, err)
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != d.Digest || n != d.Size {
		t.Fatalf("blob %s: content is %s, %d bytes; descriptor says %s, %d bytes", d.Digest, got, n, d.Digest, d.Size)
	}
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// layerEntry is what a layer holds at one path.
type layerEntry struct {
	Type byte
	Mode os.FileMode
	UID  int
	GID  int
}

// layerStats is what unpacking one layer found.
type layerStats struct {
	Entries      map[string]layerEntry // cleaned relative path → entry
	Uncompressed int64                 // bytes of the tar stream
}

// unpackLayer extracts layer i into rootfs (as root: owners and modes as in
// the layer), checks its diff id, and returns what it held. Device nodes,
// whiteouts and paths through symlinks are errors: the build never makes
// them, and a runtime would treat them specially.
func (im *image) unpackLayer(t *testing.T, i int, rootfs string) layerStats {
	t.Helper()
	l := im.manifest.Layers[i]
	f, err := os.Open(im.blobPath(l))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("layer %d: %v", i, err)
	}
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(zr, h)}
	tr := tar.NewReader(counted)
	st := layerStats{Entries: map[string]layerEntry{}}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "/"))
		if name == "." {
			continue
		}
		if strings.HasPrefix(name, "../") || name == ".." {
			t.Fatalf("layer %d: entry %q escapes the root", i, hdr.Name)
		}
		if strings.HasPrefix(path.Base(name), ".wh.") {
			t.Fatalf("layer %d: unexpected whiteout %q", i, hdr.Name)
		}
		st.Entries[name] = layerEntry{Type: hdr.Typeflag, Mode: hdr.FileInfo().Mode(), UID: hdr.Uid, GID: hdr.Gid}
		if err := writeEntry(rootfs, name, hdr, tr); err != nil {
			t.Fatalf("layer %d: %s: %v", i, hdr.Name, err)
		}
	}
	// Drain any padding so the digest covers the whole stream.
	if _, err := io.Copy(io.Discard, counted); err != nil {
		t.Fatal(err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != im.config.RootFS.DiffIDs[i] {
		t.Fatalf("layer %d: uncompressed digest %s, config diff id %s", i, got, im.config.RootFS.DiffIDs[i])
	}
	st.Uncompressed = counted.n
	return st
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// writeEntry creates one tar entry under rootfs.
func writeEntry(rootfs, name string, hdr *tar.Header, r io.Reader) error {
	target, err := safeJoin(rootfs, name)
	if err != nil {
		return err
	}
	mode := hdr.FileInfo().Mode()
	switch hdr.Typeflag {
	case tar.TypeDir:
		if fi, err := os.Lstat(target); err == nil && !fi.IsDir() {
			return fmt.Errorf("directory over a non-directory")
		}
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
	case tar.TypeReg:
		if err := removeNonDir(target); err != nil {
			return err
		}
		out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, r); err != nil {
			_ = out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := removeNonDir(target); err != nil {
			return err
		}
		return errors.Join(os.Symlink(hdr.Linkname, target), os.Lchown(target, hdr.Uid, hdr.Gid))
	case tar.TypeLink:
		src, err := safeJoin(rootfs, path.Clean(strings.TrimPrefix(hdr.Linkname, "/")))
		if err != nil {
			return err
		}
		if err := removeNonDir(target); err != nil {
			return err
		}
		return os.Link(src, target)
	default:
		return fmt.Errorf("type %q not expected in these images (device node, fifo?)", hdr.Typeflag)
	}
	// Owner first: chown clears set-id bits that chmod then restores.
	if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	perm := mode.Perm()
	if mode&os.ModeSetuid != 0 {
		perm |= os.ModeSetuid
	}
	if mode&os.ModeSetgid != 0 {
		perm |= os.ModeSetgid
	}
	if mode&os.ModeSticky != 0 {
		perm |= os.ModeSticky
	}
	return os.Chmod(target, perm)
}

// safeJoin joins name to rootfs and refuses a path whose parent directories
// include a symlink: extracting through one could write outside the root.
func safeJoin(rootfs, name string) (string, error) {
	parts := strings.Split(name, "/")
	cur := rootfs
	for _, p := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, p)
		fi, err := os.Lstat(cur)
		if errors.Is(err, os.ErrNotExist) {
			continue // created by MkdirAll below or by a later entry
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return "", fmt.Errorf("path goes through the symlink %s", cur)
		}
	}
	target := filepath.Join(rootfs, filepath.FromSlash(name))
	return target, os.MkdirAll(filepath.Dir(target), 0o755)
}

func removeNonDir(p string) error {
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("file over a directory")
	}
	return os.Remove(p)
}
