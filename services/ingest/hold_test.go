package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/ingest"
)

// decide produces an intake decision the way the api does: key = tenant,
// Confluent-framed Avro under esr.ops.intake.v1-value.
func (s *stack) decide(t *testing.T, d internalv1.IntakeDecision) {
	t.Helper()
	ctx := context.Background()
	_, text, err := schemas.Latest(schemas.IntakeDecision)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.serde.Register(ctx, schemas.Subject(schemas.TopicIntake), text)
	if err != nil {
		t.Fatal(err)
	}
	v, err := w.Encode(nil, &d)
	if err != nil {
		t.Fatal(err)
	}
	cl := testkit.Client(t, s.seeds)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: schemas.TopicIntake, Key: []byte(d.Tenant), Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// waitReports waits until esr.ops.file-reports.v1 holds n reports.
func (s *stack) waitReports(t *testing.T, n int) []internalv1.FileReport {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := s.reports(t)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reports, want %d: %+v", len(got), n, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fileStarts lists the sequences of the files on esr.raw.v1, in order.
func fileStarts(recs []internalv1.RawRecord) []int64 {
	var out []int64
	for _, r := range recs {
		if r.Kind == internalv1.RawKindFileStart {
			out = append(out, r.File.Sequence)
		}
	}
	return out
}

// waitStarts waits until esr.raw.v1 has the FILE_STARTs of want, in order,
// and exactly the records of those files.
func (s *stack) waitStarts(t *testing.T, want []int64, rows int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs := s.rawRecords(t)
		got := fileStarts(recs)
		if len(got) >= len(want) {
			if !slices.Equal(got, want) {
				t.Fatalf("files on raw in order %v, want %v", got, want)
			}
			if len(recs)+ignoredOn(recs) != rows+2*len(want) {
				t.Fatalf("raw has %d records and %d rows counted on FILE_END, want %d in all", len(recs), ignoredOn(recs), rows+2*len(want))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("files on raw %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dateOf(p *time.Time) string {
	if p == nil {
		return "<nil>"
	}
	return p.UTC().Format(time.DateOnly)
}

// checkHold compares a report's hold with what is expected.
func checkHold(t *testing.T, r internalv1.FileReport, feed string, last gen.FileInfo, awaiting []int64, awaitingPrev string, refresh string) {
	t.Helper()
	h := r.Hold
	if h == nil {
		t.Fatalf("%s report of %s has no hold", r.Status, r.File.Name)
	}
	got := fmt.Sprintf("%s last=%d %v %s awaiting=%v prev=%s refresh=%v", h.Feed, h.LastSequence, deref(h.LastFile), dateOf(h.LastRunDate),
		h.AwaitingSequences, dateOf(h.AwaitingPreviousRunDate), deref(h.RefreshRequest))
	want := fmt.Sprintf("%s last=%d %v %s awaiting=%v prev=%s refresh=%v", feed, last.Seq, last.Name, last.RunDate,
		awaiting, awaitingPrev, refresh)
	if got != want {
		t.Errorf("hold of %s:\n got %s\nwant %s", r.File.Name, got, want)
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// refreshOf reads a refresh request from the outbound folder, with
// requested_at checked and blanked.
func (s *stack) refreshOf(t *testing.T, held string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.outbound, "RXX", ingest.RefreshName(held)))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	at, _ := m["requested_at"].(string)
	if _, err := time.Parse(time.RFC3339, at); err != nil {
		t.Errorf("requested_at %q: %v", at, err)
	}
	delete(m, "requested_at")
	return m
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(m)
	return string(b)
}

// A change file ahead of a missing one is held: a HELD report saying what
// it waits for, a refresh request in the outbound folder, the metric. A
// second file ahead waits for the same missing file. When the missing file
// arrives, it is read, then the held ones, in sequence order.
func TestGapHeldUntilTheMissingFileArrives(t *testing.T) {
	st := newStack(t)
	svc := st.start(t, st.config(t, "a"))
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 20, Days: 3, Seed: 21})
	full, c1, c2, c3 := res.Files[0], res.Files[1], res.Files[2], res.Files[3]
	waitGone(t, st.drop(t, "RXX", full.Name, sink.Bytes(full.Name)))
	waitGone(t, st.drop(t, "RXX", c2.Name, sink.Bytes(c2.Name)))

	reps := st.waitReports(t, 1)
	r := reps[0]
	wantReason := "ESR-F026 " + c2.Name + ": sequence-gap: sequence 3 does not follow 1, the last accepted for feed 412/EXP (" +
		full.Name + "): waiting for sequence 2"
	if r.Status != internalv1.FileStatusHeld || r.Reason == nil || *r.Reason != wantReason || r.File.Sha256 != c2.SHA256 || r.Vpd != "412" {
		t.Fatalf("report %s %q, want HELD %q", r.Status, deref(r.Reason), wantReason)
	}
	checkHold(t, r, "412/EXP", full, []int64{2}, "<nil>", ingest.RefreshName(c2.Name))
	// Kept in the archive by hash, not read.
	if b, err := os.ReadFile(filepath.Join(st.archive, "RXX", c2.SHA256)); err != nil || !bytes.Equal(b, sink.Bytes(c2.Name)) {
		t.Fatalf("held file not kept in the archive: %v", err)
	}
	st.waitStarts(t, []int64{1}, full.Rows)
	want := map[string]any{
		"format": ingest.RefreshFormat, "tenant": "RXX", "vpd": "412", "interface": "EXP", "rule": "sequence-gap",
		"last_accepted": map[string]any{"file": full.Name, "sequence": 1, "run_date": full.RunDate},
		// c2's header names c1's run as its previous run.
		"missing": []any{map[string]any{"sequence": 2, "run_date": c1.RunDate}},
		"held":    []any{map[string]any{"file": c2.Name, "sequence": 3, "run_date": c2.RunDate, "previous_run_date": c1.RunDate, "sha256": c2.SHA256}},
	}
	if got := st.refreshOf(t, c2.Name); jsonOf(t, got) != jsonOf(t, want) {
		t.Errorf("refresh request\n got %s\nwant %s", jsonOf(t, got), jsonOf(t, want))
	}
	if v := counter(t, svc.metrics, "esrflow_ingest_files_held", "tenant", "RXX"); v != 1 {
		t.Errorf("files held = %v, want 1", v)
	}

	// The next one waits for the same missing file (3 is held, not missing).
	waitGone(t, st.drop(t, "RXX", c3.Name, sink.Bytes(c3.Name)))
	reps = st.waitReports(t, 2)
	if r := reps[1]; r.Status != internalv1.FileStatusHeld || r.File.Sha256 != c3.SHA256 {
		t.Fatalf("second report %s %s", r.Status, r.File.Name)
	}
	checkHold(t, reps[1], "412/EXP", full, []int64{2}, "<nil>", ingest.RefreshName(c3.Name))
	if held := st.refreshOf(t, c3.Name)["held"].([]any); len(held) != 2 {
		t.Errorf("refresh request for %s lists %d held files, want 2", c3.Name, len(held))
	}
	for name, want := range map[string]float64{"esrflow_ingest_files_held": 2, "esrflow_ingest_refresh_requests_total": 2} {
		if v := counter(t, svc.metrics, name, "tenant", "RXX"); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}

	// The missing file arrives: it, then both held files, in order.
	waitGone(t, st.drop(t, "RXX", c1.Name, sink.Bytes(c1.Name)))
	st.waitStarts(t, []int64{1, 2, 3, 4}, full.Rows+c1.Rows+c2.Rows+c3.Rows)
	if v := counter(t, svc.metrics, "esrflow_ingest_files_held", "tenant", "RXX"); v != 0 {
		t.Errorf("files held = %v after the gap filled, want 0", v)
	}
	if got := st.reports(t); len(got) != 2 {
		t.Errorf("%d reports, want the 2 HELD ones (ACCEPTED comes from publish): %+v", len(got), got)
	}
	if v := counter(t, svc.metrics, "esrflow_ingest_files_total", "tenant", "RXX", "status", "accepted"); v != 4 {
		t.Errorf("accepted = %v, want 4", v)
	}
}

// A full file restarts the chain: held change files before it are
// discarded (superseded), and the change file after it is accepted.
func TestFullFileSupersedesHeldChangeFiles(t *testing.T) {
	st := newStack(t)
	svc := st.start(t, st.config(t, "a"))
	// Change file 3 is a full file: sequences 1 (full), 2, 3, 4 (full), 5.
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 20, Days: 4, Seed: 22, FullEvery: 3})
	full, c3, full4, c5 := res.Files[0], res.Files[2], res.Files[3], res.Files[4]
	if !strings.Contains(full4.Name, "_GOF_") {
		t.Fatalf("%s is not a full file", full4.Name)
	}
	waitGone(t, st.drop(t, "RXX", full.Name, sink.Bytes(full.Name)))
	waitGone(t, st.drop(t, "RXX", c3.Name, sink.Bytes(c3.Name)))
	st.waitReports(t, 1)
	waitGone(t, st.drop(t, "RXX", full4.Name, sink.Bytes(full4.Name)))
	reps := st.waitReports(t, 2)
	r := reps[1]
	wantReason := "ESR-F026 " + c3.Name + ": sequence-gap: superseded by full file " + full4.Name + " (sequence 4); discarded unread"
	if r.Status != internalv1.FileStatusDiscarded || deref(r.Reason) != wantReason || r.File.Sha256 != c3.SHA256 || r.Decision != nil {
		t.Fatalf("report %s %q decision %+v, want DISCARDED %q", r.Status, deref(r.Reason), r.Decision, wantReason)
	}
	checkHold(t, r, "412/EXP", full, []int64{2}, "<nil>", ingest.RefreshName(c3.Name))
	waitGone(t, st.drop(t, "RXX", c5.Name, sink.Bytes(c5.Name)))
	st.waitStarts(t, []int64{1, 4, 5}, full.Rows+full4.Rows+c5.Rows)
	if v := counter(t, svc.metrics, "esrflow_ingest_files_held", "tenant", "RXX"); v != 0 {
		t.Errorf("files held = %v, want 0", v)
	}
	if v := counter(t, svc.metrics, "esrflow_ingest_files_total", "tenant", "RXX", "status", "discarded"); v != 1 {
		t.Errorf("discarded = %v, want 1", v)
	}
	if _, err := os.Stat(filepath.Join(st.archive, "RXX", c3.SHA256)); err != nil {
		t.Errorf("the discarded file is not kept in the archive: %v", err)
	}
}

// A GO v2 change file whose previous-run date is not the last accepted run
// date is held (run window). An operator releases it: a RELEASED report
// with the decision, it is read out of order, and the chain continues from
// it.
func TestRunWindowMismatchHeldThenReleased(t *testing.T) {
	st := newStack(t)
	svc := st.start(t, st.config(t, "a"))
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 20, Days: 2, Seed: 23})
	full, c1, c2 := res.Files[0], res.Files[1], res.Files[2]
	waitGone(t, st.drop(t, "RXX", full.Name, sink.Bytes(full.Name)))
	// c1 says its previous run was 31 March; the feed's last run is 1 April.
	orig := sink.Bytes(c1.Name)
	edited := bytes.Replace(orig, []byte("~20240401 000000~20240402 000000~"), []byte("~20240331 000000~20240402 000000~"), 1)
	if bytes.Equal(edited, orig) {
		t.Fatal("header not edited")
	}
	waitGone(t, st.drop(t, "RXX", c1.Name, edited))
	reps := st.waitReports(t, 1)
	wantReason := "ESR-F027 " + c1.Name + ":1: HDR column 4 (previous_run_at): run-window: previous run date 2024-03-31 is not 2024-04-01, the run date of " +
		full.Name + ", the last file accepted for feed 412/EXP"
	if r := reps[0]; r.Status != internalv1.FileStatusHeld || deref(r.Reason) != wantReason {
		t.Fatalf("report %s %q, want HELD %q", r.Status, deref(r.Reason), wantReason)
	}
	checkHold(t, reps[0], "412/EXP", full, []int64{}, "2024-04-01", ingest.RefreshName(c1.Name))
	rr := st.refreshOf(t, c1.Name)
	if rr["rule"] != "run-window" || rr["awaiting_previous_run_date"] != "2024-04-01" || len(rr["missing"].([]any)) != 0 {
		t.Errorf("refresh request %s", jsonOf(t, rr))
	}
	// c2 follows c1: a gap until c1 is read.
	waitGone(t, st.drop(t, "RXX", c2.Name, sink.Bytes(c2.Name)))
	st.waitReports(t, 2)

	decided := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	st.decide(t, internalv1.IntakeDecision{DecisionID: "d-release-1", Tenant: "RXX", Sha256: sha(edited),
		Action: internalv1.IntakeActionRelease, Actor: "rxx-ops", Reason: "ESR confirmed the run of 31 March", RequestedAt: decided})
	st.waitStarts(t, []int64{1, 2, 3}, full.Rows+c1.Rows+c2.Rows)
	reps = st.reports(t)
	if len(reps) != 3 {
		t.Fatalf("%d reports, want HELD, HELD, RELEASED: %+v", len(reps), reps)
	}
	r := reps[2]
	if r.Status != internalv1.FileStatusReleased || r.File.Sha256 != sha(edited) || r.Decision == nil ||
		r.Decision.DecisionID != "d-release-1" || r.Decision.Actor != "rxx-ops" || r.Decision.Reason != "ESR confirmed the run of 31 March" ||
		!r.Decision.DecidedAt.Equal(decided) {
		t.Fatalf("release report %s %+v", r.Status, r.Decision)
	}
	checkHold(t, r, "412/EXP", full, []int64{}, "2024-04-01", ingest.RefreshName(c1.Name))
	if v := counter(t, svc.metrics, "esrflow_ingest_intake_decisions_total", "tenant", "RXX", "action", "RELEASE", "outcome", "applied"); v != 1 {
		t.Errorf("decisions applied = %v, want 1", v)
	}
	if v := counter(t, svc.metrics, "esrflow_ingest_files_held", "tenant", "RXX"); v != 0 {
		t.Errorf("files held = %v, want 0", v)
	}
}

