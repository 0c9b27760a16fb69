package rules

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// The fixtures below are invented; no value comes from a real person.

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func dayp(s string) *time.Time { t := day(s); return &t }

func fp(f float64) *float64 { return &f }

const testVPD = "412"

func person() internalv1.Person {
	return internalv1.Person{
		Vpd: testVPD, PersonID: 1001, EffectiveStart: day("2024-01-01"), EmployeeNumber: "12345678",
		LastName: "Testperson", FirstName: "Alex", Gender: "F", DateOfBirth: dayp("1980-05-06"),
		NiNumber: "AB123456C", HireDate: dayp("2020-01-01"), SystemPersonType: "EMP",
		OfficeEmail: "alex.testperson@nhs.net", CrsUUID: "123456789012",
	}
}

func assignment() internalv1.Assignment {
	return internalv1.Assignment{
		Vpd: testVPD, PersonID: 1001, AssignmentID: 2001, EffectiveStart: day("2024-01-01"),
		EarliestStart: dayp("2020-01-01"), AssignmentType: "E", AssignmentNumber: "12345678",
		Status: internalv1.AssignmentStatusActiveAssign, Primary: true, Fte: fp(1), Hours: fp(37.5),
		OrganisationID: 3001, LocationID: 4001, PositionID: 5001,
		Position:   internalv1.PositionRef{Number: "7654321", Title: "Staff Nurse", OccupationCode: "N6A", Area: "Surgery"},
		Grade:      internalv1.Grade{Owner: "NHS", Code: "XR05", Description: "Review Body Band 5"},
		StaffGroup: "Nursing and Midwifery Registered",
	}
}

func position() internalv1.Position {
	return internalv1.Position{
		Vpd: testVPD, PositionID: 5001, EffectiveFrom: day("2020-01-01"), Number: "7654321", Title: "Staff Nurse",
		OccupationCode: "N6A", StaffGroup: "Nursing and Midwifery Registered", OrganisationID: 3001,
	}
}

func organisation() internalv1.Organisation {
	return internalv1.Organisation{Vpd: testVPD, OrganisationID: 3001, Name: "412 z Ward 1", EffectiveFrom: day("2020-01-01")}
}

func location() internalv1.Location {
	return internalv1.Location{Vpd: testVPD, LocationID: 4001, Code: "412 MAIN", Postcode: "LS1 4AP"}
}

// rawRow builds a GO v2 row of a record type with named columns set.
func rawRow(typ string, cols map[string]string) *internalv1.RawRow {
	spec := gov2.Spec(typ)
	row := &internalv1.RawRow{RecordType: typ, Fields: make([]string, len(spec.Columns)-1)}
	for i, c := range spec.Columns {
		if v, ok := cols[c.Name]; ok && i >= 1 {
			row.Fields[i-1] = v
		}
	}
	return row
}

func entity(e any, raw *internalv1.RawRow) internalv1.EntityRecord {
	return internalv1.EntityRecord{Kind: internalv1.EntityRecordKindEntity, Vpd: testVPD, Entity: e, Raw: raw}
}

// want is one expected violation.
type want struct {
	code, field string
	sev         internalv1.Severity
}

func E(code, field string) want { return want{code, field, internalv1.SeverityError} }
func W(code, field string) want { return want{code, field, internalv1.SeverityWarning} }

func got(vs []internalv1.Violation) []want {
	out := make([]want, 0, len(vs))
	for _, v := range vs {
		out = append(out, want{v.Rule, v.Field, v.Severity})
	}
	return out
}

// recordCase is one record through the record and field rules. value is
// the personal or tested value the case plants; no message may quote it.
type recordCase struct {
	name  string
	rec   internalv1.EntityRecord
	want  []want
	value string
}

func withPerson(f func(*internalv1.Person)) internalv1.EntityRecord {
	p := person()
	f(&p)
	return entity(p, nil)
}

func withAssignment(f func(*internalv1.Assignment)) internalv1.EntityRecord {
	a := assignment()
	f(&a)
	return entity(a, nil)
}

