//go:build linux

package integration

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// metricSet is one scrape of the Prometheus text format: value by series
// key (see seriesKey).
type metricSet map[string]float64

// get returns the value of the series name{labels}; labels are name/value
// pairs and must be the series' complete label set, except that the RDS
// connection metrics' unit label may be left out for the single RDS (unit
// "default").
func (s metricSet) get(name string, labels ...string) (float64, bool) {
	if v, ok := s[seriesKey(name, labels...)]; ok {
		return v, true
	}
	v, ok := s[seriesKey(name, append(slices.Clone(labels), "rds", "default")...)]
	return v, ok
}

// seriesKey is name{l1="v1",l2="v2"} with the labels sorted by name.
func seriesKey(name string, labels ...string) string {
	if len(labels)%2 != 0 {
		panic("seriesKey: labels must be name/value pairs")
	}
	pairs := make([]string, 0, len(labels)/2)
	for i := 0; i < len(labels); i += 2 {
		pairs = append(pairs, labels[i]+"="+strconv.Quote(labels[i+1]))
	}
	slices.Sort(pairs)
	if len(pairs) == 0 {
		return name
	}
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// parseMetrics reads the text exposition format: comments and blank lines
// are skipped, each sample line is name[{labels}] value [timestamp].
func parseMetrics(r io.Reader) (metricSet, error) {
	set := metricSet{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", n, line, err)
		}
		set[key] = value
	}
	return set, sc.Err()
}

func parseSample(line string) (string, float64, error) {
	end := strings.IndexAny(line, "{ ")
	if end <= 0 {
		return "", 0, fmt.Errorf("no metric name")
	}
	name, rest := line[:end], line[end:]
	var labels []string
	if rest[0] == '{' {
		var err error
		if labels, rest, err = parseLabels(rest[1:]); err != nil {
			return "", 0, err
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 || len(fields) > 2 {
		return "", 0, fmt.Errorf("want a value and an optional timestamp")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", 0, err
	}
	return seriesKey(name, labels...), v, nil
}

// parseLabels reads `a="x",b="y"}` and returns the pairs and what follows
// the closing brace. Values may contain \\, \" and \n escapes.
func parseLabels(s string) (pairs []string, rest string, err error) {
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return pairs, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || len(s) < eq+2 || s[eq+1] != '"' {
			return nil, "", fmt.Errorf("malformed label at %q", s)
		}
		name := strings.TrimSpace(s[:eq])
		var value strings.Builder
		i := eq + 2
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				if s[i] == 'n' {
					value.WriteByte('\n')
					continue
				}
			}
			value.WriteByte(s[i])
		}
		if i == len(s) {
			return nil, "", fmt.Errorf("unterminated value of label %q", name)
		}
		pairs = append(pairs, name, value.String())
		s = s[i+1:]
	}
}

func TestParseMetrics(t *testing.T) {
	const text = `# HELP rds_csi_rds_connection_state 1 while connected.
# TYPE rds_csi_rds_connection_state gauge
rds_csi_rds_connection_state{address="127.0.0.1:2222"} 1
rds_csi_fsm_transitions_total{to="Backoff",from="Disconnected",event="scheduleRetry"} 3
odd{path="a\"b\\c\nd",x=""} -2.5 1700000000000
rds_csi_rds_reconnect_duration_seconds_bucket{le="+Inf"} 1
rds_csi_rds_reconnect_duration_seconds_count 1
`
	set, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"rds_csi_rds_connection_state", []string{"address", "127.0.0.1:2222"}, 1},
		{"rds_csi_fsm_transitions_total", []string{"from", "Disconnected", "to", "Backoff", "event", "scheduleRetry"}, 3},
		{"odd", []string{"x", "", "path", "a\"b\\c\nd"}, -2.5},
		{"rds_csi_rds_reconnect_duration_seconds_bucket", []string{"le", "+Inf"}, 1},
		{"rds_csi_rds_reconnect_duration_seconds_count", nil, 1},
	} {
		got, ok := set.get(tc.name, tc.labels...)
		if !ok || got != tc.want {
			t.Errorf("%s = %v (present %v), want %v", seriesKey(tc.name, tc.labels...), got, ok, tc.want)
		}
	}
	for _, bad := range []string{`x{a="b} 1`, `x{a=b} 1`, `x 1 2 3`, `x{a="b"} one`} {
		if _, err := parseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("parseMetrics(%q) accepted it", bad)
		}
	}
}
