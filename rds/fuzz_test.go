package rds

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseRecords checks that ParseRecords never panics, fails only with
// ErrCommandFailed, yields well-formed keys, and that its joining rule is
// consistent: whatever it parsed, printed again RouterOS-style (every value
// quoted, wrapped at 80 and at 24 columns, also inside values) parses to
// the same records. The seed corpus is testdata/fuzz/FuzzParseRecords.
func FuzzParseRecords(f *testing.F) {
	f.Fuzz(func(t *testing.T, out string) {
		records, err := ParseRecords(out)
		if err != nil {
			if !errors.Is(err, ErrCommandFailed) {
				t.Fatalf("error %v does not wrap ErrCommandFailed", err)
			}
			return
		}
		for _, r := range records {
			for _, fl := range r.Fields {
				if !isKey(fl.Key) {
					t.Fatalf("bad key %q in %+v", fl.Key, r)
				}
			}
			// The converters must not panic on whatever the parser accepts.
			_, _ = volumeFromRecord(r)
			_, _ = capacityFromRecord(r)
		}
		_, _ = ParseProperties(out)
		for _, width := range []int{80, 24} {
			printed := renderRecords(records, width)
			again, err := ParseRecords(printed)
			if err != nil {
				t.Fatalf("reparse at width %d: %v\nprinted:\n%s", width, err, printed)
			}
			if !sameRecords(records, again) {
				t.Fatalf("reparse at width %d differs\n got %+v\nwant %+v\nprinted:\n%s", width, again, records, printed)
			}
		}
	})
}

func sameRecords(a, b []Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Index != b[i].Index || a[i].Flags != b[i].Flags || a[i].Comment != b[i].Comment ||
			len(a[i].Fields) != len(b[i].Fields) || (len(a[i].Fields) > 0 && !reflect.DeepEqual(a[i].Fields, b[i].Fields)) {
			return false
		}
	}
	return true
}

// renderRecords prints records the way RouterOS does, with CRLF line ends:
// index and flags, fields separated by spaces, lines wrapped at width
// between fields or, for a field too long for a line, inside its quoted
// value (never before a space, which indentation stripping would eat).
func renderRecords(records []Record, width int) string {
	var b strings.Builder
	for i, r := range records {
		if i > 0 && i%2 == 0 {
			b.WriteString("\r\n") // blank separators are optional
		}
		indent := strings.Repeat(" ", 4+i%12)
		cur := ""
		if r.Index >= 0 {
			cur = fmt.Sprintf("%2d", r.Index)
			if r.Flags != "" {
				cur += " " + r.Flags
			}
			if r.Comment != "" {
				b.WriteString(cur + " ;;; " + r.Comment + "\r\n")
				cur = indent
			}
		}
		for _, fl := range r.Fields {
			tok := fl.Key + `="` + escapeValue(fl.Value) + `"`
			sep := " "
			if strings.TrimSpace(cur) == "" {
				sep = ""
			}
			if len(cur)+len(sep)+len(tok) <= width {
				cur += sep + tok
				continue
			}
			if strings.TrimSpace(cur) != "" && (r.Index < 0 || cur != fmt.Sprintf("%2d", r.Index)) {
				b.WriteString(cur + "\r\n")
				cur, sep = indent, ""
			}
			cur += sep
			// Hard-split inside the quotes: from just after key=" to just
			// before the closing quote.
			lo, hi := len(fl.Key)+2, len(tok)-1
			for len(cur)+len(tok) > width {
				p := min(width-len(cur), hi)
				for p >= lo && p > 0 && (tok[p] == ' ' || tok[p-1] == '\r') {
					p--
				}
				if p < lo || p <= 0 {
					break
				}
				b.WriteString(cur + tok[:p] + "\r\n")
				cur, tok = indent, tok[p:]
				lo, hi = 1, len(tok)-1
			}
			cur += tok
		}
		b.WriteString(cur + "\r\n")
	}
	return b.String()
}

func escapeValue(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`).Replace(v)
}
