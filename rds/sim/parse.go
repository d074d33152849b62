package sim

import (
	"regexp"
	"slices"
	"strings"
)

// verb identifies an executable command.
type verb int

const (
	verbDiskAdd verb = iota + 1
	verbDiskPrint
	verbDiskSet
	verbDiskRemove
	verbFilePrint
	verbFileRemove
	verbIdentityPrint
	verbClockPrint
	verbResourcePrint
)

// verbSpec says what a command accepts.
type verbSpec struct {
	verb verb
	// args are the name=value arguments accepted.
	args []string
	// selector: the command takes an item selector [find ...] first.
	selector bool
	// print: the command accepts detail, without-paging and where.
	print bool
	// fields are the menu's properties, usable in find and where.
	fields []string
}

// menuNode is one level of the RouterOS command tree: a menu with children
// or a command with a spec.
type menuNode struct {
	children map[string]*menuNode
	spec     *verbSpec
}

var (
	diskFields = []string{
		"type", "slot", "slot-default", "parent", "fs", "model", "size",
		"mount-filesystem", "mount-read-only", "compress", "sector-size", "raid-master",
		"nvme-tcp-export", "nvme-tcp-server-port", "nvme-tcp-server-nqn",
		"nvme-tcp-server-allow-host-name", "iscsi-export", "nfs-sharing", "smb-sharing",
		"media-sharing", "media-interface", "swap", "file-path", "file-size", "file-offset",
		"mount-point", "file-system", "free", "use",
	}
	fileFields = []string{"name", "type", "size", "creation-time"}
	exportArgs = []string{"nvme-tcp-export", "nvme-tcp-server-port", "nvme-tcp-server-nqn"}

	commandTree = &menuNode{children: map[string]*menuNode{
		"disk": {children: map[string]*menuNode{
			"add": {spec: &verbSpec{verb: verbDiskAdd, fields: diskFields,
				args: append([]string{"type", "file-path", "file-size", "slot", "copy-from"}, exportArgs...)}},
			"print":  {spec: &verbSpec{verb: verbDiskPrint, print: true, fields: diskFields}},
			"set":    {spec: &verbSpec{verb: verbDiskSet, selector: true, fields: diskFields, args: append([]string{"file-size"}, exportArgs...)}},
			"remove": {spec: &verbSpec{verb: verbDiskRemove, selector: true, fields: diskFields}},
		}},
		"file": {children: map[string]*menuNode{
			"print":  {spec: &verbSpec{verb: verbFilePrint, print: true, fields: fileFields}},
			"remove": {spec: &verbSpec{verb: verbFileRemove, selector: true, fields: fileFields}},
		}},
		"system": {children: map[string]*menuNode{
			"identity": {children: map[string]*menuNode{
				"print": {spec: &verbSpec{verb: verbIdentityPrint}},
			}},
			"clock": {children: map[string]*menuNode{
				"print": {spec: &verbSpec{verb: verbClockPrint}},
			}},
			"resource": {children: map[string]*menuNode{
				"print": {spec: &verbSpec{verb: verbResourcePrint}},
			}},
		}},
	}}
)

// command is one parsed command line. A nil spec is a bare menu path, which
// RouterOS accepts silently (it changes the current menu).
type command struct {
	spec     *verbSpec
	args     []arg
	selector *findExpr
	where    []cond
}

// arg is one name=value argument; find is set for name=[find ...].
type arg struct {
	name  string
	value string
	find  *findExpr
}

// findExpr is [find cond...]: it selects every item matching all conditions.
type findExpr struct{ conds []cond }

// cond is key=value, key!=value or key~regex against a property's raw value.
type cond struct {
	key   string
	op    byte // '=', '!' (for !=) or '~'
	value string
	re    *regexp.Regexp
}

// parser walks one command line; pos is a byte offset, columns are pos+1.
type parser struct {
	s   string
	pos int
}

