package rules

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Known answers the cross-record rules about what earlier files of the
// tenant defined (accepted rows only).
type Known interface {
	// Person returns the employee number of a known person.
	Person(vpd string, id int64) (employeeNumber string, ok bool)
	// Has reports whether a position, organisation or location is known.
	Has(kind, vpd string, id int64) bool
	// Complete is false when earlier files are unknown (an offline check of
	// a change file with no baseline): references that this file does not
	// resolve are then not violations, only counted as unchecked.
	Complete() bool
}

// NoKnown is a Known with nothing known from earlier files.
type NoKnown struct {
	// Partial makes Complete false.
	Partial bool
}

func (NoKnown) Person(string, int64) (string, bool) { return "", false }
func (NoKnown) Has(string, string, int64) bool      { return false }
func (n NoKnown) Complete() bool                    { return !n.Partial }

// File judges one file's canonical records. Add each ENTITY and CORRECTION
// record in file order (record rules run at once); Finish runs the
// cross-record rules — references resolve against earlier files and the
// whole of this one, so a row may name one defined further down — and the
// error budget, and says what becomes of every record.
//
// A File holds the file's records until Finish (nothing of a file may be
// published before its verdict), unless made WithoutRecords: then it holds
// only what the cross-record rules need of each, and the caller keeps the
// records.
type File struct {
	set   *Set
	known Known
	info  internalv1.FileInfo
	items []item
	// recs are the records added, in order, unless lean.
	recs []internalv1.EntityRecord
	lean bool
}

// item is what Finish needs of a record: its identity, what it refers to
// and its violations so far; a small fraction of the record itself.
type item struct {
	kind       string // "" for corrections
	correction bool
	vpd        string
	id         int64
	start      time.Time
	derived    bool
	refs       refs
	vs         []internalv1.Violation
	error      bool // a violation at error severity
}

// refs are the fields of a record the cross-record rules read.
type refs struct {
	parentOrganisation int64 // organisation
	organisation       int64 // position, assignment
	person, position   int64 // assignment
	location           int64
	supervisor         int64
	employeeNumber     string // person
	assignmentNumber   string
	primaryEmployment  bool // a primary, active, employee assignment
	csv                bool // from a CSV staff list: no reference rows
}

func refsOf(rec internalv1.EntityRecord) refs {
	switch e := rec.Entity.(type) {
	case internalv1.Organisation:
		return refs{parentOrganisation: e.ParentOrganisationID}
	case internalv1.Position:
		return refs{organisation: e.OrganisationID}
	case internalv1.Person:
		return refs{employeeNumber: e.EmployeeNumber}
	case internalv1.Assignment:
		return refs{organisation: e.OrganisationID, person: e.PersonID, position: e.PositionID, location: e.LocationID,
			supervisor: e.SupervisorPersonID, assignmentNumber: e.AssignmentNumber,
			primaryEmployment: e.Primary && e.Status == internalv1.AssignmentStatusActiveAssign && e.AssignmentType == "E",
			csv:               strings.HasPrefix(rec.File.Dialect, "csv:")}
	}
	return refs{}
}

// NewFile starts judging a file.
func (s *Set) NewFile(info internalv1.FileInfo, known Known) *File {
	if known == nil {
		known = NoKnown{}
	}
	return &File{set: s, known: known, info: info}
}

// WithoutRecords makes f keep none of the records added: Finish's
// decisions then carry no Record, and the caller pairs them with its own
// copy of the records by index. It returns f.
func (f *File) WithoutRecords() *File {
	f.lean, f.recs = true, nil
	return f
}

// Len is the number of records added.
func (f *File) Len() int { return len(f.items) }

