package publish

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// latency is one series of esrflow_publish_leaver_latency_seconds as
// gathered: its count and cumulative bucket counts by upper bound.
type latency struct {
	found   bool // the series is exported
	count   uint64
	buckets map[float64]uint64
}

func leaverLatency(t *testing.T, g prometheus.Gatherer, code, via string) latency {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "esrflow_publish_leaver_latency_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["tenant"] != code || labels["via"] != via {
				continue
			}
			out := latency{found: true, count: m.GetHistogram().GetSampleCount(), buckets: map[float64]uint64{}}
			for _, b := range m.GetHistogram().GetBucket() {
				out.buckets[b.GetUpperBound()] = b.GetCumulativeCount()
			}
			return out
		}
	}
	return latency{buckets: map[float64]uint64{}}
}

// want checks a series' count and the cumulative counts of some buckets.
func (l latency) want(t *testing.T, what string, count uint64, buckets map[float64]uint64) {
	t.Helper()
	if l.count != count {
		t.Errorf("%s: count %d, want %d", what, l.count, count)
	}
	for le, n := range buckets {
		if l.buckets[le] != n {
			t.Errorf("%s: bucket le=%v holds %d, want %d (buckets %v)", what, le, l.buckets[le], n, l.buckets)
		}
	}
}

const (
	hour = 3600.0
	days = 86400.0
)

