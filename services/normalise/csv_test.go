package normalise_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/esrflow/esrflow/esr/format/csvfeed"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/normalise"
)

// csvTenant is RXX with a staff list in Oracle dates whose status words
// are the trust's own; it maps no person or assignment id.
func csvTenant(t *testing.T) tenant.Tenant {
	t.Helper()
	cols := []csvfeed.Column{
		{Header: "Employee Number", Field: "employee_number", Required: true},
		{Header: "Surname", Field: "last_name", Sensitive: true},
		{Header: "NI", Field: "ni_number", Sensitive: true},
		{Header: "Hire Date", Field: "hire_date", Kind: "date"},
		{Header: "Leaving Date", Field: "termination_date", Kind: "date"},
		{Header: "Leaving Reason", Field: "leaving_reason"},
		{Header: "Assignment Number", Field: "assignment_number", Required: true},
		{Header: "Status", Field: "assignment_status", Required: true},
		{Header: "Type", Field: "assignment_type"},
		{Header: "Start", Field: "assignment_start", Kind: "date"},
		{Header: "Primary", Field: "primary", Kind: "flag"},
		{Header: "Org", Field: "organisation_id", Kind: "integer"},
		{Header: "Title", Field: "position_title"},
		{Header: "Staff Group", Field: "staff_group"},
		{Header: "FTE", Field: "fte", Kind: "decimal"},
		{Header: "Last Day", Field: "last_working_day", Kind: "date", DateLayout: "2006-01-02"},
	}
	set, err := tenant.New(tenant.Tenant{Code: "RXX", VPDs: []string{"412"},
		Mapping: tenant.Mapping{StaffGroupAliases: map[string]string{"Nurses": "Nursing and Midwifery Registered"}},
		Feeds: tenant.Feeds{CSV: tenant.CSVFeed{Lists: []tenant.CSVList{{
			Config: csvfeed.Config{Name: "staff-list", FileNamePattern: `STAFF_(?P<date>\d{8})\.csv`, DateLayout: "02-Jan-2006", Columns: cols},
			Values: map[string]map[string]string{
				"assignment_status": {"In Post": "ACTIVE_ASSIGN", "Maternity": "SUSP_ASSIGN", "Left": "TERM_ASSIGN"},
				"assignment_type":   {"Employee": "E", "Applicant": "A"},
			},
		}}}}})
	if err != nil {
		t.Fatal(err)
	}
	rxx, _ := set.Get("RXX")
	return rxx
}

var csvInfo = internalv1.FileInfo{Name: "STAFF_20241130.csv", Sha256: strings.Repeat("cd", 32), Dialect: "csv:staff-list",
	Kind: internalv1.FileKindFull, RunDate: day(2024, 11, 30), Size: 999}

func csvRaw(typ string, fields ...string) internalv1.RawRecord {
	return internalv1.RawRecord{Kind: internalv1.RawKindRecord, Tenant: "RXX", Vpd: "412", File: csvInfo, Line: 7,
		RecordType: typ, Fields: fields}
}

// A row: employee, surname, NI, hire, leaving date, reason, number,
// status, type, start, primary, org, title, staff group, FTE, last day.
var csvRowFields = []string{"31004581", "Okafor", "JT482913C", "11-Mar-2024", "30-Nov-2024", "Resignation",
	"31004581-2", "Left", "Employee", "01-Apr-2024", "Y", "7730112", "Staff Nurse", " Nurses", "0.8", "2024-11-29"}

func TestCSVPersonRow(t *testing.T) {
	out := normalise.MapRowFor(csvRaw("CSV-PER", csvRowFields...), csvTenant(t))
	want := internalv1.Person{Vpd: "412", PersonID: 31004581, EffectiveStart: day(2024, 3, 11), EmployeeNumber: "31004581",
		LastName: "Okafor", NiNumber: "JT482913C", HireDate: dayp(2024, 3, 11), ActualTerminationDate: dayp(2024, 11, 30),
		LeavingReason: "Resignation"}
	if out.Kind != normalise.KindEntity || out.EntityKind != internalv1.EntityKindPerson || !reflect.DeepEqual(out.Entity, want) {
		t.Fatalf("got %v %s %+v\nwant %+v", out.Kind, out.EntityKind, out.Entity, want)
	}
}

