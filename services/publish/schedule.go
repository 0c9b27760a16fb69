package publish

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
	_ "time/tzdata" // Europe/London must resolve on hosts without a zoneinfo database

	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/logx"
)

// This file is the scheduler: a future-dated leaver is held until its
// leaving date and confirmed on that date, by whichever comes first: the
// tenant's clock reaching the date in Europe/London (Tick), or a file of the
// tenant whose run date has reached it (FILE_START). Held leavers live in
// the changelog, so the schedule survives restarts; firing and removal
// commit in one transaction, so a leaver fires exactly once.

// london is the time zone of ESR's civil days: a leaving date is a day in
// England, so it begins at midnight in London, not in UTC.
var london = mustLocation("Europe/London")

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // embedded by time/tzdata: cannot fail
	}
	return loc
}

// Triggers of a held leaver firing (the metric's label).
const (
	triggerFile    = "file"
	triggerClock   = "clock"
	triggerRelease = "release"
)

// today is the clock's civil day in London.
func (p *processor) today() string {
	return p.cfg.Now().In(london).Format(time.DateOnly)
}

// clockConfirmsUpTo is the latest leaving date the clock may confirm for
// the tenant now ("" for none), today being the London day. The clock alone must not
// outrun a feed that is catching up: ESR sends bursty catch-up files after
// downtime, and a backlog handed over at once must give the same events as
// the same files arriving day by day, where a later file may withdraw or
// re-date the leaver before its date. So the clock confirms a leaver due on
// D only
//   - once a file of the tenant with run date D-1 or later has been read
//     (every file that could still change the leaver before D has been
//     read: ESR's file for day D-1 is the last before the leaving day), or
//   - when the feed has been silent for FeedWindow (no file started or
//     ended), so a feed that stopped cannot hold leavers back for ever.
//
// A file whose run date reaches D confirms it at its FILE_START anyway.
// Computed once per tenant, not per held leaver.
func (p *processor) clockConfirmsUpTo(t *tenantState, today string) string {
	switch {
	case p.cfg.DisableClock:
		return ""
	case p.cfg.Now().Sub(time.UnixMilli(t.hdr.LastFileMs)) >= p.cfg.FeedWindow:
		return today
	case t.hdr.LastRun == "":
		return ""
	}
	return min(today, addDays(t.hdr.LastRun, 1))
}

// addDays is the ISO day n days after day.
func addDays(day string, n int) string {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return d.AddDate(0, 0, n).Format(time.DateOnly)
}

// dateHeld: a future-dated leaver waiting for its date only (not pending
// the guard's decision, not in a batch awaiting an operator).
func (e *event) dateHeld() bool { return e.Due != "" && !e.Pending && e.Batch == "" }

// dateHeld counts the tenant's date-held leavers.
func (t *tenantState) dateHeld() int {
	n := 0
	for _, e := range t.held {
		if e.dateHeld() {
			n++
		}
	}
	return n
}

// fireDue emits the date-held leavers that are due (a file's run date
// reached their date, or the clock may confirm them), in (due, person)
// order, with the id and source they were held with and days_late 0.
// Fired at a FILE_START they count in that file's report.
func (w *work) fireDue(isDue func(due string) bool, trigger string) error {
	t := w.t
	var due []*event
	for _, e := range t.held {
		if e.dateHeld() && isDue(e.Due) {
			due = append(due, e)
		}
	}
	slices.SortFunc(due, func(a, b *event) int {
		return cmp.Or(cmp.Compare(a.Due, b.Due), cmp.Compare(a.PersonID, b.PersonID))
	})
	for _, e := range due {
		fired := *e
		fired.Due, fired.DaysLate = "", 0
		if err := w.emit(&fired, trigger == triggerFile); err != nil {
			return err
		}
		// Held because its day was after its file's run date: measured
		// from the day.
		w.notePublishedLeaver(viaSchedule, "", e.Due)
		w.dropHeld(e.PersonID)
		w.p.metrics.fired.WithLabelValues(t.code, trigger).Inc()
	}
	if len(due) > 0 && trigger != triggerFile {
		w.p.log.Info("scheduled leavers confirmed", logx.Tenant(t.code), logx.Count("leavers", int64(len(due))))
	}
	w.p.metrics.scheduled.WithLabelValues(t.code).Set(float64(t.dateHeld()))
	return nil
}

var (
	_ stage.Ticker      = (*processor)(nil)
	_ stage.TickChecker = (*processor)(nil)
)

// TickDue reports whether a tick of the partition would confirm a leaver,
// so the runner does not open a transaction every second for nothing.
func (p *processor) TickDue(partition int32) bool {
	if p.cfg.DisableClock {
		return false
	}
	today := p.today()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.tenants {
		if t.partition != partition || t.hdr.Open != nil || t.group != nil {
			continue
		}
		upTo := p.clockConfirmsUpTo(t, today)
		for _, e := range t.held {
			if e.dateHeld() && e.Due <= upTo {
				return true
			}
		}
	}
	return false
}

// Tick fires the leavers of the partition's tenants whose date the clock
// has reached. A tenant in the middle of a file is left until the file ends
// (its FILE_START already fired what its run date reached).
func (p *processor) Tick(ctx context.Context, partition int32, tx *stage.Tx) error {
	if p.cfg.DisableClock {
		return nil
	}
	today := p.today()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, code := range slices.Sorted(maps.Keys(p.tenants)) {
		t := p.tenants[code]
		if t.partition != partition || t.hdr.Open != nil || t.group != nil {
			continue
		}
		w := &work{p: p, t: t, tx: tx, ctx: ctx}
		p.rd = stateReader{tx: tx}
		w.ensureIndexed()
		upTo := p.clockConfirmsUpTo(t, today)
		err := w.fireDue(func(due string) bool { return due <= upTo }, triggerClock)
		if err == nil && p.rd.err != nil {
			err = fmt.Errorf("publish: reading state: %w", p.rd.err)
		}
		p.rd = stateReader{}
		if err != nil {
			return err
		}
	}
	return nil
}
