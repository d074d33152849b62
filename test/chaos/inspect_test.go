//go:build linux

package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/srvlab/rds-csi/rds"
	"github.com/srvlab/rds-csi/test/procs"
)

// The suite reads the RDS state itself, over its own SSH connection, never
// through the driver: `/disk print detail` and `/file print detail`, parsed
// with rds.ParseRecords (RouterOS wraps lines inside values: never split
// on whitespace).

// rdsDisk is one file disk of `/disk print detail`.
type rdsDisk struct {
	Slot     string
	FilePath string
	Size     int64
}

// rdsState is one reading of the RDS.
type rdsState struct {
	// Started is when the disk listing was sent: everything that answered
	// OK before it is reflected in Disks.
	Started time.Time
	Disks   []rdsDisk
	// Files are absolute paths of the regular files in the pool.
	Files []string
}

func (s rdsState) disk(slot string) (rdsDisk, bool) {
	for _, d := range s.Disks {
		if d.Slot == slot {
			return d, true
		}
	}
	return rdsDisk{}, false
}

func (s rdsState) hasFile(p string) bool {
	for _, f := range s.Files {
		if f == p {
			return true
		}
	}
	return false
}

// signature identifies the managed content of a reading, for quiescence.
func (s rdsState) signature() string {
	var parts []string
	for _, d := range s.Disks {
		parts = append(parts, fmt.Sprintf("d:%s:%s:%d", d.Slot, d.FilePath, d.Size))
	}
	for _, f := range s.Files {
		parts = append(parts, "f:"+f)
	}
	sort.Strings(parts)
	return strings.Join(parts, "\n")
}

// parseDisks reads `/disk print detail`: the file disks (the pool's
// partition record and any other type are left out).
func parseDisks(out string) ([]rdsDisk, error) {
	recs, err := rds.ParseRecords(out)
	if err != nil {
		return nil, err
	}
	var disks []rdsDisk
	for _, r := range recs {
		if t, _ := r.Get("type"); t != "file" {
			continue
		}
		slot, ok := r.Get("slot")
		if !ok || slot == "" {
			return nil, fmt.Errorf("file disk #%d without slot", r.Index)
		}
		fp, _ := r.Get("file-path")
		sizeText, ok := r.Get("size")
		if !ok {
			return nil, fmt.Errorf("disk %s without size", slot)
		}
		size, err := strconv.ParseInt(strings.ReplaceAll(sizeText, " ", ""), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("disk %s: size %q: %w", slot, sizeText, err)
		}
		disks = append(disks, rdsDisk{Slot: slot, FilePath: "/" + strings.TrimPrefix(fp, "/"), Size: size})
	}
	return disks, nil
}

// parseFiles reads `/file print detail`: absolute paths of regular files
// (directories left out).
func parseFiles(out string) ([]string, error) {
	recs, err := rds.ParseRecords(out)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, r := range recs {
		name, ok := r.Get("name")
		if !ok {
			return nil, fmt.Errorf("file #%d without name", r.Index)
		}
		if t, _ := r.Get("type"); t == "directory" {
			continue
		}
		files = append(files, "/"+strings.TrimPrefix(name, "/"))
	}
	return files, nil
}

// The managed naming (driver/volumenames.go): volume disks pvc-<uuid>,
// snapshot disks snap-<16 hex digits of sha256(CSI name)>-<source>,
// content-source records vsrc-<volume id>-<16 hex>; backing files
// <slot>.img. The pool starts empty and only the driver writes to it, so
// anything else found there is a finding too.
var (
	snapSlot   = regexp.MustCompile(`^snap-([0-9a-f]{16})-`)
	recordSlot = regexp.MustCompile(`^vsrc-(pvc-.+)-[0-9a-f]{16}$`)
)

// slotClass says whom a disk slot belongs to: owner is the registry key of
// the lifecycle object (the volume id for a volume and for its
// content-source records, "snap:<hash16>" for a snapshot); group is what
// must have at most one disk (a volume, a snapshot name, a volume's
// records). ok is false outside the managed naming.
func slotClass(slot string) (owner, group string, ok bool) {
	switch {
	case strings.HasPrefix(slot, "pvc-"):
		return slot, slot, true
	case snapSlot.MatchString(slot):
		key := "snap:" + snapSlot.FindStringSubmatch(slot)[1]
		return key, key, true
	case recordSlot.MatchString(slot):
		vol := recordSlot.FindStringSubmatch(slot)[1]
		return vol, "vsrc:" + vol, true
	}
	return "", "", false
}

// fileClass is slotClass of a backing file's slot (<slot>.img).
func fileClass(p string) (owner string, ok bool) {
	base := path.Base(p)
	if !strings.HasSuffix(base, ".img") {
		return "", false
	}
	owner, _, ok = slotClass(strings.TrimSuffix(base, ".img"))
	return owner, ok
}

