package rds

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Field is one key=value pair of a record, the value unquoted.
type Field struct {
	Key   string
	Value string
}

// Record is one item of a RouterOS "print detail" listing, or the settings of
// a singleton menu (ParseProperties). Fields keep their output order because
// RouterOS prints them in a stable order that is useful in logs and tests.
type Record struct {
	// Index is the item number printed before the record, or -1 when the
	// output carried none.
	Index int
	// Flags are the flag letters printed after the index (e.g. "X" for a
	// disabled item), concatenated, or "".
	Flags string
	// Comment is the text of a ";;;" comment printed after the index.
	Comment string
	// Fields in output order; keys match [a-z][a-z0-9-]*.
	Fields []Field
}

// Get returns the value of the first field named key.
func (r Record) Get(key string) (string, bool) {
	for _, f := range r.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// continuationIndent is the least indentation of a continuation line. Real
// output indents by 6 (pool listing) or 15 (disk listing); a record start has
// at most 3 spaces before its index, so anything from 4 on is unambiguous.
const continuationIndent = 4

// indexLine matches a record start: up to three spaces, the index, then a
// space or the end of the line. Only these first columns decide; a
// continuation line starting with digits is indented further.
var indexLine = regexp.MustCompile(`^ {0,3}([0-9]+)(?: +(.*))?$`)

// ParseRecords parses the output of a RouterOS "print detail" command.
//
// Lines end in CRLF or LF. A legend line ("Flags: ...", also "Columns: ...")
// is skipped together with the lines that continue it (unindexed lines that
// do not start with "key="), so the empty answer (legend only) yields no
// records. A record
// starts with its index and optional flag letters; lines indented by at least
// four spaces continue it. RouterOS wraps at about 80 columns, sometimes
// inside a value, so a continuation line is joined to the text before it
// WITHOUT a separator when the text ends inside an open double quote or when
// the line does not start with "key=" (it is then the rest of a wrapped value;
// grouped numbers lose their spaces anyway); otherwise one space separates it
// (a new field). The joined text is split at " key=" boundaries outside
// quotes; each value is trimmed and, when quoted, unescaped.
//
// A record without an index (the record body alone, starting at column 0
// with "key=") is accepted with Index -1. Any other line is an error wrapping
// ErrCommandFailed, so malformed output is never silently half-parsed.
func ParseRecords(out string) ([]Record, error) {
	var (
		records  []Record
		cur      *recordText
		inLegend bool
	)
	flush := func() error {
		if cur == nil {
			return nil
		}
		fields, err := splitFields(cur.text.String())
		if err != nil {
			return fmt.Errorf("%w: record starting on line %d: %w", ErrCommandFailed, cur.line, err)
		}
		records = append(records, Record{Index: cur.index, Flags: cur.flags, Comment: cur.comment, Fields: fields})
		cur = nil
		return nil
	}

	for n, line := range strings.Split(out, "\n") {
		lineNo := n + 1
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue // blank lines separate records
		}
		content := strings.TrimLeft(line, " ")
		indent := len(line) - len(content)
		if indent < continuationIndent && (strings.HasPrefix(content, "Flags:") || strings.HasPrefix(content, "Columns:")) {
			if err := flush(); err != nil {
				return nil, err
			}
			inLegend = true
			continue
		}
		if m := indexLine.FindStringSubmatch(line); m != nil {
			if err := flush(); err != nil {
				return nil, err
			}
			index, err := strconv.Atoi(m[1])
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: index %q: %w", ErrCommandFailed, lineNo, m[1], err)
			}
			flags, comment, rest := splitIndexRest(m[2])
			cur = &recordText{line: lineNo, index: index, flags: flags, comment: comment}
			cur.add(rest)
			inLegend = false
			continue
		}
		switch {
		case indent >= continuationIndent && cur != nil:
			cur.add(content)
		case indent >= continuationIndent && inLegend:
			// a wrapped legend
		case indent < continuationIndent && keyLen(content) > 0:
			if err := flush(); err != nil {
				return nil, err
			}
			cur = &recordText{line: lineNo, index: -1}
			cur.add(content)
			inLegend = false
		case inLegend:
			// a legend continued at the left margin
		default:
			return nil, fmt.Errorf("%w: line %d: unexpected %q", ErrCommandFailed, lineNo, line)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return records, nil
}

// splitIndexRest takes what follows the index on a record's first line
// apart: flag tokens (letters only, either case, e.g. "X", "B t", "DAc" —
// RouterOS prints one column per flag, so an unset flag leaves a gap — and
// never containing '=', so never a key=value), an
// optional ";;;" comment, and the start of the fields.
func splitIndexRest(rest string) (flags, comment, fields string) {
	var b strings.Builder
	for {
		tok, after, _ := strings.Cut(rest, " ")
		if !isFlagToken(tok) {
			break
		}
		b.WriteString(tok)
		rest = strings.TrimLeft(after, " ")
	}
	if c, ok := strings.CutPrefix(rest, ";;;"); ok {
		return b.String(), strings.TrimSpace(c), ""
	}
	return b.String(), "", rest
}

func isFlagToken(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// recordText accumulates the joined text of one record and knows whether it
// currently ends inside a quoted value, which decides how the next
// continuation line is joined.
type recordText struct {
	line    int
	index   int
	flags   string
	comment string
	text    strings.Builder
	quote   quoteState
}

func (t *recordText) add(chunk string) {
	if chunk == "" {
		return
	}
	if t.text.Len() > 0 && !t.quote.open() && keyLen(chunk) > 0 {
		t.text.WriteByte(' ')
	}
	t.text.WriteString(chunk)
	for i := 0; i < len(chunk); i++ {
		t.quote.step(chunk[i])
	}
}

// quoteState follows double quotes and backslash escapes inside them, byte
// by byte, so a wrap between '\' and the escaped character is handled.
type quoteState struct {
	inQuote bool
	escaped bool
}

func (q *quoteState) open() bool { return q.inQuote }

func (q *quoteState) step(b byte) {
	switch {
	case q.escaped:
		q.escaped = false
	case q.inQuote && b == '\\':
		q.escaped = true
	case b == '"':
		q.inQuote = !q.inQuote
	}
}

// keyLen returns the length of the key when s starts with "key=" (key =
// [a-z][a-z0-9-]*), else 0.
func keyLen(s string) int {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return 0
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '=':
			return i
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		default:
			return 0
		}
	}
	return 0
}