func withPosition(f func(*internalv1.Position)) internalv1.EntityRecord {
	p := position()
	f(&p)
	return entity(p, nil)
}

func withOrganisation(f func(*internalv1.Organisation)) internalv1.EntityRecord {
	o := organisation()
	f(&o)
	return entity(o, nil)
}

func withLocation(f func(*internalv1.Location)) internalv1.EntityRecord {
	l := location()
	f(&l)
	return entity(l, nil)
}

// recordCases exercise every record and field rule with at least one
// passing and one failing case (TestEveryRuleIsTested holds them to it).
// Each failing case breaks exactly the rules it lists.
func recordCases() map[string][]recordCase {
	return map[string][]recordCase{
		"ESR-R010": {
			{name: "complete", rec: entity(person(), nil)},
			{name: "no person id", rec: withPerson(func(p *internalv1.Person) { p.PersonID = 0 }), want: []want{E("ESR-R010", "person_id")}},
			{name: "no effective start", rec: withPerson(func(p *internalv1.Person) { p.EffectiveStart = time.Time{} }), want: []want{E("ESR-R010", "effective_start")}},
			{name: "avro zero date", rec: withPerson(func(p *internalv1.Person) { p.EffectiveStart = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC) }), want: []want{E("ESR-R010", "effective_start")}},
			{name: "no employee number", rec: withPerson(func(p *internalv1.Person) { p.EmployeeNumber = "" }), want: []want{E("ESR-R010", "employee_number")}},
			{name: "no last name", rec: withPerson(func(p *internalv1.Person) { p.LastName = "" }), want: []want{E("ESR-R010", "last_name")}},
		},
		"ESR-R011": {
			{name: "complete", rec: entity(assignment(), nil)},
			{name: "no person id", rec: withAssignment(func(a *internalv1.Assignment) { a.PersonID = 0 }), want: []want{E("ESR-R011", "person_id")}},
			{name: "no assignment id", rec: withAssignment(func(a *internalv1.Assignment) { a.AssignmentID = 0 }), want: []want{E("ESR-R011", "assignment_id")}},
			{name: "no effective start", rec: withAssignment(func(a *internalv1.Assignment) { a.EffectiveStart = time.Time{} }), want: []want{E("ESR-R011", "effective_start")}},
			{name: "no type", rec: withAssignment(func(a *internalv1.Assignment) { a.AssignmentType = "" }), want: []want{E("ESR-R011", "assignment_type")}},
			{name: "no number", rec: withAssignment(func(a *internalv1.Assignment) { a.AssignmentNumber = "" }), want: []want{E("ESR-R011", "assignment_number")}},
			{name: "no status, column empty", rec: func() internalv1.EntityRecord {
				a := assignment()
				a.Status = internalv1.AssignmentStatusUnknown
				return entity(a, rawRow(gov2.TypeAssignment, nil))
			}(), want: []want{E("ESR-R011", "system_assignment_status")}},
		},
		"ESR-R012": {
			{name: "complete", rec: entity(position(), nil)},
			{name: "no id", rec: withPosition(func(p *internalv1.Position) { p.PositionID = 0 }), want: []want{E("ESR-R012", "position_id")}},
			{name: "no from", rec: withPosition(func(p *internalv1.Position) { p.EffectiveFrom = time.Time{} }), want: []want{E("ESR-R012", "effective_from")}},
		},
		"ESR-R013": {
			{name: "complete", rec: entity(organisation(), nil)},
			{name: "no id", rec: withOrganisation(func(o *internalv1.Organisation) { o.OrganisationID = 0 }), want: []want{E("ESR-R013", "organisation_id")}},
			{name: "no name", rec: withOrganisation(func(o *internalv1.Organisation) { o.Name = "" }), want: []want{E("ESR-R013", "name")}},
			{name: "no from", rec: withOrganisation(func(o *internalv1.Organisation) { o.EffectiveFrom = time.Time{} }), want: []want{E("ESR-R013", "effective_from")}},
		},
		"ESR-R014": {
			{name: "complete", rec: entity(location(), nil)},
			{name: "no id", rec: withLocation(func(l *internalv1.Location) { l.LocationID = 0 }), want: []want{E("ESR-R014", "location_id")}},
			{name: "no code", rec: withLocation(func(l *internalv1.Location) { l.Code = "" }), want: []want{E("ESR-R014", "code")}},
		},
		"ESR-R020": {
			{name: "terminated after hire", rec: withPerson(func(p *internalv1.Person) {
				p.ActualTerminationDate, p.LeavingReason = dayp("2024-03-31"), "Retirement Age"
			})},
			{name: "terminated on hire day", rec: withPerson(func(p *internalv1.Person) {
				p.ActualTerminationDate, p.LeavingReason = dayp("2020-01-01"), "Has Not Worked"
			})},
			{name: "terminated before hire", rec: withPerson(func(p *internalv1.Person) {
				p.ActualTerminationDate, p.LeavingReason = dayp("2019-12-31"), "Retirement Age"
			}), want: []want{E("ESR-R020", "actual_termination_date")}, value: "2019-12-31"},
		},
		"ESR-R021": {
			{name: "neither", rec: entity(person(), nil)},
			{name: "both", rec: withPerson(func(p *internalv1.Person) {
				p.ActualTerminationDate, p.LeavingReason = dayp("2024-03-31"), "Voluntary Resignation - Relocation"
			})},
			{name: "date without reason", rec: withPerson(func(p *internalv1.Person) { p.ActualTerminationDate = dayp("2024-03-31") }),
				want: []want{E("ESR-R021", "leaving_reason")}},
			{name: "reason without date", rec: withPerson(func(p *internalv1.Person) { p.LeavingReason = "Retirement Age" }),
				want: []want{E("ESR-R021", "leaving_reason")}, value: "Retirement Age"},
		},
		"ESR-R022": {
			{name: "person open-ended", rec: entity(person(), nil)},
			{name: "person start on end", rec: withPerson(func(p *internalv1.Person) { p.EffectiveEnd = dayp("2024-01-01") })},
			{name: "person start after end", rec: withPerson(func(p *internalv1.Person) { p.EffectiveEnd = dayp("2023-12-31") }),
				want: []want{E("ESR-R022", "effective_end")}},
			{name: "assignment start after end", rec: withAssignment(func(a *internalv1.Assignment) { a.EffectiveEnd = dayp("2023-12-31") }),
				want: []want{E("ESR-R022", "effective_end")}},
			{name: "position from after to", rec: withPosition(func(p *internalv1.Position) { p.EffectiveTo = dayp("2019-01-01") }),
				want: []want{E("ESR-R022", "effective_to")}},
			{name: "position to after from", rec: withPosition(func(p *internalv1.Position) { p.EffectiveTo = dayp("4712-12-31") })},
			{name: "organisation from after to", rec: withOrganisation(func(o *internalv1.Organisation) { o.EffectiveTo = dayp("2019-01-01") }),
				want: []want{E("ESR-R022", "effective_to")}},
		},
		"ESR-R023": {
			{name: "born before hire", rec: entity(person(), nil)},
			{name: "no birth date", rec: withPerson(func(p *internalv1.Person) { p.DateOfBirth = nil })},
			{name: "born on hire day", rec: withPerson(func(p *internalv1.Person) { p.DateOfBirth = dayp("2020-01-01") }),
				want: []want{E("ESR-R023", "date_of_birth")}, value: "2020-01-01"},
			{name: "born after hire", rec: withPerson(func(p *internalv1.Person) { p.DateOfBirth = dayp("2021-06-01") }),
				want: []want{E("ESR-R023", "date_of_birth")}, value: "2021-06-01"},
		},
		"ESR-R024": {
			{name: "in order", rec: withAssignment(func(a *internalv1.Assignment) {
				a.EffectiveEnd, a.LastWorkingDay = dayp("2024-06-30"), dayp("2024-06-30")
			})},
			{name: "earliest start after end", rec: withAssignment(func(a *internalv1.Assignment) {
				a.EffectiveStart, a.EffectiveEnd, a.EarliestStart = day("2019-01-01"), dayp("2019-06-30"), dayp("2019-07-01")
			}), want: []want{E("ESR-R024", "earliest_start")}},
			{name: "last day before earliest start", rec: withAssignment(func(a *internalv1.Assignment) { a.LastWorkingDay = dayp("2019-12-31") }),
				want: []want{E("ESR-R024", "last_working_day")}},
			{name: "last day on earliest start", rec: withAssignment(func(a *internalv1.Assignment) { a.LastWorkingDay = dayp("2020-01-01") })},
		},
		"ESR-R025": {
			{name: "known status", rec: entity(assignment(), rawRow(gov2.TypeAssignment, map[string]string{"system_assignment_status": "ACTIVE_ASSIGN"}))},
			{name: "unknown status", rec: func() internalv1.EntityRecord {
				a := assignment()
				a.Status = internalv1.AssignmentStatusUnknown
				return entity(a, rawRow(gov2.TypeAssignment, map[string]string{"system_assignment_status": "ON_HOLD"}))
			}(), want: []want{E("ESR-R025", "system_assignment_status")}},
		},
		"ESR-R026": {
			{name: "aged 39", rec: entity(person(), nil)},
			{name: "aged 15 exactly", rec: withPerson(func(p *internalv1.Person) { p.DateOfBirth = dayp("2005-01-01") })},
			{name: "aged 80 on hire day", rec: withPerson(func(p *internalv1.Person) { p.DateOfBirth = dayp("1940-01-01") })},
			{name: "a day short of 15", rec: withPerson(func(p *internalv1.Person) { p.DateOfBirth = dayp("2005-01-02") }),
				want: []want{W("ESR-R026", "date_of_birth")}, value: "2005-01-02"},
			{name: "aged 81", rec: withPerson(func(p *internalv1.Person) { p.DateOfBirth = dayp("1938-06-01") }),
				want: []want{W("ESR-R026", "date_of_birth")}},
			{name: "born after hire is R023's alone", rec: withPerson(func(p *internalv1.Person) { p.DateOfBirth = dayp("2020-02-01") }),
				want: []want{E("ESR-R023", "date_of_birth")}},
		},
		"ESR-V010": {
			{name: "eight digits", rec: entity(person(), nil)},
			{name: "seven digits", rec: withPerson(func(p *internalv1.Person) { p.EmployeeNumber = "1234567" }),
				want: []want{E("ESR-V010", "employee_number")}, value: "1234567"},
			{name: "letters", rec: withPerson(func(p *internalv1.Person) { p.EmployeeNumber = "1234567X" }),
				want: []want{E("ESR-V010", "employee_number")}, value: "1234567X"},
		},
		"ESR-V011": {
			{name: "first post", rec: entity(assignment(), nil)},
			{name: "second post", rec: withAssignment(func(a *internalv1.Assignment) { a.AssignmentNumber = "12345678-2" })},
			{name: "tenth post", rec: withAssignment(func(a *internalv1.Assignment) { a.AssignmentNumber = "12345678-10" })},
			{name: "bad suffix", rec: withAssignment(func(a *internalv1.Assignment) { a.AssignmentNumber = "12345678-A" }),
				want: []want{E("ESR-V011", "assignment_number")}, value: "12345678-A"},
			{name: "short stem", rec: withAssignment(func(a *internalv1.Assignment) { a.AssignmentNumber = "1234567-2" }),
				want: []want{E("ESR-V011", "assignment_number")}, value: "1234567-2"},
		},
		"ESR-V012": niCases(),
		"ESR-V013": {
			{name: "allocated", rec: entity(person(), nil)},
			{name: "temporary TN", rec: withPerson(func(p *internalv1.Person) { p.NiNumber = "TN060580F" }),
				want: []want{W("ESR-V013", "ni_number")}, value: "TN060580F"},
			{name: "administrative OO", rec: withPerson(func(p *internalv1.Person) { p.NiNumber = "OO123456A" }),
				want: []want{W("ESR-V013", "ni_number")}, value: "OO123456A"},
			{name: "administrative PZ", rec: withPerson(func(p *internalv1.Person) { p.NiNumber = "PZ 12 34 56" }),
				want: []want{W("ESR-V013", "ni_number")}, value: "PZ 12 34 56"},
			{name: "temporary prefix, broken shape is V012's", rec: withPerson(func(p *internalv1.Person) { p.NiNumber = "TN12345" }),
				want: []want{E("ESR-V012", "ni_number")}, value: "TN12345"},
		},
		"ESR-V014": {
			// GO v2 carries no NHS number: the rule has nothing to judge
			// (ValidNHSNumber is tested on its own below).
			{name: "GO v2 person row", rec: entity(person(), rawRow(gov2.TypePerson, map[string]string{"employee_number": "12345678"}))},
		},
		"ESR-V015": {
			{name: "well formed", rec: entity(person(), nil)},
			{name: "absent", rec: withPerson(func(p *internalv1.Person) { p.OfficeEmail = "" })},
			{name: "no at", rec: withPerson(func(p *internalv1.Person) { p.OfficeEmail = "alex.testperson.nhs.net" }),
				want: []want{W("ESR-V015", "office_email")}, value: "alex.testperson.nhs.net"},
			{name: "no dot in domain", rec: withPerson(func(p *internalv1.Person) { p.OfficeEmail = "alex@localhost" }),
				want: []want{W("ESR-V015", "office_email")}, value: "alex@localhost"},
			{name: "display name", rec: withPerson(func(p *internalv1.Person) { p.OfficeEmail = "Alex Testperson <alex@nhs.net>" }),
				want: []want{W("ESR-V015", "office_email")}, value: "Alex Testperson"},
			{name: "trailing dot", rec: withPerson(func(p *internalv1.Person) { p.OfficeEmail = "alex@nhs.net." }),
				want: []want{W("ESR-V015", "office_email")}, value: "alex@nhs.net."},
		},
		"ESR-V016": {
			{name: "LS1 4AP", rec: entity(location(), nil)},
			{name: "no space", rec: withLocation(func(l *internalv1.Location) { l.Postcode = "SW1A1AA" })},
			{name: "lower case", rec: withLocation(func(l *internalv1.Location) { l.Postcode = "m1 1ae" })},
			{name: "GIR 0AA", rec: withLocation(func(l *internalv1.Location) { l.Postcode = "GIR 0AA" })},
			{name: "absent", rec: withLocation(func(l *internalv1.Location) { l.Postcode = "" })},
			{name: "inward code missing", rec: withLocation(func(l *internalv1.Location) { l.Postcode = "LS1" }),
				want: []want{W("ESR-V016", "postcode")}},
			{name: "letter C in inward code", rec: withLocation(func(l *internalv1.Location) { l.Postcode = "LS1 4CA" }),
				want: []want{W("ESR-V016", "postcode")}},
			{name: "digits only", rec: withLocation(func(l *internalv1.Location) { l.Postcode = "12345" }),
				want: []want{W("ESR-V016", "postcode")}},
		},
		"ESR-V017": {
			{name: "position N6A", rec: entity(position(), nil)},
			{name: "position medical 021", rec: withPosition(func(p *internalv1.Position) { p.OccupationCode = "021" })},
			{name: "position absent", rec: withPosition(func(p *internalv1.Position) { p.OccupationCode = "" })},
			{name: "position four characters", rec: withPosition(func(p *internalv1.Position) { p.OccupationCode = "N6AB" }),
				want: []want{E("ESR-V017", "occupation_code")}},
			{name: "position lower case", rec: withPosition(func(p *internalv1.Position) { p.OccupationCode = "n6a" }),
				want: []want{E("ESR-V017", "occupation_code")}},
			{name: "assignment two characters", rec: withAssignment(func(a *internalv1.Assignment) { a.Position.OccupationCode = "N6" }),
				want: []want{E("ESR-V017", "occupation_code")}},
		},
		"ESR-V018": {
			{name: "national group", rec: entity(position(), nil)},
			{name: "case and blanks drift", rec: withAssignment(func(a *internalv1.Assignment) { a.StaffGroup = "administrative  and clerical" })},
			{name: "absent", rec: withAssignment(func(a *internalv1.Assignment) { a.StaffGroup = "" })},
			{name: "position local group", rec: withPosition(func(p *internalv1.Position) { p.StaffGroup = "Bank Nurses" }),
				want: []want{W("ESR-V018", "staff_group")}},
			{name: "assignment local group", rec: withAssignment(func(a *internalv1.Assignment) { a.StaffGroup = "Nursing" }),
				want: []want{W("ESR-V018", "staff_group")}},
		},
		"ESR-V019": {
			{name: "1.0", rec: entity(assignment(), nil)},
			{name: "absent", rec: withAssignment(func(a *internalv1.Assignment) { a.Fte = nil })},
			{name: "zero (bank, honorary)", rec: withAssignment(func(a *internalv1.Assignment) { a.Fte = fp(0) })},
			{name: "negative", rec: withAssignment(func(a *internalv1.Assignment) { a.Fte = fp(-0.5) }), want: []want{E("ESR-V019", "fte")}},
			{name: "at max 1.5", rec: withAssignment(func(a *internalv1.Assignment) { a.Fte = fp(1.5) }), want: []want{W("ESR-V020", "fte")}},
			{name: "above max", rec: withAssignment(func(a *internalv1.Assignment) { a.Fte = fp(1.6) }),
				want: []want{E("ESR-V019", "fte"), W("ESR-V020", "fte")}},
		},
		"ESR-V020": {
			{name: "at 1.0", rec: entity(assignment(), nil)},
			{name: "above 1.0", rec: withAssignment(func(a *internalv1.Assignment) { a.Fte = fp(1.2) }), want: []want{W("ESR-V020", "fte")}},
		},
		"ESR-V021": {
			{name: "37.5", rec: entity(assignment(), nil)},
			{name: "zero", rec: withAssignment(func(a *internalv1.Assignment) { a.Hours = fp(0) })},
			{name: "at 48", rec: withAssignment(func(a *internalv1.Assignment) { a.Hours = fp(48) })},
			{name: "absent", rec: withAssignment(func(a *internalv1.Assignment) { a.Hours = nil })},
			{name: "above 48", rec: withAssignment(func(a *internalv1.Assignment) { a.Hours = fp(60) }), want: []want{W("ESR-V021", "hours")}},
			{name: "negative", rec: withAssignment(func(a *internalv1.Assignment) { a.Hours = fp(-1) }), want: []want{W("ESR-V021", "hours")}},
		},
		"ESR-V022": {
			{name: "F", rec: entity(person(), nil)},
			{name: "U", rec: withPerson(func(p *internalv1.Person) { p.Gender = "U" })},
			{name: "absent", rec: withPerson(func(p *internalv1.Person) { p.Gender = "" })},
			{name: "unmapped text", rec: withPerson(func(p *internalv1.Person) { p.Gender = "X" }), want: []want{W("ESR-V022", "gender")}},
		},
		"ESR-V023": {
			{name: "twelve digits", rec: entity(person(), nil)},
			{name: "absent", rec: withPerson(func(p *internalv1.Person) { p.CrsUUID = "" })},
			{name: "eleven digits", rec: withPerson(func(p *internalv1.Person) { p.CrsUUID = "12345678901" }),
				want: []want{W("ESR-V023", "crs_uuid")}, value: "12345678901"},
		},
		"ESR-V024": {
			{name: "prefixed with the VPD", rec: entity(organisation(), nil)},
			{name: "plain name", rec: withOrganisation(func(o *internalv1.Organisation) { o.Name = "Leeds Teaching Hospitals" })},
			{name: "another VPD", rec: withOrganisation(func(o *internalv1.Organisation) { o.Name = "413 z Ward 1" }),
				want: []want{W("ESR-V024", "name")}},
			{name: "VPD digits without the blank", rec: withOrganisation(func(o *internalv1.Organisation) { o.Name = "4120 Ward" }),
				want: []want{W("ESR-V024", "name")}},
		},
		"ESR-V025": {
			{name: "spelled out variant", rec: withPerson(func(p *internalv1.Person) {
				p.ActualTerminationDate, p.LeavingReason = dayp("2024-03-31"), "End of Fixed Term Contract - External Rotation"
			})},
			{name: "case drift", rec: withPerson(func(p *internalv1.Person) {
				p.ActualTerminationDate, p.LeavingReason = dayp("2024-03-31"), "voluntary resignation - work life balance"
			})},
			{name: "local reason", rec: withPerson(func(p *internalv1.Person) {
				p.ActualTerminationDate, p.LeavingReason = dayp("2024-03-31"), "Moved away"
			}), want: []want{W("ESR-V025", "leaving_reason")}, value: "Moved away"},
		},
		"ESR-V026": {
			{name: "full grade", rec: entity(assignment(), nil)},
			{name: "no grade", rec: withAssignment(func(a *internalv1.Assignment) { a.Grade = internalv1.Grade{} })},
			{name: "no owner", rec: withAssignment(func(a *internalv1.Assignment) { a.Grade.Owner = "" }), want: []want{W("ESR-V026", "grade")}},
			{name: "description only", rec: withAssignment(func(a *internalv1.Assignment) { a.Grade = internalv1.Grade{Description: "Band 5"} }),
				want: []want{W("ESR-V026", "grade")}},
		},
		"ESR-V027": {
			{name: "EMP", rec: entity(person(), nil)},
			{name: "CWK", rec: withPerson(func(p *internalv1.Person) { p.SystemPersonType = "CWK" })},
			{name: "user type text", rec: withPerson(func(p *internalv1.Person) { p.SystemPersonType = "Employee" }),
				want: []want{W("ESR-V027", "system_person_type")}},
		},
	}
}

