package rules

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// The tenant docs' example rule (esr/tenant Load's comment).
var bankNoFTE = tenant.CustomRule{
	Code:        "RXX-001",
	Applies:     "assignment",
	Field:       "fte",
	Description: "Bank assignments carry no FTE.",
	Message:     "a bank assignment has an FTE",
	Expr:        `assignment.category != "Bank" || !has(assignment.fte)`,
}

func civil(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func ptr[T any](v T) *T { return &v }

var celFile = internalv1.FileInfo{Name: "GO_412_EXP_GOC_20240311_00000347.DAT", RunDate: civil(2024, 3, 11)}

// celPerson and celAssignment are a synthetic starter that the baseline
// accepts: every required value, well-formed numbers, nothing to refer to
// outside the file.
func celPerson() internalv1.Person {
	return internalv1.Person{
		Vpd: "412", PersonID: 1001, EffectiveStart: civil(2024, 3, 1), EmployeeNumber: "20000001",
		LastName: "Testperson", FirstName: "Alex", Gender: "F", DateOfBirth: ptr(civil(1990, 6, 1)),
		HireDate: ptr(civil(2024, 3, 1)), SystemPersonType: "EMP",
	}
}

func celAssignment() internalv1.Assignment {
	return internalv1.Assignment{
		Vpd: "412", PersonID: 1001, AssignmentID: 5001, EffectiveStart: civil(2024, 3, 1),
		EarliestStart: ptr(civil(2024, 3, 1)), AssignmentType: "E", AssignmentNumber: "20000001",
		Status: internalv1.AssignmentStatusActiveAssign, Primary: true, Category: "Bank",
		Fte: ptr(0.5), Hours: ptr(18.75),
		Grade:    internalv1.Grade{Owner: "NHS", Code: "XR05", Description: "Review Body Band 5"},
		Position: internalv1.PositionRef{Number: "100", Title: "Staff Nurse", OccupationCode: "N0A"},
	}
}

func celEntity(e any) internalv1.EntityRecord {
	return internalv1.EntityRecord{Kind: internalv1.EntityRecordKindEntity, Entity: e}
}

func withCustom(rs ...tenant.CustomRule) tenant.Tenant {
	return tenant.Tenant{Code: "RXX", VPDs: []string{"412"}, Validation: tenant.Validation{Custom: rs}}
}

// judge runs a file of records through a set and returns its result.
func judge(t *testing.T, s *Set, recs ...any) Result {
	t.Helper()
	f := s.NewFile(celFile, nil)
	for _, r := range recs {
		f.Add(celEntity(r))
	}
	return f.Finish(Upstream{RowsRead: int64(len(recs))})
}

func rulesOf(vs []internalv1.Violation) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.Rule)
	}
	return out
}

func TestCELRuleQuarantinesWhatTheBaselineAccepts(t *testing.T) {
	s, err := Compile(withCustom(bankNoFTE))
	require.NoError(t, err)

	// The baseline takes a bank assignment with an FTE.
	base := judge(t, Baseline(), celPerson(), celAssignment())
	require.Len(t, base.Decisions, 2)
	require.False(t, base.Decisions[1].Quarantined, "baseline: %v", base.Decisions[1].Violations)
	assert.NotContains(t, rulesOf(base.Decisions[1].Violations), "RXX-001")

	// The tenant's rule quarantines it, on top of whatever else the
	// baseline says about it.
	res := judge(t, s, celPerson(), celAssignment())
	require.Len(t, res.Decisions, 2)
	d := res.Decisions[1]
	assert.True(t, d.Quarantined)
	assert.Equal(t, append(rulesOf(base.Decisions[1].Violations), "RXX-001"), rulesOf(d.Violations))
	v := d.Violations[len(d.Violations)-1]
	assert.Equal(t, internalv1.Violation{Rule: "RXX-001", Field: "fte", Message: "fte: a bank assignment has an FTE", Severity: internalv1.SeverityError}, v)
	assert.False(t, res.Decisions[0].Quarantined, "the rule is the assignment's, not the person's")
	assert.Equal(t, int64(1), res.RuleCounts["RXX-001"])
	assert.Equal(t, int64(1), res.Errors)
	assert.Contains(t, res.TopRules, RuleCount{"RXX-001", 1})
	assert.Equal(t, s.Version(), res.Version)
	assert.NotEqual(t, Baseline().Version(), res.Version)

	// A bank assignment without an FTE, and a permanent one with one, pass.
	noFTE := celAssignment()
	noFTE.Fte = nil
	perm := celAssignment()
	perm.Category = "Permanent"
	for name, a := range map[string]internalv1.Assignment{"bank without FTE": noFTE, "permanent with FTE": perm} {
		res := judge(t, s, celPerson(), a)
		assert.False(t, res.Decisions[1].Quarantined, name)
		assert.NotContains(t, rulesOf(res.Decisions[1].Violations), "RXX-001", name)
	}
}