// splitFields splits the joined text of a record at " key=" boundaries that
// lie outside quotes.
func splitFields(text string) ([]Field, error) {
	text = strings.TrimRight(text, " ")
	if text == "" {
		return nil, nil
	}
	var (
		starts []int
		q      quoteState
	)
	for i := 0; i < len(text); i++ {
		if !q.open() && (i == 0 || text[i-1] == ' ') && keyLen(text[i:]) > 0 {
			starts = append(starts, i)
		}
		q.step(text[i])
	}
	if q.open() {
		return nil, fmt.Errorf("unterminated quote in %q", text)
	}
	if len(starts) == 0 || starts[0] != 0 {
		return nil, fmt.Errorf("text before the first key=value in %q", text)
	}
	fields := make([]Field, 0, len(starts))
	for k, start := range starts {
		end := len(text)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		seg := text[start:end]
		kl := keyLen(seg)
		value, err := unquoteValue(strings.TrimSpace(seg[kl+1:]))
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", seg[:kl], err)
		}
		fields = append(fields, Field{Key: seg[:kl], Value: value})
	}
	return fields, nil
}

// unquoteValue returns a bare value as is and decodes a double-quoted one.
// RouterOS escapes are not Go's (\_ is a space, \$ and \? exist, hex bytes
// are written \4D without an x), so strconv.Unquote does not apply.
func unquoteValue(raw string) (string, error) {
	if raw == "" || raw[0] != '"' {
		return raw, nil
	}
	var b strings.Builder
	for i := 1; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case '"':
			if i != len(raw)-1 {
				return "", fmt.Errorf("text after the closing quote in %s", raw)
			}
			return b.String(), nil
		case '\\':
			i++
			if i >= len(raw) {
				return "", fmt.Errorf("dangling escape in %s", raw)
			}
			if i+1 < len(raw) && isUpperHex(raw[i]) && isUpperHex(raw[i+1]) {
				v, _ := strconv.ParseUint(raw[i:i+2], 16, 8)
				b.WriteByte(byte(v))
				i++
				continue
			}
			b.WriteByte(unescapeByte(raw[i]))
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("unterminated quote in %s", raw)
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

// unescapeByte maps the letter of a RouterOS escape to its byte; any other
// character (\", \\, \$, \?) stands for itself.
func unescapeByte(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case '_':
		return ' '
	case 'a':
		return '\a'
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'v':
		return '\v'
	}
	return c
}

