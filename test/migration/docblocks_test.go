package migration

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// docPath is the document under test, relative to the repository root.
const docPath = "docs/migrate.md"

// blockMarker precedes every shell block of docPath that the tests run.
var blockMarker = regexp.MustCompile(`^<!-- migrate-test: ([a-z0-9-]+) -->$`)

// docBlock is one marked shell block of the document.
type docBlock struct {
	name   string
	line   int // line of the marker, for messages
	script string
}

// docBlocks holds the marked blocks in document order.
type docBlocks []docBlock

// parseDocBlocks reads every "<!-- migrate-test: NAME -->" marker and the
// fenced sh/bash block that must follow it on the next line.
func parseDocBlocks(data []byte) (docBlocks, error) {
	var (
		blocks docBlocks
		sc     = bufio.NewScanner(bytes.NewReader(data))
		n      int
	)
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		n++
		return sc.Text(), true
	}
	for {
		line, ok := next()
		if !ok {
			break
		}
		m := blockMarker.FindStringSubmatch(line)
		if m == nil {
			if strings.Contains(line, "migrate-test:") && strings.HasPrefix(line, "<!--") {
				return nil, fmt.Errorf("%s:%d: malformed marker %q", docPath, n, line)
			}
			continue
		}
		b := docBlock{name: m[1], line: n}
		fence, ok := next()
		if !ok || (fence != "```sh" && fence != "```bash") {
			return nil, fmt.Errorf("%s:%d: marker %q is not followed by a ```sh or ```bash block", docPath, b.line, b.name)
		}
		var body strings.Builder
		closed := false
		for {
			l, ok := next()
			if !ok {
				break
			}
			if l == "```" {
				closed = true
				break
			}
			body.WriteString(l)
			body.WriteByte('\n')
		}
		if !closed {
			return nil, fmt.Errorf("%s:%d: block %q is not closed", docPath, b.line, b.name)
		}
		if _, dup := blocks.find(b.name); dup {
			return nil, fmt.Errorf("%s:%d: block %q marked twice", docPath, b.line, b.name)
		}
		b.script = body.String()
		blocks = append(blocks, b)
	}
	return blocks, sc.Err()
}

func (bs docBlocks) find(name string) (docBlock, bool) {
	for _, b := range bs {
		if b.name == name {
			return b, true
		}
	}
	return docBlock{}, false
}

// index is the position of name in document order, -1 if absent.
func (bs docBlocks) index(name string) int {
	return slices.IndexFunc(bs, func(b docBlock) bool { return b.name == name })
}

// repoRoot is the module root (this file is test/migration/*.go).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

func loadDocBlocks(t testing.TB) docBlocks {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), docPath))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseDocBlocks(data)
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// docVars reads the NAME=value assignments of the "vars" block (comments
// after the value are allowed, quoting is not: the values are plain names).
func docVars(b docBlock) (map[string]string, error) {
	vars := map[string]string{}
	assign := regexp.MustCompile(`^([A-Z_]+)=([A-Za-z0-9._-]+)(\s+#.*)?$`)
	for _, l := range strings.Split(strings.TrimSpace(b.script), "\n") {
		m := assign.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			return nil, fmt.Errorf("%s:%d: vars block line %q is not NAME=value", docPath, b.line, l)
		}
		vars[m[1]] = m[2]
	}
	return vars, nil
}

// TestDocBlocks needs no cluster: the document's marked blocks are well
// formed, every one of them is run by at least one migration case, each case
// runs blocks that exist in document order, and the documented variable
// defaults are the earlier driver's documented install (the case that uses
// them unchanged).
func TestDocBlocks(t *testing.T) {
	blocks := loadDocBlocks(t)
	used := map[string]bool{}
	for _, c := range migrationCases() {
		t.Run(c.name, func(t *testing.T) {
			last := -1
			for _, name := range c.blocks() {
				i := blocks.index(name)
				if i < 0 {
					t.Fatalf("%s has no block marked %q", docPath, name)
				}
				if i <= last {
					t.Errorf("block %q runs after %q but comes before it in %s", name, blocks[last].name, docPath)
				}
				last = i
				used[name] = true
			}
		})
	}
	for _, b := range blocks {
		if !used[b.name] {
			t.Errorf("%s:%d: block %q is marked but no migration case runs it", docPath, b.line, b.name)
		}
	}

	vb, ok := blocks.find("vars")
	if !ok {
		t.Fatalf("%s has no vars block", docPath)
	}
	vars, err := docVars(vb)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"OLD_NS": "rds-csi", "OLD_SECRET": "rds-csi-secret", "OLD_RELEASE": "rds-csi"}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("vars block: %s=%q, want %q (the earlier driver's documented install)", k, vars[k], v)
		}
	}
	for k := range vars {
		if _, ok := want[k]; !ok {
			t.Errorf("vars block sets %s, which the test does not know: teach migrationCase.vars about it", k)
		}
	}
}

// TestParseDocBlocks: the parser refuses what would make a block silently
// not run.
func TestParseDocBlocks(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    []string
		wantErr string
	}{
		{name: "two blocks", doc: "x\n<!-- migrate-test: a -->\n```sh\necho a\n```\n\n<!-- migrate-test: b-2 -->\n```bash\necho b\n```\n", want: []string{"a", "b-2"}},
		{name: "unmarked blocks ignored", doc: "```sh\necho x\n```\n", want: nil},
		{name: "marker without block", doc: "<!-- migrate-test: a -->\n\n```sh\necho a\n```\n", wantErr: "not followed"},
		{name: "yaml block", doc: "<!-- migrate-test: a -->\n```yaml\nx: 1\n```\n", wantErr: "not followed"},
		{name: "unclosed", doc: "<!-- migrate-test: a -->\n```sh\necho a\n", wantErr: "not closed"},
		{name: "duplicate", doc: "<!-- migrate-test: a -->\n```sh\n```\n<!-- migrate-test: a -->\n```sh\n```\n", wantErr: "twice"},
		{name: "malformed marker", doc: "<!-- migrate-test: A B -->\n```sh\n```\n", wantErr: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDocBlocks([]byte(tt.doc))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, b := range got {
				names = append(names, b.name)
			}
			if !slices.Equal(names, tt.want) {
				t.Fatalf("blocks %v, want %v", names, tt.want)
			}
		})
	}
}
