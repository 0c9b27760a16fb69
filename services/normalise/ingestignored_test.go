package normalise_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/normalise"
)

// ingestDropped is testFile as ingest writes it since it drops the rows the
// tenant's mapping ignores: the clean PHA (line 7) and ADA (line 8) are not
// sent, FILE_END counts them instead. The PHA with a bad date and the
// keyless ADA still travel, to be quarantined.
func ingestDropped() []internalv1.RawRecord {
	var out []internalv1.RawRecord
	for _, r := range testFile() {
		if r.Kind == internalv1.RawKindRecord && (r.Line == 7 || r.Line == 8) {
			continue
		}
		if r.Kind == internalv1.RawKindFileEnd {
			r.Counts = &internalv1.RawCounts{Lines: 12, Rows: 8, RowsByType: map[string]int64{"LCA": 1},
				IgnoredRows: 2, IgnoredByType: map[string]int64{"PHA": 1, "ADA": 1}}
		}
		out = append(out, r)
	}
	return out
}

// TestRowsIgnoredAtIngestJoinTheCounts: a file whose ignored rows ingest
// counted on FILE_END instead of sending gives the same FILE_END counts,
// rule counts and ignored metric as the file with every row sent.
func TestRowsIgnoredAtIngestJoinTheCounts(t *testing.T) {
	e := newEnv(t)
	endCounts := func(recs []internalv1.RawRecord) (internalv1.StageCounts, map[string]int64, float64) {
		t.Helper()
		reg := prometheus.NewRegistry()
		m, err := normalise.NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		res := run(t, e.processor(nil, m), e, recs)
		end := e.entityOf(res.normalised[len(res.normalised)-1])
		if end.Kind != internalv1.EntityRecordKindFileEnd || end.Counts == nil {
			t.Fatalf("last record %s, counts %v: want FILE_END with counts", end.Kind, end.Counts)
		}
		return *end.Counts, end.RuleCounts, counterValue(t, reg, "esrflow_normalise_records_total", "tenant", "RXX", "kind", "ignored")
	}
	wantCounts, wantRules, wantIgnored := endCounts(testFile())
	if wantCounts.Ignored != 2 || wantIgnored != 2 {
		t.Fatalf("every row sent: %+v, ignored metric %v; want 2 ignored", wantCounts, wantIgnored)
	}
	gotCounts, gotRules, gotIgnored := endCounts(ingestDropped())
	if gotCounts != wantCounts {
		t.Errorf("FILE_END counts %+v, want %+v (as with every row sent)", gotCounts, wantCounts)
	}
	if len(gotRules) != len(wantRules) || gotRules["ESR-V001"] != wantRules["ESR-V001"] || gotRules["ESR-R007"] != wantRules["ESR-R007"] {
		t.Errorf("FILE_END rule_counts %v, want %v", gotRules, wantRules)
	}
	if gotIgnored != wantIgnored {
		t.Errorf("ignored metric %v, want %v", gotIgnored, wantIgnored)
	}
}

// TestOldFileEndWithoutIgnoredRowsReconciles: a FILE_END written with raw
// v3 (before ingest counted ignored rows) decodes with ignored_rows 0, and
// the file's rows, all sent, reconcile as before.
func TestOldFileEndWithoutIgnoredRowsReconciles(t *testing.T) {
	e := newEnv(t)
	_, v3, err := schemas.Version(schemas.Raw, 3)
	if err != nil {
		t.Fatal(err)
	}
	old, err := e.serde.Register(context.Background(), schemas.Subject(schemas.TopicRaw), v3)
	if err != nil {
		t.Fatal(err)
	}
	recs := testFile()
	p := e.processor(nil, nil)
	var end internalv1.EntityRecord
	for _, r := range recs {
		in := e.record(r)
		if in.Value, err = old.Encode(nil, r); err != nil { // every record as raw v3 wrote it
			t.Fatal(err)
		}
		res := runRecords(t, p, in)
		for _, o := range res {
			if o.Topic == schemas.TopicNormalised {
				if v := e.entityOf(o); v.Kind == internalv1.EntityRecordKindFileEnd {
					end = v
				}
			}
		}
	}
	want := internalv1.StageCounts{RowsRead: 10, Entities: 5, Corrections: 1, Ignored: 2, Quarantined: 2}
	if end.Counts == nil || *end.Counts != want {
		t.Errorf("FILE_END counts %+v, want %+v", end.Counts, want)
	}
}

// runRecords processes one input record and returns what it produced.
func runRecords(t *testing.T, p *normalise.Processor, in *kgo.Record) []*kgo.Record {
	t.Helper()
	tx := stage.NewTx(0)
	if err := p.Process(context.Background(), in, tx); err != nil {
		t.Fatal(err)
	}
	return tx.Records()
}
