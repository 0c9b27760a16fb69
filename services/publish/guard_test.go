package publish

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// withTenant configures RXX with a guard and feeds.
func withTenant(t *testing.T, g *tenant.Guard, missing string) func(*Config) {
	t.Helper()
	set, err := tenant.New(tenant.Tenant{Code: tenantRXX, VPDs: []string{"412"}, LeaverGuard: g,
		Feeds: tenant.Feeds{GO: tenant.Feed{Missing: missing}}})
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) { c.Tenants = set }
}

func command(tenantCode, batch string, action internalv1.OperatorAction, id string) internalv1.EntityRecord {
	return internalv1.EntityRecord{Kind: internalv1.EntityRecordKindCommand, Lineage: internalv1.Lineage{Tenant: tenantCode},
		File: internalv1.FileInfo{Kind: internalv1.FileKindChange},
		Entity: internalv1.OperatorCommand{CommandID: id, Tenant: tenantCode, Action: action, BatchID: batch,
			Actor: "rxx-ops", Reason: "checked with HR", RequestedAt: time.Date(2024, 4, 3, 9, 0, 0, 0, time.UTC)}}
}

func (h *harness) batches(recs []*kgo.Record) []*internalv1.HeldBatch {
	var out []*internalv1.HeldBatch
	for _, d := range h.decode(recs) {
		if d.batch != nil {
			out = append(out, d.batch)
		}
	}
	return out
}

// massLeave is a change file in which three of the baseline's employed
// people leave today (rule 1.1) and one is re-dated into the future.
func massLeave(h *harness) (*file, []*kgo.Record) {
	f := newFile(tenantRXX, "2024-04-02", 2)
	return f, h.feed(f.start(),
		f.person(P{ID: 20000001, NHS: "1000001", Term: "2024-04-02", Reason: "Voluntary Resignation - Other"}),                                                   // 2
		f.asg(A{Person: 20000001, ID: 40000001, Status: "TERM_ASSIGN", End: "2024-04-02"}),                                                                       // 3
		f.person(P{ID: 20000003, NHS: "1000003", Term: "2024-04-01", Reason: "Dismissal - Conduct"}),                                                             // 4
		f.asg(A{Person: 20000003, ID: 40000003, Start: "2024-04-01", Status: "TERM_ASSIGN", End: "2024-04-01"}),                                                  // 5
		f.person(P{ID: 20000010, NHS: "1000010", Term: "2024-04-20", Reason: "Retirement Age"}),                                                                  // 6
		f.asg(A{Person: 20000010, ID: 40000010, End: "2024-04-20"}),                                                                                              // 7
		f.asg(A{Person: 20000010, ID: 40000011, Number: "30000010-2", Org: 7002, Loc: 9002, Pos: "5100002", Title: "Bank Nurse", Occ: "N6B", End: "2024-04-20"}), // 8
		f.end())
}