// Add runs the record rules on an ENTITY record and notes it (a CORRECTION
// is noted as it is). It returns the record's violations so far.
func (f *File) Add(rec internalv1.EntityRecord) []internalv1.Violation {
	it := item{correction: rec.Kind == internalv1.EntityRecordKindCorrection}
	if rec.Kind == internalv1.EntityRecordKindEntity {
		it.kind = KindOf(rec.Entity)
		it.vs = f.set.CheckRecord(rec, f.info)
		it.error = hasError(it.vs)
		it.id, it.start = identity(rec.Entity)
		it.vpd = vpdOf(rec)
		it.derived = Derived(rec)
		it.refs = refsOf(rec)
	}
	f.items = append(f.items, it)
	if !f.lean {
		f.recs = append(f.recs, rec)
	}
	return it.vs
}

// CheckRecord runs the record and field rules and the tenant's CEL rules on
// one ENTITY record, on its own.
func (s *Set) CheckRecord(rec internalv1.EntityRecord, file internalv1.FileInfo) []internalv1.Violation {
	kind := KindOf(rec.Entity)
	var vs []internalv1.Violation
	c := checkCtx{kind: kind, entity: rec.Entity, raw: rec.Raw, file: file, out: &vs}
	for _, a := range s.rules[kind] {
		c.rule = a
		a.check(&c)
	}
	for _, r := range s.custom {
		if r.applies == kind && !r.holds(rec.Entity, file) {
			vs = append(vs, r.violation())
		}
	}
	return vs
}

// KindOf names an entity's record kind ("" when it is none of the five).
func KindOf(e any) string {
	switch e.(type) {
	case internalv1.Person:
		return KindPerson
	case internalv1.Assignment:
		return KindAssignment
	case internalv1.Position:
		return KindPosition
	case internalv1.Organisation:
		return KindOrganisation
	case internalv1.Location:
		return KindLocation
	}
	return ""
}

func hasError(vs []internalv1.Violation) bool {
	return slices.ContainsFunc(vs, func(v internalv1.Violation) bool { return v.Severity == internalv1.SeverityError })
}

// Upstream is what the stages before validate counted for the file (the
// FILE_END record's counts): every row read, and the rows they quarantined,
// per rule.
type Upstream struct {
	RowsRead    int64
	Quarantined int64
	RuleCounts  map[string]int64
}

// Decision is what becomes of one record.
type Decision struct {
	// Record is the record, nil if the File was made WithoutRecords.
	Record *internalv1.EntityRecord
	// Kind is the record's kind ("" for a CORRECTION); Correction marks a
	// CORRECTION record.
	Kind       string
	Correction bool
	// Derived marks a reference entity derived from a row (see Derived).
	Derived bool
	// Violations are every rule the record broke, errors and warnings, in
	// catalogue order (record rules, then cross-record, then tenant rules).
	Violations []internalv1.Violation
	// Quarantined is set when a violation is at error severity.
	Quarantined bool
}

// Result is a file's verdict.
type Result struct {
	// Decisions are in the order the records were added.
	Decisions []Decision
	// Rejected is set when the file is over its error budget: nothing of it
	// may be published. Reason says why, naming the top rules.
	Rejected bool
	Reason   string
	// Rows is the rows read (upstream), Errors the rows quarantined at
	// error severity by any stage, Warned the accepted rows flagged with a
	// warning.
	Rows, Errors, Warned int64
	// Unchecked counts references left unresolved because earlier files
	// were unknown (Known.Complete false).
	Unchecked int64
	// RuleCounts are rows per rule code, every stage and severity.
	RuleCounts map[string]int64
	// TopRules are the error rules that quarantined most rows, most first.
	TopRules []RuleCount
	// Version is the rule set's version.
	Version string
}

// RuleCount is how many rows broke a rule.
type RuleCount struct {
	Rule  string
	Count int64
}

// MaxTopRules is how many rules a report lists.
const MaxTopRules = 10

