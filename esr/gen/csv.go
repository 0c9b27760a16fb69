package gen

import (
	"encoding/csv"
	"errors"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/esrflow/esrflow/esr/format/csvfeed"
	"github.com/esrflow/esrflow/esr/tenant"
)

// This file writes the CSV staff-list form of a trust (Config.Format
// FormatCSV): on each day, one header-row list of everything the
// simulation holds that day — every person with every assignment, one row
// per assignment, person fields repeated — the first day's list being the
// baseline. A list is the day's whole state, so the pipeline reads it as
// a full file, as it reads a GO full file; the truth is the simulation's
// own, with each line pointing at the row that carries it: a person's
// first row for person-level events, the assignment's row otherwise.
//
// What a staff list cannot say, and how the CSV form handles it
// (docs/generator.md):
//   - rows created in error and deleted (ASD): the erroneous assignment is
//     never listed; an applicant created in error (PRD) is listed until
//     its delete and then simply no longer listed (not employed: no
//     leaver);
//   - phones, addresses, costings and reference rows (locations,
//     organisations, positions) have no place in a staff list: their
//     changes, the reference refreshes and the erroneous reference
//     entities are not written; a position's new title reaches the list on
//     its incumbents' rows, as it does on their GO ASA rows;
//   - --faults and --full-every are refused: the planted faults are GO rows,
//     and every list is full already.
// None of these carries an event, so the truth is the GO history's.

// CSVListName is the name of the CSV list of a VPD's run date.
func CSVListName(vpd string, run string) string { return "STAFF_" + vpd + "_" + run + ".csv" }

// csvColumns are the generated list's columns: header, canonical field,
// kind, sensitive. The order is the file's.
var csvColumns = []csvfeed.Column{
	{Header: "Person ID", Field: "person_id", Kind: "integer", Required: true},
	{Header: "Employee Number", Field: "employee_number", Required: true},
	{Header: "Title", Field: "title"},
	{Header: "Last Name", Field: "last_name", Sensitive: true},
	{Header: "First Name", Field: "first_name", Sensitive: true},
	{Header: "Gender", Field: "gender"},
	{Header: "Date of Birth", Field: "date_of_birth", Kind: "date", Sensitive: true},
	{Header: "NI Number", Field: "ni_number", Sensitive: true},
	{Header: "NHS Unique ID", Field: "nhs_unique_id"},
	{Header: "Person Effective Start", Field: "person_effective_start", Kind: "date"},
	{Header: "Hire Date", Field: "hire_date", Kind: "date"},
	{Header: "Termination Date", Field: "termination_date", Kind: "date"},
	{Header: "Leaving Reason", Field: "leaving_reason"},
	{Header: "Assignment ID", Field: "assignment_id", Kind: "integer", Required: true},
	{Header: "Assignment Number", Field: "assignment_number", Required: true},
	{Header: "Assignment Type", Field: "assignment_type"},
	{Header: "Assignment Status", Field: "assignment_status", Required: true},
	{Header: "Assignment Effective Start", Field: "assignment_effective_start", Kind: "date"},
	{Header: "Assignment Start", Field: "assignment_start", Kind: "date"},
	{Header: "Primary", Field: "primary", Kind: "flag"},
	{Header: "Assignment Category", Field: "assignment_category"},
	{Header: "FTE", Field: "fte", Kind: "decimal"},
	{Header: "Position ID", Field: "position_id", Kind: "integer"},
	{Header: "Position Number", Field: "position_number"},
	{Header: "Position Title", Field: "position_title"},
	{Header: "Occupation Code", Field: "occupation_code"},
	{Header: "Area of Work", Field: "area_of_work"},
	{Header: "Organisation ID", Field: "organisation_id", Kind: "integer"},
	{Header: "Location ID", Field: "location_id", Kind: "integer"},
	{Header: "Grade Owner", Field: "grade_owner"},
	{Header: "Grade", Field: "grade_code"},
	{Header: "Grade Description", Field: "grade_description"},
	{Header: "Staff Group", Field: "staff_group"},
	{Header: "Job Role", Field: "job_role"},
	{Header: "Last Working Day", Field: "last_working_day", Kind: "date"},
	{Header: "Assignment End Date", Field: "assignment_end_date", Kind: "date"},
}

// The trust's own words for assignment statuses (by sysStatuses index)
// and types, which the list's mapping turns back into ESR's.
var (
	csvStatusWords = [...]string{"Active Assignment", "Suspended Assignment", "Terminated Assignment",
		"Active Application", "Offer Made", "Offer Accepted"}
	csvTypeWords = map[bool]string{false: "Employee", true: "Applicant"}
)

// CSVList is the tenant list mapping that reads the CSV form (a tenant's
// feeds.csv.lists entry): the names CSVListName gives, day/month/year
// dates, the status and type words above.
func CSVList() tenant.CSVList {
	status := map[string]string{}
	for i, w := range csvStatusWords {
		status[w] = sysStatuses[i]
	}
	return tenant.CSVList{
		Config: csvfeed.Config{Name: "staff-list", FileNamePattern: `STAFF_(?P<vpd>\d{3,4})_(?P<date>\d{8})\.csv`,
			DateLayout: "02/01/2006", Columns: append([]csvfeed.Column(nil), csvColumns...)},
		Values: map[string]map[string]string{
			"assignment_status": status,
			"assignment_type":   {csvTypeWords[false]: "E", csvTypeWords[true]: "A"},
		},
	}
}

