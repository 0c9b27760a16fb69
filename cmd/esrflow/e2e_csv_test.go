package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// TestEndToEndCSVList runs the CSV staff-list form of a generated trust
// through the whole stack (ingest reading the tenant's list mapping,
// normalise, validate, publish, api) and checks its events equal the
// generator's truth exactly. Then the lists' own semantics: a person left
// off the next list is exactly one leaver on its run date, and a list cut
// short is held by the leaver guard.
func TestEndToEndCSVList(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 600, Days: 10, Seed: 5, Format: gen.FormatCSV})
	tenants, err := tenant.New(tenant.Tenant{Code: "RXX", VPDs: []string{"412"},
		Feeds: tenant.Feeds{CSV: tenant.CSVFeed{Lists: []tenant.CSVList{gen.CSVList()}}}})
	if err != nil {
		t.Fatal(err)
	}
	st := startStackWith(t, t.TempDir(), tenants)
	rd, err := observe.NewReader(st.Seeds(), st.RegistryURL())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tr.res.Files {
		dropFile(t, st.DropDir(), "RXX", f.Name, tr.sink.Bytes(f.Name))
	}
	reps := waitReports(t, rd, len(tr.res.Files), 3*time.Minute)
	ctx := context.Background()
	events, err := rd.Events(ctx, "RXX")
	if err != nil {
		t.Fatal(err)
	}
	published, held := tr.expectedEvents()
	if len(published) < 40 {
		t.Fatalf("the truth has only %d events", len(published))
	}
	compareEvents(t, events, published)
	checkEnvelope(t, events)
	checkReports(t, tr, reps, events)
	for _, r := range reps {
		if r.Warnings != 0 {
			t.Errorf("%s: %d rows warned; the generated lists are clean", r.File.Name, r.Warnings)
		}
	}
	q, err := rd.Quarantine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkQuarantine(t, tr, q)
	checkHeld(t, st, held)
	t.Logf("%d lists, %d events published, %d leavers held", len(reps), len(events), len(held))
	if t.Failed() {
		return
	}

	// The next day's list without one long-serving member of staff.
	last := tr.res.Files[len(tr.res.Files)-1]
	rows := readList(t, tr.sink.Bytes(last.Name))
	gone := leavable(t, rows, held)
	var kept [][]string
	for _, r := range rows {
		if r[0] != gone[0] {
			kept = append(kept, r)
		}
	}
	lastRun, err := time.Parse(time.DateOnly, tr.lastRunDate())
	if err != nil {
		t.Fatal(err)
	}
	next := func(days int) (name, iso string) {
		d := lastRun.AddDate(0, 0, days)
		return gen.CSVListName("412", d.Format("20060102")), d.Format(time.DateOnly)
	}
	day1, day1ISO := next(1)
	dropFile(t, st.DropDir(), "RXX", day1, writeList(t, kept))
	reps = waitReports(t, rd, len(tr.res.Files)+1, time.Minute)
	after, err := rd.Events(ctx, "RXX")
	if err != nil {
		t.Fatal(err)
	}
	want := gen.TruthLine{Kind: gen.KindEvent, File: day1, Type: gen.TypeLeaver, Tenant: "RXX", VPD: "412", PersonID: gone[0],
		EmployeeNumber: gone[1], EffectiveDate: day1ISO, LeavingReason: "Missing from full file"}
	compareEvents(t, newEvents(events, after), []gen.TruthLine{want})
	if r := reps[len(reps)-1]; r.Status != internalv1.FileStatusAccepted || r.EventsEmitted[gen.TypeLeaver] != 1 || r.LeaversHeld != 0 {
		t.Fatalf("%s: %s, leavers %d, held %d", r.File.Name, r.Status, r.EventsEmitted[gen.TypeLeaver], r.LeaversHeld)
	}

	// A list cut short after its first 40 rows: the people it misses are
	// held for an operator, nothing is published.
	day2, _ := next(2)
	dropFile(t, st.DropDir(), "RXX", day2, writeList(t, kept[:41]))
	reps = waitReports(t, rd, len(tr.res.Files)+2, time.Minute)
	if r := reps[len(reps)-1]; r.Status != internalv1.FileStatusAccepted || r.LeaversHeld < 100 || r.EventsEmitted[gen.TypeLeaver] != 0 {
		t.Fatalf("%s: %s, leavers %d, held %d", r.File.Name, r.Status, r.EventsEmitted[gen.TypeLeaver], r.LeaversHeld)
	}
	final, err := rd.Events(ctx, "RXX")
	if err != nil {
		t.Fatal(err)
	}
	if len(final) != len(after) {
		t.Fatalf("the truncated list published %d events", len(final)-len(after))
	}
}

