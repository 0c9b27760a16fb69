package validate_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/validate"
)

type known struct{ persons, positions map[int64]bool }

func (k known) HasPerson(_ string, id int64) bool   { return k.persons[id] }
func (k known) HasPosition(_ string, id int64) bool { return k.positions[id] }

var someKnown = known{persons: map[int64]bool{20990417: true}, positions: map[int64]bool{8812045: true}}

func d(y int, m time.Month, dd int) time.Time { return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC) }

const asaFields = "20990417~41877120~20240311~~20240311~E~31004581~ACTIVE_ASSIGN~Active Assignment~~412 Monthly~Calendar Month~905512~N~~~~~FT~Permanent~Yes~37.5~Week~37.5~1~~7730112~8812045~5102277|Staff Nurse|N6A|Cardiology|~NHS|XR05|Review Body Band 5~XR05|3~20240311~29970~Nursing and Midwifery Registered|Staff Nurse~412 z 0231 Ward 7|Standard User||~GTA||~No~~~~20250311~~~20240309 101455~~~N~~"

func person() internalv1.Person {
	return internalv1.Person{Vpd: "412", PersonID: 20990417, EffectiveStart: d(2024, 3, 11), EmployeeNumber: "31004581"}
}

func assignment() internalv1.Assignment {
	return internalv1.Assignment{Vpd: "412", PersonID: 20990417, AssignmentID: 41877120, EffectiveStart: d(2024, 3, 11),
		AssignmentType: "E", AssignmentNumber: "31004581", Status: internalv1.AssignmentStatusActiveAssign, PositionID: 8812045}
}

// rec wraps an entity; fields, when given, are an ASA row's columns.
func rec(e any, fields string) internalv1.EntityRecord {
	r := internalv1.EntityRecord{Kind: internalv1.EntityRecordKindEntity, Vpd: "412", Entity: e}
	if fields != "" {
		r.Raw = &internalv1.RawRow{RecordType: "ASA", Fields: strings.Split(fields, "~")}
	}
	return r
}

type rf struct{ rule, field string }

func rulesOf(vs []internalv1.Violation) []rf {
	var out []rf
	for _, v := range vs {
		if v.Severity != internalv1.SeverityError || v.Message == "" || !strings.HasPrefix(v.Message, v.Field+": ") {
			panic("violation without ERROR severity or field-named message: " + v.Message)
		}
		out = append(out, rf{v.Rule, v.Field})
	}
	return out
}

func TestCheckRules(t *testing.T) {
	tests := []struct {
		name string
		rec  internalv1.EntityRecord
		want []rf
	}{
		{"valid person", rec(person(), ""), nil},
		{"person without id", rec(func() any { p := person(); p.PersonID = 0; return p }(), ""), []rf{{"required", "person_id"}}},
		{"person without employee number", rec(func() any { p := person(); p.EmployeeNumber = ""; return p }(), ""), []rf{{"required", "employee_number"}}},
		{"person without effective start", rec(func() any { p := person(); p.EffectiveStart = time.Time{}; return p }(), ""), []rf{{"required", "effective_start"}}},
		{"person with year-1 start (zero date after Avro)", rec(func() any { p := person(); p.EffectiveStart = d(1, 1, 2); return p }(), ""), []rf{{"required", "effective_start"}}},
		{"valid assignment", rec(assignment(), asaFields), nil},
		{"assignment without number", rec(func() any { a := assignment(); a.AssignmentNumber = ""; return a }(), ""), []rf{{"required", "assignment_number"}}},
		{"assignment without type", rec(func() any { a := assignment(); a.AssignmentType = ""; return a }(), ""), []rf{{"required", "assignment_type"}}},
		{"assignment without id", rec(func() any { a := assignment(); a.AssignmentID = 0; return a }(), ""), []rf{{"required", "assignment_id"}}},
		{"assignment with empty status", rec(func() any { a := assignment(); a.Status = internalv1.AssignmentStatusUnknown; return a }(),
			strings.Replace(asaFields, "ACTIVE_ASSIGN", "", 1)), []rf{{"required", "system_assignment_status"}}},
		{"assignment with unknown status", rec(func() any { a := assignment(); a.Status = internalv1.AssignmentStatusUnknown; return a }(),
			strings.Replace(asaFields, "ACTIVE_ASSIGN", "ON_HOLD", 1)), []rf{{"status", "system_assignment_status"}}},
		{"assignment of unknown person", rec(func() any { a := assignment(); a.PersonID = 1; return a }(), ""), []rf{{"reference", "person_id"}}},
		{"assignment in unknown position", rec(func() any { a := assignment(); a.PositionID = 99123456; return a }(), ""), []rf{{"reference", "position_id"}}},
		{"assignment with no position", rec(func() any { a := assignment(); a.PositionID = 0; return a }(), ""), nil},
		{"assignment without person id: required, no reference", rec(func() any { a := assignment(); a.PersonID = 0; return a }(), ""), []rf{{"required", "person_id"}}},
		{"every violation reported", rec(func() any {
			a := assignment()
			a.AssignmentNumber, a.PositionID, a.PersonID = "", 99123456, 2
			return a
		}(), ""), []rf{{"required", "assignment_number"}, {"reference", "person_id"}, {"reference", "position_id"}}},
		{"valid position", rec(internalv1.Position{PositionID: 8812045, EffectiveFrom: d(2019, 4, 1)}, ""), nil},
		{"position without id", rec(internalv1.Position{EffectiveFrom: d(2019, 4, 1)}, ""), []rf{{"required", "position_id"}}},
		{"position without effective from", rec(internalv1.Position{PositionID: 1}, ""), []rf{{"required", "effective_from"}}},
		{"valid organisation", rec(internalv1.Organisation{OrganisationID: 7, EffectiveFrom: d(2015, 4, 1)}, ""), nil},
		{"organisation without id", rec(internalv1.Organisation{EffectiveFrom: d(2015, 4, 1)}, ""), []rf{{"required", "organisation_id"}}},
		{"valid location", rec(internalv1.Location{LocationID: 905512}, ""), nil},
		{"location without id", rec(internalv1.Location{}, ""), []rf{{"required", "location_id"}}},
		{"correction has no rules", internalv1.EntityRecord{Kind: internalv1.EntityRecordKindCorrection,
			Entity: internalv1.Correction{EntityKind: internalv1.EntityKindPerson, ID: 5, RecordType: "PRD"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rulesOf(validate.Check(tt.rec, someKnown))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("violations %v, want %v", got, tt.want)
			}
		})
	}
}