// ParseProperties parses "key: value" output of a singleton menu such as
// "/system identity print" ("name: rds-1"). Keys may be right-aligned
// (leading spaces). An indented line without "key:" continues the previous
// value (joined without a separator, as wrapped values are in listings).
func ParseProperties(out string) (Record, error) {
	var (
		keys   []string
		values []*strings.Builder
	)
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimSuffix(line, "\r")
		content := strings.TrimLeft(line, " ")
		if strings.TrimSpace(content) == "" {
			continue
		}
		if key, value, ok := strings.Cut(content, ":"); ok && isKey(key) {
			keys = append(keys, key)
			values = append(values, &strings.Builder{})
			values[len(values)-1].WriteString(strings.TrimSpace(value))
			continue
		}
		if len(keys) > 0 && len(content) < len(line) {
			values[len(values)-1].WriteString(strings.TrimSpace(content))
			continue
		}
		return Record{}, fmt.Errorf("%w: line %d: expected \"key: value\", got %q", ErrCommandFailed, n+1, line)
	}
	rec := Record{Index: -1}
	for i, key := range keys {
		rec.Fields = append(rec.Fields, Field{Key: key, Value: values[i].String()})
	}
	return rec, nil
}

func isKey(s string) bool { return s != "" && keyLen(s+"=") == len(s) }

// parseGroupedInt parses a byte count as RouterOS prints it, digits grouped
// by spaces ("53 687 091 200"). Anything else is an error, never 0.
func parseGroupedInt(s string) (int64, error) {
	digits := strings.ReplaceAll(s, " ", "")
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a byte count", s)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a byte count: %w", s, err)
	}
	return n, nil
}

// requiredBytes reads a grouped byte count that must be present.
func requiredBytes(r Record, key string) (int64, error) {
	v, ok := r.Get(key)
	if !ok {
		return 0, fmt.Errorf("%w: record %d has no %s=", ErrCommandFailed, r.Index, key)
	}
	n, err := parseGroupedInt(v)
	if err != nil {
		return 0, fmt.Errorf("%w: record %d %s=: %w", ErrCommandFailed, r.Index, key, err)
	}
	return n, nil
}

// volumeFromRecord converts a /disk record. slot and size are required; the
// size comes from size= (exact bytes), never from the lossy file-size=.
func volumeFromRecord(r Record) (Volume, error) {
	slot, _ := r.Get("slot")
	if slot == "" {
		return Volume{}, fmt.Errorf("%w: record %d has no slot=", ErrCommandFailed, r.Index)
	}
	size, err := requiredBytes(r, "size")
	if err != nil {
		return Volume{}, fmt.Errorf("disk %q: %w", slot, err)
	}
	v := Volume{ID: slot, SizeBytes: size}
	v.FilePath, _ = r.Get("file-path")
	v.NQN, _ = r.Get("nvme-tcp-server-nqn")
	switch export, _ := r.Get("nvme-tcp-export"); export {
	case "yes":
		v.Exported = true
	case "no", "":
	default:
		return Volume{}, fmt.Errorf("%w: disk %q: nvme-tcp-export=%q is neither yes nor no", ErrCommandFailed, slot, export)
	}
	if port, _ := r.Get("nvme-tcp-server-port"); port != "" {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return Volume{}, fmt.Errorf("%w: disk %q: nvme-tcp-server-port=%q is not a port", ErrCommandFailed, slot, port)
		}
		v.NVMeTCPPort = p
	}
	return v, nil
}

// capacityFromRecord converts a partition record (size=, free=).
func capacityFromRecord(r Record) (Capacity, error) {
	total, err := requiredBytes(r, "size")
	if err != nil {
		return Capacity{}, err
	}
	free, err := requiredBytes(r, "free")
	if err != nil {
		return Capacity{}, err
	}
	return Capacity{TotalBytes: total, FreeBytes: free}, nil
}
