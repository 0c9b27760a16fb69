package normalise_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/normalise"
)

// Rows from esr/format/gov2/testdata (synthetic values).
const (
	lineLCA = "LCA~905512~412 z 0231 Ward 7 Admin~Ward 7 Admin~~Riverside Wing~Hospital Lane~~Northtown~Northshire~NT4 2QX~United Kingdom~01632 960111~~Yes~RXX01~~~~~~20240308 173102"
	lineORA = "ORA~7730112~412 Cardiology Outpatients~NHS_DE~20150401~~60021~20150401~~412C3310~7730001~RXX~905512~20240308 173102~Cardiology OP"
	linePOA = "POA~8812045~20190401~~5102277~5102277|Staff Nurse|N6A|Cardiology|~1~4311100~Nursing and Midwifery Registered~Staff Nurse~N6A~XR05~XR05|3~Not Applicable~7730112~Active~NONE~Yes~No~~~RXX~20240308 173102~Registered Nurses"
	linePRA = "PRA~20990417~20240311~~31004581~Ms.~Okafor~Adaeze~Ngozi~~Ada~~F~19880214~JT482913C~4017723~20240311~~~~~~~~~~~~~700011223344~~~~EMP~Employee~adaeze.okafor@example.nhs.uk~20160905~~20240309 101455~N~~British~~"
	lineASA = "ASA~20990417~41877120~20240311~~20240311~E~31004581~ACTIVE_ASSIGN~Active Assignment~~412 Monthly~Calendar Month~905512~N~20110032~41000219~30977120~~FT~Permanent~Yes~37.5~Week~37.5~1~~7730112~8812045~5102277|Staff Nurse|N6A|Cardiology|~NHS|XR05|Review Body Band 5~XR05|3~20240311~29970~Nursing and Midwifery Registered|Staff Nurse~412 z 0231 Ward 7|Standard User||~GTA||~No~~~~20250311~~~20240309 101455~~~N~~"
	linePHA = "PHA~20990417~50112093~M~07700 900417~20240311~~20240309 101455"
	lineADA = "ADA~20990417~60221877~~GB~Yes~14 Orchard Row~~~Northtown~Northshire~NT7 1AB~GB~20240311~~20240309 101455"
	lineCOA = "COA~20990417~41877120~77001234~20240311~~412~N~412C3310~4311100~~~1~~25.75~20240309 101455"
	lineVHA = "VHA~20990417~41877120~66001~20240311~~AB12 CDE~Ford~Focus~Private~20200101~20240309 101455~1596~Standard~Petrol"
)

var fileInfo = internalv1.FileInfo{Name: "GO_412_EXP_GOC_20240311_00000347.DAT", Sha256: strings.Repeat("ab", 32),
	Dialect: normalise.DialectGOv2, Kind: internalv1.FileKindChange, Sequence: 347, RunDate: day(2024, 3, 11), Size: 1234}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
func dayp(y int, m time.Month, d int) *time.Time {
	t := day(y, m, d)
	return &t
}
func london(y int, m time.Month, d, h, mi, s int) *time.Time {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err)
	}
	t := time.Date(y, m, d, h, mi, s, 0, loc).UTC()
	return &t
}
func fp(f float64) *float64 { return &f }

// rawOf builds the RawRecord ingest sends for a file line.
func rawOf(line string, no int64) internalv1.RawRecord {
	f := strings.Split(line, "~")
	return internalv1.RawRecord{Kind: internalv1.RawKindRecord, Tenant: "RXX", Vpd: "412", File: fileInfo, Line: no,
		RecordType: f[0], Fields: f[1:], Problems: []internalv1.Problem{}}
}

// with returns line with column col (0 = record type) set to v.
func with(line string, col int, v string) string {
	f := strings.Split(line, "~")
	f[col] = v
	return strings.Join(f, "~")
}

func mapOK(t *testing.T, line string, m tenant.Mapping) normalise.Outcome {
	t.Helper()
	out := normalise.MapRow(rawOf(line, 7), m)
	if out.Kind != normalise.KindEntity && out.Kind != normalise.KindCorrection {
		t.Fatalf("MapRow(%.3s) = %v %+v, want an entity", line, out.Kind, out.Violations)
	}
	return out
}