func niCases() []recordCase {
	var cs []recordCase
	ok := []string{"AB123456C", "AB123456", "AB 12 34 56 D", "ab123456a", "", "JZ000000A"}
	for _, ni := range ok {
		ni := ni
		cs = append(cs, recordCase{name: "valid " + ni, rec: withPerson(func(p *internalv1.Person) { p.NiNumber = ni })})
	}
	bad := map[string]string{
		"DA123456A": "first letter D", "FA123456A": "first letter F", "IA123456A": "first letter I", "QA123456A": "first letter Q",
		"UA123456A": "first letter U", "VA123456A": "first letter V", "AD123456A": "second letter D", "AO123456A": "second letter O",
		"AV123456A": "second letter V", "BG123456A": "unallocated BG", "GB123456A": "unallocated GB", "KN123456A": "unallocated KN",
		"NK123456A": "unallocated NK", "NT123456A": "unallocated NT", "ZZ123456A": "unallocated ZZ", "AB123456E": "suffix E",
		"AB12345C": "five digits", "A1123456C": "digit in prefix", "AB1234567": "seven digits",
	}
	for ni, why := range bad {
		ni := ni
		cs = append(cs, recordCase{name: why, rec: withPerson(func(p *internalv1.Person) { p.NiNumber = ni }),
			want: []want{E("ESR-V012", "ni_number")}, value: ni})
	}
	return cs
}