func TestCELWarningFlagsButPasses(t *testing.T) {
	r := bankNoFTE
	r.Code, r.Severity = "RXX-002", "Warning"
	s, err := Compile(withCustom(r))
	require.NoError(t, err)
	assert.Equal(t, Warning, s.Severity("RXX-002"))

	res := judge(t, s, celPerson(), celAssignment())
	d := res.Decisions[1]
	assert.False(t, d.Quarantined)
	assert.Contains(t, d.Violations, internalv1.Violation{Rule: "RXX-002", Field: "fte", Message: "fte: a bank assignment has an FTE", Severity: internalv1.SeverityWarning})
	assert.Equal(t, int64(0), res.Errors)
	assert.Equal(t, int64(1), res.RuleCounts["RXX-002"])
	assert.NotContains(t, res.TopRules, RuleCount{"RXX-002", 1}, "top rules are error rules")
	assert.GreaterOrEqual(t, res.Warned, int64(1))
}

// TestCELExpressions evaluates expressions on records: has() on optional
// and plain fields, an absent optional field read (a violation, not a
// zero), nested objects, dates as timestamps, run_date and tenant.
func TestCELExpressions(t *testing.T) {
	a := celAssignment()
	noFTE := celAssignment()
	noFTE.Fte = nil
	zeroHours := celAssignment()
	zeroHours.Hours = ptr(0.0)
	p := celPerson()
	leaver := celPerson()
	leaver.ActualTerminationDate = ptr(civil(2024, 3, 31))
	leaver.LeavingReason = "Voluntary Resignation - Relocation"
	yearOne := celPerson()
	yearOne.DateOfBirth = ptr(civil(1, 1, 2))
	pos := internalv1.Position{Vpd: "412", PositionID: 7, EffectiveFrom: civil(2020, 1, 1), BudgetedFte: ptr(1.0)}
	org := internalv1.Organisation{Vpd: "412", OrganisationID: 3, Name: "412 Ward 1", EffectiveFrom: civil(2020, 1, 1)}
	loc := internalv1.Location{Vpd: "412", LocationID: 9, Code: "412 SITE", Postcode: "LS1 4AP"}

	cases := []struct {
		name, applies, expr string
		rec                 any
		holds               bool
	}{
		{"has optional, present", "assignment", "has(assignment.fte)", a, true},
		{"has optional, absent", "assignment", "has(assignment.fte)", noFTE, false},
		{"has optional, zero is a value", "assignment", "has(assignment.hours) && assignment.hours == 0.0", zeroHours, true},
		{"absent optional read is a violation", "assignment", "assignment.fte <= 1.0", noFTE, false},
		{"absent optional read, negated, still a violation", "assignment", "!(assignment.fte > 1.0)", noFTE, false},
		{"guarded absent optional", "assignment", "!has(assignment.fte) || assignment.fte <= 1.0", noFTE, true},
		{"present optional read", "assignment", "assignment.fte <= 1.0", a, true},
		{"has plain string, empty", "person", "has(person.nhs_unique_id)", p, false},
		{"has plain string, set", "person", "has(person.employee_number)", p, true},
		{"plain string absent reads empty", "person", `person.nhs_unique_id == ""`, p, true},
		{"has date, year 1 is none", "person", "has(person.date_of_birth)", yearOne, false},
		{"read date, year 1 is absent", "person", "person.date_of_birth < run_date", yearOne, false},
		{"has plain date, zero is none", "position", "has(position.effective_from)", internalv1.Position{}, false},
		{"has plain date", "position", "has(position.effective_from)", pos, true},
		{"has id, zero", "assignment", "has(assignment.position_id)", a, false},
		{"status as a string", "assignment", `assignment.status == "ACTIVE_ASSIGN"`, a, true},
		{"bool", "assignment", "assignment.primary", a, true},
		{"int", "assignment", "assignment.assignment_id > 5000", a, true},
		{"nested grade", "assignment", `assignment.grade.code.startsWith("XR")`, a, true},
		{"nested position", "assignment", `assignment.position.occupation_code == "N0A"`, a, true},
		{"has nested", "assignment", `has(assignment.position.area)`, a, false},
		{"date is a UTC-midnight timestamp", "person", `person.hire_date == timestamp("2024-03-01T00:00:00Z")`, p, true},
		{"date parts", "person", `person.date_of_birth.getFullYear() == 1990`, p, true},
		{"date arithmetic", "person", `person.hire_date - person.date_of_birth > duration("140160h")`, p, true},
		{"run date", "person", `person.effective_start <= run_date`, p, true},
		{"run date, leaver after it", "person", `!has(person.actual_termination_date) || person.actual_termination_date <= run_date`, leaver, false},
		{"leaver needs a reason", "person", `!has(person.actual_termination_date) || has(person.leaving_reason)`, leaver, true},
		{"tenant", "person", `tenant == "RXX"`, p, true},
		{"string extension", "person", `person.employee_number.matches("^2\\d{7}$")`, p, true},
		{"position", "position", `has(position.budgeted_fte) && position.budgeted_fte <= 1.0`, pos, true},
		{"organisation", "organisation", `organisation.name.startsWith(organisation.vpd + " ")`, org, true},
		{"location", "location", `location.postcode.matches("^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}$")`, loc, true},
		{"pointer to a record", "assignment", "assignment.fte == 0.5", &a, true},
		{"comprehension over fields", "assignment", `[assignment.grade.owner, assignment.grade.code].all(x, x != "")`, a, true},
		{"division by zero is a violation", "assignment", "assignment.assignment_id / 0 == 1", a, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := compileCustom("RXX", []tenant.CustomRule{{Code: "RXX-T", Applies: c.applies, Description: "d", Message: "m", Expr: c.expr}})
			require.NoError(t, err)
			assert.Equal(t, c.holds, rs[0].holds(c.rec, celFile))
		})
	}
}

