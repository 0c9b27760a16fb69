package normalise

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/model"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// This file maps the rows of a tenant's CSV staff lists (ingest writes
// each list row as an assignment record, after a person record on the
// person's first row; see ingest's CSVType*). The list's mapping (tenant
// feeds.csv.lists) says which column is which canonical field, how dates
// are written and what the trust's status words mean.

// RuleCSVKey: a list row's person or assignment key is not numeric
// (ESR-R040).
const RuleCSVKey = "csv-key"

// Record types ingest gives list rows (ingest.CSVTypePerson ...; repeated
// here so normalise does not import the ingest service).
const (
	csvTypePerson     = "CSV-PER"
	csvTypeAssignment = "CSV-ASG"
)

// MapRowFor maps one RECORD row of esr.raw.v1 for a tenant: a row of one
// of its CSV lists through that list's mapping, any other through MapRow
// with the tenant's mapping.
func MapRowFor(raw internalv1.RawRecord, t tenant.Tenant) Outcome {
	if !strings.HasPrefix(raw.File.Dialect, tenant.CSVDialectPrefix) {
		return MapRow(raw, t.Mapping)
	}
	if len(raw.Problems) > 0 {
		return MapRow(raw, t.Mapping) // the problems, as for every dialect
	}
	l, ok := t.CSVList(raw.File.Dialect)
	if !ok {
		// The list is no longer configured (or never was, for this tenant).
		return quarantined(violation(RuleDialect, ""))
	}
	return mapCSV(raw, l, t.Mapping)
}

func mapCSV(raw internalv1.RawRecord, l *tenant.CSVList, m tenant.Mapping) Outcome {
	if raw.RecordType != csvTypePerson && raw.RecordType != csvTypeAssignment {
		return quarantined(violation(format.RuleRecordType, ""))
	}
	row := format.Row{Line: int(raw.Line), Type: raw.RecordType, Fields: raw.Fields}
	v, err := l.Feed().Decode(row)
	if err != nil {
		var fe *format.Error
		if errors.As(err, &fe) {
			return quarantined(violation(fe.Rule, fe.Field))
		}
		return quarantined(violation(format.RuleRecordType, ""))
	}
	c := csvRow{v: v, run: model.CivilDate(raw.File.RunDate.UTC())}
	emp := c.str("employee_number")
	pid, ok := c.id("person_id", emp)
	if !ok {
		return quarantined(violation(RuleCSVKey, "person_id"))
	}
	if raw.RecordType == csvTypePerson {
		return entity(internalv1.EntityKindPerson, internalv1.Person{
			Vpd:                   raw.Vpd,
			PersonID:              pid,
			EffectiveStart:        c.dateOr("person_effective_start", c.dateOr("hire_date", c.run)),
			EmployeeNumber:        emp,
			NhsUniqueID:           c.str("nhs_unique_id"),
			Title:                 c.str("title"),
			LastName:              c.str("last_name"),
			FirstName:             c.str("first_name"),
			MiddleNames:           c.str("middle_names"),
			PreferredName:         c.str("preferred_name"),
			Gender:                gender(c.str("gender")),
			DateOfBirth:           c.datePtr("date_of_birth"),
			NiNumber:              c.str("ni_number"),
			HireDate:              c.datePtr("hire_date"),
			ActualTerminationDate: c.datePtr("termination_date"),
			LeavingReason:         c.str("leaving_reason"),
			OfficeEmail:           c.str("office_email"),
		})
	}
	number := c.str("assignment_number")
	aid, ok := c.id("assignment_id", assignmentKey(number))
	if !ok {
		return quarantined(violation(RuleCSVKey, "assignment_id"))
	}
	typ := "E"
	if w := c.str("assignment_type"); w != "" {
		typ = l.Value("assignment_type", w)
	}
	word := c.str("assignment_status")
	earliest := c.datePtr("assignment_start")
	start := c.run
	if earliest != nil {
		start = *earliest
	}
	primary, _ := v["primary"].(bool)
	return entity(internalv1.EntityKindAssignment, internalv1.Assignment{
		Vpd:              raw.Vpd,
		PersonID:         pid,
		AssignmentID:     aid,
		EffectiveStart:   c.dateOr("assignment_effective_start", start),
		EarliestStart:    earliest,
		AssignmentType:   typ,
		AssignmentNumber: number,
		Status:           internalv1.AssignmentStatus(model.ParseAssignmentStatus(l.Value("assignment_status", word))),
		UserStatus:       word,
		Primary:          primary,
		Category:         c.str("assignment_category"),
		Hours:            c.float("hours"),
		Fte:              c.float("fte"),
		OrganisationID:   c.int("organisation_id"),
		LocationID:       c.int("location_id"),
		PositionID:       c.int("position_id"),
		Position: internalv1.PositionRef{Number: c.str("position_number"), Title: c.str("position_title"),
			OccupationCode: c.str("occupation_code"), Area: c.str("area_of_work")},
		Grade:                  internalv1.Grade{Owner: c.str("grade_owner"), Code: c.str("grade_code"), Description: c.str("grade_description")},
		StaffGroup:             staffGroup(m, c.str("staff_group")),
		JobRole:                c.str("job_role"),
		LastWorkingDay:         c.datePtr("last_working_day"),
		FinalAssignmentEndDate: c.datePtr("assignment_end_date"),
	})
}

// assignmentKey is the assignment id of a list that maps none: the
// assignment number's digits, its -N suffix as two more digits
// (12345678-2 → 1234567802; 12345678 → 1234567801), so it is stable from
// list to list and distinct per post. "" when the number is not of that
// shape.
func assignmentKey(number string) string {
	stem, suffix, has := strings.Cut(number, "-")
	n := 1
	if has {
		var err error
		if n, err = strconv.Atoi(suffix); err != nil || n < 1 || n > 99 {
			return ""
		}
	}
	if stem == "" || len(stem) > 15 || strings.Trim(stem, "0123456789") != "" {
		return ""
	}
	return stem + strconv.Itoa(n/10) + strconv.Itoa(n%10)
}

// csvRow reads a decoded list row's values by canonical field.
type csvRow struct {
	v   map[string]any
	run time.Time
}

func (c csvRow) str(f string) string {
	s, _ := c.v[f].(string)
	return strings.TrimSpace(s)
}

func (c csvRow) int(f string) int64 {
	n, _ := c.v[f].(int64)
	return n
}

func (c csvRow) float(f string) *float64 {
	if x, ok := c.v[f].(float64); ok {
		return &x
	}
	return nil
}

func (c csvRow) datePtr(f string) *time.Time {
	if t, ok := c.v[f].(time.Time); ok {
		return datePtr(t)
	}
	return nil
}

func (c csvRow) dateOr(f string, or time.Time) time.Time {
	if t := c.datePtr(f); t != nil {
		return *t
	}
	return or
}

// id is a numeric key: the mapped column's value, else the fallback text
// (employee number, assignment number) when it is all digits.
func (c csvRow) id(f, fallback string) (int64, bool) {
	if n, ok := c.v[f].(int64); ok {
		return n, n > 0
	}
	n, err := strconv.ParseInt(fallback, 10, 64)
	return n, err == nil && n > 0
}