func TestGuardHoldsThenReleaseEmitsExactlyTheHeldLeavers(t *testing.T) {
	h := newHarnessWith(t, newEnv(t), withTenant(t, &tenant.Guard{MaxLeavers: 2}, ""))
	baseline(h)
	f, out := massLeave(h)
	if ev := h.events(out); len(ev) != 0 {
		t.Fatalf("a held file emitted %v", ev)
	}
	reps, bs := h.reports(out), h.batches(out)
	if len(reps) != 1 || reps[0].LeaversHeld != 3 || reps[0].EventsEmitted[eventLeaver] != 0 {
		t.Fatalf("report = %+v", reps)
	}
	if len(bs) != 1 {
		t.Fatalf("held batches produced: %d", len(bs))
	}
	b := bs[0]
	if b.BatchID != batchID(f.info.Sha256) || b.Status != internalv1.HeldBatchStatusHeld || b.Leavers != 3 ||
		b.ActivePopulation != 6 || b.MaxLeavers != 2 || b.Tripped != "count 3 > 2" || len(b.Held) != 3 {
		t.Fatalf("batch = %+v", b)
	}
	if v := testutil.ToFloat64(h.p.metrics.heldBatches.WithLabelValues(tenantRXX)); v != 1 {
		t.Errorf("esrflow_publish_held_batches = %v, want 1", v)
	}
	// Held leavers never fire by date while the batch waits, and are not
	// scheduled leavers.
	if held := h.p.scheduledLeavers(tenantRXX); len(held) != 1 || held[0].PersonID != "20000005" {
		t.Fatalf("scheduled leavers = %+v", held)
	}
	f3 := newFile(tenantRXX, "2024-04-25", 3)
	if ev := h.events(h.feed(f3.start(), f3.end())); len(ev) != 1 || ev[0].PersonID != "20000005" {
		t.Fatalf("file after the held one emitted %v (want only 20000005's scheduled leaver)", ev)
	}

	// Release: the three leavers, with the ids the batch announced. The
	// re-dated one's date (04-20) has passed by the last run date (04-25).
	out = h.feed(command(tenantRXX, b.BatchID, internalv1.OperatorActionRelease, "cmd-1"))
	d := h.decode(out)
	var ids []string
	var ev []got
	var decided *internalv1.HeldBatch
	for _, x := range d {
		switch {
		case x.leaver != nil:
			ids = append(ids, x.got.ID)
			g := x.got
			g.ID = ""
			ev = append(ev, g)
		case x.batch != nil:
			decided = x.batch
		default:
			t.Fatalf("release produced %s", x.rec.Topic)
		}
	}
	var want []string
	for _, r := range b.Held {
		want = append(want, r.EventID)
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("released ids %v, want the held ones %v", ids, want)
	}
	assertEvents(t, ev, []got{
		{File: f.info.Name, Line: 2, Type: eventLeaver, PersonID: "20000001", EmployeeNumber: "30000001", Effective: "2024-04-02", LeavingReason: "Voluntary Resignation - Other"},
		{File: f.info.Name, Line: 4, Type: eventLeaver, PersonID: "20000003", EmployeeNumber: "30000003", Effective: "2024-04-01", LeavingReason: "Dismissal - Conduct", DaysLate: 1},
		{File: f.info.Name, Line: 6, Type: eventLeaver, PersonID: "20000010", EmployeeNumber: "30000010", Effective: "2024-04-20", LeavingReason: "Retirement Age"},
	})
	if decided == nil || decided.Status != internalv1.HeldBatchStatusReleased || decided.DecidedBy != "rxx-ops" ||
		decided.Reason != "checked with HR" || decided.CommandID != "cmd-1" || decided.Emitted != 3 || decided.DecidedAt == nil {
		t.Fatalf("decided batch = %+v", decided)
	}
	if v := testutil.ToFloat64(h.p.metrics.heldBatches.WithLabelValues(tenantRXX)); v != 0 {
		t.Errorf("esrflow_publish_held_batches = %v after release, want 0", v)
	}
	// A second decision on a decided batch (a retried request) does nothing.
	if out := h.feed(command(tenantRXX, b.BatchID, internalv1.OperatorActionReject, "cmd-2")); len(out) != 0 {
		t.Fatalf("a command on a decided batch produced %d records", len(out))
	}
	// The state after a restart agrees: nothing held, batch released.
	r := h.restored()
	if got := r.p.heldBatches(tenantRXX); len(got) != 1 || got[0].Status != internalv1.HeldBatchStatusReleased {
		t.Fatalf("restored batches = %+v", got)
	}
}

