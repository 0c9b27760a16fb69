package gov1_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov1"
	"github.com/esrflow/esrflow/esr/format/internal/formattest"
)

const testName = "GO_412_ASG_20240310_Full_00000052.DAT"

func fixedNow() time.Time { return time.Date(2024, 3, 11, 12, 0, 0, 0, format.London()) }

func opts() gov1.Options { return gov1.Options{Now: fixedNow} }

// Invented rows (ESR-FORMATS §3.1).
const (
	rowPER = `PER,20990417,31004581,"Ms.","Okafor","Adaeze","Ngozi","","Female",19880214,JT482913C,20240311,,Yes,"14 Orchard Row","","Northtown","Northshire","NT7 1AB","GB","","","","07700 900417","adaeze.okafor@example.nhs.uk","","",,"",""`
	rowASG = `ASG,41877120,31004581,20240311,,"Active Assignment",Contracted,"412 Monthly","Calendar Month","Riverside Wing","Hospital Lane","Northtown","NSH","NT4 2QX","GB",0,30977120,30977120,"Mensah, Mr. Kwame","AfC Annual Leave Accrual 1 NHS",FT,"Permanent",1,37.5,"Week",37.5,,,"","","","Availability Schedule","412 Cardiology Outpatients",RXX,"5102277|Staff Nurse|N6A|Cardiology|","Staff Nurse","N6A","412 z 0231 Ward 7 Admin","NHS|XR05|Review Body Band 5","Nursing and Midwifery Registered|Staff Nurse","412 z 0231 Ward 7|Standard User||","GTA||",,"",""`
)

