package tenant

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/esrflow/esrflow/esr/format/csvfeed"
)

// CSVFeed is a tenant's header-row CSV staff lists: what a list's
// omissions mean, and how each kind of list maps onto the canonical model.
type CSVFeed struct {
	// Missing is what a list's omissions mean (ignore, correct, leave);
	// empty means leave: a staff list is the whole truth.
	Missing string `yaml:"missing,omitempty" json:"missing,omitempty"`
	// Lists are the tenant's list layouts. A delivered file is read with
	// the first list whose file_name_pattern matches its name.
	Lists []CSVList `yaml:"lists,omitempty" json:"lists,omitempty"`
}

// CSVList is one staff-list layout: a csvfeed mapping (columns → canonical
// fields, delimiter, date layouts) plus what the file name says and how the
// trust's own words map onto canonical values.
type CSVList struct {
	csvfeed.Config `yaml:",inline"`
	// RunDateLayout is the Go layout of the file name's "date" group (the
	// list's run date); empty = "20060102".
	RunDateLayout string `yaml:"run_date_layout,omitempty" json:"run_date_layout,omitempty"`
	// Values map a field's words in the trust's list onto canonical values,
	// matched trimmed and ignoring case: assignment_status onto ESR system
	// statuses (ACTIVE_ASSIGN ...), assignment_type onto E, A or C. A value
	// with no entry is kept as read (and an unknown status is UNKNOWN:
	// never employed, never terminated).
	Values map[string]map[string]string `yaml:"values,omitempty" json:"values,omitempty"`

	feed *csvfeed.Feed // compiled by New
}

// CSV list canonical fields: the columns a list can map, by the name a
// Column's field gives. Person fields repeat on each of a person's rows
// (one row per assignment).
var csvFields = map[string]string{
	"person_id": "integer", "employee_number": "text", "title": "text", "last_name": "text", "first_name": "text",
	"middle_names": "text", "preferred_name": "text", "gender": "text", "date_of_birth": "date", "ni_number": "text",
	"nhs_unique_id": "text", "hire_date": "date", "termination_date": "date", "leaving_reason": "text",
	"person_effective_start": "date", "office_email": "text",
	"assignment_id": "integer", "assignment_number": "text", "assignment_type": "text", "assignment_status": "text",
	"assignment_effective_start": "date", "assignment_start": "date", "primary": "flag", "assignment_category": "text",
	"position_id": "integer", "position_number": "text", "position_title": "text", "occupation_code": "text",
	"area_of_work": "text", "organisation_id": "integer", "location_id": "integer", "grade_owner": "text",
	"grade_code": "text", "grade_description": "text", "staff_group": "text", "job_role": "text",
	"last_working_day": "date", "assignment_end_date": "date", "fte": "decimal", "hours": "decimal",
}

// csvRequired are the fields every list must map: a person and an
// assignment cannot be told apart without them.
var csvRequired = []string{"employee_number", "assignment_number", "assignment_status"}