func TestRecordRules(t *testing.T) {
	s := Baseline()
	for code, cases := range recordCases() {
		for _, tc := range cases {
			t.Run(code+"/"+tc.name, func(t *testing.T) {
				vs := s.CheckRecord(tc.rec, internalv1.FileInfo{})
				if g := got(vs); !slices.Equal(g, tc.want) {
					t.Fatalf("violations = %v, want %v", g, tc.want)
				}
				for _, v := range vs {
					if v.Message != Message(v.Rule, v.Field) {
						t.Errorf("message %q is not the catalogue's", v.Message)
					}
				}
			})
		}
	}
}

// TestEveryRuleIsTested holds every validate-stage catalogue rule to an
// implementation and to at least one passing and one failing case: a rule
// added to the catalogue without a check fails here.
func TestEveryRuleIsTested(t *testing.T) {
	records := recordCases()
	cross := crossCases()
	failing := map[string]bool{}
	for _, cases := range records {
		for _, tc := range cases {
			for _, w := range tc.want {
				failing[w.code] = true
			}
		}
	}
	for _, tc := range cross {
		for _, ws := range tc.want {
			for _, w := range ws {
				failing[w.code] = true
			}
		}
	}
	for _, r := range Catalogue() {
		if r.Stage != StageValidate {
			continue
		}
		switch {
		case r.Code == codeErrorBudget: // File.Finish; TestBudgetRejectsFile
		case r.Code == "ESR-R008": // the validate stage's, for input it cannot decode
		case r.Category() == "cross-record":
			if checks[r.Code] != nil {
				t.Errorf("%s: cross-record rules are File's, not record checks", r.Code)
			}
			if !failing[r.Code] {
				t.Errorf("%s: no cross-record case makes File report it", r.Code)
			}
			if !slices.ContainsFunc(cross, func(c crossCase) bool { return c.rule == r.Code && c.passes() }) {
				t.Errorf("%s: no passing cross-record case", r.Code)
			}
		default:
			if checks[r.Code] == nil {
				t.Errorf("%s (%s): no record check", r.Code, r.Name)
				continue
			}
			if len(r.Applies) == 0 {
				t.Errorf("%s: a record rule must say which kinds it applies to", r.Code)
			}
			cases := records[r.Code]
			if !slices.ContainsFunc(cases, func(c recordCase) bool { return len(c.want) == 0 }) {
				t.Errorf("%s: no passing case", r.Code)
			}
			if r.Code != "ESR-V014" && !failing[r.Code] {
				t.Errorf("%s: no failing case", r.Code)
			}
		}
	}
}

