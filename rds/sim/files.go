package sim

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var segmentPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// validFilePath accepts a clean absolute path of at least two segments whose
// first segment is the pool, made of [A-Za-z0-9._-] and without "." or ".."
// segments. It is what keeps every backing file inside the data directory.
func validFilePath(p, pool string) bool {
	if len(p) < 2 || len(p) > 255 || p[0] != '/' || path.Clean(p) != p {
		return false
	}
	segs := strings.Split(p[1:], "/")
	if len(segs) < 2 || segs[0] != pool {
		return false
	}
	for _, s := range segs {
		if s == "." || s == ".." || !segmentPattern.MatchString(s) {
			return false
		}
	}
	return true
}

// hostPath maps a validated RouterOS path to its place under the data dir.
func hostPath(dataDir, p string) string {
	return filepath.Join(dataDir, filepath.FromSlash(p))
}

// createSparse creates a new file of size bytes without allocating blocks.
func createSparse(name string, size int64) (err error) {
	f, err := createNew(name)
	if err != nil {
		return err
	}
	defer func() { err = finishNew(f, err) }()
	return f.Truncate(size)
}

// fillCopy writes src's data into dst, an existing empty file (a copy
// creates its target when it starts and fills it when it ends), and sizes
// dst to size bytes. Only data extents of src are read (SEEK_DATA/SEEK_HOLE)
// and all-zero blocks inside them are skipped, so the copy stays as sparse
// as the source, or sparser. src is an open file so that a copy reads the
// source it started from even if that is removed meanwhile.
func fillCopy(dst string, src *os.File, size int64) error {
	out, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = copyExtents(out, src)
	if err == nil {
		err = out.Truncate(size)
	}
	if err == nil {
		err = out.Sync()
	}
	return errors.Join(err, out.Close())
}

func copyExtents(out, in *os.File) error {
	st, err := in.Stat()
	if err != nil {
		return err
	}
	end := st.Size()
	buf := make([]byte, 64<<10)
	for off := int64(0); off < end; {
		data, err := in.Seek(off, unix.SEEK_DATA)
		if errors.Is(err, syscall.ENXIO) {
			break // only a hole remains
		}
		hole := end
		if err != nil {
			data = off // no SEEK_DATA on this file system: scan everything
		} else if h, err := in.Seek(data, unix.SEEK_HOLE); err == nil {
			hole = min(h, end)
		}
		if err := copyNonZero(out, in, data, hole, buf); err != nil {
			return err
		}
		off = hole
	}
	return nil
}

func copyNonZero(out, in *os.File, from, to int64, buf []byte) error {
	zero := make([]byte, len(buf))
	for off := from; off < to; {
		chunk := buf[:min(int64(len(buf)), to-off)]
		n, err := in.ReadAt(chunk, off)
		if n > 0 && !bytes.Equal(chunk[:n], zero[:n]) {
			if _, werr := out.WriteAt(chunk[:n], off); werr != nil {
				return werr
			}
		}
		if err != nil && err != io.EOF {
			return err
		}
		if n == 0 {
			return nil
		}
		off += int64(n)
	}
	return nil
}

// growFile extends a backing file; the new tail is a hole.
func growFile(name string, size int64) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Truncate(size), f.Sync(), f.Close())
}

// createNew creates a file that must not exist yet, with its parents. O_EXCL
// also refuses to follow a planted symlink.
func createNew(name string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}

// finishNew makes a new file durable, or removes it when err is set, so a
// failed add leaves nothing behind.
func finishNew(f *os.File, err error) error {
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(f.Name()))
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// listFiles walks the pool like RouterOS's /file menu: names relative to the
// RouterOS root without the leading slash, directories included, in lexical
// order. created overrides the modification time as creation-time.
func listFiles(dataDir, pool string, created map[string]time.Time) ([]fileEntry, error) {
	root := filepath.Join(dataDir, pool)
	var out []fileEntry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if p == root || (!d.IsDir() && !d.Type().IsRegular()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed while walking
		}
		rel, err := filepath.Rel(dataDir, p)
		if err != nil {
			return err
		}
		e := fileEntry{name: filepath.ToSlash(rel), dir: d.IsDir(), created: info.ModTime()}
		if !e.dir {
			e.size = info.Size()
		}
		if t, ok := created["/"+e.name]; ok {
			e.created = t
		}
		out = append(out, e)
		return nil
	})
	return out, err
}