func TestGuardRejectEmitsNothingAndRestoresThePeople(t *testing.T) {
	h := newHarnessWith(t, newEnv(t), withTenant(t, &tenant.Guard{MaxLeavers: 100, MaxPercent: 20, MinLeavers: 2}, ""))
	baseline(h)
	_, out := massLeave(h)
	bs := h.batches(out)
	if len(bs) != 1 || bs[0].Tripped != "3 of 6 employed > 20%" {
		t.Fatalf("batches = %+v", bs)
	}
	out = h.feed(command(tenantRXX, bs[0].BatchID, internalv1.OperatorActionReject, "cmd-9"))
	if ev := h.events(out); len(ev) != 0 {
		t.Fatalf("reject emitted %v", ev)
	}
	if b := h.batches(out); len(b) != 1 || b[0].Status != internalv1.HeldBatchStatusRejected || b[0].Emitted != 0 {
		t.Fatalf("decided = %+v", b)
	}
	// The corrected file lists 20000001 employed: no starter, because the
	// rejected file's leaving was undone. 20000003 leaves for real (one
	// leaver, under the thresholds).
	f3 := newFile(tenantRXX, "2024-04-03", 3)
	ev := h.events(h.feed(f3.start(),
		f3.person(P{ID: 20000001, NHS: "1000001"}), f3.asg(A{Person: 20000001, ID: 40000001}),
		f3.person(P{ID: 20000003, NHS: "1000003", Term: "2024-04-03", Reason: "Dismissal - Conduct"}),
		f3.asg(A{Person: 20000003, ID: 40000003, Start: "2024-04-01", Status: "TERM_ASSIGN", End: "2024-04-03"}),
		f3.end()))
	assertEvents(t, ev, []got{{File: f3.info.Name, Line: 4, Type: eventLeaver, PersonID: "20000003", EmployeeNumber: "30000003",
		Effective: "2024-04-03", LeavingReason: "Dismissal - Conduct"}})
}

func TestLaterFileSupersedesAHeldLeaver(t *testing.T) {
	h := newHarnessWith(t, newEnv(t), withTenant(t, &tenant.Guard{MaxLeavers: 2}, ""))
	baseline(h)
	_, out := massLeave(h)
	b := h.batches(out)[0]
	// 20000001's termination was a mistake, corrected before anyone
	// decided: no event now, and the release no longer includes them.
	f3 := newFile(tenantRXX, "2024-04-03", 3)
	if ev := h.events(h.feed(f3.start(), f3.person(P{ID: 20000001, NHS: "1000001"}), f3.asg(A{Person: 20000001, ID: 40000001}), f3.end())); len(ev) != 0 {
		t.Fatalf("correction emitted %v", ev)
	}
	ev := h.events(h.feed(command(tenantRXX, b.BatchID, internalv1.OperatorActionRelease, "cmd-3")))
	if len(ev) != 1 || ev[0].PersonID != "20000003" {
		t.Fatalf("release emitted %v, want only 20000003 (20000010 is not due until 04-20)", ev)
	}
	if held := h.p.scheduledLeavers(tenantRXX); len(held) != 2 || held[1].PersonID != "20000010" {
		t.Fatalf("scheduled after release = %+v", held)
	}
}

func TestUnderTheGuardLeaversAreEmittedAtFileEnd(t *testing.T) {
	h := newHarness(t, newEnv(t)) // default guard
	baseline(h)
	f := newFile(tenantRXX, "2024-04-02", 2)
	pre := h.feed(f.start(), f.person(P{ID: 20000001, NHS: "1000001", Term: "2024-04-02", Reason: "Death in Service"}),
		f.asg(A{Person: 20000001, ID: 40000001, Status: "TERM_ASSIGN", End: "2024-04-02"}))
	if ev := h.events(pre); len(ev) != 0 {
		t.Fatalf("a leaver was emitted before the file ended: %v", ev)
	}
	// The next person closes the group; still nothing until FILE_END.
	if ev := h.events(h.feed(f.person(P{ID: 20000003, NHS: "1000003"}))); len(ev) != 0 {
		t.Fatalf("emitted before FILE_END: %v", ev)
	}
	out := h.feed(f.end())
	assertEvents(t, h.events(out), []got{{File: f.info.Name, Line: 2, Type: eventLeaver, PersonID: "20000001", EmployeeNumber: "30000001",
		Effective: "2024-04-02", LeavingReason: "Death in Service"}})
	if reps := h.reports(out); reps[0].LeaversHeld != 0 || reps[0].EventsEmitted[eventLeaver] != 1 {
		t.Fatalf("report = %+v", reps[0])
	}
}