func TestMapEveryEntityKind(t *testing.T) {
	tests := []struct {
		name string
		line string
		kind internalv1.EntityKind
		want any
	}{
		{"person", linePRA, internalv1.EntityKindPerson, internalv1.Person{
			Vpd: "412", PersonID: 20990417, EffectiveStart: day(2024, 3, 11), EmployeeNumber: "31004581",
			NhsUniqueID: "4017723", CrsUUID: "700011223344", Title: "Ms.", LastName: "Okafor", FirstName: "Adaeze",
			MiddleNames: "Ngozi", PreferredName: "Ada", Gender: "F", DateOfBirth: dayp(1988, 2, 14), NiNumber: "JT482913C",
			HireDate: dayp(2024, 3, 11), SystemPersonType: "EMP", UserPersonType: "Employee",
			OfficeEmail: "adaeze.okafor@example.nhs.uk", NhsStartDate: dayp(2016, 9, 5), LastUpdate: london(2024, 3, 9, 10, 14, 55),
		}},
		{"assignment", lineASA, internalv1.EntityKindAssignment, internalv1.Assignment{
			Vpd: "412", PersonID: 20990417, AssignmentID: 41877120, EffectiveStart: day(2024, 3, 11),
			EarliestStart: dayp(2024, 3, 11), AssignmentType: "E", AssignmentNumber: "31004581",
			Status: internalv1.AssignmentStatusActiveAssign, UserStatus: "Active Assignment", Primary: true,
			Category: "Permanent", EmployeeCategory: "FT", Hours: fp(37.5), Fte: fp(1), OrganisationID: 7730112,
			LocationID: 905512, PositionID: 8812045,
			Position:   internalv1.PositionRef{Number: "5102277", Title: "Staff Nurse", OccupationCode: "N6A", Area: "Cardiology"},
			Grade:      internalv1.Grade{Owner: "NHS", Code: "XR05", Description: "Review Body Band 5"},
			StaffGroup: "Nursing and Midwifery Registered", JobRole: "Staff Nurse",
			SupervisorPersonID: 20110032, SupervisorAssignmentID: 41000219, SupervisorAssignmentNumber: "30977120",
			LastUpdate: london(2024, 3, 9, 10, 14, 55),
		}},
		{"position", linePOA, internalv1.EntityKindPosition, internalv1.Position{
			Vpd: "412", PositionID: 8812045, EffectiveFrom: day(2019, 4, 1), Number: "5102277", Title: "Staff Nurse",
			OccupationCode: "N6A", Area: "Cardiology", BudgetedFte: fp(1), StaffGroup: "Nursing and Midwifery Registered",
			JobRole: "Staff Nurse", Payscale: "XR05", GradeStep: "XR05|3", OrganisationID: 7730112, HiringStatus: "Active",
			WorkplaceOrgCode: "RXX", LastUpdate: london(2024, 3, 8, 17, 31, 2),
		}},
		{"organisation", lineORA, internalv1.EntityKindOrganisation, internalv1.Organisation{
			Vpd: "412", OrganisationID: 7730112, Name: "412 Cardiology Outpatients", Type: "NHS_DE",
			EffectiveFrom: day(2015, 4, 1), CostCentre: "412C3310", ParentOrganisationID: 7730001, NacsCode: "RXX",
			LocationID: 905512, LastUpdate: london(2024, 3, 8, 17, 31, 2),
		}},
		{"location", lineLCA, internalv1.EntityKindLocation, internalv1.Location{
			Vpd: "412", LocationID: 905512, Code: "412 z 0231 Ward 7 Admin", Description: "Ward 7 Admin",
			SiteCode: "RXX01", Town: "Northtown", Postcode: "NT4 2QX", LastUpdate: london(2024, 3, 8, 17, 31, 2),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := mapOK(t, tt.line, tenant.Mapping{})
			if out.Kind != normalise.KindEntity || out.EntityKind != tt.kind {
				t.Fatalf("kind = %v/%s, want entity/%s", out.Kind, out.EntityKind, tt.kind)
			}
			if !reflect.DeepEqual(out.Entity, tt.want) {
				t.Errorf("entity\n got %+v\nwant %+v", out.Entity, tt.want)
			}
		})
	}
}

