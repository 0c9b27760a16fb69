package publish

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// One leaver per employment end, whatever the clock and the file order:
// these tests run the scheduler on a clock far ahead of the files (a
// backlog of old files on today's clock, or a feed that fell silent), so
// leavers are confirmed before the files that withdraw or re-date them.

// silentFeed is a clock two years after the files: every held leaver is
// due, and (with no file for longer than the feed window) the clock may
// confirm it.
func silentFeed(clock *settable) { clock.set("2026-12-02T09:00:00Z") }

// confirmedByClock runs the baseline (20000005 held, due 2024-04-10) and
// lets the clock confirm the held leaver; it returns its event id.
func confirmedByClock(t *testing.T) (*harness, *settable, string) {
	t.Helper()
	clock := &settable{}
	clock.set("2024-04-01T06:00:00Z")
	h := newHarnessWith(t, newEnv(t), func(c *Config) { c.Now = clock.now })
	baseline(h)
	id := h.p.scheduledLeavers(tenantRXX)[0].EventID
	silentFeed(clock)
	d := h.decode(h.tick())
	if len(d) != 1 || d[0].got.ID != id {
		t.Fatalf("the clock did not confirm the held leaver: %+v", d)
	}
	return h, clock, id
}

func TestWithdrawalAfterConfirmationIsAReversalNotSilence(t *testing.T) {
	h, _, id := confirmedByClock(t)
	// The file of 04-05 withdraws the termination (ESR clears it; the
	// assignment stays active): the leaver no longer stands.
	f := newFile(tenantRXX, "2024-04-05", 2)
	d := h.decode(h.feed(f.start(), f.person(P{ID: 20000005, NHS: "1000005"}), f.asg(A{Person: 20000005, ID: 40000005}), f.end()))
	var rev []decoded
	for _, x := range d {
		if x.reversed != nil {
			rev = append(rev, x)
		}
	}
	if len(rev) != 1 {
		t.Fatalf("want one leaver-reversed, got %+v", d)
	}
	r := rev[0].reversed
	if r.ReversedEventID != id || r.Reversal != reversalWithdrawn || r.NewLeavingDate != nil || iso(r.ReversedLeavingDate) != "2024-04-10" ||
		iso(r.EffectiveDate) != "2024-04-10" || r.Source.FileName != f.info.Name || r.Source.Line != 2 || r.LeavingReason != "Retirement Age" ||
		r.EventID != eventID(tenantRXX, eventReversed, "20000005", "", "", f.info.Sha256, 2) {
		t.Fatalf("reversal = %+v", r)
	}
	if string(rev[0].rec.Key) != "20000005" || header(rev[0].rec, hdrType) != "uk.nhs.esr.leaver-reversed.v1" || header(rev[0].rec, hdrID) != r.EventID {
		t.Fatalf("reversal record key %q, headers %v", rev[0].rec.Key, rev[0].rec.Headers)
	}
	if reps := h.reports(h.out[len(h.out)-len(d):]); len(reps) != 1 || reps[0].EventsEmitted[eventReversed] != 1 {
		t.Fatalf("report %+v", reps)
	}
	// The same file again, or the person re-sent unchanged: nothing more.
	f3 := newFile(tenantRXX, "2024-04-06", 3)
	if ev := h.events(h.feed(f3.start(), f3.person(P{ID: 20000005, NHS: "1000005"}), f3.asg(A{Person: 20000005, ID: 40000005}), f3.end())); len(ev) != 0 {
		t.Fatalf("a second reversal or event: %v", ev)
	}
	// They leave for real later: one new leaver, with a new id.
	f4 := newFile(tenantRXX, "2024-05-01", 4)
	ev := h.decode(h.feed(f4.start(), f4.person(P{ID: 20000005, NHS: "1000005", Term: "2024-04-30", Reason: "Retirement Age"}),
		f4.asg(A{Person: 20000005, ID: 40000005, Status: "TERM_ASSIGN", End: "2024-04-30"}), f4.end()))
	var leavers []string
	for _, x := range ev {
		if x.leaver != nil {
			leavers = append(leavers, x.got.ID)
		}
	}
	if len(leavers) != 1 || leavers[0] == id {
		t.Fatalf("leaving after the reversal: %v (first leaver %s)", leavers, id)
	}
}