// fullFile lists the baseline's people except those in omit.
func fullFile(run string, seq int64, omit ...int64) (*file, []internalv1.EntityRecord) {
	f := newFile(tenantRXX, run, seq)
	f.info.Kind = internalv1.FileKindFull
	recs := []internalv1.EntityRecord{f.start()}
	for _, id := range []int64{20000001, 20000003, 20000010} {
		if slices.Contains(omit, id) {
			continue
		}
		recs = append(recs, f.person(P{ID: id, NHS: fmt.Sprintf("1%06d", id%1000000)}))
		recs = append(recs, f.asg(A{Person: id, ID: id + 20000000, Start: map[int64]string{20000003: "2024-04-01"}[id]}))
		if id == 20000010 {
			recs = append(recs, f.asg(A{Person: id, ID: 40000011, Number: "30000010-2", Org: 7002, Loc: 9002, Pos: "5100002", Title: "Bank Nurse", Occ: "N6B"}))
		}
	}
	return f, append(recs, f.end())
}

func TestFullFileOmissions(t *testing.T) {
	env := newEnv(t)
	for _, mode := range []string{tenant.MissingIgnore, tenant.MissingCorrect, tenant.MissingLeave} {
		t.Run(mode, func(t *testing.T) {
			h := newHarnessWith(t, env, withTenant(t, nil, mode))
			baseline(h)
			// 20000001 is missing; 20000002, 20000004 and 20000005 too, but
			// the full file is also missing people the baseline knew.
			f, recs := fullFile("2024-04-03", 2, 20000001)
			out := h.feed(recs...)
			ev := h.events(out)
			switch mode {
			case tenant.MissingIgnore:
				if len(ev) != 0 || !h.hasPerson(tenantRXX, "20000001") {
					t.Fatalf("ignore: events %v, person kept %v", ev, h.hasPerson(tenantRXX, "20000001"))
				}
			case tenant.MissingCorrect:
				if len(ev) != 0 || h.hasPerson(tenantRXX, "20000001") || len(h.p.scheduledLeavers(tenantRXX)) != 0 {
					t.Fatalf("correct: events %v, person kept %v, held %v", ev, h.hasPerson(tenantRXX, "20000001"), h.p.scheduledLeavers(tenantRXX))
				}
			case tenant.MissingLeave:
				// Employed and missing: 20000001, 20000002 (future starter)
				// and 20000005 (held leaver, superseded). Sorted by person
				// id. 20000004 (leaving 04-01, still active on its ASA)
				// already had its leaver published by the baseline: no
				// second one.
				var want []got
				for _, p := range []string{"20000001", "20000002", "20000005"} {
					want = append(want, got{File: f.info.Name, Type: eventLeaver, PersonID: p, EmployeeNumber: "3" + p[1:],
						Effective: "2024-04-03", LeavingReason: missingReason})
				}
				assertEvents(t, ev, want)
				if held := h.p.scheduledLeavers(tenantRXX); len(held) != 0 {
					t.Fatalf("held after leave = %+v", held)
				}
			}
		})
	}
}

// settable is a clock a test moves.
type settable struct{ t atomic.Pointer[time.Time] }

func (c *settable) set(s string) {
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	c.t.Store(&v)
}
func (c *settable) now() time.Time { return *c.t.Load() }

func (h *harness) tick() []*kgo.Record {
	h.t.Helper()
	return h.transact(func(tx *stage.Tx) error { return h.p.Tick(context.Background(), 0, tx) }).Records()
}

