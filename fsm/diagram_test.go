package fsm

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the diagram in docs/architecture.md")

const (
	architectureDoc = "../docs/architecture.md"
	diagramBegin    = "<!-- fsm-diagram:begin -->\n"
	diagramEnd      = "<!-- fsm-diagram:end -->"
)

// TestArchitectureDiagram keeps the drawing in docs/architecture.md equal to
// the machine. Refresh with `go generate ./fsm` (runs this test with -update).
func TestArchitectureDiagram(t *testing.T) {
	doc, err := os.ReadFile(architectureDoc)
	if err != nil {
		t.Fatal(err)
	}
	begin := bytes.Index(doc, []byte(diagramBegin))
	end := bytes.Index(doc, []byte(diagramEnd))
	if begin < 0 || end < begin {
		t.Fatalf("%s lacks the markers %q … %q", architectureDoc, diagramBegin, diagramEnd)
	}
	begin += len(diagramBegin)
	want := "```mermaid\n" + Diagram() + "```\n"
	if string(doc[begin:end]) == want {
		return
	}
	if !*update {
		t.Fatalf("the diagram in %s is stale; run `go generate ./fsm`.\nwant:\n%s", architectureDoc, want)
	}
	out := append(append(append([]byte{}, doc[:begin]...), want...), doc[end:]...)
	if err := os.WriteFile(architectureDoc, out, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("updated %s", architectureDoc)
}