// newEvents are the events of after that before does not have (events
// come back in topic order, not publishing order).
func newEvents(before, after []observe.Event) []observe.Event {
	seen := map[string]bool{}
	for _, e := range before {
		seen[e.ID] = true
	}
	var out []observe.Event
	for _, e := range after {
		if !seen[e.ID] {
			out = append(out, e)
		}
	}
	return out
}

func readList(t *testing.T, b []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func writeList(t *testing.T, rows [][]string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(rows); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// leavable picks a person id and employee number listed on one row, with
// an active assignment started before the trust's first list, no
// termination, and no held leaver.
func leavable(t *testing.T, rows [][]string, held []gen.TruthLine) []string {
	t.Helper()
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	n := map[string]int{}
	for _, r := range rows[1:] {
		n[r[0]]++
	}
	for _, r := range rows[1:] {
		start, _ := time.Parse("02/01/2006", r[col["Assignment Start"]])
		if n[r[0]] == 1 && r[col["Assignment Status"]] == "Active Assignment" && r[col["Termination Date"]] == "" &&
			start.Before(gen.DefaultStart) && !slices.ContainsFunc(held, func(l gen.TruthLine) bool { return l.PersonID == r[0] }) {
			return []string{r[0], r[col["Employee Number"]]}
		}
	}
	t.Fatal("no one to leave")
	return nil
}

// TestValidateCSVList: esrflow validate reads a tenant's CSV staff lists
// through the list mapping of the tenants file (the tenant found by the
// list's name pattern), as ingest and normalise do.
func TestValidateCSVList(t *testing.T) {
	dir := t.TempDir()
	res, err := gen.Generate(gen.Config{Tenant: "RXX", VPD: "412", Staff: 60, Days: 2, Seed: 4, Format: gen.FormatCSV}, gen.DirSink(dir))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"validate", "--format", "json", "--tenants", filepath.Join(dir, gen.CSVTenantsFile)}
	for _, f := range res.Files {
		args = append(args, filepath.Join(dir, f.Name))
	}
	code, out, _ := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	files := decodeReport(t, out).Files
	if len(files) != len(res.Files) {
		t.Fatalf("%d reports", len(files))
	}
	for i, f := range files {
		if f.Tenant != "RXX" || f.Dialect != "csv:staff-list" || f.Kind != "FULL" || f.VPD != "412" || f.RunDate != res.Files[i].RunDate ||
			f.Totals.Rows != int64(res.Files[i].Rows) || f.Totals.Quarantined != 0 || f.Totals.Warned != 0 {
			t.Errorf("%s: %+v totals %+v", f.File, f, f.Totals)
		}
	}
	// Without the tenants file the name is no file name ingest knows.
	_, out, _ = runCLI(t, "validate", "--format", "json", filepath.Join(dir, res.Files[0].Name))
	if f := decodeReport(t, out).Files[0]; f.FileRule == nil || f.FileRule.Code != "ESR-F001" {
		t.Errorf("no tenants: file rule %+v, want ESR-F001", f.FileRule)
	}
}