func TestSchedulerConfirmsOnTheLondonDayAcrossARestart(t *testing.T) {
	clock := &settable{}
	clock.set("2024-04-01T06:00:00Z")
	h := newHarnessWith(t, newEnv(t), func(c *Config) { c.Now = clock.now })
	baseline(h) // 20000005 held, due 2024-04-10
	id := h.p.scheduledLeavers(tenantRXX)[0].EventID

	// 23:59:59 on the 9th in London (BST, UTC+1) is 22:59:59 UTC: not yet.
	clock.set("2024-04-09T22:59:59Z")
	if h.p.TickDue(0) {
		t.Fatal("a tick is due before the London day")
	}
	if out := h.tick(); len(out) != 0 {
		t.Fatalf("fired before its London day: %d records", len(out))
	}
	// Publish restarts; the schedule comes back from the changelog.
	h = h.restored()
	clock.set("2024-04-09T23:00:00Z") // 00:00 on the 10th in London
	if !h.p.TickDue(0) {
		t.Fatal("no tick due at London midnight")
	}
	d := h.decode(h.tick())
	if len(d) != 1 || d[0].leaver == nil || d[0].got.ID != id || d[0].leaver.DaysLate != 0 ||
		!d[0].leaver.RecordedAt.Equal(time.Date(2024, 4, 9, 23, 0, 0, 0, time.UTC)) {
		t.Fatalf("tick at London midnight produced %+v (want the held leaver %s)", d, id)
	}
	if out := h.tick(); len(out) != 0 || h.p.TickDue(0) {
		t.Fatalf("fired twice")
	}
	if v := testutil.ToFloat64(h.p.metrics.fired.WithLabelValues(tenantRXX, triggerClock)); v != 1 {
		t.Errorf("fired{clock} = %v", v)
	}
	// A file of that day later finds nothing left to fire.
	f := newFile(tenantRXX, "2024-04-10", 2)
	if ev := h.events(h.feed(f.start(), f.end())); len(ev) != 0 {
		t.Fatalf("fired again at FILE_START: %v", ev)
	}
}

func TestRehireByNIAndDateOfBirth(t *testing.T) {
	h := newHarness(t, newEnv(t))
	f := newFile(tenantRXX, "2024-04-01", 1)
	h.feed(f.start(),
		f.person(P{ID: 20000006, NHS: "", NI: "AB123456C", DOB: "1980-02-03", Term: "2023-01-31", Reason: "Retirement Age"}),
		f.asg(A{Person: 20000006, ID: 40000006, Status: "TERM_ASSIGN", End: "2023-01-31"}),
		f.end())
	f2 := newFile(tenantRXX, "2024-04-02", 2)
	ev := h.events(h.feed(f2.start(),
		f2.person(P{ID: 20000106, NHS: "", NI: "AB 12 34 56 C", DOB: "1980-02-03"}), f2.asg(A{Person: 20000106, ID: 40000106, Start: "2024-04-02"}), // same human
		f2.person(P{ID: 20000107, NHS: "", NI: "AB123456C", DOB: "1980-02-04"}), f2.asg(A{Person: 20000107, ID: 40000107, Start: "2024-04-02"}), // another DOB
		f2.person(P{ID: 20000108, NHS: "1000108", NI: "AB123456C", DOB: "1980-02-03"}), f2.asg(A{Person: 20000108, ID: 40000108, Start: "2024-04-02"}), // NHS id on one side only
		f2.end()))
	var rehires []string
	for _, e := range ev {
		if e.Rehire {
			rehires = append(rehires, e.PersonID)
		}
	}
	if !slices.Equal(rehires, []string{"20000106", "20000108"}) || len(ev) != 3 {
		t.Fatalf("rehires %v among %v", rehires, ev)
	}
	// Publish keeps a digest, never the NI number or the date of birth.
	for _, r := range h.changelog {
		if v := string(r.Value); slices.ContainsFunc([]string{"AB123456C", "1980-02-03", "19800203"}, func(s string) bool { return strings.Contains(v, s) }) {
			t.Fatalf("changelog %s holds personal data: %s", r.Key, v)
		}
	}
}

// transferOut feeds RXA and RXB a baseline of one person each (NHS Unique
// IDs 1000001 and 1000900), then RXA the file of 04-02 in which its person
// leaves on 04-07 for a transfer (held): where the transfer tests start.
// It returns that file and what it produced.
func transferOut(h *harness) (*file, []*kgo.Record) {
	a := newFile("RXA", "2024-04-01", 1)
	b := newFile("RXB", "2024-04-01", 1)
	h.feed(a.start(), a.person(P{ID: 20000001, NHS: "1000001"}), a.asg(A{Person: 20000001, ID: 40000001}), a.end())
	h.feed(b.start(), b.person(P{ID: 20000900, NHS: "1000900"}), b.asg(A{Person: 20000900, ID: 40000900}), b.end())
	a2 := newFile("RXA", "2024-04-02", 2)
	return a2, h.feed(a2.start(), a2.person(P{ID: 20000001, NHS: "1000001", Term: "2024-04-07", Reason: "Employee Transfer"}),
		a2.asg(A{Person: 20000001, ID: 40000001, End: "2024-04-07"}), a2.end())
}

