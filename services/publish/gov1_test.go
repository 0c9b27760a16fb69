package publish

import (
	"testing"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// derived is an organisation or location normalise derived from the GO v1
// ASG row on the file's next line (rules.Derived): the ASG's raw row, not a
// row of its own, so it is not counted.
func (f *file) derived(entity any) internalv1.EntityRecord {
	r := f.rec(internalv1.EntityRecordKindEntity, f.line+1, entity)
	r.Raw = &internalv1.RawRow{RecordType: "ASG"}
	return r
}

// TestDerivedReferenceKeepsGroupOpen: an organisation or location derived
// from a GO v1 ASG row sits between the rows of one person group. It must
// not close the group: a leaver whose two posts end in one group is one
// leaver-confirmed, not an ASSIGNMENT_ENDED of the first post as well; and
// the name it carries is the one the group's events give.
func TestDerivedReferenceKeepsGroupOpen(t *testing.T) {
	h := newHarness(t, newEnv(t))
	baseline(h)
	f2 := newFile(tenantRXX, "2024-04-05", 2)
	f2.info.Dialect = "go-v1"
	out := h.feed(f2.start(),
		f2.person(P{ID: 20000010, NHS: "1000010", Term: "2024-04-03"}),
		f2.asg(A{Person: 20000010, ID: 40000010, Status: "TERM_ASSIGN", End: "2024-04-03"}),
		f2.derived(internalv1.Organisation{Vpd: "412", OrganisationID: 1<<52 + 5, Name: "412 Bank Staff (v1)", EffectiveFrom: day("2024-04-05")}),
		f2.derived(internalv1.Location{Vpd: "412", LocationID: 1<<52 + 6, Code: "412 z Bank Office", Description: "412 z Bank Office"}),
		f2.asg(A{Person: 20000010, ID: 40000011, Number: "30000010-2", Org: 1<<52 + 5, Loc: 1<<52 + 6, Pos: "5100002", Title: "Bank Nurse", Occ: "N6B",
			Status: "TERM_ASSIGN", End: "2024-04-03"}),
		f2.person(P{ID: 20000001, NHS: "1000001"}),
		f2.derived(internalv1.Organisation{Vpd: "412", OrganisationID: 1<<52 + 7, Name: "412 Cardiology Outpatients", EffectiveFrom: day("2024-04-05")}),
		f2.asg(A{Person: 20000001, ID: 40000001, Start: "2024-04-05", Org: 1<<52 + 7}),
		f2.end())
	n := f2.info.Name
	// (Leavers are decided at the file's end, after the leaver guard.)
	assertEvents(t, h.events(out), []got{
		{File: n, Line: 6, Type: eventPosition, PersonID: "20000001", EmployeeNumber: "30000001", Effective: "2024-04-05",
			AssignmentNumber: "30000001", Change: changeAttributes},
		{File: n, Line: 2, Type: eventLeaver, PersonID: "20000010", EmployeeNumber: "30000010", Effective: "2024-04-03", DaysLate: 2},
	})
	for _, d := range h.decode(out) {
		if p := d.position; p != nil && (p.Before.Organisation != "412 Cardiology" || p.After.Organisation != "412 Cardiology Outpatients") {
			t.Errorf("organisation before %q after %q, want the derived name after", p.Before.Organisation, p.After.Organisation)
		}
	}
}
