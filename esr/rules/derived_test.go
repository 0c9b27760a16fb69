package rules

import (
	"slices"
	"testing"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

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
