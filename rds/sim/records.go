package sim

import (
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// field is one key=value pair of a printed record.
type field struct {
	key string
	// raw is what find and where compare against: unquoted, digits not grouped.
	raw string
	// text is "key=value" exactly as printed.
	text string
}

// record is one item of a print detail listing. Each group starts on a new
// line; inside a group fields are packed while they fit (see format.go).
type record struct {
	index  int
	flags  string // letters of the flags that are set
	groups [][]field
}

func (r record) lookup(key string) (string, bool) {
	for _, g := range r.groups {
		for _, f := range g {
			if f.key == key {
				return f.raw, true
			}
		}
	}
	return "", false
}

func bare(key, v string) field   { return field{key: key, raw: v, text: key + "=" + v} }
func quoted(key, v string) field { return field{key: key, raw: v, text: key + "=" + quote(v)} }
func bytesField(key string, n int64) field {
	return field{key: key, raw: strconv.FormatInt(n, 10), text: key + "=" + groupDigits(n)}
}

var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func quote(v string) string { return `"` + quoteEscaper.Replace(v) + `"` }

// plainValue is what RouterOS leaves unquoted in a bare-style field.
var plainValue = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)

func bareOrQuoted(key, v string) field {
	if plainValue.MatchString(v) {
		return bare(key, v)
	}
	return quoted(key, v)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// diskRecord renders a file disk with the field order, quoting and line
// groups of the record recorded on hardware (docs: routeros-protocol.md).
func diskRecord(index int, d disk) record {
	flags := "B"
	if d.Export {
		flags += "t"
	}
	return record{index: index, flags: flags, groups: [][]field{
		{bare("type", "file"), quoted("slot", d.Slot), quoted("slot-default", ""), quoted("parent", ""), bare("fs", "-")},
		{quoted("model", d.FilePath)},
		{bytesField("size", d.Size), bare("mount-filesystem", "yes"), bare("mount-read-only", "no")},
		{bare("compress", "no"), bare("sector-size", "512"), bare("raid-master", "none")},
		{bare("nvme-tcp-export", yesNo(d.Export)), bare("nvme-tcp-server-port", strconv.Itoa(d.Port))},
		{quoted("nvme-tcp-server-nqn", d.NQN)},
		{quoted("nvme-tcp-server-allow-host-name", ""), bare("iscsi-export", "no")},
		{bare("nfs-sharing", "no"), bare("smb-sharing", "no"), bare("media-sharing", "no")},
		{bare("media-interface", "none"), bare("swap", "no")},
		{bare("file-path", d.FilePath)},
		{bare("file-size", humanSize(d.Size)), bare("file-offset", "0")},
	}}
}

// poolRecord renders the pool partition as in the recorded session: slot
// and mount point bare, sizes grouped, use rounded to a whole percent.
func poolRecord(pool string, capacity, used int64) record {
	use := int64(math.Round(float64(used) * 100 / float64(capacity)))
	return record{index: 0, flags: "BM", groups: [][]field{
		{bare("slot", pool), bare("type", "partition"), bare("mount-point", pool), bare("file-system", "btrfs")},
		{bytesField("size", capacity), bytesField("free", capacity-used), bare("use", strconv.FormatInt(use, 10)+"%")},
	}}
}

// fileEntry is one file or directory below the pool.
type fileEntry struct {
	name    string // path without the leading slash
	dir     bool
	size    int64
	created time.Time
}

// dateLayout is the ISO-like date RouterOS 7 prints (2025-11-12 00:36:13).
const dateLayout = "2006-01-02 15:04:05"

// fileRecord renders a /file item: a regular file is typed by its
// extension ("type=.img file"), a bare value that contains a blank.
func fileRecord(index int, f fileEntry) record {
	created := bare("creation-time", f.created.UTC().Format(dateLayout))
	if f.dir {
		return record{index: index, flags: "D", groups: [][]field{
			{bareOrQuoted("name", f.name), bare("type", "directory"), created},
		}}
	}
	typ := "file"
	if ext := path.Ext(f.name); ext != "" {
		typ = ext + " file"
	}
	return record{index: index, groups: [][]field{
		{bareOrQuoted("name", f.name), bare("type", typ), bytesField("size", f.size), created},
	}}
}

// groupDigits writes a byte count with blanks between groups of three
// digits, as RouterOS does: 53 687 091 200.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// humanSize is RouterOS's lossy file-size: one decimal in the smallest
// binary unit that keeps the number at most 1024 (1 GiB → 1024.0MiB).
func humanSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v := float64(n)
	i := 0
	for v > 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + units[i]
}

// matches reports whether a record satisfies every condition. A property
// the record lacks equals nothing and matches no regexp.
func matches(conds []cond, r record) bool {
	for _, c := range conds {
		v, ok := r.lookup(c.key)
		switch c.op {
		case '=':
			if !ok || v != c.value {
				return false
			}
		case '!':
			if ok && v == c.value {
				return false
			}
		case '~':
			if !ok || !c.re.MatchString(v) {
				return false
			}
		}
	}
	return true
}
