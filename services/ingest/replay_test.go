package ingest_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// requestReplay produces a replay request the way the api does: key =
// tenant, Confluent-framed Avro under esr.ops.replays.v1-value.
func (s *stack) requestReplay(t *testing.T, req internalv1.ReplayRequest) {
	t.Helper()
	ctx := context.Background()
	_, text, err := schemas.Latest(schemas.ReplayRequest)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.serde.Register(ctx, schemas.Subject(schemas.TopicReplays), text)
	if err != nil {
		t.Fatal(err)
	}
	v, err := w.Encode(nil, &req)
	if err != nil {
		t.Fatal(err)
	}
	cl := testkit.Client(t, s.seeds)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: schemas.TopicReplays, Key: []byte(req.Tenant), Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// waitRaw waits until esr.raw.v1 holds at least n committed records.
func (s *stack) waitRaw(t *testing.T, n int) []internalv1.RawRecord {
	t.Helper()
	return s.waitRawCounted(t, n, func(recs []internalv1.RawRecord) int { return len(recs) })
}

// waitAccounted waits until esr.raw.v1's records and the rows its FILE_ENDs
// counted instead of writing (rawAccounted) are at least n.
func (s *stack) waitAccounted(t *testing.T, n int) []internalv1.RawRecord {
	t.Helper()
	return s.waitRawCounted(t, n, func(recs []internalv1.RawRecord) int { return len(recs) + ignoredOn(recs) })
}

func (s *stack) waitRawCounted(t *testing.T, n int, count func([]internalv1.RawRecord) int) []internalv1.RawRecord {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := s.rawRecords(t)
		if count(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("esr.raw.v1 has %d records (%d with the rows FILE_ENDs counted), want %d", len(got), len(got)+ignoredOn(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rowsOf turns raw RECORDs of an ingested file into replay rows.
func rowsOf(recs []internalv1.RawRecord) []internalv1.ReplayRow {
	var out []internalv1.ReplayRow
	for _, r := range recs {
		out = append(out, internalv1.ReplayRow{
			Lineage: internalv1.Lineage{Tenant: r.Tenant, FileName: r.File.Name, FileSha256: r.File.Sha256, Line: r.Line},
			Vpd:     r.Vpd, File: r.File, Raw: internalv1.RawRow{RecordType: r.RecordType, Fields: slices.Clone(r.Fields)}})
	}
	return out
}

// wantBatch is the replay batch a request's rows must become (one dialect
// and VPD), problems aside.
func wantBatch(req internalv1.ReplayRequest, runDate time.Time) []internalv1.RawRecord {
	id := req.ReplayID
	info := internalv1.FileInfo{Name: "REPLAY_" + id, Sha256: replayBatchSHA(id, 0), Dialect: req.Rows[0].File.Dialect,
		Kind: internalv1.FileKindChange, RunDate: runDate}
	vpd := req.Rows[0].Vpd
	out := []internalv1.RawRecord{{Kind: internalv1.RawKindFileStart, Tenant: req.Tenant, Vpd: vpd, File: info,
		Fields: []string{}, Problems: []internalv1.Problem{}, ReplayID: &id}}
	byType := map[string]int64{}
	for i, r := range req.Rows {
		origin := r.Lineage
		out = append(out, internalv1.RawRecord{Kind: internalv1.RawKindRecord, Tenant: req.Tenant, Vpd: r.Vpd, File: info,
			Line: int64(i + 1), RecordType: r.Raw.RecordType, Fields: r.Raw.Fields, Problems: []internalv1.Problem{},
			Origin: &origin, ReplayID: &id})
		byType[r.Raw.RecordType]++
	}
	n := int64(len(req.Rows))
	return append(out, internalv1.RawRecord{Kind: internalv1.RawKindFileEnd, Tenant: req.Tenant, Vpd: vpd, File: info,
		Fields: []string{}, Problems: []internalv1.Problem{}, ReplayID: &id,
		Counts: &internalv1.RawCounts{Lines: n, Rows: n, RowsByType: byType, IgnoredByType: map[string]int64{}}})
}

func TestReplayRequestBecomesReplayBatch(t *testing.T) {
	st := newStack(t)
	first := st.start(t, st.config(t, "a"))
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 10, Days: 2, Seed: 11})
	full := res.Files[0]
	waitGone(t, st.drop(t, "RXX", full.Name, sink.Bytes(full.Name)))
	fileRecs := st.rawRecords(t)

	// Requests that can never become a batch are passed over, and do not
	// hold back the next.
	st.requestReplay(t, internalv1.ReplayRequest{ReplayID: "rp-unknown", Tenant: "RZZ", RequestedBy: "ops",
		RequestedAt: time.UnixMilli(1700000000000).UTC(), Rows: rowsOf(fileRecs[1:2])})
	st.requestReplay(t, internalv1.ReplayRequest{ReplayID: "rp-empty", Tenant: "RXX", RequestedBy: "ops",
		RequestedAt: time.UnixMilli(1700000000000).UTC(), Rows: []internalv1.ReplayRow{}})
	junk := testkit.Client(t, st.seeds)
	if err := junk.ProduceSync(context.Background(), &kgo.Record{Topic: schemas.TopicReplays, Key: []byte("RXX"),
		Value: []byte("not a replay request")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Three clean rows of the full file, the second with a hire date the
	// reader would have refused: its problem is found again.
	var clean []internalv1.RawRecord
	for _, r := range fileRecs {
		if r.Kind == internalv1.RawKindRecord && len(r.Problems) == 0 && (r.RecordType == gov2.TypePerson || r.RecordType == gov2.TypeAssignment) {
			clean = append(clean, r)
		}
	}
	if len(clean) < 3 {
		t.Fatalf("only %d clean person/assignment rows", len(clean))
	}
	req := internalv1.ReplayRequest{ReplayID: "rp-1", Tenant: "RXX", RequestedBy: "rxx-ops", Reason: "mapping fixed",
		RequestedAt: time.UnixMilli(1700000000000).UTC(), Rows: rowsOf(clean[:3])}
	want := wantBatch(req, clean[0].File.RunDate)
	var badRow int
	for i, r := range req.Rows {
		if r.Raw.RecordType == gov2.TypePerson {
			badRow = i
			break
		}
	}
	spec := gov2.Spec(gov2.TypePerson)
	hire := slices.IndexFunc(spec.Columns, func(c format.FieldSpec) bool { return c.Name == "hire_date" })
	if hire < 1 {
		t.Fatal("PRA has no hire_date column")
	}
	req.Rows[badRow].Raw.Fields[hire-1] = "31/02/2024"
	st.requestReplay(t, req)

	got := st.waitRaw(t, len(fileRecs)+len(want))
	batch := got[len(fileRecs):]
	if len(batch) != len(want) {
		t.Fatalf("replay wrote %d records, want %d", len(batch), len(want))
	}
	probs := batch[1+badRow].Problems
	if len(probs) != 1 || probs[0].Field != "hire_date" {
		t.Fatalf("replayed row with a bad hire date: problems %+v", probs)
	}
	batch[1+badRow].Problems = []internalv1.Problem{}
	want[1+badRow].Fields = req.Rows[badRow].Raw.Fields
	// Every record of the batch says when ingest read the replay (its
	// clock, so checked for presence and dropped from the comparison).
	for i := range batch {
		if batch[i].IngestedAt == nil || batch[i].IngestedAt.IsZero() {
			t.Fatalf("replay record %d has no ingested_at", i)
		}
		batch[i].IngestedAt = nil
	}
	for i := range want {
		if g, w := js(t, batch[i]), js(t, want[i]); g != w {
			t.Fatalf("replay record %d:\n got %s\nwant %s", i, g, w)
		}
	}
	if v := counter(t, first.metrics, "esrflow_ingest_replays_total", "tenant", "RXX", "outcome", "accepted"); v != 1 {
		t.Errorf("accepted replays = %v, want 1", v)
	}
	if v := counter(t, first.metrics, "esrflow_ingest_replays_total", "tenant", "unknown", "outcome", "skipped"); v != 2 {
		t.Errorf("skipped replays of unknown tenants and undecodable ones = %v, want 2", v)
	}
	if v := counter(t, first.metrics, "esrflow_ingest_replays_total", "tenant", "RXX", "outcome", "skipped"); v != 1 {
		t.Errorf("skipped empty replays = %v, want 1", v)
	}
	if v := counter(t, first.metrics, "esrflow_ingest_replay_rows_total", "tenant", "RXX"); v != 3 {
		t.Errorf("replayed rows = %v, want 3", v)
	}

	// Exactly once across a restart: the restarted instance goes on after
	// the requests it has written, and a replay and the tenant's next file
	// each stay whole on esr.raw.v1.
	first.stop()
	st.start(t, st.config(t, "a"))
	req2 := internalv1.ReplayRequest{ReplayID: "rp-2", Tenant: "RXX", RequestedBy: "rxx-ops", Reason: "rule disabled",
		RequestedAt: time.UnixMilli(1700000001000).UTC(), Rows: rowsOf(clean[:2])}
	st.requestReplay(t, req2)
	change := res.Files[1]
	waitGone(t, st.drop(t, "RXX", change.Name, sink.Bytes(change.Name)))
	all := st.waitAccounted(t, len(got)+ignoredOn(got)+len(req2.Rows)+2+change.Rows+2)
	// The batch's run date is the last the ledger knows when it is
	// written: the full file's, or the change file's if that came first.
	i := slices.IndexFunc(all, func(r internalv1.RawRecord) bool { return r.File.Name == "REPLAY_rp-2" })
	c := slices.IndexFunc(all, func(r internalv1.RawRecord) bool { return r.File.Name == change.Name })
	if i < 0 || c < 0 {
		t.Fatalf("rp-2 at %d, %s at %d", i, change.Name, c)
	}
	run := clean[0].File.RunDate
	if c < i {
		run = all[c].File.RunDate
	}
	want2 := wantBatch(req2, run)

	starts := map[string]int{}
	var open string
	for i, r := range all {
		switch r.Kind {
		case internalv1.RawKindFileStart:
			if open != "" {
				t.Fatalf("record %d: %s starts inside %s", i, r.File.Name, open)
			}
			open = r.File.Name
			starts[open]++
		case internalv1.RawKindRecord:
			if r.File.Name != open {
				t.Fatalf("record %d of %s inside %s: interleaved", i, r.File.Name, open)
			}
		case internalv1.RawKindFileEnd:
			if r.File.Name != open {
				t.Fatalf("record %d: %s ends inside %s", i, r.File.Name, open)
			}
			open = ""
		}
	}
	for _, name := range []string{full.Name, change.Name, "REPLAY_rp-1", "REPLAY_rp-2"} {
		if starts[name] != 1 {
			t.Errorf("%s written %d times, want once", name, starts[name])
		}
	}
	if len(starts) != 4 {
		t.Errorf("batches and files on raw: %v", starts)
	}
	for j := range want2 {
		if all[i+j].IngestedAt == nil {
			t.Fatalf("replay rp-2 record %d has no ingested_at", j)
		}
		all[i+j].IngestedAt = nil
		if g, w := js(t, all[i+j]), js(t, want2[j]); g != w {
			t.Fatalf("replay rp-2 record %d:\n got %s\nwant %s", j, g, w)
		}
	}
}

func replayBatchSHA(id string, n int) string {
	_, sha := schemas.ReplayBatch(id, n)
	return sha
}

func TestReplayBatchNames(t *testing.T) {
	if got, _ := schemas.ReplayBatch("rp-9", 0); got != "REPLAY_rp-9" {
		t.Errorf("first batch name %q", got)
	}
	if got, _ := schemas.ReplayBatch("rp-9", 1); got != "REPLAY_rp-9_2" {
		t.Errorf("second batch name %q", got)
	}
	// The first batch's sha256 is the hex SHA-256 of the replay id.
	if got := replayBatchSHA("rp-9", 0); got != sha([]byte("rp-9")) {
		t.Errorf("first batch sha256 %s", got)
	}
	if replayBatchSHA("rp-9", 1) == replayBatchSHA("rp-9", 0) {
		t.Error("two batches of one replay share a sha256")
	}
}
