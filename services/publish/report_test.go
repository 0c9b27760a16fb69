package publish

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// An accepted file's report carries what validate decided: the rule-set
// version, the accepted entities it flagged with warnings, the rules that
// quarantined most rows (from FILE_END's rule_counts, at most 10), and the
// replay id of a replay batch.
func TestReportCarriesValidation(t *testing.T) {
	h := newHarness(t, newEnv(t))
	_, recs := baselineRecords()
	warn := []internalv1.Violation{{Rule: "ESR-V020", Field: "email", Message: "email: not an e-mail address", Severity: internalv1.SeverityWarning}}
	recs[5].Warnings = warn // a person
	recs[6].Warnings = append(warn, internalv1.Violation{Rule: "ESR-V030", Field: "fte", Severity: internalv1.SeverityWarning})
	recs[7].Warnings = warn
	end := &recs[len(recs)-1]
	end.RuleSetVersion = "rs-0123456789ab"
	end.RuleCounts = map[string]int64{}
	for i := range 12 {
		end.RuleCounts[fmt.Sprintf("ESR-V%03d", 100+i)] = int64(i % 4)
	}
	end.RuleCounts["ESR-X001"] = 7
	reps := h.reports(h.feed(recs...))
	if len(reps) != 1 {
		t.Fatalf("%d reports, want 1", len(reps))
	}
	r := reps[0]
	wantTop := []internalv1.RuleCount{{Rule: "ESR-X001", Count: 7},
		{Rule: "ESR-V103", Count: 3}, {Rule: "ESR-V107", Count: 3}, {Rule: "ESR-V111", Count: 3},
		{Rule: "ESR-V102", Count: 2}, {Rule: "ESR-V106", Count: 2}, {Rule: "ESR-V110", Count: 2},
		{Rule: "ESR-V101", Count: 1}, {Rule: "ESR-V105", Count: 1}, {Rule: "ESR-V109", Count: 1}}
	if r.RuleSetVersion != "rs-0123456789ab" || r.Warnings != 3 || !reflect.DeepEqual(r.TopRules, wantTop) {
		t.Errorf("report version %q warnings %d top %+v\nwant top %+v", r.RuleSetVersion, r.Warnings, r.TopRules, wantTop)
	}
}
