package normalise_test

import (
	"strings"
	"testing"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// TestReplayBatchKeepsOriginalLineage: the rows of a replay batch travel in
// a batch of their own (REPLAY_<id>), but their entity and quarantine
// records name the file and line they were first read from, and every
// record out carries the replay id.
func TestReplayBatchKeepsOriginalLineage(t *testing.T) {
	e := newEnv(t)
	id := "rp-7"
	batch := internalv1.FileInfo{Name: "REPLAY_" + id, Sha256: strings.Repeat("cd", 32), Dialect: fileInfo.Dialect,
		Kind: internalv1.FileKindChange, RunDate: fileInfo.RunDate}
	origin := func(line int64) *internalv1.Lineage {
		return &internalv1.Lineage{Tenant: "RXX", FileName: fileInfo.Name, FileSha256: fileInfo.Sha256, Line: line}
	}
	row := func(line string, no, first int64) internalv1.RawRecord {
		r := rawOf(line, no)
		r.File, r.Origin, r.ReplayID = batch, origin(first), &id
		return r
	}
	control := func(k internalv1.RawKind) internalv1.RawRecord {
		return internalv1.RawRecord{Kind: k, Tenant: "RXX", Vpd: "412", File: batch, Fields: []string{},
			Problems: []internalv1.Problem{}, ReplayID: &id}
	}
	end := control(internalv1.RawKindFileEnd)
	end.Counts = &internalv1.RawCounts{Lines: 2, Rows: 2, RowsByType: map[string]int64{"PRA": 1, "ADA": 1}}
	res := run(t, e.processor(nil, nil), e, []internalv1.RawRecord{
		control(internalv1.RawKindFileStart),
		row(linePRA, 1, 40),
		row(with(lineADA, 1, ""), 2, 57), // still failing: no person id
		end,
	})

	if len(res.normalised) != 3 || len(res.quarantined) != 1 {
		t.Fatalf("%d normalised, %d quarantined; want 3 and 1", len(res.normalised), len(res.quarantined))
	}
	for i, r := range res.normalised {
		v := e.entityOf(r)
		if v.ReplayID == nil || *v.ReplayID != id {
			t.Errorf("%s: replay_id %v, want %s", v.Kind, v.ReplayID, id)
		}
		if v.File != batch {
			t.Errorf("%s: file %+v, want the replay batch", v.Kind, v.File)
		}
		want := internalv1.Lineage{Tenant: "RXX", FileName: batch.Name, FileSha256: batch.Sha256}
		if i == 1 {
			want = *origin(40)
		}
		if v.Lineage != want {
			t.Errorf("%s: lineage %+v, want %+v", v.Kind, v.Lineage, want)
		}
	}
	q := e.quarantineOf(res.quarantined[0])
	if q.Lineage != *origin(57) || q.ReplayID == nil || *q.ReplayID != id {
		t.Errorf("quarantine lineage %+v replay_id %v, want %+v and %s", q.Lineage, q.ReplayID, *origin(57), id)
	}
	// The batch's running counts are its own, apart from the original file's.
	for _, s := range res.state {
		if string(s.Key) != "file/RXX/"+batch.Sha256 {
			t.Errorf("state key %q", s.Key)
		}
	}
}
