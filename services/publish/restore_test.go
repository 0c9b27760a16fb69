package publish

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// A processor rebuilt from the changelog at any point (mid-file, mid-group,
// right after a FILE_START that fired held leavers) carries on exactly as
// one that never stopped: the same events with the same ids, the same
// reports and the same held leavers.
func TestRestoreMidStream(t *testing.T) {
	g := generate(t, truthConfig())
	env := newEnv(t)
	var all []internalv1.EntityRecord
	for _, s := range g.streams {
		all = append(all, s...)
	}
	ref := newHarness(t, env)
	ref.feed(all...)
	wantEv, wantRep := eventsAndReports(ref, ref.out)

	// Cut points: a mid-group ASA in a change file, a half, after the
	// FILE_START of each of a few files, and a few strides.
	cuts := map[int]bool{len(all) / 2: true}
	start := 0
	for i, s := range g.streams {
		if i >= 1 && i <= 9 && i%2 == 1 {
			cuts[start+1] = true // just after FILE_START
		}
		if i == 3 {
			for j := 1; j < len(s); j++ {
				if s[j-1].Raw != nil && s[j-1].Raw.RecordType == "PRA" && s[j].Raw != nil && s[j].Raw.RecordType == "ASA" {
					cuts[start+j] = true // between a PRA and its first ASA
					break
				}
			}
		}
		start += len(s)
	}
	for k := 1; k < 7; k++ {
		cuts[len(all)*k/7] = true
	}
	points := slices.Sorted(func(yield func(int) bool) {
		for c := range cuts {
			if !yield(c) {
				return
			}
		}
	})

	h := newHarness(t, env)
	var out []*kgo.Record
	prev := 0
	for _, c := range points {
		out = append(out, h.feed(all[prev:c]...)...)
		h = h.restored()
		prev = c
	}
	out = append(out, h.feed(all[prev:]...)...)
	gotEv, gotRep := eventsAndReports(h, out)
	if !reflect.DeepEqual(gotEv, wantEv) {
		t.Errorf("events after %d restores differ: %d vs %d uninterrupted", len(points), len(gotEv), len(wantEv))
		for i := range min(len(gotEv), len(wantEv)) {
			if gotEv[i] != wantEv[i] {
				t.Errorf("first difference at %d:\n got  %s %s\n want %s %s", i, gotEv[i], gotEv[i].ID, wantEv[i], wantEv[i].ID)
				break
			}
		}
	}
	if !reflect.DeepEqual(gotRep, wantRep) {
		t.Errorf("reports differ:\n got  %+v\n want %+v", gotRep, wantRep)
	}
	if a, b := h.p.scheduledLeavers("RXX"), ref.p.scheduledLeavers("RXX"); !reflect.DeepEqual(a, b) || len(a) == 0 {
		t.Errorf("held leavers differ after restores: %d vs %d", len(a), len(b))
	}
	t.Logf("%d events, %d reports, %d restore points", len(gotEv), len(gotRep), len(points))
}

// eventsAndReports decodes records in produced order: events with ids,
// reports without their timestamp.
func eventsAndReports(h *harness, recs []*kgo.Record) ([]got, []internalv1.FileReport) {
	var ev []got
	var reps []internalv1.FileReport
	for _, d := range h.decode(recs) {
		if d.report != nil {
			r := *d.report
			r.ReportedAt = time.Time{} // the clock differs between runs
			reps = append(reps, r)
			continue
		}
		ev = append(ev, d.got)
	}
	return ev, reps
}

// Released drops exactly the partition's tenants from memory.
func TestReleased(t *testing.T) {
	env := newEnv(t)
	h := newHarness(t, env)
	baseline(h)
	other := newFile("RYY", "2024-04-01", 1)
	h.feed(other.start(), other.person(P{ID: 20000005, Term: "2024-05-01"}), other.asg(A{Person: 20000005, ID: 1}), other.end())
	// Both tenants came in on partition 0 in the harness; move RYY to 1.
	h.p.tenants["RYY"].partition = 1
	h.p.Released(0)
	if len(h.p.scheduledLeavers("RXX")) != 0 || len(h.p.scheduledLeavers("RYY")) != 1 {
		t.Errorf("after Released(0): RXX %d, RYY %d held", len(h.p.scheduledLeavers("RXX")), len(h.p.scheduledLeavers("RYY")))
	}
}