func wrap(body ...string) string {
	n := 0
	for _, l := range body {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	lines := append([]string{"HDR," + testName}, body...)
	lines = append(lines, fmt.Sprintf("FTR,%s,%d", testName, n))
	return strings.Join(lines, "\n") + "\n"
}

func readAll(t *testing.T, name, content string, o gov1.Options) (*gov1.Reader, []format.Row, error) {
	t.Helper()
	return formattest.ReadAll(gov1.NewReader(name, strings.NewReader(content), o))
}

type want = formattest.Want

var requireFileError = formattest.RequireFileError

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestFixture(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", testName))
	require.NoError(t, err)
	r, rows, err := readAll(t, testName, string(b), opts())
	require.NoError(t, err)
	require.Len(t, rows, 4)
	for _, row := range rows {
		require.Empty(t, row.Problems, "line %d: %v", row.Line, row.Problems)
	}
	s := r.Summary()
	require.Equal(t, map[string]int{"PER": 2, "ASG": 2}, s.RowsByType)
	require.Equal(t, 4, s.TrailerCount)
	require.Equal(t, 6, s.Records)
	h := r.Header()
	require.Equal(t, testName, h.FileName)
	require.Equal(t, format.FileName{Name: testName, VPD: "412", SubFile: "ASG", Kind: format.ExtractFull, KindCode: "Full",
		Date: day(2024, 3, 10), Sequence: 52, Dialect: format.DialectGOv1}, h.Name)

	rec, err := gov1.Decode(rows[0])
	require.NoError(t, err)
	p := rec.(gov1.PersonRow)
	require.Equal(t, int64(20990417), p.PersonID)
	require.Equal(t, "31004581", p.EmployeeNumber)
	require.Equal(t, "Okafor", p.LastName)
	require.Equal(t, "Female", p.Gender)
	require.Equal(t, day(1988, 2, 14), p.DateOfBirth)
	require.Equal(t, day(2024, 3, 11), p.HireDate)
	require.True(t, p.CurrentEmployee)
	require.Equal(t, "07700 900417", p.MobilePhone)
	require.Equal(t, "adaeze.okafor@example.nhs.uk", p.OfficeEmail)

	rec, err = gov1.Decode(rows[1])
	require.NoError(t, err)
	a := rec.(gov1.AssignmentRow)
	require.Equal(t, int64(41877120), a.AssignmentID)
	require.Equal(t, "Mensah, Mr. Kwame", a.SupervisorFullName, "quoted comma kept inside the field")
	require.False(t, a.Supervisor)
	require.True(t, a.Primary)
	require.Equal(t, 37.5, a.NormalHours)
	require.Equal(t, "RXX", a.LegalEntity)
	require.Equal(t, format.PositionName{Number: "5102277", Title: "Staff Nurse", OccupationCode: "N6A", Area: "Cardiology"}, a.PositionName)
	require.Equal(t, format.Grade{Owner: "NHS", Code: "XR05", Description: "Review Body Band 5"}, a.Grade)
	require.Equal(t, format.JobName{StaffGroup: "Nursing and Midwifery Registered", JobRole: "Staff Nurse"}, a.JobName)
	require.Equal(t, "412 z 0231 Ward 7", a.PeopleGroup.Name())
	require.Equal(t, "Availability Schedule", a.AvailabilitySchedule)

	rec, err = gov1.Decode(rows[3])
	require.NoError(t, err)
	require.True(t, rec.(gov1.AssignmentRow).Supervisor)
}

func TestQuotedFields(t *testing.T) {
	per := strings.Replace(rowPER, `"Ngozi"`, `"Ngozi ""Ada"", Jr"`, 1)
	_, rows, err := readAll(t, testName, wrap(per), opts())
	require.NoError(t, err)
	require.Empty(t, rows[0].Problems)
	require.Len(t, rows[0].Fields, 30)
	require.Equal(t, `Ngozi "Ada", Jr`, rows[0].Fields[6])
}

func TestCustomDelimiter(t *testing.T) {
	conv := func(s string) string { return strings.ReplaceAll(s, ",", "|") }
	// A pipe delimiter would clash with composites; ';' is what trusts pick.
	conv = func(s string) string {
		var b strings.Builder
		in := false
		for _, c := range s {
			switch {
			case c == '"':
				in = !in
			case c == ',' && !in:
				c = ';'
			}
			b.WriteRune(c)
		}
		return b.String()
	}
	content := conv(wrap(rowPER, rowASG))
	o := opts()
	o.Delimiter = ';'
	_, rows, err := readAll(t, testName, content, o)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Empty(t, rows[1].Problems)
	require.Equal(t, "Mensah, Mr. Kwame", rows[1].Fields[18])

	_, _, err = readAll(t, testName, content, opts())
	requireFileError(t, err, want{Line: 1, RecordType: "HDR", Rule: "delimiter"})
}

func TestFileLevelFailures(t *testing.T) {
	hdr := "HDR," + testName
	tests := []struct {
		name    string
		file    string
		content string
		opts    gov1.Options
		want    want
	}{
		{"bad file name", "GO_412_ASG_20240310_Full_0000052.DAT", wrap(), opts(), want{Rule: "file-name"}},
		{"v2 file name", "GO_412_EXP_GOC_20240311_00000347.DAT", wrap(), opts(), want{Rule: "file-name"}},
		{"empty", testName, "", opts(), want{Rule: "missing-header"}},
		{"missing header", testName, rowPER + "\nFTR," + testName + ",1\n", opts(), want{Line: 1, Rule: "missing-header"}},
		{"bad delimiter", testName, "HDR~" + testName + "\n", opts(), want{Line: 1, RecordType: "HDR", Rule: "delimiter"}},
		{"header without name", testName, "HDR,\nFTR,,0\n", opts(), want{Line: 1, RecordType: "HDR", Rule: "header-format"}},
		{"header file name differs", "GO_412_ASG_20240310_Full_00000053.DAT", wrap(), opts(), want{Line: 1, RecordType: "HDR", Column: 1, Field: "file_name", Rule: "header-file-name"}},
		{"vpd mismatch", "GO_413_ASG_20240310_Full_00000052.DAT", wrap(), gov1.Options{Now: fixedNow, RelaxHeaderFileName: true},
			want{Line: 1, RecordType: "HDR", Column: 1, Field: "file_name", Rule: "vpd-mismatch"}},
		{"unexpected vpd", testName, wrap(), gov1.Options{Now: fixedNow, ExpectedVPDs: []string{"413"}}, want{Field: "vpd", Rule: "unexpected-vpd"}},
		{"date in the future", testName, wrap(), gov1.Options{Now: func() time.Time { return time.Date(2024, 3, 8, 0, 0, 0, 0, time.UTC) }}, want{Rule: "run-date-future"}},
		{"date too old", testName, wrap(), gov1.Options{Now: fixedNow, MaxRunAge: 24 * time.Hour}, want{Rule: "run-date-stale"}},
		{"duplicate header", testName, hdr + "\n" + hdr + "\n", opts(), want{Line: 2, RecordType: "HDR", Rule: "duplicate-header"}},
		{"missing footer", testName, hdr + "\n" + rowPER + "\n", opts(), want{Line: 2, Rule: "missing-trailer"}},
		{"line after footer", testName, wrap(rowPER) + rowASG + "\n", opts(), want{Line: 4, Rule: "after-trailer"}},
		{"wrong count", testName, hdr + "\n" + rowPER + "\n" + rowASG + "\nFTR," + testName + ",4\n", opts(),
			want{Line: 4, RecordType: "FTR", Column: 2, Field: "record_count", Rule: "trailer-count"}},
		{"count counts all lines", testName, hdr + "\n" + rowPER + "\n" + rowASG + "\nFTR," + testName + ",4\n", opts(),
			want{Line: 4, RecordType: "FTR", Column: 2, Field: "record_count", Rule: "trailer-count"}},
		{"footer without count", testName, hdr + "\nFTR," + testName + "\n", opts(), want{Line: 2, RecordType: "FTR", Column: 2, Field: "record_count", Rule: "trailer-count"}},
		{"footer count not numeric", testName, hdr + "\nFTR," + testName + ",x\n", opts(), want{Line: 2, RecordType: "FTR", Column: 2, Field: "record_count", Rule: "trailer-count"}},
		{"footer names another file", testName, hdr + "\nFTR,GO_412_ASG_20240310_Full_00000051.DAT,0\n", opts(), want{Line: 2, RecordType: "FTR", Column: 1, Field: "file_name", Rule: "trailer-file-name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(t, tc.file, tc.content, tc.opts)
			e := requireFileError(t, err, tc.want)
			require.Equal(t, tc.file, e.File)
		})
	}
}

func TestRowProblems(t *testing.T) {
	setCol := func(row string, i int, v string) string {
		f, _, _ := format.SplitQuoted(row, ',', nil)
		f[i] = v
		for j := range f {
			if j != i && strings.ContainsAny(f[j], `,"`) {
				f[j] = `"` + strings.ReplaceAll(f[j], `"`, `""`) + `"`
			}
		}
		return strings.Join(f, ",")
	}
	tests := []struct {
		name string
		row  string
		want want
		msg  string
	}{
		{"unknown type", "ABS,1,2", want{Line: 2, RecordType: "ABS", Rule: "record-type"}, testName + `:2: ABS: record-type: "ABS" is not a known GO v1 record type`},
		{"too few columns", "PER,20990417,31004581", want{Line: 2, RecordType: "PER", Rule: "column-count"}, testName + ":2: PER: column-count: has 3 columns, want 30"},
		{"extra non-empty", rowPER + ",x", want{Line: 2, RecordType: "PER", Column: 30, Rule: "column-count"}, ""},
		{"unterminated quote", strings.Replace(rowASG, `"Mensah, Mr. Kwame"`, `"Mensah, Mr. Kwame`, 1), want{Line: 2, RecordType: "ASG", Column: 18, Field: "supervisor_full_name", Rule: "quote"},
			testName + ":2: ASG column 18 (supervisor_full_name): quote: quoted field is unterminated or followed by text"},
		{"text after quote", strings.Replace(rowASG, `"Permanent"`, `"Permanent"x`, 1), want{Line: 2, RecordType: "ASG", Column: 21, Field: "assignment_category", Rule: "quote"}, ""},
		{"bad date", setCol(rowASG, 3, "20241301"), want{Line: 2, RecordType: "ASG", Column: 3, Field: "earliest_assignment_start", Rule: "date"},
			testName + `:2: ASG column 3 (earliest_assignment_start): date: "20241301" is not a YYYYMMDD date`},
		{"bad dob not quoted", setCol(rowPER, 9, "1988-02-14"), want{Line: 2, RecordType: "PER", Column: 9, Field: "date_of_birth", Rule: "date"},
			testName + ":2: PER column 9 (date_of_birth): date: value not a YYYYMMDD date (value not shown: personal data)"},
		{"bad id", setCol(rowPER, 1, "A1"), want{Line: 2, RecordType: "PER", Column: 1, Field: "person_id", Rule: "integer"}, ""},
		{"bad flag", setCol(rowASG, 22, "2"), want{Line: 2, RecordType: "ASG", Column: 22, Field: "primary_assignment", Rule: "flag"}, ""},
		{"bad decimal", setCol(rowASG, 23, "37.5.0"), want{Line: 2, RecordType: "ASG", Column: 23, Field: "normal_hours", Rule: "decimal"}, ""},
		{"grade arity", setCol(rowASG, 38, `"NHS|XR05"`), want{Line: 2, RecordType: "ASG", Column: 38, Field: "grade", Rule: "composite"}, ""},
		{"job name arity", setCol(rowASG, 39, `"Staff Nurse"`), want{Line: 2, RecordType: "ASG", Column: 39, Field: "job_name", Rule: "composite"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, rows, err := readAll(t, testName, wrap(tc.row, rowPER), opts())
			require.NoError(t, err)
			require.Len(t, rows, 2)
			require.Len(t, rows[0].Problems, 1, "%v", rows[0].Problems)
			p := rows[0].Problems[0]
			formattest.RequireProblem(t, p, testName, tc.want)
			if tc.msg != "" {
				require.Equal(t, tc.msg, p.Error())
			}
			require.Empty(t, rows[1].Problems)
		})
	}
}

func TestLineTooLong(t *testing.T) {
	o := opts()
	o.MaxLineBytes = 1024
	_, rows, err := readAll(t, testName, wrap("PER,"+strings.Repeat("x", 2000), rowPER), o)
	require.NoError(t, err)
	require.Equal(t, format.RuleLineTooLong, rows[0].Problems[0].Rule)
	require.Equal(t, 2, rows[0].Problems[0].Line)
	require.Empty(t, rows[1].Problems)
}

func TestCRLFBOMAndWindows1252(t *testing.T) {
	per := strings.Replace(rowPER, `"Northtown"`, "\"Pen-y-bont \xe2r Ogwr\"", 1)
	content := "\xef\xbb\xbf" + strings.ReplaceAll(wrap(per, rowASG), "\n", "\r\n")
	r, rows, err := readAll(t, testName, content, opts())
	require.NoError(t, err)
	require.Equal(t, format.EncodingWindows1252, r.Summary().Encoding)
	require.Equal(t, "Pen-y-bont âr Ogwr", rows[0].Fields[16])
	require.Equal(t, "", rows[1].Fields[44], "no stray \\r in the last field")
	require.Empty(t, rows[1].Problems)
}

func TestSpecs(t *testing.T) {
	require.Len(t, gov1.Spec("PER").Columns, 30)
	require.Len(t, gov1.Spec("ASG").Columns, 45)
	require.Nil(t, gov1.Spec("HDR"))
}

// A row wider than MaxColumns keeps the first MaxColumns fields and says so.
func TestWideRowCut(t *testing.T) {
	o := opts()
	o.MaxColumns = 40
	_, rows, err := readAll(t, testName, wrap(rowPER+strings.Repeat(`,""`, 500)), o)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Len(t, rows[0].Fields, 40)
	found := false
	for _, p := range rows[0].Problems {
		found = found || (p.Rule == format.RuleColumnCount && strings.Contains(p.Msg, "more than the limit of 40"))
	}
	require.True(t, found, "problems: %v", rows[0].Problems)
}