func TestTransferBetweenTenantsIsLinkedBothWays(t *testing.T) {
	h := newHarness(t, newEnv(t))
	// A: TUPE out on 04-07, known on 04-02 (held).
	a2, out := transferOut(h)
	if ev := h.events(out); len(ev) != 0 {
		t.Fatalf("future transfer emitted %v", ev)
	}
	// What other instances learn: RXA's person with that NHS Unique ID is
	// still employed and leaving for a transfer.
	if got := linkRecords(out); len(got) != 1 || got[nhsDigest("1000001")+"/RXA"] != `{"employed":true,"transfer_leaving":true}` {
		t.Fatalf("link index records %v", got)
	}
	// B: the same NHS Unique ID starts on 04-08 under a new person id.
	b2 := newFile("RXB", "2024-04-03", 2)
	ev := h.events(h.feed(b2.start(), b2.person(P{ID: 21000001, NHS: "1000001"}), b2.asg(A{Person: 21000001, ID: 41000001, Start: "2024-04-08"}), b2.end()))
	assertEvents(t, ev, []got{{File: b2.info.Name, Line: 3, Type: eventStarter, PersonID: "21000001", EmployeeNumber: "31000001",
		Effective: "2024-04-08", AssignmentNumber: "31000001", Scheduled: true, TransferFrom: "RXA"}})
	// A's leaver fires on its date and names B.
	a3 := newFile("RXA", "2024-04-07", 3)
	ev = h.events(h.feed(a3.start(), a3.end()))
	assertEvents(t, ev, []got{{File: a2.info.Name, Line: 2, Type: eventLeaver, PersonID: "20000001", EmployeeNumber: "30000001",
		Effective: "2024-04-07", LeavingReason: "Employee Transfer", TransferTo: "RXB"}})
	// A leaver for another reason is never linked.
	b3 := newFile("RXB", "2024-04-08", 3)
	ev = h.events(h.feed(b3.start(), b3.person(P{ID: 20000900, NHS: "1000900", Term: "2024-04-08", Reason: "Voluntary Resignation - Other"}),
		b3.asg(A{Person: 20000900, ID: 40000900, Status: "TERM_ASSIGN", End: "2024-04-08"}), b3.end()))
	if len(ev) != 1 || ev[0].TransferTo != "" {
		t.Fatalf("non-transfer leaver = %v", ev)
	}
}

func TestDisabledClockLeavesFiringToFiles(t *testing.T) {
	h := newHarnessWith(t, newEnv(t), func(c *Config) {
		c.DisableClock = true
		c.Now = func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }
	})
	baseline(h)
	if out := h.tick(); len(out) != 0 {
		t.Fatalf("a disabled clock fired %d records", len(out))
	}
	f := newFile(tenantRXX, "2024-04-10", 2)
	if ev := h.events(h.feed(f.start())); len(ev) != 1 || ev[0].PersonID != "20000005" {
		t.Fatalf("file of the due date fired %v", ev)
	}
}

// ESR re-sends a person terminated (EX_EMP, TERM_ASSIGN) after a held
// leaver fired: the leaving was confirmed once, and is not confirmed again.
func TestFiredLeaverResentTerminatedIsNoSecondLeaver(t *testing.T) {
	h := newHarness(t, newEnv(t))
	baseline(h) // 20000005 held, due 2024-04-10
	f2 := newFile(tenantRXX, "2024-04-10", 2)
	if ev := h.events(h.feed(f2.start())); len(ev) != 1 || ev[0].PersonID != "20000005" {
		t.Fatalf("held leaver did not fire: %v", ev)
	}
	ev := h.events(h.feed(
		f2.person(P{ID: 20000005, NHS: "1000005", Term: "2024-04-10", Reason: "Retirement Age"}),
		f2.asg(A{Person: 20000005, ID: 40000005, Status: "TERM_ASSIGN", LWD: "2024-04-09", End: "2024-04-10"}),
		f2.end()))
	if len(ev) != 0 {
		t.Fatalf("re-sent termination emitted %v", ev)
	}
}

