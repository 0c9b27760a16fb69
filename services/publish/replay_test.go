package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"slices"
	"testing"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// replayBatch wraps rows of earlier files as ingest and normalise send a
// replay: a CHANGE batch REPLAY_<id> whose rows keep the lineage of the
// file they were first read from, replay_id on every record.
func replayBatch(id, run string, rows ...internalv1.EntityRecord) []internalv1.EntityRecord {
	sum := sha256.Sum256([]byte(id))
	info := internalv1.FileInfo{Name: "REPLAY_" + id, Sha256: hex.EncodeToString(sum[:]), Dialect: "go-v2",
		Kind: internalv1.FileKindChange, RunDate: day(run)}
	rid := id
	ctl := func(kind internalv1.EntityRecordKind) internalv1.EntityRecord {
		return internalv1.EntityRecord{Kind: kind, Lineage: internalv1.Lineage{Tenant: tenantRXX, FileName: info.Name, FileSha256: info.Sha256},
			Vpd: "412", File: info, ReplayID: &rid}
	}
	out := []internalv1.EntityRecord{ctl(internalv1.EntityRecordKindFileStart)}
	for _, r := range rows {
		r.File, r.ReplayID = info, &rid
		out = append(out, r)
	}
	end := ctl(internalv1.EntityRecordKindFileEnd)
	end.Counts = &internalv1.StageCounts{RowsRead: int64(len(rows)), Entities: int64(len(rows))}
	return append(out, end)
}

// TestReplayBatchPublishesOnce: a starter whose rows were quarantined in a
// change file is published when the rows are replayed, sourced from the
// change file's lines (the same id it would have had), exactly once: a
// second replay of the same rows publishes nothing. A replay batch is not
// the feed speaking: the tenant's run date, feed clock and file count stay.
func TestReplayBatchPublishesOnce(t *testing.T) {
	env := newEnv(t)
	h := newHarness(t, env)
	baseline(h)

	f2 := newFile(tenantRXX, "2024-04-05", 2)
	start := f2.start()
	other := []internalv1.EntityRecord{f2.person(P{ID: 20000001, NHS: "1000001"}), f2.asg(A{Person: 20000001, ID: 40000001})}                        // 2, 3
	starter := []internalv1.EntityRecord{f2.person(P{ID: 20000021, NHS: "1000021"}), f2.asg(A{Person: 20000021, ID: 40000021, Start: "2024-04-05"})} // 4, 5
	end := f2.end()

	// The file as the feed sent it, its starter's rows quarantined.
	if ev := h.events(h.feed(append(append([]internalv1.EntityRecord{start}, other...), end)...)); len(ev) != 0 {
		t.Fatalf("change file without the starter published %v", ev)
	}
	before := h.p.tenants[tenantRXX].hdr

	// The rows replayed; the PRA and ASA split by a restart in between.
	batch := replayBatch("rp-1", "2024-04-05", starter...)
	h.feed(batch[:2]...)
	h = h.restored()
	out := h.feed(batch[2:]...)
	ev := h.events(out)
	want := []got{{File: f2.info.Name, Line: 5, Type: eventStarter, PersonID: "20000021", EmployeeNumber: "30000021",
		Effective: "2024-04-05", AssignmentNumber: "30000021"}}
	assertEvents(t, ev, want)
	starterID := eventID(tenantRXX, eventStarter, "20000021", "", "30000021", f2.info.Sha256, 5)
	if got := ids(h.decode(out)); !slices.Equal(got, []string{starterID}) {
		t.Errorf("replayed starter id %v, want %s (sourced from %s line 5)", got, starterID, f2.info.Name)
	}
	reps := h.reports(out)
	if len(reps) != 1 || reps[0].ReplayID == nil || *reps[0].ReplayID != "rp-1" || reps[0].File != batch[0].File ||
		reps[0].EventsEmitted[eventStarter] != 1 {
		t.Fatalf("replay report %+v", reps)
	}
	after := h.p.tenants[tenantRXX].hdr
	if after.Open != nil || after.LastRun != before.LastRun || after.LastFileMs != before.LastFileMs || after.Files != before.Files {
		t.Errorf("tenant header after replay %+v, want as before %+v", after, before)
	}

	// The same rows again: state has them, nothing new.
	again := h.feed(replayBatch("rp-2", "2024-04-05", starter...)...)
	if ev := h.events(again); len(ev) != 0 {
		t.Errorf("second replay published %v", ev)
	}
	if reps := h.reports(again); len(reps) != 1 || *reps[0].ReplayID != "rp-2" {
		t.Errorf("second replay report %+v", reps)
	}

	// The id is the one the file would have given had the rows passed.
	h2 := newHarness(t, env)
	baseline(h2)
	whole := ids(h2.decode(h2.feed(append(append(append([]internalv1.EntityRecord{start}, other...), starter...), end)...)))
	if !reflect.DeepEqual(whole, []string{starterID}) {
		t.Errorf("the change file with its starter gives ids %v, want %s", whole, starterID)
	}
}
