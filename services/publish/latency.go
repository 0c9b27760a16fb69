package publish

import (
	"time"

	"github.com/esrflow/esrflow/platform/kafka/stage"
)

// This file measures leaver latency, esrflow_publish_leaver_latency_seconds:
// how long after ESR knew of a leaving its leaver-confirmed event reached
// consumers (docs/publish.md, "Leaver latency").
//
// From: 00:00 Europe/London on the run date of the file that caused the
// event (the header run date is a civil day; the pipeline carries no run
// time), or, for a leaver held until its leaving day, 00:00 London on that
// day if it is later: the days it waited for its date are not latency.
// To: the commit of the transaction that published the event, on publish's
// clock (Config.Now), which is when read-committed consumers can see it.
//
// The observation waits for the commit: Process, Finish and Tick note each
// leaver they emit, and TxEnded observes the notes of a committed
// transaction and drops those of an aborted one, which the runner redoes
// from the committed offsets (and which would otherwise be counted twice).

// What published a leaver (the metric's via label; a fixed set).
const (
	// viaFile: a file's own leaver, at the file's end (under the leaver
	// guard) or, in the baseline, as its row is read.
	viaFile = "file"
	// viaSchedule: a future-dated leaver, on its leaving day (the clock,
	// or a file whose run date reached it).
	viaSchedule = "schedule"
	// viaRelease: a leaver-guard batch an operator released; the wait for
	// the operator counts.
	viaRelease = "release"
	// viaReplay: a leaver of a replay batch (rows an operator sent again),
	// from the run date the batch carries, the tenant's last.
	viaReplay = "replay"
)

var leaverVias = []string{viaFile, viaSchedule, viaRelease, viaReplay}

var _ stage.Committer = (*processor)(nil)

// publishedLeaver is a leaver emitted in the open transaction, observed
// once it commits.
type publishedLeaver struct {
	tenant, via string
	from        time.Time
}

// londonMidnight is the start of the ISO day in Europe/London (the zero
// time for "" or a malformed day).
func londonMidnight(day string) time.Time {
	t, err := time.ParseInLocation(time.DateOnly, day, london)
	if err != nil {
		return time.Time{}
	}
	return t
}

// notePublishedLeaver notes a leaver-confirmed event w has just emitted:
// via is what published it, run the run date of the file that caused it
// and due its leaving day if it was held for it ("" for either: not
// known or not held). It is measured from the later of their London
// midnights.
func (w *work) notePublishedLeaver(via, run, due string) {
	from := londonMidnight(run)
	if d := londonMidnight(due); d.After(from) {
		from = d
	}
	if from.IsZero() {
		return // nothing to measure from (cannot happen: every file has a run date)
	}
	w.p.published = append(w.p.published, publishedLeaver{tenant: w.t.code, via: via, from: from})
}

// TxEnded observes the leavers a committed transaction published and
// forgets those of one that did not commit (stage.Committer). A clock
// behind the origin (a pinned clock, files dated ahead of it) counts 0.
func (p *processor) TxEnded(committed bool) {
	if committed && len(p.published) > 0 {
		now := p.cfg.Now()
		for _, l := range p.published {
			p.metrics.leaverLatency.WithLabelValues(l.tenant, l.via).Observe(max(0, now.Sub(l.from).Seconds()))
		}
	}
	clear(p.published)
	p.published = p.published[:0]
}

// exportLeaverLatency makes the tenant's latency series exist (at zero)
// before its first leaver, so that increase() over the first late leaver
// of a tenant sees it rise from 0.
func (p *processor) exportLeaverLatency(code string) {
	for _, via := range leaverVias {
		p.metrics.leaverLatency.WithLabelValues(code, via)
	}
}
