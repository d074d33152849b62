package sim

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"

	"k8s.io/klog/v2"
)

// defaultNVMeTCPPort is RouterOS's default for nvme-tcp-server-port.
const defaultNVMeTCPPort = 4420

// execute runs a parsed command and returns its standard output. ctx ends
// when the server closes; only a copy lasts long enough to notice, and then
// answers errAbandoned.
func (s *Server) execute(ctx context.Context, log klog.Logger, cmd *command) (string, error) {
	if cmd.spec == nil {
		return "", nil
	}
	switch cmd.spec.verb {
	case verbDiskAdd:
		return "", s.diskAdd(ctx, log, cmd)
	case verbDiskPrint:
		return s.diskPrint(cmd), nil
	case verbDiskSet:
		return "", s.diskSet(cmd)
	case verbDiskRemove:
		return "", s.diskRemove(cmd)
	case verbFilePrint:
		return s.filePrint(cmd)
	case verbFileRemove:
		return "", s.fileRemove(cmd)
	case verbIdentityPrint:
		// RouterOS right-aligns property names; "name" is the only one.
		return "  name: " + s.cfg.Identity + "\r\n", nil
	case verbClockPrint:
		return clockPrint(s.now()), nil
	case verbResourcePrint:
		return resourcePrint(s.now().Sub(s.booted)), nil
	}
	return "", cliError(msgInternal)
}

// cost classifies a command for the latency model; a copy costs like an add
// of the copy's size.
func (s *Server) cost(cmd *command) (opKind, int64) {
	if cmd.spec == nil {
		return opOther, 0
	}
	switch cmd.spec.verb {
	case verbDiskPrint:
		return opDiskPrint, 0
	case verbDiskRemove:
		return opDiskRemove, 0
	case verbFilePrint:
		return opFilePrint, 0
	case verbDiskAdd:
		var size int64
		for _, a := range cmd.args {
			switch {
			case a.name == "file-size":
				size, _ = ParseSize(a.value)
			case a.name == "copy-from" && a.find != nil && size == 0:
				s.store.read(func(st *state) {
					if i, _ := s.findDisks(st, a.find); len(i) > 0 {
						size = st.Disks[i[0]].Size
					}
				})
			}
		}
		return opDiskAdd, size
	}
	return opOther, 0
}

// diskRecords lists the /disk menu: the pool partition first, then the file
// disks in creation order; an index is the item's position in that list.
func (s *Server) diskRecords(st *state) []record {
	recs := []record{poolRecord(s.cfg.Pool, s.cfg.Capacity, st.used())}
	for i, d := range st.Disks {
		recs = append(recs, diskRecord(i+1, d))
	}
	return recs
}

// findDisks evaluates [find ...] on the /disk menu: indexes into st.Disks,
// and whether the pool partition matched too.
func (s *Server) findDisks(st *state, f *findExpr) (disks []int, pool bool) {
	for _, r := range s.diskRecords(st) {
		if !matches(f.conds, r) {
			continue
		}
		if r.index == 0 {
			pool = true
		} else {
			disks = append(disks, r.index-1)
		}
	}
	return disks, pool
}

func (s *Server) diskPrint(cmd *command) string {
	var recs []record
	s.store.read(func(st *state) {
		for _, r := range s.diskRecords(st) {
			if matches(cmd.where, r) {
				recs = append(recs, r)
			}
		}
	})
	return diskLayout.print(recs)
}

// addRequest is a validated /disk add.
type addRequest struct {
	typ      string
	filePath string
	size     int64 // 0: not given
	slot     string
	copyFrom *findExpr
}

// exportSettings holds the optional export arguments of add and set.
type exportSettings struct {
	export *bool
	port   *int
	nqn    *string
}

// set converts one export argument; ok is false for other names.
func (e *exportSettings) set(a arg) (ok bool, err error) {
	switch a.name {
	case "nvme-tcp-export":
		b, err := parseYesNo(a)
		e.export = &b
		return true, err
	case "nvme-tcp-server-port":
		n, err := strconv.Atoi(a.value)
		if err != nil || n < 1 || n > 65535 {
			return true, invalidValue(a.name)
		}
		e.port = &n
	case "nvme-tcp-server-nqn":
		if a.value != "" && !printable(a.value) {
			return true, invalidValue(a.name)
		}
		e.nqn = &a.value
	default:
		return false, nil
	}
	return true, nil
}

