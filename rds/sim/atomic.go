package sim

import (
	"errors"
	"os"
	"path/filepath"
)

// tempPattern names the temporary files of writeFileAtomic; leftovers of a
// crash match it and are ignored (and removed) at start.
func tempPattern(name string) string { return "." + name + ".tmp-*" }

// writeFileAtomic replaces dir/name with data so that a crash at any moment
// leaves either the complete old or the complete new content: write a temp
// file in the same directory, fsync it, rename it over the target, fsync the
// directory so the rename itself is durable.
func writeFileAtomic(dir, name string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(dir, tempPattern(name))
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	_, err = f.Write(data)
	err = errors.Join(err, f.Chmod(perm), f.Sync())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes entries created, renamed or removed in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