func TestCELCompileErrors(t *testing.T) {
	rule := func(edit func(r *tenant.CustomRule)) tenant.CustomRule {
		r := bankNoFTE
		edit(&r)
		return r
	}
	expr := func(applies, e string) tenant.CustomRule {
		return rule(func(r *tenant.CustomRule) { r.Applies, r.Expr, r.Field = applies, e, "" })
	}
	cases := []struct {
		name  string
		rules []tenant.CustomRule
		want  string
	}{
		{"misspelt field", []tenant.CustomRule{expr("assignment", "assignment.ftee > 0.0")},
			"tenant RXX: validation: custom rule RXX-001: expr 1:11: undefined field 'ftee'"},
		{"date compared with an int", []tenant.CustomRule{expr("person", "person.hire_date > 3")},
			"tenant RXX: validation: custom rule RXX-001: expr 1:18: found no matching overload for '_>_' applied to '(timestamp, int)'"},
		{"syntax error", []tenant.CustomRule{expr("assignment", "assignment.fte >")},
			"tenant RXX: validation: custom rule RXX-001: expr 1:17: Syntax error: "},
		{"error on the second line", []tenant.CustomRule{expr("assignment", "has(assignment.fte) &&\n  assignment.fte > \"1\"")},
			"tenant RXX: validation: custom rule RXX-001: expr 2:18: found no matching overload for '_>_' applied to '(double, string)'"},
		{"another kind's record", []tenant.CustomRule{expr("assignment", `person.last_name != ""`)},
			"tenant RXX: validation: custom rule RXX-001: expr 1:1: undeclared reference to 'person'"},
		{"not a bool", []tenant.CustomRule{expr("assignment", "assignment.fte")},
			"tenant RXX: validation: custom rule RXX-001: expr: must be a bool expression (true for a good record), not double"},
		{"dyn is not bool", []tenant.CustomRule{expr("assignment", "dyn(assignment.primary)")},
			"tenant RXX: validation: custom rule RXX-001: expr: must be a bool expression"},
		{"record used whole", []tenant.CustomRule{expr("assignment", "assignment == assignment")},
			"tenant RXX: validation: custom rule RXX-001: expr 1:1: esr.Assignment is a record: a rule reads its fields (e.g. assignment.vpd); 1:15: esr.Assignment is a record"},
		{"nested object used whole", []tenant.CustomRule{expr("assignment", `assignment.grade != assignment.grade`)},
			"custom rule RXX-001: expr 1:11: esr.Grade is a record: a rule reads its fields"},
		{"record in a list", []tenant.CustomRule{expr("assignment", `[assignment].all(a, has(a.fte))`)},
			"custom rule RXX-001: expr 1:2: esr.Assignment is a record"},
		{"record built", []tenant.CustomRule{expr("assignment", `esr.Grade{code: "XR05"}.code == assignment.grade.code`)},
			"custom rule RXX-001: expr 1:10: records are read in a rule, never built"},
		{"duplicate code", []tenant.CustomRule{bankNoFTE, bankNoFTE},
			"tenant RXX: validation: custom rule RXX-001: code is used by another custom rule of the tenant"},
		{"catalogue code", []tenant.CustomRule{rule(func(r *tenant.CustomRule) { r.Code = "ESR-V019" })},
			"tenant RXX: validation: custom rule ESR-V019: ESR- codes belong to the catalogue"},
		{"catalogue code, lower case", []tenant.CustomRule{rule(func(r *tenant.CustomRule) { r.Code = "esr-900" })},
			"custom rule esr-900: ESR- codes belong to the catalogue"},
		{"no code", []tenant.CustomRule{bankNoFTE, rule(func(r *tenant.CustomRule) { r.Code = "" })},
			"tenant RXX: validation: custom rule #2: code is required"},
		{"code with a space", []tenant.CustomRule{rule(func(r *tenant.CustomRule) { r.Code = "RXX 1" })},
			"custom rule RXX 1: code must not contain spaces"},
		{"unknown kind", []tenant.CustomRule{rule(func(r *tenant.CustomRule) { r.Applies = "payslip" })},
			`custom rule RXX-001: applies "payslip" must be one of person, assignment, position, organisation, location`},
		{"bad severity", []tenant.CustomRule{rule(func(r *tenant.CustomRule) { r.Severity = "fatal" })},
			`custom rule RXX-001: severity "fatal" must be error or warning`},
		{"no description", []tenant.CustomRule{rule(func(r *tenant.CustomRule) { r.Description = " " })},
			"custom rule RXX-001: description is required"},
		{"no message", []tenant.CustomRule{rule(func(r *tenant.CustomRule) { r.Message = "" })},
			"custom rule RXX-001: message is required"},
		{"no expr", []tenant.CustomRule{rule(func(r *tenant.CustomRule) { r.Expr = "" })},
			"custom rule RXX-001: expr is required"},
		{"field not of the kind", []tenant.CustomRule{rule(func(r *tenant.CustomRule) { r.Field = "ftee" })},
			`custom rule RXX-001: field "ftee" is not a field of assignment`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(withCustom(c.rules...))
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}

	// The good ones: the example, a nested field, default severity.
	r := bankNoFTE
	r.Field = "grade.code"
	s, err := Compile(withCustom(r))
	require.NoError(t, err)
	assert.Equal(t, Error, s.Severity("RXX-001"))
}

func TestCELVersionFollowsTheExpression(t *testing.T) {
	a, err := Compile(withCustom(bankNoFTE))
	require.NoError(t, err)
	again, err := Compile(withCustom(bankNoFTE))
	require.NoError(t, err)
	changed := bankNoFTE
	changed.Expr = `assignment.category != "Bank" || !has(assignment.hours)`
	b, err := Compile(withCustom(changed))
	require.NoError(t, err)

	assert.Equal(t, a.Version(), again.Version())
	assert.NotEqual(t, a.Version(), b.Version())
	assert.NotEqual(t, Baseline().Version(), a.Version())
}

// TestCELTenantDocExample loads the tenants file that esr/tenant's Load
// comment shows, exactly as written there, and compiles its rule sets: the
// documented example must stay valid.
func TestCELTenantDocExample(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "tenant", "tenant.go"))
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(src), "// Load reads a YAML tenants file:\n//\n")
	require.True(t, ok, "Load's comment has moved")
	var yaml strings.Builder
	for line := range strings.Lines(after) {
		body, ok := strings.CutPrefix(line, "//\t")
		if !ok {
			break
		}
		yaml.WriteString(body)
	}
	require.Contains(t, yaml.String(), `expr: assignment.category != "Bank" || !has(assignment.fte)`)
	path := filepath.Join(t.TempDir(), "tenants.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml.String()), 0o600))

	ts, err := tenant.Load(path)
	require.NoError(t, err)
	sets, err := CompileAll(ts)
	require.NoError(t, err)
	s := sets.For("RXX")
	res := judge(t, s, celPerson(), celAssignment())
	assert.Contains(t, rulesOf(res.Decisions[1].Violations), "RXX-001")
	assert.True(t, res.Decisions[1].Quarantined)
}

