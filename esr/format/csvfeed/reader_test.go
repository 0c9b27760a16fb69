package csvfeed_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/csvfeed"
	"github.com/esrflow/esrflow/esr/format/internal/formattest"
)

// Two invented BI report feeds: same data, different date conventions.
var slashFeed = csvfeed.Config{
	Name:            "bi-staff-list",
	RecordType:      "STAFF",
	FileNamePattern: `StaffList_(?P<vpd>\d{3,4})_\d{8}\.csv`,
	DateLayout:      "02/01/2006",
	Columns: []csvfeed.Column{
		{Header: "Employee Number", Field: "employee_number", Required: true},
		{Header: "Person ID", Field: "person_id", Kind: "integer"},
		{Header: "Last Name", Field: "last_name", Sensitive: true},
		{Header: "Hire Date", Field: "hire_date", Kind: "date"},
		{Header: "FTE", Field: "fte", Kind: "decimal"},
		{Header: "Primary", Field: "primary", Kind: "flag"},
		{Header: "Ethnic Origin", Field: "ethnic_origin", Optional: true},
		{Header: "Last Updated", Field: "last_update", Kind: "timestamp", Optional: true},
		{Header: "Position Title", Field: "position_title", Optional: true},
	},
}

var oracleFeed = csvfeed.Config{
	Name:       "bi-leavers",
	DateLayout: "02-Jan-2006",
	Delimiter:  ";",
	Columns: []csvfeed.Column{
		{Header: "Assignment Number", Field: "assignment_number", Required: true},
		{Header: "Termination Date", Field: "termination_date", Kind: "date"},
		{Header: "Date of Birth", Field: "date_of_birth", Kind: "date", DateLayout: "2006-01-02", Sensitive: true},
	},
}

func compile(t *testing.T, c csvfeed.Config) *csvfeed.Feed {
	t.Helper()
	f, err := csvfeed.Compile(c)
	require.NoError(t, err)
	return f
}

func readAll(t *testing.T, name, content string, f *csvfeed.Feed, o csvfeed.Options) (*csvfeed.Reader, []format.Row, error) {
	t.Helper()
	return formattest.ReadAll(csvfeed.NewReader(name, strings.NewReader(content), f, o))
}

const staffCSV = "\xef\xbb\xbfEmployee Number,Person ID,Unmapped Secret,last name ,Hire Date,FTE,Primary,Ethnic Origin,Last Updated\r\n" +
	"31004581,20990417,xyz,\"Okafor, Adaeze\",11/03/2024,1,Yes,Z9,09/03/2024 10:14:55\r\n" +
	"30977120,20110032,xyz,Mensah,01/09/2008,0.6,N,,\r\n"

func TestSlashDates(t *testing.T) {
	f := compile(t, slashFeed)
	r, rows, err := readAll(t, "/drop/StaffList_412_20240311.csv", staffCSV, f, csvfeed.Options{ExpectedVPDs: []string{"412"}})
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, []string{"employee_number", "person_id", "last_name", "hire_date", "fte", "primary", "ethnic_origin", "last_update", "position_title"}, f.Fields())
	require.Equal(t, []string{"31004581", "20990417", "Okafor, Adaeze", "11/03/2024", "1", "Yes", "", "09/03/2024 10:14:55", ""}, rows[0].Fields,
		"mapped columns only, special category blanked, optional absent column empty")
	require.Equal(t, "STAFF", rows[0].Type)
	require.Equal(t, 2, rows[0].Line)
	for _, row := range rows {
		require.Empty(t, row.Problems)
	}
	v, err := f.Decode(rows[0])
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"employee_number": "31004581", "person_id": int64(20990417), "last_name": "Okafor, Adaeze",
		"hire_date": time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC), "fte": 1.0, "primary": true,
		"last_update": time.Date(2024, 3, 9, 10, 14, 55, 0, format.London()),
	}, v)
	s := r.Summary()
	require.Equal(t, 1, s.SpecialCategoryBlanked)
	require.Equal(t, map[string]int{"STAFF": 2}, s.RowsByType)
	require.Equal(t, format.EncodingUTF8, s.Encoding)
}

func TestOracleDatesAndSemicolons(t *testing.T) {
	f := compile(t, oracleFeed)
	content := "Assignment Number;Termination Date;Date of Birth\n31004581-2;29-Mar-2024;1988-02-14\n30977120;;\n"
	_, rows, err := readAll(t, "leavers.csv", content, f, csvfeed.Options{})
	require.NoError(t, err)
	v, err := f.Decode(rows[0])
	require.NoError(t, err)
	require.Equal(t, map[string]any{"assignment_number": "31004581-2",
		"termination_date": time.Date(2024, 3, 29, 0, 0, 0, 0, time.UTC),
		"date_of_birth":    time.Date(1988, 2, 14, 0, 0, 0, 0, time.UTC)}, v)
	v, err = f.Decode(rows[1])
	require.NoError(t, err)
	require.Equal(t, map[string]any{"assignment_number": "30977120"}, v)
}

func TestConfigFromJSON(t *testing.T) {
	b, err := json.Marshal(oracleFeed)
	require.NoError(t, err)
	var c csvfeed.Config
	require.NoError(t, json.Unmarshal(b, &c))
	require.Equal(t, oracleFeed, c)
	require.Contains(t, string(b), `"date_layout":"02-Jan-2006"`)
}

