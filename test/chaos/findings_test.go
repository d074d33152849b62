//go:build linux

package chaos

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// Figure numbers: the order in which they are printed and checked.
const (
	figLeftovers = iota + 1
	figDuplicates
	figContradictions
	figLate
	figNonRetryable
	figPanics
	figGoroutines
	figIncomplete
	numFigures = figIncomplete
)

var figureTitles = [numFigures + 1]string{
	figLeftovers:      "disks/files left for names deleted OK, or owned by no lifecycle",
	figDuplicates:     "names with two or more disks",
	figContradictions: "OK answers contradicted by the RDS state",
	figLate:           "RPCs returned more than 1s after their deadline",
	figNonRetryable:   "non-retryable codes during the run",
	figPanics:         "panics in driver or emulator logs",
	figGoroutines:     "driver goroutines above baseline+tolerance",
	figIncomplete:     "lifecycles not completed, RDS readings failed, harness errors",
}

// finding is one non-zero contribution to a figure.
type finding struct {
	At    time.Time
	Fig   int
	Key   string // dedupe key within the figure ("" = never deduped)
	Text  string
	IDs   []string // volume/snapshot ids whose driver log lines are evidence
	Fault string   // the fault active at the time
}

// findings collects what the suite found, deduplicated by (figure, key),
// and writes each to events.log as it happens.
type findings struct {
	mu     sync.Mutex
	list   []finding
	seen   map[string]bool
	events *eventLog
}

func (f *findings) add(fd finding) {
	if fd.At.IsZero() {
		fd.At = time.Now()
	}
	f.mu.Lock()
	if fd.Key != "" {
		k := fmt.Sprintf("%d/%s", fd.Fig, fd.Key)
		if f.seen[k] {
			f.mu.Unlock()
			return
		}
		f.seen[k] = true
	}
	f.list = append(f.list, fd)
	f.mu.Unlock()
	f.events.printf("FINDING (%d) %s [fault: %s] ids=%v", fd.Fig, fd.Text, fd.Fault, fd.IDs)
}

func (f *findings) byFigure() [numFigures + 1][]finding {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [numFigures + 1][]finding
	for _, fd := range f.list {
		out[fd.Fig] = append(out[fd.Fig], fd)
	}
	return out
}

// eventLog is events.log in the working directory: faults, findings and
// milestones with timestamps, to line up against the process logs.
type eventLog struct {
	mu    sync.Mutex
	f     *os.File
	start time.Time
}

func (e *eventLog) printf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	_, _ = fmt.Fprintf(e.f, "%s +%7.2fs %s\n", now.Format("15:04:05.000"), now.Sub(e.start).Seconds(), fmt.Sprintf(format, args...))
}

// counter is a set of named counts.
type counter struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counter) add(k string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[k] += n
}

func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.m {
		n += v
	}
	return n
}

// String lists the counts sorted by key: "a=1 b=2".
func (c *counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.m))
	for k := range c.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c.m[k]))
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, " ")
}

// evidenceLines is how many log lines per file the report quotes for one
// finding (the last ones).
const evidenceLines = 20

// logEvidence returns the lines of the given log files that mention any of
// ids (at most evidenceLines per file, the last ones), for the report.
func logEvidence(files []string, ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	var b strings.Builder
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var hits []string
		for _, line := range strings.Split(string(data), "\n") {
			for _, id := range ids {
				if id != "" && strings.Contains(line, id) {
					hits = append(hits, line)
					break
				}
			}
		}
		if len(hits) == 0 {
			continue
		}
		if len(hits) > evidenceLines {
			hits = hits[len(hits)-evidenceLines:]
		}
		fmt.Fprintf(&b, "    --- %s (%d lines) ---\n", path, len(hits))
		for _, h := range hits {
			if len(h) > 600 {
				h = h[:600] + "…"
			}
			b.WriteString("    " + h + "\n")
		}
	}
	return b.String()
}

// scanPanics returns "file: line" for every line of the files that shows a
// panic or a fatal runtime error.
func scanPanics(files []string) []string {
	var out []string
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: unreadable: %v", path, err))
			continue
		}
		for i, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "panic:") || strings.Contains(line, "fatal error:") || strings.Contains(line, "Panic in GRPC handler") {
				if len(line) > 400 {
					line = line[:400] + "…"
				}
				out = append(out, fmt.Sprintf("%s:%d: %s", path, i+1, line))
			}
		}
	}
	return out
}