// On the real runner, Kafka and registry, with publish's clock pinned: a
// leaver of a file is measured from 00:00 Europe/London on the file's run
// date (BST: 23:00 UTC the day before) to the commit that published it; a
// future-dated leaver is not observed while it waits, and is measured from
// the London midnight of its leaving day, not from its file's run date.
func TestLeaverLatencyOnTheRealRunner(t *testing.T) {
	l := newLive(t)
	reg := prometheus.NewRegistry()
	l.reg = reg
	clock := &settable{}
	// 04:30 BST on the baseline's run date, 2024-04-01: 4h30m after London
	// midnight, 3h30m after UTC midnight.
	clock.set("2024-04-01T03:30:00Z")
	_, stop := l.start(func(c *Config) { c.Now = clock.now })
	defer stop()
	read := l.reader(schemas.TopicFileReports, "esr.rxx.starter-created.v1", "esr.rxx.leaver-confirmed.v1")

	_, recs := baselineRecords()
	l.produce(recs)
	read(4) // the report, two starters and 20000004's leaver, committed
	waitFor(t, func() bool { return leaverLatency(t, reg, tenantRXX, viaFile).count == 1 })
	leaverLatency(t, reg, tenantRXX, viaFile).want(t, "the baseline's leaver", 1,
		map[float64]uint64{4 * hour: 0, 6 * hour: 1, days: 1})
	// 20000005 leaves on 2024-04-10: held, not yet published, not observed.
	leaverLatency(t, reg, tenantRXX, viaSchedule).want(t, "the held leaver before its day", 0, nil)
	// Every via's series exists from the tenant's first file on, at zero
	// until used, so that increase() sees its first observation.
	for _, via := range leaverVias {
		if !leaverLatency(t, reg, tenantRXX, via).found {
			t.Errorf("no series for via=%s", via)
		}
	}

	// 02:30 BST on the 10th: the clock confirms it (the feed has been
	// silent for over a day), 2h30m after its London midnight; its file's
	// run date is nine days back.
	clock.set("2024-04-10T01:30:00Z")
	leavers := l.reader("esr.rxx.leaver-confirmed.v1")
	leavers(2) // the baseline's, then the fired one
	waitFor(t, func() bool { return leaverLatency(t, reg, tenantRXX, viaSchedule).count == 1 })
	leaverLatency(t, reg, tenantRXX, viaSchedule).want(t, "the leaver confirmed on its day", 1,
		map[float64]uint64{2 * hour: 0, 4 * hour: 1, days: 1})
	leaverLatency(t, reg, tenantRXX, viaFile).want(t, "the baseline's leaver, later", 1, nil)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A transaction that aborts after emitting a leaver observes nothing; the
// redo of the same records observes it once.
func TestLeaverLatencyNotObservedForAnAbortedTransaction(t *testing.T) {
	clock := &settable{}
	clock.set("2024-04-01T05:00:00Z")
	h := newHarnessWith(t, newEnv(t), func(c *Config) { c.Now = clock.now })
	_, recs := baselineRecords()

	// The whole file in one transaction, aborted as the runner would.
	ctx := context.Background()
	txn := h.p.store.Begin()
	tx := stage.NewTxIn(txn, 0)
	for i := range recs {
		v, err := h.env.entityW.Encode(nil, &recs[i])
		if err != nil {
			t.Fatal(err)
		}
		in := &kgo.Record{Topic: schemas.TopicValidated, Key: []byte(tenantRXX), Value: v, Offset: int64(i)}
		if err := h.p.Process(ctx, in, tx); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.events(tx.Records())); n != 3 {
		t.Fatalf("the aborted transaction emitted %d events, want 3 (a leaver among them)", n)
	}
	txn.Discard()
	h.p.TxEnded(false)
	if err := h.p.Restored(0); err != nil { // the runner's rederive
		t.Fatal(err)
	}
	leaverLatency(t, h.reg, tenantRXX, viaFile).want(t, "after the abort", 0, nil)

	h.feed(recs...)
	leaverLatency(t, h.reg, tenantRXX, viaFile).want(t, "after the redo", 1,
		map[float64]uint64{4 * hour: 0, 6 * hour: 1}) // 06:00 BST
}

// A batch the leaver guard held and an operator released counts the wait
// for the operator: it is measured from the held file's run date.
func TestLeaverLatencyOfAReleasedBatchCountsTheWait(t *testing.T) {
	clock := &settable{}
	clock.set("2024-04-01T05:00:00Z")
	h := newHarnessWith(t, newEnv(t), withTenant(t, &tenant.Guard{MaxLeavers: 2}, ""))
	h.p.cfg.Now = clock.now
	baseline(h)
	clock.set("2024-04-02T05:00:00Z")
	f, out := massLeave(h) // run date 2024-04-02: three leavers held
	bs := h.batches(out)
	if len(bs) != 1 {
		t.Fatalf("held batches: %d", len(bs))
	}
	leaverLatency(t, h.reg, tenantRXX, viaFile).want(t, "the held file's leavers", 1, nil) // the baseline's only

	// Released at 13:00 BST the next day: 37 hours after 00:00 BST on the
	// 2nd. 20000010 leaves on the 20th and waits for it.
	clock.set("2024-04-03T12:00:00Z")
	h.feed(command(tenantRXX, bs[0].BatchID, internalv1.OperatorActionRelease, "cmd-1"))
	leaverLatency(t, h.reg, tenantRXX, viaRelease).want(t, "the released leavers", 2,
		map[float64]uint64{days: 0, 2 * days: 2})

	// On its day, by a file whose run date reaches it: from 00:00 BST on
	// the 20th, not from the held file's run date. The baseline's 20000005,
	// due on the 10th, fires at the same file: ten days late (the clock is
	// off in this harness: nothing ticks), past the largest bucket.
	clock.set("2024-04-20T04:00:00Z")
	f3 := newFile(tenantRXX, "2024-04-20", 3)
	ev := h.events(h.feed(f3.start(), f3.end()))
	if len(ev) != 2 || ev[0].PersonID != "20000005" || ev[1].PersonID != "20000010" || ev[1].File != f.info.Name {
		t.Fatalf("the file of the 20th emitted %v", ev)
	}
	leaverLatency(t, h.reg, tenantRXX, viaSchedule).want(t, "the leavers confirmed on the 20th", 2,
		map[float64]uint64{4 * hour: 0, 6 * hour: 1, 7 * days: 1})
}
