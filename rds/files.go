package rds

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// RouterOS prints dates in the RDS's local time, in one of two layouts
// (7.x prints ISO-like dates; older output and some menus the month name).
var rdsDateLayouts = []string{"2006-01-02 15:04:05", "Jan/02/2006 15:04:05"}

// parseRDSTime reads a RouterOS date as local time at the given offset from
// UTC and returns it in UTC.
func parseRDSTime(s string, offset time.Duration) (time.Time, error) {
	s = strings.TrimSpace(s)
	// The month name is lower case on RouterOS ("jan/02/2025"); Go wants "Jan".
	if len(s) > 3 && s[3] == '/' {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	zone := time.FixedZone("rds", int(offset/time.Second))
	for _, layout := range rdsDateLayouts {
		if t, err := time.ParseInLocation(layout, s, zone); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: unreadable date %q", ErrCommandFailed, s)
}

// parseGMTOffset reads RouterOS's "gmt-offset: +01:00" value.
func parseGMTOffset(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return 0, fmt.Errorf("%w: unreadable gmt-offset %q", ErrCommandFailed, s)
	}
	t, err := time.Parse("15:04", s[1:])
	if err != nil {
		return 0, fmt.Errorf("%w: unreadable gmt-offset %q", ErrCommandFailed, s)
	}
	d := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	if s[0] == '-' {
		d = -d
	}
	return d, nil
}

// clockOffsetTTL: the offset changes only with DST or an operator's edit.
const clockOffsetTTL = 10 * time.Minute

// clockOffset caches the RDS clock's GMT offset.
type clockOffset struct {
	mu      sync.Mutex
	offset  time.Duration
	fetched time.Time
}

// offset returns the RDS's GMT offset, asking "/system clock print" at most
// once per clockOffsetTTL.
func (c *SSHClient) gmtOffset(ctx context.Context) (time.Duration, error) {
	c.clock.mu.Lock()
	defer c.clock.mu.Unlock()
	if !c.clock.fetched.IsZero() && time.Since(c.clock.fetched) < clockOffsetTTL {
		return c.clock.offset, nil
	}
	_, d, err := c.readClock(ctx)
	if err != nil {
		return 0, err
	}
	c.clock.offset, c.clock.fetched = d, time.Now()
	return d, nil
}

// readClock asks "/system clock print" and returns the RDS's time (UTC) and
// its GMT offset.
func (c *SSHClient) readClock(ctx context.Context) (time.Time, time.Duration, error) {
	out, err := c.exec(ctx, clockCommand, nil)
	if err != nil {
		return time.Time{}, 0, err
	}
	return parseClock(out)
}

// parseClock reads the answer of "/system clock print": time, date and
// gmt-offset (dates in either RouterOS layout).
func parseClock(out string) (time.Time, time.Duration, error) {
	rec, err := ParseProperties(out)
	if err != nil {
		return time.Time{}, 0, err
	}
	off, ok := rec.Get("gmt-offset")
	if !ok {
		return time.Time{}, 0, fmt.Errorf("%w: clock without gmt-offset: %q", ErrCommandFailed, out)
	}
	d, err := parseGMTOffset(off)
	if err != nil {
		return time.Time{}, 0, err
	}
	date, okDate := rec.Get("date")
	clock, okTime := rec.Get("time")
	if !okDate || !okTime {
		return time.Time{}, 0, fmt.Errorf("%w: clock without date or time: %q", ErrCommandFailed, out)
	}
	now, err := parseRDSTime(strings.TrimSpace(date)+" "+strings.TrimSpace(clock), d)
	if err != nil {
		return time.Time{}, 0, err
	}
	return now, d, nil
}

// Clock implements Client: the RDS's clock in UTC. It refreshes the cached
// GMT offset as a side effect.
func (c *SSHClient) Clock(ctx context.Context) (time.Time, error) {
	now, d, err := c.readClock(ctx)
	if err != nil {
		return time.Time{}, err
	}
	c.clock.mu.Lock()
	c.clock.offset, c.clock.fetched = d, time.Now()
	c.clock.mu.Unlock()
	return now, nil
}

// RemoveFile implements Client: "/file remove" of one clean absolute path.
// "No such item" is success.
func (c *SSHClient) RemoveFile(ctx context.Context, filePath string) error {
	cmd, err := removeFileCommand(filePath)
	if _, err := c.exec(ctx, cmd, err); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("remove file %q: %w", filePath, err)
	}
	klog.FromContext(ctx).V(2).Info("Removed file", "filePath", filePath)
	return nil
}

// ListFiles implements Client: "/file print detail where name~^<dir>/",
// keeping regular files whose path really lies under dir.
func (c *SSHClient) ListFiles(ctx context.Context, dir string) ([]File, error) {
	cmd, err := listFilesCommand(dir)
	out, err := c.exec(ctx, cmd, err)
	if err != nil {
		return nil, err
	}
	records, err := ParseRecords(out)
	if err != nil {
		return nil, err
	}
	offset, err := c.gmtOffset(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the RDS clock for file times: %w", err)
	}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	var files []File
	for _, r := range records {
		name, _ := r.Get("name")
		p := "/" + strings.TrimPrefix(name, "/")
		if !strings.HasPrefix(p, prefix) {
			continue // the regex's '.' matched more than a dot
		}
		if typ, _ := r.Get("type"); typ == "directory" {
			continue
		}
		f := File{Path: p}
		if f.SizeBytes, err = requiredBytes(r, "size"); err != nil {
			return nil, err
		}
		created, ok := r.Get("creation-time")
		if !ok {
			return nil, fmt.Errorf("%w: file %q without creation-time", ErrCommandFailed, name)
		}
		if f.Created, err = parseRDSTime(created, offset); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}