// TestMapEveryDateField sets each date column to its own day and checks the
// field it lands in, as a midnight-UTC civil date.
func TestMapEveryDateField(t *testing.T) {
	type getter func(any) *time.Time
	pt := func(v time.Time) *time.Time { return &v }
	tests := []struct {
		line string
		col  int
		get  getter
	}{
		{linePRA, 2, func(e any) *time.Time { return pt(e.(internalv1.Person).EffectiveStart) }},
		{linePRA, 3, func(e any) *time.Time { return e.(internalv1.Person).EffectiveEnd }},
		{linePRA, 13, func(e any) *time.Time { return e.(internalv1.Person).DateOfBirth }},
		{linePRA, 16, func(e any) *time.Time { return e.(internalv1.Person).HireDate }},
		{linePRA, 17, func(e any) *time.Time { return e.(internalv1.Person).ActualTerminationDate }},
		{linePRA, 36, func(e any) *time.Time { return e.(internalv1.Person).NhsStartDate }},
		{lineASA, 3, func(e any) *time.Time { return pt(e.(internalv1.Assignment).EffectiveStart) }},
		{lineASA, 4, func(e any) *time.Time { return e.(internalv1.Assignment).EffectiveEnd }},
		{lineASA, 5, func(e any) *time.Time { return e.(internalv1.Assignment).EarliestStart }},
		{lineASA, 40, func(e any) *time.Time { return e.(internalv1.Assignment).ContractEndDate }},
		{lineASA, 45, func(e any) *time.Time { return e.(internalv1.Assignment).LastWorkingDay }},
		{lineASA, 48, func(e any) *time.Time { return e.(internalv1.Assignment).FinalAssignmentEndDate }},
		{linePOA, 2, func(e any) *time.Time { return pt(e.(internalv1.Position).EffectiveFrom) }},
		{linePOA, 3, func(e any) *time.Time { return e.(internalv1.Position).EffectiveTo }},
		{lineORA, 4, func(e any) *time.Time { return pt(e.(internalv1.Organisation).EffectiveFrom) }},
		{lineORA, 5, func(e any) *time.Time { return e.(internalv1.Organisation).EffectiveTo }},
		{lineLCA, 4, func(e any) *time.Time { return e.(internalv1.Location).InactiveDate }},
	}
	for i, tt := range tests {
		want := day(2030, time.Month(1+i%12), 1+i)
		line := with(tt.line, tt.col, want.Format("20060102"))
		out := mapOK(t, line, tenant.Mapping{})
		got := tt.get(out.Entity)
		if got == nil || !reflect.DeepEqual(*got, want) {
			t.Errorf("%.3s column %d: got %v, want %v (midnight UTC)", tt.line, tt.col, got, want)
		}
		// Oracle's end of time means "no date".
		if tt.col != 2 || !strings.HasPrefix(tt.line, "P") {
			out = mapOK(t, with(tt.line, tt.col, "47121231"), tenant.Mapping{})
			if got := tt.get(out.Entity); got != nil && !got.IsZero() {
				t.Errorf("%.3s column %d: open-ended date mapped to %v", tt.line, tt.col, got)
			}
		}
	}
}

func TestMapOptionalNumbersAndGender(t *testing.T) {
	out := mapOK(t, with(with(lineASA, 22, ""), 25, "0"), tenant.Mapping{})
	a := out.Entity.(internalv1.Assignment)
	if a.Hours != nil || a.Fte == nil || *a.Fte != 0 {
		t.Errorf("hours %v fte %v: want nil hours (empty) and fte 0 (zero is a value)", a.Hours, a.Fte)
	}
	for in, want := range map[string]string{"F": "F", "Female": "F", "MALE": "M", "X": "X", "": ""} {
		p := mapOK(t, with(linePRA, 12, in), tenant.Mapping{}).Entity.(internalv1.Person)
		if p.Gender != want {
			t.Errorf("gender %q -> %q, want %q", in, p.Gender, want)
		}
	}
	a = mapOK(t, with(lineASA, 8, "FOO"), tenant.Mapping{}).Entity.(internalv1.Assignment)
	if a.Status != internalv1.AssignmentStatusUnknown {
		t.Errorf("status FOO -> %s, want UNKNOWN", a.Status)
	}
}

func TestMapDeleteRows(t *testing.T) {
	tests := []struct {
		line string
		kind internalv1.EntityKind
		id   int64
	}{
		{"ASD~41000876", internalv1.EntityKindAssignment, 41000876},
		{"PRD~20999999", internalv1.EntityKindPerson, 20999999},
		{"POD~8812999", internalv1.EntityKindPosition, 8812999},
		{"ORD~7730999", internalv1.EntityKindOrganisation, 7730999},
		{"LCD~905599", internalv1.EntityKindLocation, 905599},
	}
	for _, tt := range tests {
		out := normalise.MapRow(rawOf(tt.line, 9), tenant.Mapping{})
		want := internalv1.Correction{Vpd: "412", EntityKind: tt.kind, ID: tt.id, RecordType: tt.line[:3]}
		if out.Kind != normalise.KindCorrection || out.EntityKind != tt.kind || !reflect.DeepEqual(out.Entity, want) {
			t.Errorf("%s: got %v %+v, want correction %+v", tt.line, out.Kind, out.Entity, want)
		}
	}
	for _, line := range []string{"PHD~50112999", "ADD~60221999", "VHD~66002", "COD~77001299"} {
		if out := normalise.MapRow(rawOf(line, 9), tenant.Mapping{}); out.Kind != normalise.KindIgnored {
			t.Errorf("%s: %v, want ignored (segment not in the model)", line, out.Kind)
		}
	}
}