// Finish runs the cross-record rules and the error budget.
func (f *File) Finish(up Upstream) Result {
	x := newCrossIndex(f)
	for _, kind := range crossOrder {
		for i := range f.items {
			if it := &f.items[i]; it.kind == kind && !it.error {
				x.check(it)
			}
		}
	}
	res := Result{Version: f.set.version, Rows: up.RowsRead, Errors: up.Quarantined, RuleCounts: map[string]int64{}}
	for code, n := range up.RuleCounts {
		res.RuleCounts[code] += n
	}
	res.Unchecked = x.unchecked
	errorRules := map[string]int64{}
	for code, n := range up.RuleCounts {
		errorRules[code] += n
	}
	res.Decisions = make([]Decision, len(f.items))
	for i, it := range f.items {
		res.Decisions[i] = Decision{Kind: it.kind, Correction: it.correction, Derived: it.derived, Violations: it.vs, Quarantined: it.error}
		if !f.lean {
			res.Decisions[i].Record = &f.recs[i]
		}
		if it.derived {
			continue // not a row: counted nowhere (see Derived)
		}
		seen := map[string]bool{}
		for _, v := range it.vs {
			if seen[v.Rule] {
				continue
			}
			seen[v.Rule] = true
			res.RuleCounts[v.Rule]++
			if it.error && v.Severity == internalv1.SeverityError {
				errorRules[v.Rule]++
			}
		}
		switch {
		case it.error:
			res.Errors++
		case len(it.vs) > 0:
			res.Warned++
		}
	}
	res.TopRules = top(errorRules)
	if why := f.set.OverBudget(res.Errors, res.Rows); why != "" {
		res.Rejected = true
		res.Reason = codeErrorBudget + " error-budget: " + why + "; top rules: " + formatTop(res.TopRules, 3)
	}
	return res
}

func top(counts map[string]int64) []RuleCount {
	out := make([]RuleCount, 0, len(counts))
	for code, n := range counts {
		if n > 0 {
			out = append(out, RuleCount{code, n})
		}
	}
	slices.SortFunc(out, func(a, b RuleCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Rule, b.Rule))
	})
	if len(out) > MaxTopRules {
		out = out[:MaxTopRules]
	}
	return out
}