func TestRedatingAfterConfirmation(t *testing.T) {
	t.Run("to a date that has passed: the leaver stands, nothing is sent", func(t *testing.T) {
		h, _, _ := confirmedByClock(t)
		f := newFile(tenantRXX, "2024-04-20", 2)
		ev := h.events(h.feed(f.start(), f.person(P{ID: 20000005, NHS: "1000005", Term: "2024-04-12", Reason: "Retirement Age"}),
			f.asg(A{Person: 20000005, ID: 40000005, LWD: "2024-04-11", End: "2024-04-12"}), f.end()))
		if len(ev) != 0 {
			t.Fatalf("a re-dating into the past sent %v: a second leaver for one employment end", ev)
		}
		// Nor when ESR then ends the assignment, nor in a full file under
		// missing: leave (see TestFullFileOmissions).
		f3 := newFile(tenantRXX, "2024-04-21", 3)
		if ev := h.events(h.feed(f3.start(), f3.person(P{ID: 20000005, NHS: "1000005", Term: "2024-04-12", Reason: "Retirement Age"}),
			f3.asg(A{Person: 20000005, ID: 40000005, Status: "TERM_ASSIGN", End: "2024-04-12"}), f3.end())); len(ev) != 0 {
			t.Fatalf("the termination completed sent %v", ev)
		}
	})
	t.Run("to a date after the file's run date: reversed, then confirmed once on the new date", func(t *testing.T) {
		h, clock, id := confirmedByClock(t)
		f := newFile(tenantRXX, "2024-04-08", 2)
		out := h.feed(f.start(), f.person(P{ID: 20000005, NHS: "1000005", Term: "2024-05-31", Reason: "Retirement Age"}),
			f.asg(A{Person: 20000005, ID: 40000005, LWD: "2024-05-30", End: "2024-05-31"}), f.end())
		d := h.decode(out)
		if len(h.events(out)) != 1 || d[0].reversed == nil || d[0].reversed.Reversal != reversalRedated ||
			d[0].reversed.ReversedEventID != id || isoPtr(d[0].reversed.NewLeavingDate) != "2024-05-31" {
			t.Fatalf("want one REDATED reversal, got %+v", d)
		}
		held := h.p.scheduledLeavers(tenantRXX)
		if len(held) != 1 || iso(held[0].Due) != "2024-05-31" || held[0].EventID == id {
			t.Fatalf("held after the re-dating: %+v", held)
		}
		// The feed catches up to the new date: confirmed once, new id.
		f3 := newFile(tenantRXX, "2024-05-31", 3)
		ev := h.decode(h.feed(f3.start(), f3.end()))
		if len(ev) != 2 || ev[0].leaver == nil || ev[0].got.ID != held[0].EventID {
			t.Fatalf("the re-dated leaver on its date: %+v", ev)
		}
		clock.set("2027-01-01T00:00:00Z")
		if out := h.tick(); len(out) != 0 {
			t.Fatalf("fired again: %d records", len(out))
		}
	})
}

func TestImmediateLeaverResentWithAnotherDateIsNoSecondLeaver(t *testing.T) {
	h := newHarness(t, newEnv(t))
	baseline(h)
	// 20000001 leaves on 04-02 (rule 1.1, immediate).
	f := newFile(tenantRXX, "2024-04-03", 2)
	ev := h.events(h.feed(f.start(), f.person(P{ID: 20000001, NHS: "1000001", Term: "2024-04-02", Reason: "Dismissal"}),
		f.asg(A{Person: 20000001, ID: 40000001, End: "2024-04-02"}), f.end()))
	if len(ev) != 1 || ev[0].Type != eventLeaver {
		t.Fatalf("leaver: %v", ev)
	}
	// ESR corrects the date to 04-01, then ends the assignment: one leaver.
	f2 := newFile(tenantRXX, "2024-04-04", 3)
	f3 := newFile(tenantRXX, "2024-04-05", 4)
	ev = h.events(append(h.feed(f2.start(), f2.person(P{ID: 20000001, NHS: "1000001", Term: "2024-04-01", Reason: "Dismissal"}),
		f2.asg(A{Person: 20000001, ID: 40000001, End: "2024-04-01"}), f2.end()),
		h.feed(f3.start(), f3.person(P{ID: 20000001, NHS: "1000001", Term: "2024-04-01", Reason: "Dismissal"}),
			f3.asg(A{Person: 20000001, ID: 40000001, Status: "TERM_ASSIGN", End: "2024-04-01"}), f3.end())...))
	if len(ev) != 0 {
		t.Fatalf("second leaver for one employment end: %v", ev)
	}
}