// inspector reads the RDS. Readings are serialized; a caller that needs a
// reading started after some moment shares one with the callers waiting
// alongside it.
type inspector struct {
	addr     string
	cfg      *ssh.ClientConfig
	mu       sync.Mutex  // one reading at a time
	client   *ssh.Client // the connection readings use; nil: dial
	lastMu   sync.Mutex
	last     *rdsState
	readings int
}

func newInspector(addr string, keys procs.SSHKeys, hostKey ssh.PublicKey) *inspector {
	return &inspector{addr: addr, cfg: &ssh.ClientConfig{
		User:            "admin",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(keys.Signer)},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
		Timeout:         3 * time.Second,
	}}
}

// errReadingFailed: no reading within the budget (the RDS stayed away).
var errReadingFailed = errors.New("no RDS reading")

// readAfter returns a reading whose disk listing started after t, retrying
// for up to budget (faults come and go; a kill keeps the RDS away for at
// most 5 s, a hang for 4 s).
func (in *inspector) readAfter(t time.Time, budget time.Duration) (rdsState, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.lastMu.Lock()
	if in.last != nil && in.last.Started.After(t) {
		s := *in.last
		in.lastMu.Unlock()
		return s, nil
	}
	in.lastMu.Unlock()
	deadline := time.Now().Add(budget)
	var lastErr error
	for pause := 100 * time.Millisecond; ; pause = min(2*pause, time.Second) {
		s, err := in.readOnce()
		if err == nil {
			in.lastMu.Lock()
			in.last = &s
			in.readings++
			in.lastMu.Unlock()
			return s, nil
		}
		lastErr = err
		if time.Now().Add(pause).After(deadline) {
			return rdsState{}, fmt.Errorf("%w for %s: %w", errReadingFailed, budget, lastErr)
		}
		time.Sleep(pause)
	}
}

func (in *inspector) count() int {
	in.lastMu.Lock()
	defer in.lastMu.Unlock()
	return in.readings
}

// readOnce runs both listings on the inspector's connection (dialled
// when there is none; dropped on any error, so the next attempt dials
// again), within 15 s.
func (in *inspector) readOnce() (rdsState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	client, err := in.connect(ctx)
	if err != nil {
		return rdsState{}, err
	}
	// A hung command must not hold the reading past the deadline: closing
	// the connection ends the session.
	stop := context.AfterFunc(ctx, func() { _ = client.Close() })
	defer stop()
	s, err := readState(client)
	if err != nil {
		_ = client.Close()
		in.client = nil
		return rdsState{}, err
	}
	return s, nil
}

// connect returns the inspector's SSH connection, dialling it if needed.
// Called with in.mu held.
func (in *inspector) connect(ctx context.Context) (*ssh.Client, error) {
	if in.client != nil {
		return in.client, nil
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", in.addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	c, chans, reqs, err := ssh.NewClientConn(conn, in.addr, in.cfg)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	in.client = ssh.NewClient(c, chans, reqs)
	return in.client, nil
}

// close drops the connection (end of the test).
func (in *inspector) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.client != nil {
		_ = in.client.Close()
		in.client = nil
	}
}

func readState(client *ssh.Client) (rdsState, error) {
	var s rdsState
	s.Started = time.Now()
	out, err := runCommand(client, "/disk print detail")
	if err != nil {
		return rdsState{}, err
	}
	if s.Disks, err = parseDisks(out); err != nil {
		return rdsState{}, fmt.Errorf("/disk print detail: %w\n%s", err, out)
	}
	out, err = runCommand(client, "/file print detail")
	if err != nil {
		return rdsState{}, err
	}
	if s.Files, err = parseFiles(out); err != nil {
		return rdsState{}, fmt.Errorf("/file print detail: %w\n%s", err, out)
	}
	return s, nil
}

// runCommand runs one command in its own session. RouterOS reports errors
// in the output ("failure: ...") with exit status 0; a listing never
// contains that.
func runCommand(c *ssh.Client, cmd string) (string, error) {
	sess, err := c.NewSession()
	if err != nil {
		return "", fmt.Errorf("%s: session: %w", cmd, err)
	}
	defer sess.Close()
	var out, errOut bytes.Buffer // one buffer for both would be written concurrently
	sess.Stdout = &out
	sess.Stderr = &errOut
	if err := sess.Run(cmd); err != nil {
		return "", fmt.Errorf("%s: %w: %s%s", cmd, err, out.String(), errOut.String())
	}
	if errOut.Len() > 0 {
		return "", fmt.Errorf("%s: stderr: %s", cmd, errOut.String())
	}
	text := out.String()
	if strings.Contains(text, "failure:") || strings.Contains(text, "bad command") || strings.Contains(text, "syntax error") {
		return "", fmt.Errorf("%s: %s", cmd, text)
	}
	return text, nil
}