// TestMessagesNeverQuoteTheValue: every failing case's messages are free of
// the value that broke the rule.
func TestMessagesNeverQuoteTheValue(t *testing.T) {
	s := Baseline()
	p := person()
	personal := []string{p.LastName, p.FirstName, p.NiNumber, "1980", p.OfficeEmail}
	for code, cases := range recordCases() {
		for _, tc := range cases {
			for _, v := range s.CheckRecord(tc.rec, internalv1.FileInfo{}) {
				for _, val := range append([]string{tc.value, strings.ReplaceAll(tc.value, "-", "")}, personal...) {
					if len(val) >= 3 && strings.Contains(v.Message, val) {
						t.Errorf("%s/%s: message %q quotes %q", code, tc.name, v.Message, val)
					}
				}
			}
		}
	}
}

func TestValidNHSNumber(t *testing.T) {
	for s, ok := range map[string]bool{
		"9434765919":   true, // the NHS Data Dictionary's example
		"943 476 5919": true,
		"4010232137":   true,
		"9434765918":   false, // wrong check digit
		"943476591":    false, // nine digits
		"94347659190":  false,
		"943476591X":   false,
		"0000000060":   false, // check digit would be 10: never issued
		"0000000000":   true,  // remainder 0 → check 11 → 0
		"":             false,
	} {
		if ValidNHSNumber(s) != ok {
			t.Errorf("ValidNHSNumber(%q) = %v, want %v", s, !ok, ok)
		}
	}
}

func TestValidNINumberTemporaryNotDoubleReported(t *testing.T) {
	// TN and OO break V012's prefix rules; they are V013's warning only.
	for i, ni := range []string{"TN060580M", "OO000000A", "CR123456"} {
		vs := Baseline().CheckRecord(withPerson(func(p *internalv1.Person) { p.NiNumber = ni }), internalv1.FileInfo{})
		if g := got(vs); !slices.Equal(g, []want{W("ESR-V013", "ni_number")}) {
			t.Errorf("case %d: %v", i, g)
		}
	}
}