// A person who returns under the same ESR person id after a confirmed
// leaver is a rehire, whatever the ids (new numbers, or the termination
// reversed after the assignments ended).
func TestSamePersonIDReturningIsARehire(t *testing.T) {
	for _, tc := range []struct{ name, asgID, number string }{
		{"new employee and assignment numbers", "40000099", "39999999"},
		{"termination reversed, same assignment", "40000004", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, newEnv(t))
			baseline(h) // 20000004 left on 04-01 (published by the baseline)
			f := newFile(tenantRXX, "2024-04-02", 2)
			h.feed(f.start(), f.person(P{ID: 20000004, NHS: "1000004", Term: "2024-04-01", Reason: "Voluntary Resignation - Relocation"}),
				f.asg(A{Person: 20000004, ID: 40000004, Status: "TERM_ASSIGN", End: "2024-04-01"}), f.end())
			f2 := newFile(tenantRXX, "2024-05-01", 3)
			var asgID int64
			for _, c := range tc.asgID {
				asgID = asgID*10 + int64(c-'0')
			}
			emp := tc.number
			ev := h.events(h.feed(f2.start(), f2.person(P{ID: 20000004, NHS: "1000004", Emp: emp}),
				f2.asg(A{Person: 20000004, ID: asgID, Number: tc.number, Start: "2024-05-01"}), f2.end()))
			ev = slices.DeleteFunc(ev, func(g got) bool { return g.PersonID != "20000004" }) // (20000005's held leaver fires too)
			if len(ev) != 1 || ev[0].Type != eventStarter || !ev[0].Rehire {
				t.Fatalf("want one starter with rehire: true, got %v", ev)
			}
		})
	}
}

// The clock must not outrun a feed that is catching up: a backlog handed
// over at once gives the events of the same files arriving day by day.
func TestClockWaitsForAFeedCatchingUp(t *testing.T) {
	clock := &settable{}
	clock.set("2026-12-02T09:00:00Z") // files from 2024 arrive today
	h := newHarnessWith(t, newEnv(t), func(c *Config) { c.Now = clock.now })
	baseline(h) // 20000005 held, due 2024-04-10; the feed's last run date is 04-01
	if h.p.TickDue(0) {
		t.Fatal("the clock would confirm a leaver due 04-10 with the feed at 04-01 and files arriving")
	}
	if out := h.tick(); len(out) != 0 {
		t.Fatalf("fired while the feed catches up: %d records", len(out))
	}
	// The file of 04-08 withdraws it; day by day it never fires.
	f := newFile(tenantRXX, "2024-04-08", 2)
	if ev := h.events(h.feed(f.start(), f.person(P{ID: 20000005, NHS: "1000005"}), f.asg(A{Person: 20000005, ID: 40000005}), f.end())); len(ev) != 0 {
		t.Fatalf("withdrawal sent %v", ev)
	}
	if len(h.p.scheduledLeavers(tenantRXX)) != 0 {
		t.Fatal("withdrawn leaver still held")
	}

	// Another held leaver, due 04-12: the feed reaches 04-11 (the day
	// before), so the clock may confirm it without waiting for the 04-12 file.
	f2 := newFile(tenantRXX, "2024-04-09", 3)
	h.feed(f2.start(), f2.person(P{ID: 20000001, NHS: "1000001", Term: "2024-04-12", Reason: "Dismissal"}),
		f2.asg(A{Person: 20000001, ID: 40000001, End: "2024-04-12"}), f2.end())
	f3 := newFile(tenantRXX, "2024-04-10", 4)
	h.feed(f3.start(), f3.end())
	if out := h.tick(); len(out) != 0 {
		t.Fatal("fired with the feed two days behind")
	}
	f4 := newFile(tenantRXX, "2024-04-11", 5)
	h.feed(f4.start(), f4.end())
	if ev := h.events(h.tick()); len(ev) != 1 || ev[0].PersonID != "20000001" {
		t.Fatalf("the feed at the day before: fired %v", ev)
	}
}

func TestClockConfirmsWhenTheFeedFallsSilent(t *testing.T) {
	clock := &settable{}
	clock.set("2024-04-01T06:00:00Z")
	h := newHarnessWith(t, newEnv(t), func(c *Config) { c.Now = clock.now; c.FeedWindow = 26 * time.Hour })
	baseline(h) // held, due 2024-04-10; no file after 04-01
	clock.set("2024-04-10T08:00:00Z")
	if ev := h.events(h.tick()); len(ev) != 1 {
		t.Fatalf("a silent feed (9 days) held the leaver back: %v", ev)
	}
	// Within the window after a file, it waits.
	h2 := newHarnessWith(t, newEnv(t), func(c *Config) { c.Now = clock.now; c.FeedWindow = 26 * time.Hour })
	clock.set("2024-04-01T06:00:00Z")
	baseline(h2)
	clock.set("2024-04-02T07:59:59Z") // 25h59m59s after the baseline ended
	f := newFile(tenantRXX, "2024-04-02", 2)
	clock.set("2024-04-10T08:00:00Z")
	h2.feed(f.start(), f.end()) // a file just now: the feed is alive, at 04-02
	clock.set("2024-04-11T09:59:59Z")
	if out := h2.tick(); len(out) != 0 {
		t.Fatal("fired within the window of a live feed that is behind")
	}
	clock.set("2024-04-11T10:00:01Z") // 26h after that file
	if ev := h2.events(h2.tick()); len(ev) != 1 {
		t.Fatalf("past the window: %v", ev)
	}
}

// header is the value of a record's header key ("" if absent).
func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
