package sim

import (
	"strconv"
	"strings"
)

// lineWidth is the terminal width RouterOS wraps print output at.
const lineWidth = 80

// layout is how one menu prints "print detail".
//
// A record's first line is its index right-aligned in two columns, a blank,
// one column per flag of the menu (the letter when set, else a blank), and
// blanks up to indent; continuation lines are indented to the same column,
// so fields line up. The disk menu uses indent 15 because the hardware
// recording's continuation lines are indented by 15: with it they are
// reproduced byte for byte.
type layout struct {
	legend string
	flags  string
	indent int
}

var (
	diskLayout = layout{legend: "Flags: X - DISABLED; B - BLOCK-DEVICE; M - MOUNTED; t - NVME-TCP-EXPORT", flags: "XBMt", indent: 15}
	fileLayout = layout{legend: "Flags: D - DIRECTORY", flags: "D", indent: 5}
)

// print renders a listing: the legend (also when nothing matched), then the
// records separated by blank lines; every line ends in CRLF.
func (l layout) print(recs []record) string {
	var b strings.Builder
	b.WriteString(l.legend)
	b.WriteString("\r\n")
	for i, r := range recs {
		if i > 0 {
			b.WriteString("\r\n")
		}
		l.writeRecord(&b, r)
	}
	return b.String()
}

func (l layout) prefix(r record) string {
	p := strconv.Itoa(r.index)
	if len(p) < 2 {
		p = " " + p
	}
	p += " "
	for _, c := range l.flags {
		if strings.ContainsRune(r.flags, c) {
			p += string(c)
		} else {
			p += " "
		}
	}
	p += " "
	if len(p) < l.indent {
		p += strings.Repeat(" ", l.indent-len(p))
	}
	return p
}

// writeRecord wraps a record at lineWidth columns:
//   - every group of fields starts on a new line;
//   - inside a group a field joins the current line (after one blank) when
//     it fits, else it starts a new line;
//   - a field longer than a whole line is cut at column 80, inside its value,
//     and continues on the next line; no character is dropped or added, so
//     a cut next to a blank of a grouped number keeps that blank.
func (l layout) writeRecord(b *strings.Builder, r record) {
	pad := strings.Repeat(" ", l.indent)
	line := []byte(l.prefix(r))
	empty := true // no field on the current line yet
	flush := func() {
		b.Write(line)
		b.WriteString("\r\n")
		line = append(line[:0], pad...)
		empty = true
	}
	for _, g := range r.groups {
		if !empty {
			flush()
		}
		for _, f := range g {
			t := f.text
			if !empty {
				if len(line)+1+len(t) <= lineWidth {
					line = append(line, ' ')
					line = append(line, t...)
					continue
				}
				flush()
			}
			for len(line)+len(t) > lineWidth {
				n := lineWidth - len(line)
				if n <= 0 { // a prefix wider than the line; cannot happen with sane indexes
					flush()
					continue
				}
				line = append(line, t[:n]...)
				t = t[n:]
				flush()
			}
			line = append(line, t...)
			empty = false
		}
	}
	b.Write(line)
	b.WriteString("\r\n")
}