// DISCARD drops a held file unread (kept in the archive); the decision is
// carried out once, also after a restart; a decision about a file that is
// not held is ignored.
func TestDiscardDecisionAppliedOnce(t *testing.T) {
	st := newStack(t)
	first := st.start(t, st.config(t, "a"))
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 20, Days: 2, Seed: 24})
	full, c1, c2 := res.Files[0], res.Files[1], res.Files[2]
	waitGone(t, st.drop(t, "RXX", full.Name, sink.Bytes(full.Name)))
	waitGone(t, st.drop(t, "RXX", c2.Name, sink.Bytes(c2.Name)))
	st.waitReports(t, 1)
	st.decide(t, internalv1.IntakeDecision{DecisionID: "d-discard-1", Tenant: "RXX", Sha256: c2.SHA256,
		Action: internalv1.IntakeActionDiscard, Actor: "rxx-ops", Reason: "sent in error", RequestedAt: time.Now()})
	reps := st.waitReports(t, 2)
	r := reps[1]
	wantReason := "ESR-F026 " + c2.Name + ": sequence-gap: discarded unread by operator decision d-discard-1"
	if r.Status != internalv1.FileStatusDiscarded || deref(r.Reason) != wantReason || r.Decision == nil || r.Decision.DecisionID != "d-discard-1" {
		t.Fatalf("report %s %q %+v, want DISCARDED %q", r.Status, deref(r.Reason), r.Decision, wantReason)
	}
	checkHold(t, r, "412/EXP", full, []int64{2}, "<nil>", ingest.RefreshName(c2.Name))
	if _, err := os.Stat(filepath.Join(st.archive, "RXX", c2.SHA256)); err != nil {
		t.Errorf("the discarded file is not kept in the archive: %v", err)
	}
	// The same decision again, and one about a file nobody holds.
	st.decide(t, internalv1.IntakeDecision{DecisionID: "d-discard-1", Tenant: "RXX", Sha256: c2.SHA256,
		Action: internalv1.IntakeActionDiscard, Actor: "rxx-ops", Reason: "sent in error", RequestedAt: time.Now()})
	st.decide(t, internalv1.IntakeDecision{DecisionID: "d-other", Tenant: "RXX", Sha256: c1.SHA256,
		Action: internalv1.IntakeActionRelease, Actor: "rxx-ops", Reason: "?", RequestedAt: time.Now()})
	waitCounter(t, first, "esrflow_ingest_intake_decisions_total", 1, "tenant", "RXX", "action", "RELEASE", "outcome", "ignored")
	first.stop()

	// A restart reads every decision again and carries none out twice.
	second := st.start(t, st.config(t, "a"))
	waitGone(t, st.drop(t, "RXX", c1.Name, sink.Bytes(c1.Name)))
	st.waitStarts(t, []int64{1, 2}, full.Rows+c1.Rows)
	for _, labels := range [][]string{
		{"action", "DISCARD", "outcome", "applied"}, {"action", "DISCARD", "outcome", "ignored"},
		{"action", "RELEASE", "outcome", "ignored"},
	} {
		if v := counterOr0(t, second, "esrflow_ingest_intake_decisions_total", append([]string{"tenant", "RXX"}, labels...)...); v != 0 {
			t.Errorf("after restart decisions%v = %v, want 0", labels, v)
		}
	}
	if got := st.reports(t); len(got) != 2 {
		t.Errorf("%d reports after restart, want 2", len(got))
	}
}