func TestFileLevelFailures(t *testing.T) {
	type want struct {
		Line  int
		Field string
		Rule  string
	}
	f := compile(t, slashFeed)
	tests := []struct {
		name, file, content string
		opts                csvfeed.Options
		want                want
		msg                 string
	}{
		{"missing mapped column", "StaffList_412_20240311.csv", "Employee Number,Person ID,Last Name,Hire Date,Primary\n1,2,x,01/01/2024,Y\n", csvfeed.Options{},
			want{1, "fte", "missing-column"}, `file rejected: StaffList_412_20240311.csv:1: missing-column: mapped header "FTE" is missing`},
		{"duplicate mapped column", "StaffList_412_20240311.csv", "Employee Number,Person ID,Last Name,Hire Date,FTE,Primary,fte\n", csvfeed.Options{},
			want{1, "fte", "duplicate-column"}, ""},
		{"empty file", "StaffList_412_20240311.csv", "", csvfeed.Options{}, want{0, "", "missing-header"}, ""},
		{"bad file name", "staff.csv", staffCSV, csvfeed.Options{}, want{0, "", "file-name"}, ""},
		{"unexpected vpd", "StaffList_412_20240311.csv", staffCSV, csvfeed.Options{ExpectedVPDs: []string{"413"}}, want{0, "vpd", "unexpected-vpd"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(t, tc.file, tc.content, f, tc.opts)
			var fe *format.FileError
			require.True(t, errors.As(err, &fe), "%T %v", err, err)
			require.Equal(t, tc.want, want{fe.Problem.Line, fe.Problem.Field, fe.Problem.Rule}, "%v", err)
			require.Equal(t, tc.file, fe.Problem.File)
			if tc.msg != "" {
				require.Equal(t, tc.msg, err.Error())
			}
		})
	}
}

func TestRowProblems(t *testing.T) {
	type want struct {
		Line   int
		Column int
		Field  string
		Rule   string
	}
	f := compile(t, oracleFeed)
	hdr := "Assignment Number;Termination Date;Date of Birth;Other\n"
	tests := []struct {
		name, row string
		want      want
		msg       string
	}{
		{"bad date in layout", "1;31/03/2024;;", want{2, 2, "termination_date", "date"},
			`leavers.csv:2: BI-LEAVERS column 2 (termination_date): date: "31/03/2024" is not a valid date in layout 02-Jan-2006`},
		{"bad sensitive date", "1;;14/02/1988;", want{2, 3, "date_of_birth", "date"},
			"leavers.csv:2: BI-LEAVERS column 3 (date_of_birth): date: value is not a valid date in layout 2006-01-02 (value not shown: personal data)"},
		{"required empty", ";;;", want{2, 1, "assignment_number", "required"}, ""},
		{"too few columns", "1;29-Mar-2024", want{2, 0, "", "column-count"}, ""},
		{"extra non-empty column", "1;;;;x", want{2, 5, "", "column-count"}, ""},
		{"unterminated quote", "\"1;;;", want{2, 1, "assignment_number", "quote"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, rows, err := readAll(t, "leavers.csv", hdr+tc.row+"\n", f, csvfeed.Options{})
			require.NoError(t, err)
			require.Len(t, rows, 1)
			require.Len(t, rows[0].Problems, 1, "%v", rows[0].Problems)
			p := rows[0].Problems[0]
			require.Equal(t, format.SeverityRow, p.Severity)
			require.Equal(t, tc.want, want{p.Line, p.Column, p.Field, p.Rule}, "%v", p)
			if tc.msg != "" {
				require.Equal(t, tc.msg, p.Error())
			}
		})
	}
}

func TestMultiLineQuotedValue(t *testing.T) {
	f := compile(t, csvfeed.Config{Name: "notes", Columns: []csvfeed.Column{
		{Header: "Id", Field: "id", Kind: "integer"}, {Header: "Note", Field: "note"},
	}})
	content := "Id,Note\n1,\"two\nlines\"\n2,one\n"
	_, rows, err := readAll(t, "n.csv", content, f, csvfeed.Options{})
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, []string{"1", "two\nlines"}, rows[0].Fields)
	require.Equal(t, 4, rows[1].Line, "physical line numbers")
	require.Empty(t, rows[1].Problems)

	// A quote that never closes is bounded by MaxLineBytes.
	content = "Id,Note\n1,\"" + strings.Repeat("x\n", 100) + "2,one\n"
	_, rows, err = readAll(t, "n.csv", content, f, csvfeed.Options{MaxLineBytes: 64})
	require.NoError(t, err)
	require.Equal(t, format.RuleLineTooLong, rows[0].Problems[0].Rule)
}

func TestWindows1252(t *testing.T) {
	f := compile(t, csvfeed.Config{Name: "notes", Columns: []csvfeed.Column{{Header: "Note", Field: "note"}}})
	r, rows, err := readAll(t, "n.csv", "Note\nT\xe2l \xa35\n", f, csvfeed.Options{})
	require.NoError(t, err)
	require.Equal(t, "Tâl £5", rows[0].Fields[0])
	require.Equal(t, format.EncodingWindows1252, r.Summary().Encoding)
}

func TestCompileErrors(t *testing.T) {
	for name, c := range map[string]csvfeed.Config{
		"no name":       {Columns: []csvfeed.Column{{Header: "a", Field: "a"}}},
		"no columns":    {Name: "x"},
		"bad kind":      {Name: "x", Columns: []csvfeed.Column{{Header: "a", Field: "a", Kind: "money"}}},
		"dup header":    {Name: "x", Columns: []csvfeed.Column{{Header: "a", Field: "a"}, {Header: " A", Field: "b"}}},
		"bad pattern":   {Name: "x", FileNamePattern: "(", Columns: []csvfeed.Column{{Header: "a", Field: "a"}}},
		"bad delimiter": {Name: "x", Delimiter: ",,", Columns: []csvfeed.Column{{Header: "a", Field: "a"}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := csvfeed.Compile(c)
			var e *format.Error
			require.True(t, errors.As(err, &e))
			require.Equal(t, format.RuleConfig, e.Rule)
		})
	}
}
