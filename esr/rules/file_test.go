package rules

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// known is an in-memory Known: what earlier files of the tenant defined.
type known struct {
	persons map[int64]string // person id → employee number
	has     map[string][]int64
	partial bool
}

func (k known) Person(vpd string, id int64) (string, bool) {
	if vpd != testVPD {
		return "", false
	}
	emp, ok := k.persons[id]
	return emp, ok
}

func (k known) Has(kind, vpd string, id int64) bool {
	return vpd == testVPD && slices.Contains(k.has[kind], id)
}

func (k known) Complete() bool { return !k.partial }

// crossCase is a file's records through Add and Finish; want holds each
// record's violations (nil: clean), quarantined the records quarantined.
type crossCase struct {
	name        string
	rule        string // the rule the case is about
	known       Known
	recs        []any
	want        map[int][]want
	quarantined []int
	unchecked   int64
}

func (c crossCase) passes() bool { return len(c.want) == 0 }

// fullFile is a consistent file: every reference resolves within it.
func fullFile() []any {
	return []any{organisation(), location(), position(), person(), assignment()}
}

func withA(f func(*internalv1.Assignment)) internalv1.Assignment {
	a := assignment()
	f(&a)
	return a
}

func crossCases() []crossCase {
	earlier := known{persons: map[int64]string{1001: "12345678", 1002: "87654321"},
		has: map[string][]int64{KindPosition: {5001}, KindOrganisation: {3001}, KindLocation: {4001}}}
	badPerson := person()
	badPerson.LastName = ""
	return []crossCase{
		{name: "consistent file", rule: "ESR-X001", recs: fullFile()},
		{name: "assignment before the rows it names", rule: "ESR-X001",
			recs: []any{assignment(), position(), person(), location(), organisation()}},
		{name: "person from an earlier file", rule: "ESR-X001", known: earlier, recs: []any{assignment()}},
		{name: "unknown person", rule: "ESR-X001", known: earlier,
			recs: []any{withA(func(a *internalv1.Assignment) { a.PersonID = 1999 })},
			want: map[int][]want{0: {E("ESR-X001", "person_id")}}, quarantined: []int{0}},
		{name: "person row quarantined", rule: "ESR-X001", recs: []any{organisation(), location(), position(), badPerson, assignment()},
			want: map[int][]want{3: {E("ESR-R010", "last_name")}, 4: {E("ESR-X001", "person_id")}}, quarantined: []int{3, 4}},
		{name: "earlier files unknown", rule: "ESR-X001", known: NoKnown{Partial: true}, recs: []any{assignment()}, unchecked: 4},

		{name: "position in the file", rule: "ESR-X002", known: earlier, recs: []any{assignment(), position()}},
		{name: "unknown position", rule: "ESR-X002", known: earlier,
			recs: []any{withA(func(a *internalv1.Assignment) { a.PositionID = 5999 })},
			want: map[int][]want{0: {E("ESR-X002", "position_id")}}, quarantined: []int{0}},

		{name: "organisation known", rule: "ESR-X003", known: earlier, recs: []any{assignment()}},
		{name: "unknown organisation", rule: "ESR-X003", known: earlier,
			recs: []any{withA(func(a *internalv1.Assignment) { a.OrganisationID = 3999 })},
			want: map[int][]want{0: {E("ESR-X003", "organisation_id")}}, quarantined: []int{0}},

		{name: "no location named", rule: "ESR-X004", recs: []any{withA(func(a *internalv1.Assignment) { a.LocationID = 0 }), person(), position(), organisation()}},
		{name: "unknown location is a warning", rule: "ESR-X004", known: earlier,
			recs: []any{withA(func(a *internalv1.Assignment) { a.LocationID = 4999 })},
			want: map[int][]want{0: {W("ESR-X004", "location_id")}}},

		{name: "supervisor known", rule: "ESR-X005", known: earlier, recs: []any{withA(func(a *internalv1.Assignment) { a.SupervisorPersonID = 1002 })}},
		{name: "unknown supervisor", rule: "ESR-X005", known: earlier,
			recs: []any{withA(func(a *internalv1.Assignment) { a.SupervisorPersonID = 1888 })},
			want: map[int][]want{0: {W("ESR-X005", "supervisor_person_id")}}},

		{name: "position's organisation later in the file", rule: "ESR-X006", recs: []any{position(), organisation()}},
		{name: "position's organisation unknown; its assignment loses it", rule: "ESR-X006",
			known: known{persons: earlier.persons, has: map[string][]int64{KindOrganisation: {3001}, KindLocation: {4001}}},
			recs:  []any{func() internalv1.Position { p := position(); p.OrganisationID = 3999; return p }(), assignment()},
			want:  map[int][]want{0: {E("ESR-X006", "organisation_id")}, 1: {E("ESR-X002", "position_id")}}, quarantined: []int{0, 1}},

		{name: "stem is the employee number", rule: "ESR-X007", known: earlier, recs: []any{withA(func(a *internalv1.Assignment) { a.AssignmentNumber = "12345678-2" })}},
		{name: "stem is another's", rule: "ESR-X007", known: earlier,
			recs: []any{withA(func(a *internalv1.Assignment) { a.AssignmentNumber = "87654321-2" })},
			want: map[int][]want{0: {E("ESR-X007", "assignment_number")}}, quarantined: []int{0}},
		{name: "stem against the file's own person row", rule: "ESR-X007",
			recs: []any{organisation(), location(), position(), func() internalv1.Person { p := person(); p.EmployeeNumber = "11112222"; return p }(), assignment()},
			want: map[int][]want{4: {E("ESR-X007", "assignment_number")}}, quarantined: []int{4}},

		{name: "one primary and one secondary", rule: "ESR-X008", known: earlier,
			recs: []any{assignment(), withA(func(a *internalv1.Assignment) {
				a.AssignmentID, a.AssignmentNumber, a.Primary = 2002, "12345678-2", false
			})}},
		{name: "primary suspended beside primary active", rule: "ESR-X008", known: earlier,
			recs: []any{assignment(), withA(func(a *internalv1.Assignment) {
				a.AssignmentID, a.AssignmentNumber, a.Status = 2002, "12345678-2", internalv1.AssignmentStatusSuspAssign
			})}},
		{name: "two primary active", rule: "ESR-X008", known: earlier,
			recs: []any{assignment(), withA(func(a *internalv1.Assignment) { a.AssignmentID, a.AssignmentNumber = 2002, "12345678-2" })},
			want: map[int][]want{1: {E("ESR-X008", "primary")}}, quarantined: []int{1}},

		{name: "parent in the file", rule: "ESR-X009",
			recs: []any{func() internalv1.Organisation { o := organisation(); o.ParentOrganisationID = 3000; return o }(),
				func() internalv1.Organisation {
					o := organisation()
					o.OrganisationID, o.Name = 3000, "412 Trust"
					return o
				}()}},
		{name: "unknown parent", rule: "ESR-X009",
			recs: []any{func() internalv1.Organisation { o := organisation(); o.ParentOrganisationID = 3000; return o }()},
			want: map[int][]want{0: {W("ESR-X009", "parent_organisation_id")}}},

		{name: "same person, two effective starts", rule: "ESR-X010",
			recs: []any{person(), func() internalv1.Person { p := person(); p.EffectiveStart = day("2024-02-01"); return p }()}},
		{name: "same person and start twice", rule: "ESR-X010", recs: []any{person(), person()},
			want: map[int][]want{0: {W("ESR-X010", "")}}},
	}
}