func TestMapProblemsBecomeViolations(t *testing.T) {
	raw := rawOf(with(linePHA, 5, "20240231"), 12)
	raw.Problems = []internalv1.Problem{
		{Rule: "date", Column: 5, Field: "effective_start", Message: `"20240231" is not a YYYYMMDD date`},
		{Rule: "timestamp", Column: 7, Field: "last_update", Message: `"20240309 251455" is not a timestamp`},
	}
	out := normalise.MapRow(raw, tenant.Mapping{})
	want := []internalv1.Violation{
		{Rule: "ESR-V001", Field: "effective_start", Message: "effective_start: not a valid YYYYMMDD date", Severity: internalv1.SeverityError},
		{Rule: "ESR-V002", Field: "last_update", Message: "last_update: not a valid YYYYMMDD HHMMSS timestamp", Severity: internalv1.SeverityError},
	}
	if out.Kind != normalise.KindQuarantined || !reflect.DeepEqual(out.Violations, want) {
		t.Fatalf("got %v %+v, want quarantined %+v", out.Kind, out.Violations, want)
	}
	for _, v := range out.Violations {
		if strings.Contains(v.Message, "2024") {
			t.Errorf("message quotes a value: %q", v.Message)
		}
	}
}

// TestMapProblemCodes: a problem is reported under its catalogue code
// whether ingest named it by slug or by code; a slug the catalogue lacks
// keeps its name and a message that says what failed.
func TestMapProblemCodes(t *testing.T) {
	for _, tt := range []struct {
		rule string
		want internalv1.Violation
	}{
		{"column-count", internalv1.Violation{Rule: "ESR-R002", Field: "f", Message: "f: wrong number of columns", Severity: internalv1.SeverityError}},
		{"ESR-R002", internalv1.Violation{Rule: "ESR-R002", Field: "f", Message: "f: wrong number of columns", Severity: internalv1.SeverityError}},
		{"encoding", internalv1.Violation{Rule: "ESR-F019", Field: "f", Message: "f: text is not valid in the file's encoding", Severity: internalv1.SeverityError}},
		{"required", internalv1.Violation{Rule: "ESR-R041", Field: "f", Message: "f: required value is empty", Severity: internalv1.SeverityError}},
		{"read", internalv1.Violation{Rule: "read", Field: "f", Message: "f: the file could not be read", Severity: internalv1.SeverityError}},
		{"no-such-rule", internalv1.Violation{Rule: "no-such-rule", Field: "f", Message: "f: parse rule no-such-rule failed", Severity: internalv1.SeverityError}},
	} {
		raw := rawOf(linePHA, 12)
		raw.Problems = []internalv1.Problem{{Rule: tt.rule, Column: 1, Field: "f", Message: "as the parser said it"}}
		out := normalise.MapRow(raw, tenant.Mapping{})
		if out.Kind != normalise.KindQuarantined || !reflect.DeepEqual(out.Violations, []internalv1.Violation{tt.want}) {
			t.Errorf("%s: %v %+v, want %+v", tt.rule, out.Kind, out.Violations, tt.want)
		}
	}
}

func TestMapRowsFailingDecodeOrChecks(t *testing.T) {
	tests := []struct {
		name, line, rule, field string
	}{
		// Rows ingest passed clean but that this parser rejects.
		{"bad date", with(linePRA, 13, "19881341"), "ESR-V001", "date_of_birth"},
		{"bad id", with(lineASA, 2, "41X77120"), "ESR-V003", "assignment_id"},
		{"short row", strings.Join(strings.Split(linePOA, "~")[:20], "~"), "ESR-R002", ""},
		{"bad delete id", "ASD~X1", "ESR-R003", "id"},
		{"unknown record type", "ZZA~1~2", "ESR-R001", ""},
	}
	for _, tt := range tests {
		out := normalise.MapRow(rawOf(tt.line, 3), tenant.Mapping{})
		if out.Kind != normalise.KindQuarantined || len(out.Violations) != 1 ||
			out.Violations[0].Rule != tt.rule || out.Violations[0].Field != tt.field {
			t.Errorf("%s: got %v %+v, want one %s/%s violation", tt.name, out.Kind, out.Violations, tt.rule, tt.field)
		}
	}
}