// A restarted ingest rebuilds the held state: no report again, the held
// file (even one left in the drop folder by a crash before archiving) is
// not read twice, and the missing file still releases it in order.
func TestRestartKeepsHeldFiles(t *testing.T) {
	st := newStack(t)
	first := st.start(t, st.config(t, "a"))
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 20, Days: 2, Seed: 25})
	full, c1, c2 := res.Files[0], res.Files[1], res.Files[2]
	waitGone(t, st.drop(t, "RXX", full.Name, sink.Bytes(full.Name)))
	waitGone(t, st.drop(t, "RXX", c2.Name, sink.Bytes(c2.Name)))
	st.waitReports(t, 1)
	first.stop()

	// A crash after the HELD commit, before archiving: the file is back in
	// the drop folder and not in the archive.
	archived := filepath.Join(st.archive, "RXX", c2.SHA256)
	if err := os.Remove(archived); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(st.dropRoot, "RXX", c2.Name), sink.Bytes(c2.Name), 0o640); err != nil {
		t.Fatal(err)
	}
	second := st.start(t, st.config(t, "a"))
	waitGone(t, filepath.Join(st.dropRoot, "RXX", c2.Name))
	if _, err := os.Stat(archived); err != nil {
		t.Fatalf("held file not archived after restart: %v", err)
	}
	if v := counter(t, second.metrics, "esrflow_ingest_files_held", "tenant", "RXX"); v != 1 {
		t.Errorf("files held after restart = %v, want 1", v)
	}
	if got := st.reports(t); len(got) != 1 {
		t.Fatalf("%d reports after restart, want the one HELD: %+v", len(got), got)
	}
	waitGone(t, st.drop(t, "RXX", c1.Name, sink.Bytes(c1.Name)))
	st.waitStarts(t, []int64{1, 2, 3}, full.Rows+c1.Rows+c2.Rows)
	second.stop()
	// And once read, a third start holds nothing and reads nothing.
	third := st.start(t, st.config(t, "a"))
	if v := counter(t, third.metrics, "esrflow_ingest_files_held", "tenant", "RXX"); v != 0 {
		t.Errorf("files held on the third start = %v, want 0", v)
	}
	st.waitStarts(t, []int64{1, 2, 3}, full.Rows+c1.Rows+c2.Rows)
}

