package ingest

import (
	"slices"
	"testing"
	"time"
)

// awaits lists what a change file waits for: the missing sequences (held
// ones are not missing, a huge jump lists a bounded number), or the run
// its previous-run date should continue from; nil for the next link.
func TestAwaits(t *testing.T) {
	s := &Service{holds: newHolds()}
	last := entry{Tenant: "RXX", VPD: "412", Interface: "EXP", Name: "GO_412_EXP_GOC_20240402_00000002.DAT", Sequence: 2, RunDate: "2024-04-02"}
	s.holds.put(holdEntry{Tenant: "RXX", VPD: "412", Interface: "EXP", SHA256: "held4", Sequence: 4})
	d := func(s string) *time.Time {
		v, _ := time.Parse(time.DateOnly, s)
		return &v
	}
	f := func(seq int64, prev *time.Time) chainFacts {
		return chainFacts{tenant: "RXX", vpd: "412", iface: "EXP", name: "GO_412_EXP_GOC_20240409_00000009.DAT", sha: "new", seq: seq, prevRun: prev}
	}
	if h := s.awaits(f(3, d("2024-04-02")), last); h != nil {
		t.Errorf("next link held: %+v", h)
	}
	if h := s.awaits(f(3, nil), last); h != nil {
		t.Errorf("next link without a previous run (GO v1) held: %+v", h)
	}
	h := s.awaits(f(6, d("2024-04-05")), last)
	if h == nil || h.rule != RuleSequenceGap || !slices.Equal(h.awaiting, []int64{3, 5}) ||
		h.reason != "ESR-F026 GO_412_EXP_GOC_20240409_00000009.DAT: sequence-gap: sequence 6 does not follow 2, the last accepted for feed 412/EXP (GO_412_EXP_GOC_20240402_00000002.DAT): waiting for sequence 3, 5" {
		t.Errorf("gap: %+v", h)
	}
	h = s.awaits(f(5_000_000, nil), last)
	if h == nil || len(h.awaiting) != maxAwaiting || h.awaiting[0] != 3 || h.awaiting[1] != 5 ||
		h.reason != "ESR-F026 GO_412_EXP_GOC_20240409_00000009.DAT: sequence-gap: sequence 5000000 does not follow 2, the last accepted for feed 412/EXP (GO_412_EXP_GOC_20240402_00000002.DAT): waiting for 4999996 missing sequences from 3" {
		t.Errorf("huge jump: %d listed, %q", len(h.awaiting), h.reason)
	}
	for _, prev := range []string{"2024-04-01", "2024-04-03"} {
		h = s.awaits(f(3, d(prev)), last)
		if h == nil || h.rule != RuleRunWindow || h.awaitingPrev != "2024-04-02" || len(h.awaiting) != 0 {
			t.Errorf("previous run %s: %+v", prev, h)
		}
	}
}