// TestCELConcurrentEvaluation shares one compiled rule between goroutines,
// as the validate stage's workers do.
func TestCELConcurrentEvaluation(t *testing.T) {
	rs, err := compileCustom("RXX", []tenant.CustomRule{bankNoFTE})
	require.NoError(t, err)
	r := rs[0]
	good := celAssignment()
	good.Category = "Permanent"
	bad := celAssignment()
	var wg sync.WaitGroup
	wrong := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				rec, want := good, true
				if (g+i)%2 == 0 {
					rec, want = bad, false
				}
				if r.holds(rec, celFile) != want {
					wrong <- "wrong verdict"
					return
				}
			}
		})
	}
	wg.Wait()
	close(wrong)
	assert.Empty(t, wrong)
}

// BenchmarkCELHolds measures one tenant rule on one record: the tenant docs'
// example, and a rule reading dates, a nested field and run_date.
func BenchmarkCELHolds(b *testing.B) {
	heavier := tenant.CustomRule{Code: "RXX-002", Applies: "assignment", Description: "d", Message: "m",
		Expr: `assignment.grade.code.startsWith("XR") && assignment.effective_start <= run_date && (!has(assignment.fte) || assignment.fte <= 1.0)`}
	for _, r := range []tenant.CustomRule{bankNoFTE, heavier} {
		rs, err := compileCustom("RXX", []tenant.CustomRule{r})
		require.NoError(b, err)
		var rec any = celAssignment()
		b.Run(r.Code, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rs[0].holds(rec, celFile)
			}
		})
	}
}

func TestCELFields(t *testing.T) {
	fields := CELFields(KindAssignment)
	byPath := map[string]CELField{}
	for _, f := range fields {
		byPath[f.Path] = f
	}
	assert.Equal(t, CELField{Path: "fte", Type: "double", Optional: true}, byPath["fte"])
	assert.Equal(t, CELField{Path: "category", Type: "string"}, byPath["category"])
	assert.Equal(t, CELField{Path: "grade.code", Type: "string"}, byPath["grade.code"])
	assert.Equal(t, CELField{Path: "assignment_id", Type: "int"}, byPath["assignment_id"])
	assert.Equal(t, CELField{Path: "primary", Type: "bool"}, byPath["primary"])
	assert.Equal(t, "vpd", fields[0].Path, "the model's order")
	assert.Equal(t, CELField{Path: "hire_date", Type: "timestamp", Optional: true}, findField(CELFields(KindPerson), "hire_date"))
	for _, k := range RecordKinds {
		assert.NotEmpty(t, CELFields(k), k)
	}
	assert.Nil(t, CELFields("payslip"))
}

func findField(fs []CELField, path string) CELField {
	for _, f := range fs {
		if f.Path == path {
			return f
		}
	}
	return CELField{}
}
