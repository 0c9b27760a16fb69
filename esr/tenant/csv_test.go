package tenant

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/format/csvfeed"
)

const csvTenantYAML = `tenants:
  - code: RXX
    vpds: ["412"]
    feeds:
      csv:
        lists:
          - name: staff-list
            file_name_pattern: 'RXX_(?P<vpd>\d{3})_STAFF_(?P<date>\d{8})\.csv'
            date_layout: 02-Jan-2006
            columns:
              - {header: Employee Number, field: employee_number, required: true}
              - {header: Assignment Number, field: assignment_number, required: true}
              - {header: Status, field: assignment_status, required: true}
              - {header: Hire Date, field: hire_date, kind: date}
            values:
              assignment_status: {Active Assignment: ACTIVE_ASSIGN, "Maternity Leave": SUSP_ASSIGN}
`

func loadYAML(t *testing.T, body string) (*Set, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tenants.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path)
}

func TestCSVListLoads(t *testing.T) {
	s, err := loadYAML(t, csvTenantYAML)
	if err != nil {
		t.Fatal(err)
	}
	rxx, _ := s.Get("RXX")
	if got := rxx.Missing("csv:staff-list"); got != MissingLeave {
		t.Errorf("missing = %q, want leave by default", got)
	}
	m, ok, err := rxx.MatchCSV("RXX_412_STAFF_20241130.csv")
	if !ok || err != nil {
		t.Fatalf("MatchCSV = %v, %v", ok, err)
	}
	if m.List.Name != "staff-list" || m.VPD != "412" || !m.RunDate.Equal(time.Date(2024, 11, 30, 0, 0, 0, 0, time.UTC)) ||
		m.List.Dialect() != "csv:staff-list" || m.List.Feed() == nil {
		t.Errorf("match = %+v (%s)", m, m.List.Dialect())
	}
	if _, ok, _ := rxx.MatchCSV("RXX_412_STAFF_20241130.txt"); ok {
		t.Error("a name outside the pattern matched")
	}
	if _, ok, err := rxx.MatchCSV("RXX_412_STAFF_20241340.csv"); !ok || err == nil || !strings.Contains(err.Error(), "run date") {
		t.Errorf("bad run date: %v, %v", ok, err)
	}
	l, ok := rxx.CSVList("csv:staff-list")
	if !ok {
		t.Fatal("CSVList by dialect")
	}
	for word, want := range map[string]string{"Active Assignment": "ACTIVE_ASSIGN", " maternity leave ": "SUSP_ASSIGN", "Secondment": "Secondment"} {
		if got := l.Value("assignment_status", word); got != want {
			t.Errorf("Value(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestCSVListRejected(t *testing.T) {
	for name, c := range map[string]struct{ from, to, want string }{
		"unknown field":     {"field: hire_date, kind: date", "field: hired_on, kind: date", `tenant RXX: feeds: csv: list staff-list: column "Hire Date": unknown canonical field "hired_on"`},
		"kind mismatch":     {"field: hire_date, kind: date", "field: hire_date", "field hire_date is of kind date"},
		"bad pattern":       {`(?P<date>\d{8})\.csv`, `(?P<date>\d{8}\.csv`, "file_name_pattern: error parsing regexp"},
		"no date group":     {`(?P<date>\d{8})`, `\d{8}`, "no (?P<date>...) group"},
		"bad run layout":    {"date_layout: 02-Jan-2006", "date_layout: 02-Jan-2006\n            run_date_layout: yyyymmdd", `run_date_layout "yyyymmdd"`},
		"required unmapped": {"- {header: Status, field: assignment_status, required: true}", "", "field assignment_status is not mapped"},
		"bad status value":  {"Maternity Leave\": SUSP_ASSIGN", "Maternity Leave\": ON_LEAVE", `"Maternity Leave" maps to "ON_LEAVE"`},
		"values unmapped":   {"values:", "values:\n              assignment_type: {Employee: E}", "field assignment_type is not mapped"},
		"bad missing":       {"csv:\n        lists:", "csv:\n        missing: vanish\n        lists:", `missing "vanish"`},
	} {
		t.Run(name, func(t *testing.T) {
			body := strings.Replace(csvTenantYAML, c.from, c.to, 1)
			if body == csvTenantYAML {
				t.Fatalf("replacement %q not found", c.from)
			}
			_, err := loadYAML(t, body)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if !strings.Contains(err.Error(), "RXX") {
				t.Errorf("error does not name the tenant: %v", err)
			}
		})
	}
}

// TestOperationsDocExampleLoads: the tenants file example in
// docs/operations.md, CSV lists included, is a valid file.
func TestOperationsDocExampleLoads(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "### Tenants file")
	if !ok {
		t.Fatal("no Tenants file section")
	}
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	body, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("no yaml block")
	}
	s, err := loadYAML(t, body)
	if err != nil {
		t.Fatal(err)
	}
	rxx, _ := s.Get("RXX")
	m, ok, err := rxx.MatchCSV("STAFF_412_20241130.csv")
	if !ok || err != nil || m.List.Value("assignment_status", "maternity leave") != "SUSP_ASSIGN" {
		t.Fatalf("example list: %+v %v %v", m, ok, err)
	}
}

// TestCSVPersonalFieldsNeverQuoted: a bad value in a personal column is
// not quoted in its problem, even when the list forgot to mark it
// sensitive; other columns' values are.
func TestCSVPersonalFieldsNeverQuoted(t *testing.T) {
	set, err := New(Tenant{Code: "RXX", VPDs: []string{"412"}, Feeds: Feeds{CSV: CSVFeed{Lists: []CSVList{{Config: csvfeed.Config{
		Name: "l", FileNamePattern: `L(?P<date>\d{8})\.csv`, Columns: []csvfeed.Column{
			{Header: "E", Field: "employee_number"}, {Header: "A", Field: "assignment_number"}, {Header: "S", Field: "assignment_status"},
			{Header: "DOB", Field: "date_of_birth", Kind: "date"}, {Header: "Hired", Field: "hire_date", Kind: "date"},
		}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	rxx, _ := set.Get("RXX")
	l := &rxx.Feeds.CSV.Lists[0]
	if l.Columns[3].Sensitive {
		t.Fatal("New changed the caller's configuration")
	}
	rd, err := csvfeed.NewReader("L20240101.csv", strings.NewReader("E,A,S,DOB,Hired\n1,1,x,31/02/1980,30/02/2020\n"), l.Feed(), csvfeed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	row, err := rd.Next()
	if err != nil || len(row.Problems) != 2 {
		t.Fatalf("row %+v, %v", row, err)
	}
	if msg := row.Problems[0].Msg; strings.Contains(msg, "1980") || !strings.Contains(msg, "not shown") {
		t.Errorf("date of birth problem: %q", msg)
	}
	if msg := row.Problems[1].Msg; !strings.Contains(msg, "30/02/2020") {
		t.Errorf("hire date problem: %q", msg)
	}
}
