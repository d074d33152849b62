package helm

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// docsWithHelm are the documents whose Helm commands and values the user
// pastes.
var docsWithHelm = []string{"docs/install.md", "docs/configure.md"}

// TestDocsValues: the values file install.md has the user write, and every
// --set of the docs, are accepted by the chart's schema and render. A
// renamed or removed value fails here, not at a user's install.
func TestDocsValues(t *testing.T) {
	root := repoRoot(t)
	install, err := os.ReadFile(filepath.Join(root, "docs/install.md"))
	if err != nil {
		t.Fatal(err)
	}
	heredoc := regexp.MustCompile(`(?s)cat > my-values\.yaml <<'EOF'\n(.*?)\nEOF\n`).FindSubmatch(install)
	if heredoc == nil {
		t.Fatal("docs/install.md: no `cat > my-values.yaml <<'EOF'` block")
	}
	t.Run("my-values.yaml", func(t *testing.T) {
		objs := helmTemplate(t, "rds-csi", "-f", writeFile(t, "my-values.yaml", string(heredoc[1])))
		cm := find(t, objs, "ConfigMap", "rds-csi-config")
		if got := cm.Object["data"].(map[string]any)["RDS_ADDRESS"]; got != "192.0.2.10:22" {
			t.Errorf("RDS_ADDRESS %v, want 192.0.2.10:22", got)
		}
		if len(ofKind(objs, "StorageClass")) != 2 {
			t.Errorf("%d StorageClasses, the document's values have 2", len(ofKind(objs, "StorageClass")))
		}
	})

	set := regexp.MustCompile(`--set '?([A-Za-z0-9_.\[\]]+=[^\s'` + "`" + `]+)`)
	n := 0
	for _, doc := range docsWithHelm {
		data, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range set.FindAllStringSubmatch(string(data), -1) {
			n++
			kv := m[1]
			t.Run(doc+"/"+kv, func(t *testing.T) { helmTemplate(t, "rds-csi", "--set", kv) })
		}
	}
	if n < 5 {
		t.Errorf("found %d --set examples in %v: the pattern no longer matches the docs", n, docsWithHelm)
	}
}