// linkRecords returns the link-index records among recs, by key.
func linkRecords(recs []*kgo.Record) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		if r.Topic == DefaultLinkIndex {
			out[string(r.Key)] = string(r.Value)
		}
	}
	return out
}

// State written before the partition-wide NHS Unique ID index (layout 2)
// gets that index's keys in the tenant's next transaction, and transfers
// between the instance's tenants are linked from it.
func TestLayout2StateGetsThePartitionWideNHSIndex(t *testing.T) {
	h := newHarness(t, newEnv(t))
	transferOut(h)
	rxa, rxb := holderKey("1000001", "RXA", "20000001"), holderKey("1000900", "RXB", "20000900")
	has := func(h *harness, key []byte) bool {
		t.Helper()
		_, ok, err := h.p.store.Get(0, key)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !has(h, rxa) || !has(h, rxb) {
		t.Fatal("people with an NHS Unique ID are not in the partition-wide index")
	}
	// The state as layout 2 wrote it: no partition-wide keys.
	h.transact(func(tx *stage.Tx) error {
		for _, k := range [][]byte{rxa, rxb} {
			tx.SetState(k, nil)
		}
		for _, c := range []string{"RXA", "RXB"} {
			tx.SetState(stateKey(c, keyLayout), []byte(layoutTenantIndexes))
		}
		return nil
	})
	r := h.restored()
	if r.p.tenants["RXA"].indexed || has(r, rxa) {
		t.Fatal("layout 2 restored as indexed")
	}
	a3 := newFile("RXA", "2024-04-03", 3)
	r.feed(a3.start(), a3.end())
	if !has(r, rxa) || has(r, rxb) {
		t.Fatalf("after RXA's file: RXA's key %v (want it), RXB's %v (want none: RXB has had no transaction)", has(r, rxa), has(r, rxb))
	}
	if v, _, _ := r.p.store.Get(0, stateKey("RXA", keyLayout)); string(v) != layoutIndexed {
		t.Fatalf("RXA's layout %q, want %q", v, layoutIndexed)
	}
	// RXB's starter with RXA's NHS Unique ID: linked from the index alone
	// (this instance holds RXA, so the link index is not asked).
	b2 := newFile("RXB", "2024-04-03", 2)
	ev := r.events(r.feed(b2.start(), b2.person(P{ID: 21000001, NHS: "1000001"}), b2.asg(A{Person: 21000001, ID: 41000001, Start: "2024-04-08"}), b2.end()))
	if len(ev) != 1 || ev[0].TransferFrom != "RXA" {
		t.Fatalf("RXB's starter = %v, want one transferring from RXA", ev)
	}
	if !has(r, rxb) || !has(r, holderKey("1000001", "RXB", "21000001")) {
		t.Fatal("RXB's people are not in the partition-wide index after its file")
	}
}

// A tenant's first file exports its held-batch gauge at 0, so "nothing
// held" reads 0 on a dashboard, not "no data".
func TestHeldBatchGaugeReadsZeroFromATenantsFirstFile(t *testing.T) {
	h := newHarnessWith(t, newEnv(t), withTenant(t, &tenant.Guard{MaxLeavers: 2}, ""))
	if n := testutil.CollectAndCount(h.p.metrics.heldBatches); n != 0 {
		t.Fatalf("held-batch series before any file: %d", n)
	}
	baseline(h)
	if n := testutil.CollectAndCount(h.p.metrics.heldBatches); n != 1 {
		t.Fatalf("esrflow_publish_held_batches: %d series after the first file, want the tenant's", n)
	}
	if v := testutil.ToFloat64(h.p.metrics.heldBatches.WithLabelValues(tenantRXX)); v != 0 {
		t.Errorf("esrflow_publish_held_batches = %v, want 0", v)
	}
}