func TestCSVAssignmentRow(t *testing.T) {
	out := normalise.MapRowFor(csvRaw("CSV-ASG", csvRowFields...), csvTenant(t))
	fte := 0.8
	want := internalv1.Assignment{Vpd: "412", PersonID: 31004581, AssignmentID: 3100458102, EffectiveStart: day(2024, 4, 1),
		EarliestStart: dayp(2024, 4, 1), AssignmentType: "E", AssignmentNumber: "31004581-2",
		Status: internalv1.AssignmentStatusTermAssign, UserStatus: "Left", Primary: true, Fte: &fte, OrganisationID: 7730112,
		Position: internalv1.PositionRef{Title: "Staff Nurse"}, StaffGroup: "Nursing and Midwifery Registered",
		LastWorkingDay: dayp(2024, 11, 29)}
	if out.Kind != normalise.KindEntity || out.EntityKind != internalv1.EntityKindAssignment || !reflect.DeepEqual(out.Entity, want) {
		t.Fatalf("got %v %s %+v\nwant %+v", out.Kind, out.EntityKind, out.Entity, want)
	}
}

func TestCSVStatusWords(t *testing.T) {
	rxx := csvTenant(t)
	for word, want := range map[string]internalv1.AssignmentStatus{
		"In Post": internalv1.AssignmentStatusActiveAssign, "maternity": internalv1.AssignmentStatusSuspAssign,
		"ACTIVE_ASSIGN": internalv1.AssignmentStatusActiveAssign, // a canonical value passes as itself
		"On Loan":       internalv1.AssignmentStatusUnknown,      // unmapped: never employed, never terminated
	} {
		f := append([]string(nil), csvRowFields...)
		f[7] = word
		out := normalise.MapRowFor(csvRaw("CSV-ASG", f...), rxx)
		a, ok := out.Entity.(internalv1.Assignment)
		if !ok || a.Status != want || a.UserStatus != word {
			t.Errorf("%q: %+v, want status %s", word, out, want)
		}
	}
	f := append([]string(nil), csvRowFields...)
	f[8], f[9] = "Applicant", "" // no start: the list's run date
	a := normalise.MapRowFor(csvRaw("CSV-ASG", f...), rxx).Entity.(internalv1.Assignment)
	if a.AssignmentType != "A" || a.EarliestStart != nil || !a.EffectiveStart.Equal(day(2024, 11, 30)) {
		t.Errorf("applicant without start: type %q earliest %v start %v", a.AssignmentType, a.EarliestStart, a.EffectiveStart)
	}
}

func TestCSVRowsQuarantined(t *testing.T) {
	rxx := csvTenant(t)
	bad := func(i int, v string) []string {
		f := append([]string(nil), csvRowFields...)
		f[i] = v
		return f
	}
	other := rxx
	other.Feeds.CSV.Lists = nil
	for name, c := range map[string]struct {
		raw  internalv1.RawRecord
		t    tenant.Tenant
		rule string
	}{
		"employee number not numeric": {csvRaw("CSV-PER", bad(0, "E1004581")...), rxx, "ESR-R040"},
		"assignment number suffix":    {csvRaw("CSV-ASG", bad(6, "31004581-X")...), rxx, "ESR-R040"},
		"impossible date":             {csvRaw("CSV-ASG", bad(9, "31-Feb-2024")...), rxx, "ESR-V001"},
		"unknown record type":         {csvRaw("CSV-XXX", csvRowFields...), rxx, "ESR-R001"},
		"list no longer configured":   {csvRaw("CSV-ASG", csvRowFields...), other, "ESR-R006"},
	} {
		out := normalise.MapRowFor(c.raw, c.t)
		if out.Kind != normalise.KindQuarantined || len(out.Violations) != 1 || out.Violations[0].Rule != c.rule {
			t.Errorf("%s: %+v, want quarantined %s", name, out, c.rule)
		}
	}
}