func (e exportSettings) apply(d *disk) {
	if e.export != nil {
		d.Export = *e.export
	}
	if e.port != nil {
		d.Port = *e.port
	}
	if e.nqn != nil {
		d.NQN = *e.nqn
	}
}

func parseYesNo(a arg) (bool, error) {
	switch a.value {
	case "yes", "true":
		return true, nil
	case "no", "false":
		return false, nil
	}
	return false, invalidValue(a.name)
}

// parseFileSize accepts a positive size with an optional unit suffix.
func parseFileSize(a arg) (int64, error) {
	n, err := ParseSize(a.value)
	if err != nil || n <= 0 {
		return 0, invalidValue(a.name)
	}
	return n, nil
}

func (s *Server) parseAdd(cmd *command) (addRequest, exportSettings, error) {
	var r addRequest
	var ex exportSettings
	for _, a := range cmd.args {
		if ok, err := ex.set(a); ok {
			if err != nil {
				return r, ex, err
			}
			continue
		}
		var err error
		switch a.name {
		case "type":
			r.typ = a.value
			if r.typ != "file" {
				err = invalidValue(a.name) // other disk types are not emulated
			}
		case "file-path":
			r.filePath = a.value
			if !validFilePath(a.value, s.cfg.Pool) {
				err = invalidValue(a.name)
			}
		case "file-size":
			r.size, err = parseFileSize(a)
		case "slot":
			r.slot = a.value
			if !printable(a.value) {
				err = invalidValue(a.name)
			}
		case "copy-from":
			r.copyFrom = a.find
			if a.find == nil {
				err = invalidValue(a.name)
			}
		}
		if err != nil {
			return r, ex, err
		}
	}
	switch {
	case r.typ == "":
		return r, ex, notSpecified("type")
	case r.slot == "":
		return r, ex, notSpecified("slot")
	case r.filePath == "":
		return r, ex, notSpecified("file-path")
	case r.size == 0 && r.copyFrom == nil:
		return r, ex, notSpecified("file-size")
	}
	return r, ex, nil
}

// checkNew answers why an add may not take slot and file-path: a disk or
// a running copy has the slot, or a file (maybe a running copy's) is there.
// It returns the backing file's host path.
func (s *Server) checkNew(st *state, r addRequest) (string, error) {
	if _, copying := st.copies[r.slot]; copying || st.slotIndex(r.slot) >= 0 {
		return "", cliError(msgSlotExists)
	}
	host := hostPath(s.cfg.DataDir, r.filePath)
	if _, err := os.Lstat(host); err == nil || st.fileInUse(r.filePath) {
		return "", cliError(msgFileExists)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", s.internal(err, "Checking backing file failed", "path", host)
	}
	return host, nil
}

// checkSpace answers "not enough space" when size more bytes do not fit.
func (s *Server) checkSpace(st *state, size int64) error {
	if s.faults.get(FaultDiskFull) || size > s.cfg.Capacity-st.used() {
		return cliError(msgNoSpace)
	}
	return nil
}

func (s *Server) diskAdd(ctx context.Context, log klog.Logger, cmd *command) error {
	r, ex, err := s.parseAdd(cmd)
	if err != nil {
		return err
	}
	if r.copyFrom != nil {
		return s.diskCopy(ctx, log, r, ex)
	}
	var made string // the backing file this add created
	err = s.store.update(func(st *state) (bool, error) {
		host, err := s.checkNew(st, r)
		if err != nil {
			return false, err
		}
		if err := s.checkSpace(st, r.size); err != nil {
			return false, err
		}
		if err := createSparse(host, r.size); err != nil {
			return false, s.internal(err, "Creating backing file failed", "path", host)
		}
		made = host
		d := disk{Slot: r.slot, FilePath: r.filePath, Size: r.size, Port: defaultNVMeTCPPort}
		ex.apply(&d)
		st.Disks = append(st.Disks, d)
		st.Created[r.filePath] = s.now()
		return true, nil
	})
	if err != nil && made != "" {
		s.removeFailed(made)
	}
	return err
}

// removeFailed removes the backing file of an add that answers a failure
// after creating it (e.g. the state write failed): the add must leave
// nothing behind, or every retry would answer "file already exists".
func (s *Server) removeFailed(host string) {
	if err := os.Remove(host); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Error(err, "Removing the backing file of a failed add failed", "path", host)
	}
}

