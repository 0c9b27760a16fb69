package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"testing"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// csvList is a CSV staff list of RXX on run: one row (a person record and
// an assignment record on the same line, as ingest writes them) per person
// of ids; term gives the people listed with a termination on run.
func csvList(run string, ids []int64, term ...int64) []internalv1.EntityRecord {
	name := "STAFF_" + run[0:4] + run[5:7] + run[8:10] + ".csv"
	sum := sha256.Sum256([]byte(name))
	f := &file{tenant: tenantRXX, vpd: "412", line: 1, info: internalv1.FileInfo{Name: name, Sha256: hex.EncodeToString(sum[:]),
		Dialect: "csv:staff-list", Kind: internalv1.FileKindFull, RunDate: day(run), Size: 1000}}
	recs := []internalv1.EntityRecord{f.start()}
	for _, id := range ids {
		p, a := P{ID: id, NHS: strconv.FormatInt(id, 10)}, A{Person: id, ID: id + 20000000}
		if slices.Contains(term, id) {
			p.Term, p.Reason = run, "Voluntary Resignation - Other"
			a.Status, a.End = "TERM_ASSIGN", run
		}
		per := f.person(p)
		asg := f.asg(a)
		f.line-- // one CSV line
		asg.Lineage.Line = per.Lineage.Line
		recs = append(recs, per, asg)
	}
	return append(recs, f.end())
}

func staff(from, to int64, except ...int64) []int64 {
	var out []int64
	for id := from; id <= to; id++ {
		if !slices.Contains(except, id) {
			out = append(out, id)
		}
	}
	return out
}

// TestCSVListOmissions: under a CSV feed's default `missing: leave`, a
// person absent from the next list is exactly one leaver on its run date;
// one listed with a termination and absent the next day is one leaver
// too; a truncated list is held by the leaver guard, not fanned out.
func TestCSVListOmissions(t *testing.T) {
	h := newHarness(t, newEnv(t)) // no tenants file: the defaults (leave, DefaultGuard)
	if ev := h.events(h.feed(csvList("2024-04-01", staff(20000101, 20000160))...)); len(ev) != 0 {
		t.Fatalf("baseline list emitted %v", ev)
	}
	ev := h.events(h.feed(csvList("2024-04-02", staff(20000101, 20000160, 20000101), 20000102)...))
	// (The missing person's leaver has no line: no row caused it.)
	assertEvents(t, ev, []got{
		{File: "STAFF_20240402.csv", Type: eventLeaver, PersonID: "20000101", EmployeeNumber: "30000101", Effective: "2024-04-02",
			LeavingReason: missingReason},
		{File: "STAFF_20240402.csv", Line: 2, Type: eventLeaver, PersonID: "20000102", EmployeeNumber: "30000102", Effective: "2024-04-02",
			LeavingReason: "Voluntary Resignation - Other"},
	})
	// Both absent the next day: no second leaver for either.
	if ev := h.events(h.feed(csvList("2024-04-03", staff(20000103, 20000160))...)); len(ev) != 0 {
		t.Fatalf("absent again: %v", ev)
	}
	// A list cut short: 48 of 58 employed missing, over the guard.
	out := h.feed(csvList("2024-04-04", staff(20000103, 20000112))...)
	if ev := h.events(out); len(ev) != 0 {
		t.Fatalf("truncated list emitted %d events", len(ev))
	}
	reps, bs := h.reports(out), h.batches(out)
	if len(reps) != 1 || reps[0].LeaversHeld != 48 || reps[0].EventsEmitted[eventLeaver] != 0 {
		t.Fatalf("report = %+v", reps)
	}
	if len(bs) != 1 || bs[0].Leavers != 48 || bs[0].ActivePopulation != 58 || bs[0].Status != internalv1.HeldBatchStatusHeld {
		t.Fatalf("batches = %+v", bs)
	}
}