// CSVFields lists the canonical fields a CSV list can map, sorted.
func CSVFields() []string {
	out := make([]string, 0, len(csvFields))
	for f := range csvFields {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// canonicalValues are the values a Values map may produce, by field.
var canonicalValues = map[string][]string{
	"assignment_status": {"ACTIVE_ASSIGN", "SUSP_ASSIGN", "TERM_ASSIGN", "ACTIVE_APL", "OFFER", "ACCEPTED"},
	"assignment_type":   {"E", "A", "C"},
}

// csvPersonal are the fields whose values are personal data: never quoted
// in a problem message, whether or not the list marks them sensitive.
var csvPersonal = map[string]bool{"last_name": true, "first_name": true, "middle_names": true, "preferred_name": true,
	"date_of_birth": true, "ni_number": true, "office_email": true}

// compile validates the list and compiles its mapping.
func (l *CSVList) compile() error {
	cfg := l.Config
	cfg.Columns = slices.Clone(cfg.Columns)
	for i := range cfg.Columns {
		cfg.Columns[i].Sensitive = cfg.Columns[i].Sensitive || csvPersonal[cfg.Columns[i].Field]
	}
	f, err := csvfeed.Compile(cfg)
	if err != nil {
		return err
	}
	mapped := map[string]bool{}
	for _, c := range l.Columns {
		kind, ok := csvFields[c.Field]
		if !ok {
			return fmt.Errorf("list %s: column %q: unknown canonical field %q (want one of %s)", l.Name, c.Header, c.Field,
				strings.Join(CSVFields(), ", "))
		}
		if got := c.Kind; (got == "" && kind != "text") || (got != "" && got != kind) {
			return fmt.Errorf("list %s: column %q: field %s is of kind %s, not %q", l.Name, c.Header, c.Field, kind, c.Kind)
		}
		mapped[c.Field] = true
	}
	for _, r := range csvRequired {
		if !mapped[r] {
			return fmt.Errorf("list %s: field %s is not mapped (a list must map %s)", l.Name, r, strings.Join(csvRequired, ", "))
		}
	}
	if l.FileNamePattern == "" {
		return fmt.Errorf("list %s: file_name_pattern is required (it names the list's files and gives the run date)", l.Name)
	}
	re := f.Pattern()
	if re.SubexpIndex("date") < 0 {
		return fmt.Errorf("list %s: file_name_pattern has no (?P<date>...) group for the run date", l.Name)
	}
	layout := l.runDateLayout()
	if _, err := time.Parse(layout, time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC).Format(layout)); err != nil ||
		!strings.Contains(layout, "2006") || !(strings.Contains(layout, "01") || strings.Contains(layout, "Jan")) ||
		!strings.Contains(layout, "02") {
		return fmt.Errorf("list %s: run_date_layout %q is not a Go date layout with year, month and day", l.Name, layout)
	}
	for field, words := range l.Values {
		if !mapped[field] {
			return fmt.Errorf("list %s: values: field %s is not mapped by a column", l.Name, field)
		}
		allowed, ok := canonicalValues[field]
		if !ok {
			return fmt.Errorf("list %s: values: field %s takes no value mapping (only assignment_status, assignment_type)", l.Name, field)
		}
		for word, v := range words {
			if !slices.Contains(allowed, v) {
				return fmt.Errorf("list %s: values: %s %q maps to %q, want one of %s", l.Name, field, word, v, strings.Join(allowed, ", "))
			}
		}
	}
	l.feed = f
	return nil
}

func (l *CSVList) runDateLayout() string {
	if l.RunDateLayout == "" {
		return "20060102"
	}
	return l.RunDateLayout
}

// Feed is the compiled mapping (nil for a list that did not come through
// New).
func (l *CSVList) Feed() *csvfeed.Feed { return l.feed }

// Dialect is the FileInfo.dialect of the list's files: "csv:<name>", so
// normalise finds the mapping again.
func (l *CSVList) Dialect() string { return CSVDialectPrefix + l.Name }

// CSVDialectPrefix starts the dialect of every CSV list's files.
const CSVDialectPrefix = "csv:"

// Value maps a field's word onto its canonical value (the word itself,
// trimmed, when the list maps none).
func (l *CSVList) Value(field, word string) string {
	word = strings.TrimSpace(word)
	words := l.Values[field]
	if v, ok := words[word]; ok {
		return v
	}
	for k, v := range words {
		if strings.EqualFold(strings.TrimSpace(k), word) {
			return v
		}
	}
	return word
}

// CSVMatch is what a file name says when it names one of a tenant's lists.
type CSVMatch struct {
	List    *CSVList
	RunDate time.Time // midnight UTC
	VPD     string    // the name's "vpd" group; "" when the pattern has none
}

// MatchCSV finds the tenant's list whose pattern matches a file's base
// name. ok is false when none does; err is set when one matches but its
// run date does not parse.
func (t Tenant) MatchCSV(name string) (m CSVMatch, ok bool, err error) {
	for i := range t.Feeds.CSV.Lists {
		l := &t.Feeds.CSV.Lists[i]
		if l.feed == nil {
			continue
		}
		re := l.feed.Pattern()
		sub := re.FindStringSubmatch(name)
		if sub == nil {
			continue
		}
		d, perr := time.Parse(l.runDateLayout(), sub[re.SubexpIndex("date")])
		if perr != nil {
			return CSVMatch{List: l}, true, fmt.Errorf("run date %q in the name is not in layout %s", sub[re.SubexpIndex("date")], l.runDateLayout())
		}
		m = CSVMatch{List: l, RunDate: time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)}
		if i := re.SubexpIndex("vpd"); i >= 0 {
			m.VPD = sub[i]
		}
		return m, true, nil
	}
	return CSVMatch{}, false, nil
}

// CSVList returns the tenant's list of a dialect ("csv:<name>").
func (t Tenant) CSVList(dialect string) (*CSVList, bool) {
	name, ok := strings.CutPrefix(dialect, CSVDialectPrefix)
	if !ok {
		return nil, false
	}
	for i := range t.Feeds.CSV.Lists {
		if l := &t.Feeds.CSV.Lists[i]; l.Name == name && l.feed != nil {
			return l, true
		}
	}
	return nil, false
}

// compileCSV validates and compiles the tenant's lists. The lists are
// copied first: the caller's Tenant is not changed.
func (t *Tenant) compileCSV() error {
	lists := slices.Clone(t.Feeds.CSV.Lists)
	names := map[string]bool{}
	for i := range lists {
		l := &lists[i]
		if names[l.Name] {
			return fmt.Errorf("list %s: configured twice", l.Name)
		}
		names[l.Name] = true
		if err := l.compile(); err != nil {
			return err
		}
	}
	t.Feeds.CSV.Lists = lists
	return nil
}