// ukDate is DD/MM/YYYY, "" for noDate.
func ukDate(d date) string {
	if d == noDate {
		return ""
	}
	y, m, dd := d.civil()
	b := make([]byte, 0, 10)
	b = append(b, byte('0'+dd/10), byte('0'+dd%10), '/', byte('0'+m/10), byte('0'+m%10), '/')
	return string(strconv.AppendInt(b, int64(y), 10))
}

// writeCSV writes today's staff list and resolves the people's truth.
func (s *sim) writeCSV(out Sink) error {
	fw, fileRec, err := s.createFile(out, CSVListName(s.vpd, s.run.compact()))
	if err != nil {
		return err
	}
	cw := csv.NewWriter(fw.bw)
	// The GO header's creation time draws on the PRNG: draw it here too,
	// so the CSV form simulates exactly the GO history.
	_ = s.intn(3600)

	rec := make([]string, len(csvColumns))
	for i, c := range csvColumns {
		rec[i] = c.Header
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	line, rows := 1, 0
	for _, p := range s.people {
		id := p.id0
		listed := false
		for _, a := range p.asgs {
			if a.erroneous {
				continue
			}
			line++
			rows++
			a.line = line
			if !listed {
				p.praLine, listed = line, true
				rows++ // the person record ingest writes on a person's first row
			}
			nhs := ""
			if !p.noNHS {
				nhs = strconv.Itoa(id.nhsID)
			}
			gender := "M"
			if id.female {
				gender = "F"
			}
			primary := "No"
			if a.primary {
				primary = "Yes"
			}
			j := &jobs[a.pos.job]
			g := &grades[a.grade]
			rec = append(rec[:0],
				strconv.Itoa(p.id), strconv.Itoa(p.empNo), p.title, p.last, id.first, gender, ukDate(id.dob), id.ni, nhs,
				ukDate(p.effStart), ukDate(p.hire), ukDate(p.term), p.reason,
				strconv.Itoa(a.id), asgNumber(p, a), csvTypeWords[a.applicant], csvStatusWords[a.status],
				ukDate(a.effStart), ukDate(a.earliest), primary, a.category, a.fte,
				strconv.Itoa(a.pos.id), strconv.Itoa(a.pos.number), a.pos.title, j.occ, areas[a.pos.area],
				strconv.Itoa(a.org.id), strconv.Itoa(a.loc.id), "NHS", g.code, g.desc, j.staffGroup, j.role,
				ukDate(a.lwd), ukDate(a.end))
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		if !listed {
			if len(p.intents) > 0 {
				return errors.New("gen: csv: a person with events has no assignment to list")
			}
			continue
		}
		s.resolve(p)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	fw.lines = line
	sum, err := fw.close()
	s.buf = fw.b
	if err != nil {
		return err
	}
	if s.file > 0 {
		s.res.Stats.FullFiles++
	}
	fi := FileInfo{Name: s.name, Path: s.path, RunDate: s.run.iso(), Type: FileTypeCSV, Lines: line, Rows: rows, SHA256: sum}
	s.res.Files = append(s.res.Files, fi)
	s.res.Rows += int64(rows)
	s.truth[fileRec].t = TruthLine{Kind: KindFile, File: s.name, Tenant: s.cfg.Tenant, RunDate: fi.RunDate, FileType: FileTypeCSV,
		Lines: line, Rows: rows, SHA256: sum}
	return nil
}

// FileTypeCSV is FileInfo.Type and TruthLine.FileType of a CSV list.
const FileTypeCSV = "CSV"

// CSVTenantsFile is the tenants file Generate writes beside a CSV-form
// trust: the trust as a tenant whose CSV list mapping is CSVList, ready
// for --tenants.file.
const CSVTenantsFile = "tenants.yaml"

// CSVTenantsYAML renders the tenants file of a CSV-form trust.
func CSVTenantsYAML(tenantCode, vpd string) ([]byte, error) {
	f := struct {
		Tenants []tenant.Tenant `yaml:"tenants"`
	}{[]tenant.Tenant{{Code: tenantCode, VPDs: []string{vpd},
		Feeds: tenant.Feeds{CSV: tenant.CSVFeed{Missing: tenant.MissingLeave, Lists: []tenant.CSVList{CSVList()}}}}}}
	b, err := yaml.Marshal(&f)
	if err != nil {
		return nil, err
	}
	return append([]byte("# The tenant of a CSV staff-list trust written by esrflow gen --format csv.\n"), b...), nil
}

func writeCSVTenants(out Sink, cfg Config) error {
	b, err := CSVTenantsYAML(cfg.Tenant, cfg.VPD)
	if err != nil {
		return err
	}
	wc, err := out.Create(CSVTenantsFile)
	if err != nil {
		return err
	}
	if _, err := wc.Write(b); err != nil {
		wc.Close()
		return err
	}
	return wc.Close()
}