func (s *Server) diskSet(cmd *command) error {
	var ex exportSettings
	newSize := int64(-1)
	for _, a := range cmd.args {
		if ok, err := ex.set(a); ok {
			if err != nil {
				return err
			}
			continue
		}
		if a.name == "file-size" {
			n, err := parseFileSize(a)
			if err != nil {
				return err
			}
			newSize = n
		}
	}
	if cmd.selector == nil {
		return cliError(msgNoSuchItem)
	}
	return s.store.update(func(st *state) (bool, error) {
		idx, pool := s.findDisks(st, cmd.selector)
		switch {
		case pool:
			return false, cliError(msgDiskMounted)
		case len(idx) == 0:
			return false, cliError(msgNoSuchItem)
		}
		// Check every selected disk before changing any of them.
		var grow int64
		if newSize >= 0 {
			for _, i := range idx {
				if newSize < st.Disks[i].Size {
					return false, cliError(msgSizeDecrease)
				}
				grow += newSize - st.Disks[i].Size
			}
		}
		if grow > 0 {
			if err := s.checkSpace(st, grow); err != nil {
				return false, err
			}
		}
		for _, i := range idx {
			d := &st.Disks[i]
			if newSize > d.Size {
				if err := growFile(hostPath(s.cfg.DataDir, d.FilePath), newSize); err != nil {
					return false, s.internal(err, "Growing backing file failed", "slot", d.Slot)
				}
				d.Size = newSize
			}
			ex.apply(d)
		}
		return true, nil
	})
}

// diskRemove forgets the disks; like RouterOS it leaves the backing files.
func (s *Server) diskRemove(cmd *command) error {
	if cmd.selector == nil {
		return cliError(msgNoSuchItem)
	}
	return s.store.update(func(st *state) (bool, error) {
		idx, pool := s.findDisks(st, cmd.selector)
		if pool {
			return false, cliError(msgDiskMounted)
		}
		if len(idx) == 0 {
			return false, nil
		}
		gone := map[string]bool{}
		for _, i := range idx {
			gone[st.Disks[i].Slot] = true
		}
		st.Disks = slices.DeleteFunc(st.Disks, func(d disk) bool { return gone[d.Slot] })
		return true, nil
	})
}

func (s *Server) fileRecords(st *state) ([]record, []fileEntry, error) {
	files, err := listFiles(s.cfg.DataDir, s.cfg.Pool, st.Created)
	if err != nil {
		return nil, nil, s.internal(err, "Listing files failed")
	}
	recs := make([]record, len(files))
	for i, f := range files {
		recs[i] = fileRecord(i, f)
	}
	return recs, files, nil
}

func (s *Server) filePrint(cmd *command) (string, error) {
	var out string
	var err error
	s.store.read(func(st *state) {
		var all []record
		if all, _, err = s.fileRecords(st); err != nil {
			return
		}
		var recs []record
		for _, r := range all {
			if matches(cmd.where, r) {
				recs = append(recs, r)
			}
		}
		out = fileLayout.print(recs)
	})
	return out, err
}

// fileRemove deletes files (and empty directories). A file still backing a
// disk, or the target of a running copy, is refused: deleting it would
// leave a disk without data.
func (s *Server) fileRemove(cmd *command) error {
	if cmd.selector == nil {
		return cliError(msgNoSuchItem)
	}
	return s.store.update(func(st *state) (bool, error) {
		recs, files, err := s.fileRecords(st)
		if err != nil {
			return false, err
		}
		var victims []fileEntry
		for i, r := range recs {
			if matches(cmd.selector.conds, r) {
				victims = append(victims, files[i])
			}
		}
		for _, f := range victims {
			if st.fileInUse("/" + f.name) {
				return false, cliError(msgFileInUse)
			}
		}
		// Deepest first, so a directory selected with its content goes last.
		slices.SortFunc(victims, func(a, b fileEntry) int { return strings.Count(b.name, "/") - strings.Count(a.name, "/") })
		changed := false
		for _, f := range victims {
			host := hostPath(s.cfg.DataDir, "/"+f.name)
			if err := os.Remove(host); err != nil && !errors.Is(err, os.ErrNotExist) {
				if f.dir {
					return changed, cliError(msgDirNotEmpty)
				}
				return changed, s.internal(err, "Removing file failed", "path", host)
			}
			if _, ok := st.Created["/"+f.name]; ok {
				delete(st.Created, "/"+f.name)
				changed = true
			}
		}
		return changed, nil
	})
}

// internal logs an unexpected host error and answers a generic failure: the
// client must see a RouterOS-style text, the operator the real cause.
func (s *Server) internal(err error, msg string, kv ...any) error {
	s.log.Error(err, msg, kv...)
	return cliError(msgInternal)
}