func TestMapIgnoredRowsCheckTheirKey(t *testing.T) {
	for _, line := range []string{linePHA, lineADA, lineCOA, lineVHA} {
		if out := normalise.MapRow(rawOf(line, 4), tenant.Mapping{}); out.Kind != normalise.KindIgnored {
			t.Errorf("%.3s: %v %+v, want ignored", line, out.Kind, out.Violations)
		}
		out := normalise.MapRow(rawOf(with(line, 1, ""), 4), tenant.Mapping{})
		want := []internalv1.Violation{{Rule: "ESR-R007", Field: "person_id", Message: "person_id: required key is empty", Severity: internalv1.SeverityError}}
		if out.Kind != normalise.KindQuarantined || !reflect.DeepEqual(out.Violations, want) {
			t.Errorf("%.3s without person id: %v %+v, want %+v", line, out.Kind, out.Violations, want)
		}
	}
}

func TestMapTenantOverrides(t *testing.T) {
	m := tenant.Mapping{IgnoreRecordTypes: []string{"poa", "ASD"},
		StaffGroupAliases: map[string]string{"nursing and midwifery registered": "Nursing and Midwifery Registered (national)"}}
	if out := normalise.MapRow(rawOf(linePOA, 4), m); out.Kind != normalise.KindIgnored {
		t.Errorf("POA with ignore override: %v, want ignored", out.Kind)
	}
	if out := normalise.MapRow(rawOf("ASD~41000876", 4), m); out.Kind != normalise.KindIgnored {
		t.Errorf("ASD with ignore override: %v, want ignored", out.Kind)
	}
	out := normalise.MapRow(rawOf(with(linePOA, 1, ""), 4), m)
	if out.Kind != normalise.KindQuarantined || out.Violations[0].Rule != "ESR-R007" || out.Violations[0].Field != "position_id" {
		t.Errorf("ignored POA without key: %v %+v, want ESR-R007/position_id", out.Kind, out.Violations)
	}
	a := mapOK(t, lineASA, m).Entity.(internalv1.Assignment)
	if a.StaffGroup != "Nursing and Midwifery Registered (national)" {
		t.Errorf("staff group alias not applied: %q", a.StaffGroup)
	}
	// The same rows under the baseline mapping.
	if out := normalise.MapRow(rawOf(linePOA, 4), tenant.Mapping{}); out.Kind != normalise.KindEntity {
		t.Errorf("POA under baseline: %v, want entity", out.Kind)
	}
}

func TestMapDialects(t *testing.T) {
	raw := rawOf(linePRA, 5)
	raw.File.Dialect = "gov2"
	if out := normalise.MapRow(raw, tenant.Mapping{}); out.Kind != normalise.KindEntity {
		t.Errorf("dialect gov2: %v, want entity", out.Kind)
	}
	// GO v1 rows map under both spellings; a v2 row in a v1 file is an
	// unknown record type there.
	for _, d := range []string{"go-v1", "gov1"} {
		v1 := v1Raw(v1PER, 2, v1File)
		v1.File.Dialect = d
		if out := normalise.MapRow(v1, tenant.Mapping{}); out.Kind != normalise.KindEntity {
			t.Errorf("dialect %s: %v, want entity", d, out.Kind)
		}
		raw.File.Dialect = d
		if out := normalise.MapRow(raw, tenant.Mapping{}); out.Kind != normalise.KindQuarantined || out.Violations[0].Rule != "ESR-R001" {
			t.Errorf("PRA in a %s file: %v %+v, want ESR-R001", d, out.Kind, out.Violations)
		}
	}
	for _, d := range []string{"csv", ""} {
		raw.File.Dialect = d
		out := normalise.MapRow(raw, tenant.Mapping{})
		want := []internalv1.Violation{{Rule: "ESR-R006", Message: "file dialect is not one normalise maps", Severity: internalv1.SeverityError}}
		if out.Kind != normalise.KindQuarantined || !reflect.DeepEqual(out.Violations, want) {
			t.Errorf("dialect %q: %v %+v, want %+v", d, out.Kind, out.Violations, want)
		}
	}
}
