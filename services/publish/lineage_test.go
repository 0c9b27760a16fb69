package publish

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// stamped gives every entity record the lineage stamp entity v4 carries,
// derived from its line so each event's can be told apart.
func stamped(recs []internalv1.EntityRecord) []internalv1.EntityRecord {
	for i := range recs {
		r := &recs[i]
		if r.Kind != internalv1.EntityRecordKindEntity {
			continue
		}
		raw, mv := fmt.Sprintf("%064x", r.Lineage.Line), "mp-00000000abcd"
		in := time.Date(2024, 4, 1, 6, 0, 0, 0, time.UTC).Add(time.Duration(r.Lineage.Line) * time.Second)
		no, va := in.Add(time.Millisecond), in.Add(2*time.Millisecond)
		r.RawSha256, r.MappingVersion, r.IngestedAt, r.NormalisedAt, r.ValidatedAt = &raw, &mv, &in, &no, &va
		r.RuleSetVersion = "rs-0123456789ab"
	}
	return recs
}

// withIDs are the events among recs with their ids (h.events drops them).
func withIDs(h *harness, recs []*kgo.Record) []got {
	var out []got
	for _, d := range h.decode(recs) {
		if d.report == nil && d.batch == nil {
			out = append(out, d.got)
		}
	}
	return out
}

// checkLineages requires one lineage record per event, in the event's
// order, naming it and the stamp of the row on its source line.
func checkLineages(t *testing.T, h *harness, evs []got, ls []*internalv1.EventLineage) {
	t.Helper()
	if len(ls) != len(evs) || len(evs) == 0 {
		t.Fatalf("%d lineage records for %d events", len(ls), len(evs))
	}
	for i, e := range evs {
		l := ls[i]
		if l.EventID != e.ID || l.Tenant != tenantRXX || l.Topic != "esr.rxx."+e.Type+".v1" {
			t.Errorf("lineage %d: %s %s %s, want event %s of %s", i, l.EventID, l.Tenant, l.Topic, e.ID, e.Type)
		}
		in := time.Date(2024, 4, 1, 6, 0, 0, 0, time.UTC).Add(time.Duration(e.Line) * time.Second)
		if l.RawSha256 == nil || *l.RawSha256 != fmt.Sprintf("%064x", e.Line) {
			t.Errorf("event %s (line %d): raw_sha256 %v", e.ID, e.Line, l.RawSha256)
		}
		if l.MappingVersion == nil || *l.MappingVersion != "mp-00000000abcd" || l.RuleSetVersion == nil || *l.RuleSetVersion != "rs-0123456789ab" {
			t.Errorf("event %s: versions %v %v", e.ID, l.MappingVersion, l.RuleSetVersion)
		}
		if l.IngestedAt == nil || !l.IngestedAt.Equal(in) || l.NormalisedAt == nil || !l.NormalisedAt.Equal(in.Add(time.Millisecond)) ||
			l.ValidatedAt == nil || !l.ValidatedAt.Equal(in.Add(2*time.Millisecond)) || l.PublishedAt.IsZero() {
			t.Errorf("event %s: times %v %v %v %v", e.ID, l.IngestedAt, l.NormalisedAt, l.ValidatedAt, l.PublishedAt)
		}
	}
}

// TestLineagePerEvent: every event publish writes has its lineage record in
// the same transaction, carrying the stamp of the row it names — also a
// held leaver that falls due in a later file after a restart (the stamp is
// kept in state with it).
func TestLineagePerEvent(t *testing.T) {
	h := newHarness(t, newEnv(t))
	_, recs := baselineRecords()
	out := h.feed(stamped(recs)...)
	checkLineages(t, h, withIDs(h, out), h.lineages(out))

	// The leaver held until 2024-04-10 fires after a restart.
	h = h.restored()
	f := newFile(tenantRXX, "2024-04-10", 2)
	out = h.feed(f.start())
	evs := withIDs(h, out)
	if len(evs) != 1 || evs[0].Type != eventLeaver {
		t.Fatalf("FILE_START of 2024-04-10 emitted %v, want the held leaver", evs)
	}
	checkLineages(t, h, evs, h.lineages(out))
}

// TestLineageWithoutStamp: records from before entity v4 still get a
// lineage record, its unknowns null.
func TestLineageWithoutStamp(t *testing.T) {
	h := newHarness(t, newEnv(t))
	_, recs := baselineRecords()
	out := h.feed(recs...)
	evs, ls := withIDs(h, out), h.lineages(out)
	if len(ls) != len(evs) || len(evs) == 0 {
		t.Fatalf("%d lineage records for %d events", len(ls), len(evs))
	}
	for i, l := range ls {
		if l.EventID != evs[i].ID || l.RawSha256 != nil || l.MappingVersion != nil || l.IngestedAt != nil || l.ValidatedAt != nil {
			t.Errorf("lineage %d: %+v", i, l)
		}
	}
}
