package rules

import (
	"os"
	"strings"
	"testing"
)

const docPath = "../../docs/validation.md"

// docs/validation.md's catalogue table is generated from catalogue.yaml: a
// rule added or changed without regenerating the docs fails here.
// UPDATE_DOCS=1 rewrites the table.
func TestDocsCatalogueTableIsGenerated(t *testing.T) {
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	want, ok := ReplaceGenerated(doc, MarkdownTable())
	if !ok {
		t.Fatalf("%s: no %q … %q markers", docPath, DocBegin, DocEnd)
	}
	if want, ok = ReplaceBetween(want, DocCELBegin, DocCELEnd, CELMarkdown()); !ok {
		t.Fatalf("%s: no %q … %q markers", docPath, DocCELBegin, DocCELEnd)
	}
	if want == doc {
		return
	}
	if os.Getenv("UPDATE_DOCS") == "1" {
		if err := os.WriteFile(docPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the catalogue table in %s", docPath)
		return
	}
	t.Errorf("%s: the generated tables (catalogue, CEL fields) differ from the code; run UPDATE_DOCS=1 go test ./esr/rules -run TestDocsCatalogueTableIsGenerated", docPath)
}

// The table has one row per rule, and a value change shows in it (the
// check above can fail).
func TestMarkdownTable(t *testing.T) {
	table := MarkdownTable()
	rows := strings.Count(table, "\n| `ESR-")
	if rows != len(Catalogue()) {
		t.Errorf("table rows = %d, want %d", rows, len(Catalogue()))
	}
	for _, r := range Catalogue() {
		if !strings.Contains(table, "| `"+r.Code+"` | "+r.Name+" |") {
			t.Errorf("no row for %s", r.Code)
		}
	}
	doc := "intro\n" + DocBegin + "\nPLACEHOLDER-XYZ\n" + DocEnd + "\nafter\n"
	got, ok := ReplaceGenerated(doc, table)
	if !ok || !strings.Contains(got, table) || strings.Contains(got, "PLACEHOLDER-XYZ") || !strings.HasSuffix(got, DocEnd+"\nafter\n") {
		t.Errorf("ReplaceGenerated did not replace the table:\n%s", got)
	}
	if _, ok := ReplaceGenerated("no markers", table); ok {
		t.Error("ReplaceGenerated found markers in a text without them")
	}
	if cell("a|b") != `a\|b` {
		t.Errorf("cell does not escape pipes: %s", cell("a|b"))
	}
}

// The CEL table lists every kind with its fields and the shared variables.
func TestCELMarkdown(t *testing.T) {
	table := CELMarkdown()
	for _, kind := range RecordKinds {
		if !strings.Contains(table, "| `"+kind+"` |") {
			t.Errorf("no row for %s", kind)
		}
		for _, f := range CELFields(kind) {
			if !strings.Contains(table, "`"+f.Path+"` "+f.Type) {
				t.Errorf("%s: field %s missing", kind, f.Path)
			}
		}
	}
	if !strings.Contains(table, "`run_date` timestamp") {
		t.Errorf("no run_date variable:\n%s", table)
	}
}
