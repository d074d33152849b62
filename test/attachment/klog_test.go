package attachment

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// logLine is one klog line of a child's log with its header time.
type logLine struct {
	at   time.Time
	text string
}

// klogHeader matches klog's text header "Lmmdd hh:mm:ss.uuuuuu ...". It
// carries no year and no zone: klog writes local time.
var klogHeader = regexp.MustCompile(`^[IWEF](\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{6}) `)

// readLog returns the klog lines of a log file in order; lines without a
// klog header (the "### start" markers, continuation lines) are skipped.
func readLog(path string) ([]logLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	now := time.Now()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		m := klogHeader.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n := make([]int, 6)
		for i := range n {
			n[i], _ = strconv.Atoi(m[i+1])
		}
		at := time.Date(now.Year(), time.Month(n[0]), n[1], n[2], n[3], n[4], n[5]*1000, time.Local)
		if at.After(now.Add(24 * time.Hour)) { // a line from December read in January
			at = at.AddDate(-1, 0, 0)
		}
		out = append(out, logLine{at: at, text: sc.Text()})
	}
	return out, sc.Err()
}

// findLine returns the index of the first line at or after from that
// contains every one of parts, or -1.
func findLine(lines []logLine, from int, parts ...string) int {
next:
	for i := max(from, 0); i < len(lines); i++ {
		for _, p := range parts {
			if !strings.Contains(lines[i].text, p) {
				continue next
			}
		}
		return i
	}
	return -1
}

// lastLine returns the index of the last line that contains every one of
// parts, or -1.
func lastLine(lines []logLine, parts ...string) int {
	for i := len(lines) - 1; i >= 0; i-- {
		ok := true
		for _, p := range parts {
			if !strings.Contains(lines[i].text, p) {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}