func runCross(t *testing.T, s *Set, tc crossCase) Result {
	t.Helper()
	return runCrossAs(t, s, tc, false)
}

// runCrossAs judges the case's records, with a File that keeps them or one
// made WithoutRecords.
func runCrossAs(t *testing.T, s *Set, tc crossCase, lean bool) Result {
	t.Helper()
	f := s.NewFile(internalv1.FileInfo{Name: "GO_412_EXP_GOC_20240311_00000001.DAT"}, tc.known)
	if lean {
		f.WithoutRecords()
	}
	for _, e := range tc.recs {
		f.Add(entity(e, nil))
	}
	return f.Finish(Upstream{RowsRead: int64(len(tc.recs))})
}

// Every cross-record case is judged the same by a File that holds only
// what the rules need of each record (as validate's do).
func TestCrossRecordRules(t *testing.T) {
	s := Baseline()
	for _, tc := range crossCases() {
		for _, lean := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/%s/lean=%t", tc.rule, tc.name, lean), func(t *testing.T) {
				checkCross(t, tc, runCrossAs(t, s, tc, lean), lean)
			})
		}
	}
}

func checkCross(t *testing.T, tc crossCase, res Result, lean bool) {
	t.Helper()
	var quarantined []int
	for i, d := range res.Decisions {
		if wantKind := KindOf(tc.recs[i]); d.Kind != wantKind {
			t.Errorf("record %d: kind %q, want %q", i, d.Kind, wantKind)
		}
		if hasRecord := d.Record != nil; hasRecord == lean {
			t.Errorf("record %d: decision carries its record: %t", i, hasRecord)
		}
		if g := got(d.Violations); !slices.Equal(g, tc.want[i]) {
			t.Errorf("record %d (%s): violations = %v, want %v", i, d.Kind, g, tc.want[i])
		}
		if d.Quarantined {
			quarantined = append(quarantined, i)
		}
	}
	if !slices.Equal(quarantined, tc.quarantined) {
		t.Errorf("quarantined = %v, want %v", quarantined, tc.quarantined)
	}
	if res.Unchecked != tc.unchecked {
		t.Errorf("unchecked = %d, want %d", res.Unchecked, tc.unchecked)
	}
	if res.Rejected {
		t.Errorf("rejected: %s", res.Reason)
	}
}

