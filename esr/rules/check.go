package rules

import (
	"time"

	"github.com/esrflow/esrflow/esr/format/gov1"
	"github.com/esrflow/esrflow/esr/format/gov2"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// recordCheck is one catalogue rule's test of one canonical entity on its
// own. It calls c.fail for each field that breaks the rule.
type recordCheck func(c *checkCtx)

// checks are the record and field rules' tests, by code. Cross-record rules
// (ESR-X) are File's; ingest and normalise rules run in those stages.
var checks = map[string]recordCheck{}

// checkCtx is what a recordCheck sees.
type checkCtx struct {
	rule   *active
	kind   string
	entity any
	raw    *internalv1.RawRow
	file   internalv1.FileInfo
	out    *[]internalv1.Violation
}

// fail records a violation of the rule on a field ("" for the whole record).
func (c *checkCtx) fail(field string) {
	*c.out = append(*c.out, violation(c.rule.Code, field, c.rule.Severity))
}

// failIf records a violation on field when bad holds.
func (c *checkCtx) failIf(bad bool, field string) {
	if bad {
		c.fail(field)
	}
}

func violation(code, field string, sev Severity) internalv1.Violation {
	s := internalv1.SeverityError
	if sev == Warning {
		s = internalv1.SeverityWarning
	}
	return internalv1.Violation{Rule: code, Field: field, Message: Message(code, field), Severity: s}
}

// Violation builds the violation of a catalogue rule at its catalogue
// severity, with the catalogue's message (for stages that report rules of
// their own: parse problems in normalise, undecodable input).
func Violation(code, field string) internalv1.Violation {
	r, ok := Lookup(code)
	sev := Error
	if ok {
		sev = r.Severity
	}
	return violation(code, field, sev)
}

// noDate reports an absent date. An absent required date may arrive as the
// zero time or, after an Avro round trip, as a day in year 1; the parser
// rejects any year before 1800, so both mean "empty".
func noDate(t time.Time) bool { return t.IsZero() || t.Year() < 1800 }

// noDatePtr reports an absent optional date.
func noDatePtr(t *time.Time) bool { return t == nil || noDate(*t) }

func init() {
	checks["ESR-R010"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Person)
		c.failIf(e.PersonID == 0, "person_id")
		c.failIf(noDate(e.EffectiveStart), "effective_start")
		c.failIf(e.EmployeeNumber == "", "employee_number")
		c.failIf(e.LastName == "", "last_name")
	}
	checks["ESR-R011"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Assignment)
		c.failIf(e.PersonID == 0, "person_id")
		c.failIf(e.AssignmentID == 0, "assignment_id")
		c.failIf(noDate(e.EffectiveStart), "effective_start")
		c.failIf(e.AssignmentType == "", "assignment_type")
		c.failIf(e.AssignmentNumber == "", "assignment_number")
		c.failIf((e.Status == "" || e.Status == internalv1.AssignmentStatusUnknown) && rawField(c.raw, "system_assignment_status") == "",
			"system_assignment_status")
	}
	checks["ESR-R012"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Position)
		c.failIf(e.PositionID == 0, "position_id")
		c.failIf(noDate(e.EffectiveFrom), "effective_from")
	}
	checks["ESR-R013"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Organisation)
		c.failIf(e.OrganisationID == 0, "organisation_id")
		c.failIf(e.Name == "", "name")
		c.failIf(noDate(e.EffectiveFrom), "effective_from")
	}
	checks["ESR-R014"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Location)
		c.failIf(e.LocationID == 0, "location_id")
		c.failIf(e.Code == "", "code")
	}
	checks["ESR-R025"] = func(c *checkCtx) {
		e := c.entity.(internalv1.Assignment)
		// A status the mapper could not place is only this rule's business
		// when the column held something; an empty one is ESR-R011's.
		c.failIf((e.Status == "" || e.Status == internalv1.AssignmentStatusUnknown) && rawField(c.raw, "system_assignment_status") != "",
			"system_assignment_status")
	}
}

// rawField returns a GO v2 column of the original row by its parser name
// ("" when absent or unknown).
func rawField(raw *internalv1.RawRow, name string) string {
	if raw == nil {
		return ""
	}
	spec := gov2.Spec(raw.RecordType)
	if spec == nil {
		if spec = gov1.Spec(raw.RecordType); spec == nil {
			return ""
		}
		if name == "system_assignment_status" {
			name = "assignment_status" // v1 carries the user status text only
		}
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