// waitCounter waits until a metric reaches want.
func waitCounter(t *testing.T, r *running, name string, want float64, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if v := counterOr0(t, r, name, labels...); v == want {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, v, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// counterOr0 is counter, with 0 for a series not yet created.
func counterOr0(t *testing.T, r *running, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := r.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			want := map[string]string{}
			for i := 0; i+1 < len(labels); i += 2 {
				want[labels[i]] = labels[i+1]
			}
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue metric
				}
			}
			if m.Counter != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// GO v1 (interface ASG) and GO v2 (EXP) files of one VPD are two feeds with
// two chains: a GO v1 file with a high sequence no longer moves the VPD's
// sequence so that the next GO v2 file is refused or held, and each feed's
// next file is read.
func TestGOv1AndGOv2AreSeparateFeeds(t *testing.T) {
	st := newStack(t)
	st.start(t, st.config(t, "a"))
	v1sink, v1 := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 1, Seed: 5, FirstSeq: 500, Format: gen.FormatGOv1})
	v2sink, v2 := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 1, Seed: 6})
	waitGone(t, st.drop(t, "RXX", v1.Files[0].Name, v1sink.Bytes(v1.Files[0].Name)))
	st.waitStarts(t, []int64{500}, v1.Files[0].Rows)
	for _, f := range v2.Files {
		waitGone(t, st.drop(t, "RXX", f.Name, v2sink.Bytes(f.Name)))
	}
	waitGone(t, st.drop(t, "RXX", v1.Files[1].Name, v1sink.Bytes(v1.Files[1].Name)))
	st.waitStarts(t, []int64{500, 1, 2, 501}, v1.Files[0].Rows+v2.Files[0].Rows+v2.Files[1].Rows+v1.Files[1].Rows)
	if got := st.reports(t); len(got) != 0 {
		t.Errorf("ingest reported %d files (want none: all accepted, publish reports them): %+v", len(got), got)
	}
}