// parseCommand parses a command line into a command or returns the
// cliError RouterOS would answer. Only a trailing line end is tolerated: a
// second line would be a second command, and one exec runs one command.
func parseCommand(line string) (*command, error) {
	p := &parser{s: strings.TrimRight(line, " \t\r\n")}
	node := commandTree
	p.skipSpace()
	if p.peek() == '/' {
		p.pos++
	}
	for node.spec == nil {
		p.skipSpace()
		if p.eof() {
			return &command{}, nil
		}
		start := p.pos
		w := p.name()
		if w == "" {
			return nil, endOfCommand(start + 1)
		}
		next, ok := node.children[w]
		if !ok {
			return nil, badCommand(w, start+1)
		}
		node = next
		if node.spec == nil && p.peek() == '/' {
			p.pos++ // v7 path syntax: /disk/add
		}
	}
	cmd := &command{spec: node.spec}
	if err := p.args(cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}

func (p *parser) args(cmd *command) error {
	spec := cmd.spec
	for {
		p.skipSpace()
		if p.eof() {
			return nil
		}
		start := p.pos
		if p.peek() == '[' && spec.selector && cmd.selector == nil && len(cmd.args) == 0 {
			f, err := p.find(spec.fields)
			if err != nil {
				return err
			}
			cmd.selector = f
			continue
		}
		name := p.name()
		if name == "" {
			return endOfCommand(start + 1)
		}
		if spec.print && p.atWordEnd(false) {
			switch name {
			case "detail", "without-paging":
				continue
			case "where":
				conds, err := p.conditions(spec.fields, false)
				cmd.where = conds
				return err
			}
		}
		if !slices.Contains(spec.args, name) || p.peek() != '=' {
			return endOfCommand(start + 1)
		}
		p.pos++
		a := arg{name: name}
		if p.peek() == '[' {
			if name != "copy-from" {
				// RouterOS would run the inner command; the emulator only
				// knows [find] as the source of a copy.
				return invalidValue(name)
			}
			f, err := p.find(spec.fields)
			if err != nil {
				return err
			}
			a.find = f
		} else {
			v, err := p.value(false)
			if err != nil {
				return err
			}
			a.value = v
		}
		cmd.args = append(cmd.args, a)
	}
}

// find parses "[find [where] cond...]" with p at the bracket.
func (p *parser) find(fields []string) (*findExpr, error) {
	p.pos++
	p.skipSpace()
	start := p.pos
	w := p.name()
	switch {
	case w == "":
		return nil, endOfCommand(start + 1)
	case w != "find":
		return nil, badCommand(w, start+1)
	case !p.atWordEnd(true):
		return nil, endOfCommand(p.pos + 1)
	}
	p.skipSpace()
	save := p.pos
	if p.name() != "where" || !p.atWordEnd(true) {
		p.pos = save
	}
	conds, err := p.conditions(fields, true)
	if err != nil {
		return nil, err
	}
	if !p.atWordEnd(false) {
		return nil, endOfCommand(p.pos + 1)
	}
	return &findExpr{conds: conds}, nil
}

// conditions parses terms joined by optional "and" up to the end of the
// line, or up to and including "]" when inBracket.
func (p *parser) conditions(fields []string, inBracket bool) ([]cond, error) {
	var conds []cond
	for {
		p.skipSpace()
		if p.eof() {
			if inBracket {
				return nil, endOfCommand(p.pos + 1)
			}
			return conds, nil
		}
		if inBracket && p.peek() == ']' {
			p.pos++
			return conds, nil
		}
		start := p.pos
		key := p.name()
		if key == "" {
			return nil, endOfCommand(start + 1)
		}
		if key == "and" && len(conds) > 0 && p.atWordEnd(inBracket) {
			continue
		}
		if !slices.Contains(fields, key) {
			return nil, endOfCommand(start + 1)
		}
		c := cond{key: key}
		switch {
		case strings.HasPrefix(p.s[p.pos:], "!="):
			c.op = '!'
			p.pos += 2
		case p.peek() == '=' || p.peek() == '~':
			c.op = p.peek()
			p.pos++
		default:
			return nil, endOfCommand(p.pos + 1)
		}
		v, err := p.value(inBracket)
		if err != nil {
			return nil, err
		}
		c.value = v
		if c.op == '~' {
			// RouterOS uses POSIX extended regexps; RE2 agrees on
			// everything a driver sends (anchors, classes, alternation).
			if c.re, err = regexp.Compile(v); err != nil {
				return nil, invalidValue(key)
			}
		}
		conds = append(conds, c)
	}
}

// value parses a bare or double-quoted value and checks that a word
// boundary follows it.
func (p *parser) value(inBracket bool) (string, error) {
	var v string
	if p.peek() == '"' {
		q, err := p.quoted()
		if err != nil {
			return "", err
		}
		v = q
	} else {
		start := p.pos
		for !p.eof() {
			c := p.s[p.pos]
			if c == ' ' || c == '\t' || c == ']' {
				break
			}
			// Characters with a meaning of their own in the RouterOS
			// language (quotes, substitutions, variables, command and
			// block separators) cannot appear in a bare word.
			if strings.IndexByte("\"[;$\\{}", c) >= 0 || c < 0x20 || c == 0x7f {
				return "", endOfCommand(p.pos + 1)
			}
			p.pos++
		}
		v = p.s[start:p.pos]
	}
	if !p.atWordEnd(inBracket) {
		return "", endOfCommand(p.pos + 1)
	}
	return v, nil
}

// quoted parses "..." with RouterOS escapes. Variable substitution ($name)
// is not emulated and is refused rather than silently kept.
func (p *parser) quoted() (string, error) {
	open := p.pos
	p.pos++
	var b strings.Builder
	for !p.eof() {
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c == '$' || c < 0x20:
			return "", endOfCommand(p.pos + 1)
		case c != '\\':
			b.WriteByte(c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.s) {
			return "", endOfCommand(p.pos + 1)
		}
		e := p.s[p.pos+1]
		if r, ok := simpleEscapes[e]; ok {
			b.WriteByte(r)
			p.pos += 2
			continue
		}
		if p.pos+2 < len(p.s) && isHex(e) && isHex(p.s[p.pos+2]) {
			b.WriteByte(unhex(e)<<4 | unhex(p.s[p.pos+2]))
			p.pos += 3
			continue
		}
		return "", endOfCommand(p.pos + 1)
	}
	return "", endOfCommand(open + 1)
}

var simpleEscapes = map[byte]byte{
	'"': '"', '\\': '\\', '$': '$', '?': '?', '_': ' ',
	'n': '\n', 'r': '\r', 't': '\t', 'a': 7, 'b': 8, 'f': 12, 'v': 11,
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func (p *parser) eof() bool { return p.pos >= len(p.s) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.pos]
}

func (p *parser) skipSpace() {
	for !p.eof() && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

// name consumes a command, argument or property name.
func (p *parser) name() string {
	start := p.pos
	for !p.eof() {
		c := p.s[p.pos]
		if !isNameByte(c) {
			break
		}
		p.pos++
	}
	return p.s[start:p.pos]
}

// atWordEnd reports whether a word may end here: end of line, blank, or a
// closing bracket inside [...].
func (p *parser) atWordEnd(inBracket bool) bool {
	c := p.peek()
	return p.eof() || c == ' ' || c == '\t' || inBracket && c == ']'
}

// isNameByte reports whether c may appear in a RouterOS command or argument name.
func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}
