package publish

import (
	"cmp"
	"slices"

	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// noteWarnings counts the open file's accepted entities that validate
// flagged with a warning, for its report: FILE_END's counts have no place
// for them, and only the validated records carry them.
func (w *work) noteWarnings(rec *internalv1.EntityRecord) {
	// A reference entity derived from a GO v1 row is not a row of its own.
	if o := w.t.hdr.Open; o != nil && rec.Kind == internalv1.EntityRecordKindEntity && len(rec.Warnings) > 0 && !rules.Derived(*rec) {
		o.Warned++
		w.saveHeader() // collapsed to one write per transaction by the stage
	}
}

// maxTopRules is how many rules a file report lists.
const maxTopRules = 10

// topRules are FILE_END's rows quarantined per rule, most first (ties by
// code), at most maxTopRules.
func topRules(counts map[string]int64) []internalv1.RuleCount {
	var out []internalv1.RuleCount
	for rule, n := range counts {
		if n > 0 {
			out = append(out, internalv1.RuleCount{Rule: rule, Count: n})
		}
	}
	slices.SortFunc(out, func(a, b internalv1.RuleCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Rule, b.Rule))
	})
	if len(out) > maxTopRules {
		out = out[:maxTopRules]
	}
	return out
}
