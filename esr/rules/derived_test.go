package rules

import (
	"slices"
	"testing"

	"github.com/esrflow/esrflow/esr/format/gov1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// gov1Spec lists a GO v1 record type's column names.
func gov1Spec(typ string) []string {
	var names []string
	for _, c := range gov1.Spec(typ).Columns {
		names = append(names, c.Name)
	}
	return names
}

func TestDerived(t *testing.T) {
	asg := &internalv1.RawRow{RecordType: "ASG", Fields: []string{}}
	ora := &internalv1.RawRow{RecordType: "ORA", Fields: []string{}}
	for _, tc := range []struct {
		name string
		rec  internalv1.EntityRecord
		want bool
	}{
		{"organisation from ASG", entity(organisation(), asg), true},
		{"location from ASG", entity(location(), asg), true},
		{"the ASG's own assignment", entity(assignment(), asg), false},
		{"an ORA row", entity(organisation(), ora), false},
		{"no raw row", entity(organisation(), nil), false},
		{"a control record", internalv1.EntityRecord{Kind: internalv1.EntityRecordKindFileEnd, Raw: asg}, false},
	} {
		if got := Derived(tc.rec); got != tc.want {
			t.Errorf("%s: Derived = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestLeaverReasonNotCheckedOnGOv1: GO v1 has no leaving-reason column, so
// ESR-R021 holds a v1 leaver to nothing; the same person from a v2 file
// breaks it.
func TestLeaverReasonNotCheckedOnGOv1(t *testing.T) {
	rec := withPerson(func(p *internalv1.Person) {
		p.ActualTerminationDate, p.LeavingReason = dayp("2024-03-29"), ""
	})
	want := []want{E("ESR-R021", "leaving_reason")}
	if g := got(Baseline().CheckRecord(rec, internalv1.FileInfo{Dialect: "go-v2"})); !slices.Equal(g, want) {
		t.Errorf("go-v2: %v, want %v", g, want)
	}
	if g := got(Baseline().CheckRecord(rec, internalv1.FileInfo{Dialect: DialectGOv1})); len(g) != 0 {
		t.Errorf("go-v1: %v, want none", g)
	}
}

// TestUnknownV1StatusIsR025: a GO v1 status text the mapping does not know
// is ESR-R025 (unknown status), not ESR-R011 (missing status): the text is
// read from the v1 column, as the v2 system status column would be.
func TestUnknownV1StatusIsR025(t *testing.T) {
	spec := gov1Spec("ASG")
	raw := &internalv1.RawRow{RecordType: "ASG", Fields: make([]string, len(spec)-1)}
	for i, name := range spec {
		if name == "assignment_status" {
			raw.Fields[i-1] = "Something Local"
		}
	}
	a := assignment()
	a.Status = internalv1.AssignmentStatusUnknown
	unknown := []want{E("ESR-R025", "system_assignment_status")}
	if g := got(Baseline().CheckRecord(entity(a, raw), internalv1.FileInfo{Dialect: DialectGOv1})); !slices.Equal(g, unknown) {
		t.Errorf("unknown v1 status: %v, want %v", g, unknown)
	}
	raw.Fields = make([]string, len(spec)-1)
	missing := []want{E("ESR-R011", "system_assignment_status")}
	if g := got(Baseline().CheckRecord(entity(a, raw), internalv1.FileInfo{Dialect: DialectGOv1})); !slices.Equal(g, missing) {
		t.Errorf("empty v1 status: %v, want %v", g, missing)
	}
}