func formatTop(rs []RuleCount, n int) string {
	parts := make([]string, 0, n)
	for i, r := range rs {
		if i == n {
			break
		}
		name := ""
		if rule, ok := Lookup(r.Rule); ok {
			name = " " + rule.Name
		}
		parts = append(parts, fmt.Sprintf("%s%s ×%d", r.Rule, name, r.Count))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// crossOrder is the order the cross-record rules judge kinds in: what a
// record refers to is judged before the record, so a position that fails
// its organisation check is no longer there for the assignments naming it.
var crossOrder = []string{KindOrganisation, KindLocation, KindPosition, KindPerson, KindAssignment}

type ref struct {
	vpd string
	id  int64
}

type dupKey struct {
	kind  string
	id    int64
	start time.Time
}

// crossIndex is what this file defines (rows that passed their record
// rules, and so far their cross-record rules) beside what earlier files did.
type crossIndex struct {
	f         *File
	defined   map[string]map[ref]bool
	employee  map[ref]string // person → employee number, the file's last row
	rows      map[dupKey]int
	primary   map[ref]bool // persons with a primary active assignment judged so far
	unchecked int64
}

func newCrossIndex(f *File) *crossIndex {
	x := &crossIndex{f: f, defined: map[string]map[ref]bool{}, employee: map[ref]string{}, rows: map[dupKey]int{}, primary: map[ref]bool{}}
	for _, k := range RecordKinds {
		x.defined[k] = map[ref]bool{}
	}
	for _, it := range f.items {
		if it.kind == "" || it.error {
			continue
		}
		r := ref{it.vpd, it.id}
		x.defined[it.kind][r] = true
		x.rows[dupKey{it.kind, it.id, it.start}]++
		if it.kind == KindPerson {
			x.employee[r] = it.refs.employeeNumber
		}
	}
	return x
}

// resolves reports whether a reference of kind is defined by this file or
// an earlier one; with earlier files unknown, an unresolved one counts as
// unchecked and passes.
func (x *crossIndex) resolves(kind, vpd string, id int64) bool {
	if x.defined[kind][ref{vpd, id}] {
		return true
	}
	if kind == KindPerson {
		if _, ok := x.f.known.Person(vpd, id); ok {
			return true
		}
	} else if x.f.known.Has(kind, vpd, id) {
		return true
	}
	if !x.f.known.Complete() {
		x.unchecked++
		return true
	}
	return false
}

func (x *crossIndex) check(it *item) {
	vpd, e := it.vpd, &it.refs
	set := x.f.set
	var vs []internalv1.Violation
	fail := func(code, field string) {
		if set.Enabled(code) {
			vs = append(vs, violation(code, field, set.Severity(code)))
		}
	}
	if x.rows[dupKey{it.kind, it.id, it.start}] > 1 {
		fail("ESR-X010", "")
		x.rows[dupKey{it.kind, it.id, it.start}] = -1 << 30 // report the duplicate once, on its first row
	}
	switch it.kind {
	case KindOrganisation:
		if e.parentOrganisation != 0 && !x.resolves(KindOrganisation, vpd, e.parentOrganisation) {
			fail("ESR-X009", "parent_organisation_id")
		}
	case KindPosition:
		if e.organisation != 0 && !x.resolves(KindOrganisation, vpd, e.organisation) {
			fail("ESR-X006", "organisation_id")
		}
	case KindAssignment:
		if e.person != 0 && !x.resolves(KindPerson, vpd, e.person) {
			fail("ESR-X001", "person_id")
		}
		// A CSV staff list carries no reference rows: the ids its rows
		// name are the trust's own, never defined by a file, so the
		// reference-data checks do not apply to it.
		refs := !e.csv
		if refs && e.position != 0 && !x.resolves(KindPosition, vpd, e.position) {
			fail("ESR-X002", "position_id")
		}
		if refs && e.organisation != 0 && !x.resolves(KindOrganisation, vpd, e.organisation) {
			fail("ESR-X003", "organisation_id")
		}
		if refs && e.location != 0 && !x.resolves(KindLocation, vpd, e.location) {
			fail("ESR-X004", "location_id")
		}
		if e.supervisor != 0 && !x.resolves(KindPerson, vpd, e.supervisor) {
			fail("ESR-X005", "supervisor_person_id")
		}
		if emp, ok := x.employeeNumber(vpd, e.person); ok && emp != "" && e.assignmentNumber != "" {
			stem, _, _ := strings.Cut(e.assignmentNumber, "-")
			if stem != emp {
				fail("ESR-X007", "assignment_number")
			}
		}
		if e.primaryEmployment {
			p := ref{vpd, e.person}
			if x.primary[p] {
				fail("ESR-X008", "primary")
			} else {
				x.primary[p] = true
			}
		}
	}
	if len(vs) == 0 {
		return
	}
	it.vs = append(it.vs, vs...)
	if hasError(vs) {
		it.error = true
		// No longer defined: what refers to it is judged without it.
		delete(x.defined[it.kind], ref{vpd, it.id})
	}
}

func (x *crossIndex) employeeNumber(vpd string, pid int64) (string, bool) {
	if emp, ok := x.employee[ref{vpd, pid}]; ok {
		return emp, true
	}
	return x.f.known.Person(vpd, pid)
}

// identity is an entity's id and effective start.
func identity(e any) (int64, time.Time) {
	switch e := e.(type) {
	case internalv1.Person:
		return e.PersonID, e.EffectiveStart
	case internalv1.Assignment:
		return e.AssignmentID, e.EffectiveStart
	case internalv1.Position:
		return e.PositionID, e.EffectiveFrom
	case internalv1.Organisation:
		return e.OrganisationID, e.EffectiveFrom
	case internalv1.Location:
		return e.LocationID, time.Time{}
	}
	return 0, time.Time{}
}

func vpdOf(rec internalv1.EntityRecord) string {
	switch e := rec.Entity.(type) {
	case internalv1.Person:
		return e.Vpd
	case internalv1.Assignment:
		return e.Vpd
	case internalv1.Position:
		return e.Vpd
	case internalv1.Organisation:
		return e.Vpd
	case internalv1.Location:
		return e.Vpd
	}
	return rec.Vpd
}
