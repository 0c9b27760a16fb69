package ingest

import (
	"io"
	"strconv"
	"time"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/csvfeed"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// This file reads a tenant's CSV staff lists (tenant feeds.csv.lists). A
// list has no ESR name, header or trailer: its name matches one of the
// tenant's list patterns, which gives the run date (and perhaps the VPD);
// it is a FULL file (the whole truth on its run date) with no sequence.

// Record types of the esr.raw records a list row becomes. A list has one
// row per assignment with the person's fields repeated, and the canonical
// model has a person and an assignment; so each row is written as an
// assignment record, preceded on the person's first row in the file by a
// person record of the same line and fields. Normalise maps each record to
// one entity, so a file's counts reconcile as for GO files (rows = raw
// records, not CSV lines).
const (
	CSVTypePerson     = "CSV-PER"
	CSVTypeAssignment = "CSV-ASG"
)

// MatchTenant completes what the name says once the tenant is known: a name
// that is not an ESR name but matches one of the tenant's CSV lists is that
// list's file. Other names keep their file-name error.
func (d *Delivered) MatchTenant(t tenant.Tenant) {
	if d.NameErr == nil {
		return
	}
	m, ok, err := t.MatchCSV(d.Info.Name)
	if !ok {
		return
	}
	d.CSV = &m
	d.csvErr = err
	d.Info.Dialect = m.List.Dialect()
	d.Info.Kind = internalv1.FileKindFull
	d.Info.Sequence = 0
	if err == nil {
		d.Info.RunDate = m.RunDate
	}
	d.VPD = m.VPD
	if d.VPD == "" && len(t.VPDs) > 0 {
		// A list whose name carries no VPD belongs to the tenant's first.
		d.VPD = t.VPDs[0]
	}
}

// openCSV starts the list's reader: the name's run date in the run-date
// window, the VPD group (if any) among the tenant's, the header row.
func (d *Delivered) openCSV(in io.Reader, t tenant.Tenant, p ParseOptions, now func() time.Time) (RowsReader, error) {
	name := d.Info.Name
	if d.csvErr != nil {
		return nil, format.FileFailure(name, 0, "", format.RuleFileName, "list "+d.CSV.List.Name+": "+d.csvErr.Error())
	}
	r := d.Info.RunDate
	run := time.Date(r.Year(), r.Month(), r.Day(), 0, 0, 0, 0, format.London())
	w := format.RunWindow{Now: now, FutureTolerance: p.FutureTolerance, MaxAge: p.MaxRunAge}
	if fe := w.Check(name, 0, "", 0, "", run, time.Time{}); fe != nil {
		fe.Problem.Msg = "file name " + fe.Problem.Msg
		return nil, fe
	}
	rd, err := csvfeed.NewReader(name, in, d.CSV.List.Feed(), csvfeed.Options{ExpectedVPDs: t.VPDs})
	if err != nil {
		return nil, err
	}
	return &csvRows{rd: rd, feed: d.CSV.List.Feed(), seen: map[string]bool{}}, nil
}

// csvRows turns list rows into person and assignment rows (see
// CSVTypePerson). Rows carry the record type first, as the GO readers'
// do, so RawRow treats every dialect alike.
type csvRows struct {
	rd      *csvfeed.Reader
	feed    *csvfeed.Feed
	seen    map[string]bool // people (person id, else employee number) with a row so far
	pending *format.Row     // the assignment row after its person row
	keyCols [2]int          // person_id, employee_number columns (-1: not mapped)
	init    bool
}

func (c *csvRows) Next() (format.Row, error) {
	if c.pending != nil {
		row := *c.pending
		c.pending = nil
		return row, nil
	}
	if !c.init {
		c.keyCols = [2]int{-1, -1}
		for i, f := range c.feed.Fields() {
			switch f {
			case "person_id":
				c.keyCols[0] = i
			case "employee_number":
				c.keyCols[1] = i
			}
		}
		c.init = true
	}
	row, err := c.rd.Next()
	if err != nil {
		return row, err
	}
	fields := make([]string, 0, len(row.Fields)+1)
	fields = append(append(fields, CSVTypeAssignment), row.Fields...)
	asg := format.Row{Line: row.Line, Type: CSVTypeAssignment, Fields: fields, Problems: row.Problems}
	if len(row.Problems) > 0 {
		// A broken row is quarantined once, as the assignment it was.
		return asg, nil
	}
	// Keyed by which column gave it, so an employee number equal to
	// another person's id is not taken for that person.
	key := ""
	for i, col := range c.keyCols {
		if col >= 0 && row.Field(col) != "" {
			key = strconv.Itoa(i) + ":" + row.Field(col)
			break
		}
	}
	if c.seen[key] {
		return asg, nil
	}
	c.seen[key] = true
	c.pending = &asg
	per := asg
	per.Type = CSVTypePerson
	per.Fields = append([]string{CSVTypePerson}, row.Fields...)
	return per, nil
}

func (c *csvRows) Summary() format.Summary { return c.rd.Summary() }
