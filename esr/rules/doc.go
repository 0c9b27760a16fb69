package rules

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Markers around the generated catalogue table in docs/validation.md.
const (
	DocBegin = "<!-- rules:begin (generated from esr/rules/catalogue.yaml by rules.MarkdownTable; UPDATE_DOCS=1 go test ./esr/rules rewrites it) -->"
	DocEnd   = "<!-- rules:end -->"
)

// MarkdownTable is the catalogue as a markdown table, one row per rule in
// catalogue order: the docs' table is generated from it, so the catalogue
// stays the one source.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| code | name | stage | applies to | severity | description | message |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range catalogue {
		applies := strings.Join(r.Applies, ", ")
		if len(r.Applies) == len(RecordKinds) {
			applies = "all"
		}
		desc := r.Description
		if len(r.Params) > 0 {
			parts := make([]string, 0, len(r.Params))
			for _, k := range slices.Sorted(maps.Keys(r.Params)) {
				parts = append(parts, fmt.Sprintf("`%s`=`%v`", k, r.Params[k]))
			}
			desc += " Parameters: " + strings.Join(parts, ", ") + "."
		}
		msg := r.Message
		if r.Field != "" {
			msg = r.Field + ": " + msg
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s |\n",
			r.Code, r.Name, r.Stage, cell(applies), r.Severity, cell(desc), cell(msg))
	}
	return b.String()
}

// cell makes text safe inside a markdown table cell (a "<" would open an
// HTML tag).
func cell(s string) string {
	if s == "" {
		return "–"
	}
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", `\<`).Replace(s)
}

// ReplaceGenerated puts table between the markers of doc; ok is false when
// the markers are missing.
func ReplaceGenerated(doc, table string) (string, bool) {
	i := strings.Index(doc, DocBegin)
	j := strings.Index(doc, DocEnd)
	if i < 0 || j < i {
		return doc, false
	}
	return doc[:i+len(DocBegin)] + "\n" + table + doc[j:], true
}
