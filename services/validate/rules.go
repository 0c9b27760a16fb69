package validate

import (
	"time"

	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Rule ids. They are stable: quarantine records, metrics and alerts key on
// them. Field names are the GO v2 parser's (esr/format/gov2).
const (
	// RuleRequired: a key or mandatory field is empty.
	RuleRequired = "required"
	// RuleReference: an assignment names a person or position that no
	// accepted row of this file or an earlier file of the tenant defines.
	RuleReference = "reference"
	// RuleStatus: an assignment's system status is present but not one of
	// ESR's (ACTIVE_ASSIGN, SUSP_ASSIGN, TERM_ASSIGN, ACTIVE_APL, OFFER,
	// ACCEPTED).
	RuleStatus = "status"
)

// Known answers the reference checks: is an entity known to the tenant,
// from an accepted row of the current file or of an earlier one?
type Known interface {
	HasPerson(vpd string, personID int64) bool
	HasPosition(vpd string, positionID int64) bool
}

// Check returns every violation of an ENTITY record (none: accepted). It is
// pure apart from reading known. Messages name rules and fields, never
// values. Control records and corrections have no rules and return nil.
func Check(rec internalv1.EntityRecord, known Known) []internalv1.Violation {
	var vs []internalv1.Violation
	req := func(missing bool, field string) {
		if missing {
			vs = append(vs, violation(RuleRequired, field, "required value is empty"))
		}
	}
	switch e := rec.Entity.(type) {
	case internalv1.Person:
		req(e.PersonID == 0, "person_id")
		req(noDate(e.EffectiveStart), "effective_start")
		req(e.EmployeeNumber == "", "employee_number")
	case internalv1.Assignment:
		req(e.PersonID == 0, "person_id")
		req(e.AssignmentID == 0, "assignment_id")
		req(noDate(e.EffectiveStart), "effective_start")
		req(e.AssignmentType == "", "assignment_type")
		req(e.AssignmentNumber == "", "assignment_number")
		if e.Status == internalv1.AssignmentStatusUnknown || e.Status == "" {
			if rawField(rec.Raw, "system_assignment_status") == "" {
				req(true, "system_assignment_status")
			} else {
				vs = append(vs, violation(RuleStatus, "system_assignment_status", "not a known ESR system assignment status"))
			}
		}
		if e.PersonID != 0 && !known.HasPerson(e.Vpd, e.PersonID) {
			vs = append(vs, violation(RuleReference, "person_id", "person is not known from this file or an earlier one"))
		}
		if e.PositionID != 0 && !known.HasPosition(e.Vpd, e.PositionID) {
			vs = append(vs, violation(RuleReference, "position_id", "position is not known from this file or an earlier one"))
		}
	case internalv1.Position:
		req(e.PositionID == 0, "position_id")
		req(noDate(e.EffectiveFrom), "effective_from")
	case internalv1.Organisation:
		req(e.OrganisationID == 0, "organisation_id")
		req(noDate(e.EffectiveFrom), "effective_from")
	case internalv1.Location:
		req(e.LocationID == 0, "location_id")
	}
	return vs
}

func violation(rule, field, text string) internalv1.Violation {
	return internalv1.Violation{Rule: rule, Field: field, Message: field + ": " + text, Severity: internalv1.SeverityError}
}

// noDate reports an absent required date. An absent date may arrive as the
// zero time or, after an Avro round trip, as a day in year 1; the parser
// rejects any year before 1800, so both mean "empty".
func noDate(t time.Time) bool { return t.IsZero() || t.Year() < 1800 }

// rawField returns a GO v2 column of the original row by its parser name
// ("" when absent or unknown).
func rawField(raw *internalv1.RawRow, name string) string {
	if raw == nil {
		return ""
	}
	spec := gov2.Spec(raw.RecordType)
	if spec == nil {
		return ""
	}
	for i, c := range spec.Columns {
		if c.Name == name {
			// Fields hold the columns after the record type.
			if i >= 1 && i-1 < len(raw.Fields) {
				return raw.Fields[i-1]
			}
			return ""
		}
	}
	return ""
}