func compile(t *testing.T, v tenant.Validation) *Set {
	t.Helper()
	s, err := Compile(tenant.Tenant{Code: "RXX", Validation: v})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func overrides(code string, o tenant.RuleOverride) tenant.Validation {
	return tenant.Validation{Rules: map[string]tenant.RuleOverride{code: o}}
}

func TestOverrides(t *testing.T) {
	badEmp := withPerson(func(p *internalv1.Person) { p.EmployeeNumber = "ABC" })
	tests := []struct {
		name string
		v    tenant.Validation
		rec  internalv1.EntityRecord
		want []want
	}{
		{"baseline", tenant.Validation{}, badEmp, []want{E("ESR-V010", "employee_number")}},
		{"disabled lets the row through", overrides("ESR-V010", tenant.RuleOverride{Disabled: true}), badEmp, nil},
		{"severity turns the error into a warning", overrides("ESR-V010", tenant.RuleOverride{Severity: "Warning"}), badEmp,
			[]want{W("ESR-V010", "employee_number")}},
		{"warning made an error", overrides("ESR-V022", tenant.RuleOverride{Severity: "error"}),
			withPerson(func(p *internalv1.Person) { p.Gender = "X" }), []want{E("ESR-V022", "gender")}},
		{"pattern param", overrides("ESR-V010", tenant.RuleOverride{Params: map[string]any{"pattern": `^[A-Z]{3}$`}}), badEmp, nil},
		{"pattern param rejects the baseline's", overrides("ESR-V010", tenant.RuleOverride{Params: map[string]any{"pattern": `^[A-Z]{3}$`}}),
			entity(person(), nil), []want{E("ESR-V010", "employee_number")}},
		{"FTE max raised", overrides("ESR-V019", tenant.RuleOverride{Params: map[string]any{"max": 2}}),
			withAssignment(func(a *internalv1.Assignment) { a.Fte = fp(1.8) }), []want{W("ESR-V020", "fte")}},
		{"FTE warning threshold raised", overrides("ESR-V020", tenant.RuleOverride{Params: map[string]any{"warn_above": 1.25}}),
			withAssignment(func(a *internalv1.Assignment) { a.Fte = fp(1.2) }), nil},
		{"minimum age raised", overrides("ESR-R026", tenant.RuleOverride{Params: map[string]any{"min_age": 18}}),
			withPerson(func(p *internalv1.Person) { p.DateOfBirth = dayp("2003-06-01") }), []want{W("ESR-R026", "date_of_birth")}},
		{"hours max lowered", overrides("ESR-V021", tenant.RuleOverride{Params: map[string]any{"max": 37.0}}),
			entity(assignment(), nil), []want{W("ESR-V021", "hours")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := compile(t, tc.v)
			f := s.NewFile(internalv1.FileInfo{}, known{partial: true})
			f.Add(tc.rec)
			res := f.Finish(Upstream{RowsRead: 1})
			d := res.Decisions[0]
			if g := got(d.Violations); !slices.Equal(g, tc.want) {
				t.Fatalf("violations = %v, want %v", g, tc.want)
			}
			wantQ := slices.ContainsFunc(tc.want, func(w want) bool { return w.sev == internalv1.SeverityError })
			if d.Quarantined != wantQ {
				t.Errorf("quarantined = %v, want %v", d.Quarantined, wantQ)
			}
		})
	}
}

func TestOverrideCrossRecordRule(t *testing.T) {
	tc := crossCase{known: known{}, recs: []any{withA(func(a *internalv1.Assignment) {
		a.PersonID = 1999
		a.PositionID, a.OrganisationID, a.LocationID = 0, 0, 0
	})}}
	if res := runCross(t, Baseline(), tc); !res.Decisions[0].Quarantined {
		t.Fatal("baseline: an assignment of an unknown person passed")
	}
	res := runCross(t, compile(t, overrides("ESR-X001", tenant.RuleOverride{Disabled: true})), tc)
	if d := res.Decisions[0]; d.Quarantined || len(d.Violations) != 0 {
		t.Errorf("X001 disabled: %v", got(d.Violations))
	}
	res = runCross(t, compile(t, overrides("ESR-X001", tenant.RuleOverride{Severity: "warning"})), tc)
	if d := res.Decisions[0]; d.Quarantined || !slices.Equal(got(d.Violations), []want{W("ESR-X001", "person_id")}) {
		t.Errorf("X001 a warning: quarantined %v, %v", d.Quarantined, got(d.Violations))
	}
	if res.Warned != 1 || res.Errors != 0 {
		t.Errorf("warned %d errors %d, want 1 and 0", res.Warned, res.Errors)
	}
}

func TestOverrideErrors(t *testing.T) {
	tests := []struct {
		name string
		v    tenant.Validation
		want []string
	}{
		{"unknown code", overrides("ESR-V999", tenant.RuleOverride{Disabled: true}), []string{"tenant RXX", "ESR-V999"}},
		{"ingest rule", overrides("ESR-F001", tenant.RuleOverride{Disabled: true}), []string{"tenant RXX", "ESR-F001", "ingest"}},
		{"normalise rule", overrides("ESR-V001", tenant.RuleOverride{Severity: "warning"}), []string{"tenant RXX", "ESR-V001", "normalise"}},
		{"the budget itself", overrides("ESR-F025", tenant.RuleOverride{Disabled: true}), []string{"tenant RXX", "ESR-F025"}},
		{"unknown param", overrides("ESR-V019", tenant.RuleOverride{Params: map[string]any{"min": 0.1}}), []string{"tenant RXX", "ESR-V019", `"min"`, "max"}},
		{"param of the wrong kind", overrides("ESR-V019", tenant.RuleOverride{Params: map[string]any{"max": "high"}}), []string{"tenant RXX", "ESR-V019", "max", "number"}},
		{"bad pattern", overrides("ESR-V010", tenant.RuleOverride{Params: map[string]any{"pattern": "(["}}), []string{"tenant RXX", "ESR-V010", "pattern"}},
		{"bad severity", overrides("ESR-V010", tenant.RuleOverride{Severity: "fatal"}), []string{"tenant RXX", "ESR-V010", "fatal"}},
		{"bad budget", tenant.Validation{ErrorBudget: &tenant.ErrorBudget{MaxPercent: 120}}, []string{"tenant RXX", "error_budget"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tenant.Tenant{Code: "RXX", Validation: tc.v})
			if err == nil {
				t.Fatal("compiled")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

func TestOverBudget(t *testing.T) {
	tests := []struct {
		budget       *tenant.ErrorBudget
		errors, rows int64
		over         bool
	}{
		{nil, 0, 0, false},
		{nil, 9, 10, false},    // under min_errors 10, however large a share
		{nil, 10, 100, false},  // exactly 10 %
		{nil, 11, 100, true},   // 11 %
		{nil, 10, 50, true},    // 20 %
		{nil, 50, 1000, false}, // 5 %
		{&tenant.ErrorBudget{MaxErrors: 5}, 5, 10, false},
		{&tenant.ErrorBudget{MaxErrors: 5}, 6, 1_000_000, true},
		{&tenant.ErrorBudget{MaxPercent: 1, MinErrors: 0}, 2, 100, true},
		{&tenant.ErrorBudget{MaxPercent: 1, MinErrors: 0}, 1, 100, false},
		{&tenant.ErrorBudget{MaxErrors: 1, MaxPercent: 1, Disabled: true}, 100, 100, false},
	}
	for _, tc := range tests {
		s := compile(t, tenant.Validation{ErrorBudget: tc.budget})
		why := s.OverBudget(tc.errors, tc.rows)
		if (why != "") != tc.over {
			t.Errorf("budget %+v, %d of %d: over = %q, want over %v", tc.budget, tc.errors, tc.rows, why, tc.over)
		}
	}
}

func TestBudgetRejectsFile(t *testing.T) {
	s := Baseline()
	f := s.NewFile(internalv1.FileInfo{}, NoKnown{Partial: true})
	// 100 rows: 8 quarantined by normalise (bad dates), 90 good persons, 2
	// with a bad employee number and 3 with no last name: 13 % > 10 %.
	for i := 0; i < 95; i++ {
		p := person()
		p.PersonID = int64(10_000 + i)
		switch {
		case i < 2:
			p.EmployeeNumber = "X"
		case i < 5:
			p.LastName = ""
		}
		f.Add(entity(p, nil))
	}
	res := f.Finish(Upstream{RowsRead: 103, Quarantined: 8, RuleCounts: map[string]int64{"ESR-V001": 8}})
	if !res.Rejected {
		t.Fatalf("not rejected: errors %d of %d", res.Errors, res.Rows)
	}
	if res.Errors != 13 || res.Rows != 103 {
		t.Errorf("errors %d rows %d, want 13 of 103", res.Errors, res.Rows)
	}
	wantTop := []RuleCount{{"ESR-V001", 8}, {"ESR-R010", 3}, {"ESR-V010", 2}}
	if !slices.Equal(res.TopRules, wantTop) {
		t.Errorf("top rules = %v, want %v", res.TopRules, wantTop)
	}
	for _, w := range []string{"ESR-F025", "ESR-V001 date ×8", "ESR-R010", "ESR-V010"} {
		if !strings.Contains(res.Reason, w) {
			t.Errorf("reason %q does not name %s", res.Reason, w)
		}
	}

	// The same file with three fewer bad rows is within budget: 10 of 103.
	g := s.NewFile(internalv1.FileInfo{}, NoKnown{Partial: true})
	for i := 0; i < 95; i++ {
		p := person()
		p.PersonID = int64(10_000 + i)
		if i < 2 {
			p.LastName = ""
		}
		g.Add(entity(p, nil))
	}
	if res := g.Finish(Upstream{RowsRead: 103, Quarantined: 8, RuleCounts: map[string]int64{"ESR-V001": 8}}); res.Rejected || res.Errors != 10 {
		t.Errorf("10 of 103 (9.7 %%): rejected %v (%s), errors %d", res.Rejected, res.Reason, res.Errors)
	}
}

func TestVersion(t *testing.T) {
	base := Baseline().Version()
	if !strings.HasPrefix(base, "rs-") || base != Baseline().Version() {
		t.Fatalf("baseline version %q is not stable", base)
	}
	if v := compile(t, tenant.Validation{}).Version(); v != base {
		t.Errorf("a tenant with no overrides has version %s, the baseline %s", v, base)
	}
	seen := map[string]string{"baseline": base}
	for name, v := range map[string]tenant.Validation{
		"disabled": overrides("ESR-V010", tenant.RuleOverride{Disabled: true}),
		"severity": overrides("ESR-V010", tenant.RuleOverride{Severity: "warning"}),
		"param":    overrides("ESR-V019", tenant.RuleOverride{Params: map[string]any{"max": 2}}),
		"param 3":  overrides("ESR-V019", tenant.RuleOverride{Params: map[string]any{"max": 3}}),
		"budget":   {ErrorBudget: &tenant.ErrorBudget{MaxErrors: 5}},
	} {
		ver := compile(t, v).Version()
		for other, o := range seen {
			if o == ver {
				t.Errorf("%s and %s share version %s", name, other, ver)
			}
		}
		seen[name] = ver
		if again := compile(t, v).Version(); again != ver {
			t.Errorf("%s: version %s then %s", name, ver, again)
		}
	}
}

// TestCSVListReferences: a CSV staff list's assignments name the trust's
// own position, organisation and location ids, which no file defines; the
// reference-data checks skip them, and the person check still applies.
func TestCSVListReferences(t *testing.T) {
	earlier := known{persons: map[int64]string{1001: "12345678"}}
	for _, tc := range []struct {
		dialect string
		want    []want
	}{
		{"csv:staff-list", []want{E("ESR-X001", "person_id")}},
		{"go-v2", []want{E("ESR-X001", "person_id"), E("ESR-X002", "position_id"), E("ESR-X003", "organisation_id"), W("ESR-X004", "location_id")}},
	} {
		info := internalv1.FileInfo{Name: "STAFF_20240311.csv", Dialect: tc.dialect}
		f := Baseline().NewFile(info, earlier)
		ok := withA(func(a *internalv1.Assignment) { a.PositionID, a.OrganisationID, a.LocationID = 5999, 3999, 4999 })
		stranger := ok
		stranger.PersonID, stranger.AssignmentID = 1999, 2999
		for _, a := range []internalv1.Assignment{ok, stranger} {
			rec := entity(a, nil)
			rec.File = info
			f.Add(rec)
		}
		res := f.Finish(Upstream{RowsRead: 2})
		if tc.dialect == "csv:staff-list" {
			if g := got(res.Decisions[0].Violations); len(g) != 0 {
				t.Errorf("%s: clean row got %v", tc.dialect, g)
			}
		}
		if g := got(res.Decisions[1].Violations); !slices.Equal(g, tc.want) {
			t.Errorf("%s: violations = %v, want %v", tc.dialect, g, tc.want)
		}
	}
}
