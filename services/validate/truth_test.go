package validate_test

import (
	"fmt"
	"maps"
	"sort"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

var truthCfg = gen.Config{Tenant: "RXX", VPD: "412", Staff: 2000, Days: 10, Seed: 1}

// stageOf is the stage that runs a rule, as the catalogue says.
func stageOf(code string) internalv1.Stage {
	if r, ok := rules.Lookup(code); ok && r.Stage == rules.StageNormalise {
		return internalv1.StageNormalise
	}
	return internalv1.StageValidate
}

// TestTruth runs the synthetic trust through normalise and validate: with
// clean data nothing is quarantined; with faults the quarantine records of
// both stages are exactly truth.jsonl's quarantine lines, and every file's
// counts reconcile at both stages.
func TestTruth(t *testing.T) {
	for _, faults := range []bool{false, true} {
		t.Run(fmt.Sprintf("faults=%v", faults), func(t *testing.T) {
			cfg := truthCfg
			cfg.Faults = faults
			g := generate(t, cfg)
			h := newHarness(t)
			out := h.run(flatten(g.files))

			want := map[string]bool{}
			for _, tl := range g.truth {
				if tl.Kind == gen.KindQuarantine {
					want[fmt.Sprintf("%s:%d %s %s %q", tl.File, tl.Line, tl.RecordType, tl.Rule, tl.Field)] = true
				}
			}
			if faults && len(want) != 8*cfg.Days {
				t.Fatalf("truth has %d quarantine lines, want %d", len(want), 8*cfg.Days)
			}
			// Every quarantined row carries all its violations: the errors
			// must be exactly the truth's quarantine lines, and a warning on
			// a quarantined row must be a truth warning line.
			wantWarn := map[string]bool{}
			wantStages := map[internalv1.Stage]int{}
			for _, tl := range g.truth {
				switch tl.Kind {
				case gen.KindWarning:
					wantWarn[fmt.Sprintf("%s:%d %s %s %q", tl.File, tl.Line, tl.RecordType, tl.Rule, tl.Field)] = true
				case gen.KindQuarantine:
					wantStages[stageOf(tl.Rule)]++
				}
			}
			got := map[string]bool{}
			byStage := map[internalv1.Stage]int{}
			for _, r := range out.quarantined {
				q := h.decodeQuarantine(r)
				errors := 0
				for _, v := range q.Violations {
					k := fmt.Sprintf("%s:%d %s %s %q", q.Lineage.FileName, q.Lineage.Line, q.Raw.RecordType, v.Rule, v.Field)
					if v.Severity == internalv1.SeverityWarning {
						if !wantWarn[k] {
							t.Errorf("unexpected warning on a quarantined row: %s", k)
						}
						continue
					}
					errors++
					if got[k] {
						t.Errorf("quarantined twice: %s", k)
					}
					got[k] = true
					if want := stageOf(v.Rule); q.Stage != want {
						t.Errorf("%s quarantined by %s, want %s", k, q.Stage, want)
					}
					if q.Lineage.Tenant != "RXX" || q.Vpd != "412" || len(q.Lineage.FileSha256) != 64 || !q.QuarantinedAt.Equal(fixedNow) {
						t.Errorf("%s: lineage/vpd/time wrong: %+v", k, q)
					}
				}
				if errors == 0 {
					t.Errorf("%s:%d quarantined with no error: %+v", q.Lineage.FileName, q.Lineage.Line, q.Violations)
				}
				byStage[q.Stage]++
			}
			for _, k := range sorted(want) {
				if !got[k] {
					t.Errorf("missing quarantine: %s", k)
				}
			}
			for _, k := range sorted(got) {
				if !want[k] {
					t.Errorf("unexpected quarantine: %s", k)
				}
			}
			if faults && !maps.Equal(byStage, wantStages) {
				t.Errorf("quarantined by stage %v, truth says %v", byStage, wantStages)
			}
			t.Logf("%d raw rows -> %d normalised, %d validated, %d quarantined %v", len(flatten(g.files)), len(out.normalised), len(out.validated), len(out.quarantined), byStage)
			checkCounts(t, h, g, out)
		})
	}
}

// checkCounts checks every file's FILE_END at both stages: rows_read is the
// file's row count and the parts add up to it.
func checkCounts(t *testing.T, h *harness, g generated, out output) {
	t.Helper()
	rows := map[string]int64{}
	for _, fi := range g.res.Files {
		rows[fi.Name] = int64(fi.Rows)
	}
	quarantinedIn := map[string]int64{}
	for _, r := range out.quarantined {
		quarantinedIn[h.decodeQuarantine(r).Lineage.FileName]++
	}
	for stage, recs := range map[string]any{"normalised": out.normalised, "validated": out.validated} {
		ends := 0
		for _, r := range recs.([]*kgo.Record) {
			e := h.decodeEntity(r)
			if e.Kind != internalv1.EntityRecordKindFileEnd {
				continue
			}
			ends++
			c := e.Counts
			if c == nil {
				t.Fatalf("%s %s: FILE_END without counts", stage, e.File.Name)
			}
			if c.RowsRead != rows[e.File.Name] || c.RowsRead != c.Entities+c.Corrections+c.Ignored+c.Quarantined {
				t.Errorf("%s %s: counts %+v do not reconcile with %d rows", stage, e.File.Name, *c, rows[e.File.Name])
			}
			if stage == "validated" && c.Quarantined != quarantinedIn[e.File.Name] {
				t.Errorf("%s: quarantined %d, want %d quarantine records", e.File.Name, c.Quarantined, quarantinedIn[e.File.Name])
			}
		}
		if ends != len(g.res.Files) {
			t.Errorf("%s: %d FILE_END records, want %d", stage, ends, len(g.res.Files))
		}
	}
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestTruthGOv1 runs the same kind of trust written as GO v1 through
// normalise and validate: nothing is quarantined, every file's counts
// reconcile at both stages although normalise derives organisation and
// location entities from the ASG rows (they are not rows), and validate
// accepts those entities.
func TestTruthGOv1(t *testing.T) {
	cfg := truthCfg
	cfg.Staff, cfg.Format, cfg.FullEvery = 600, gen.FormatGOv1, 4
	g := generate(t, cfg)
	h := newHarness(t)
	out := h.run(flatten(g.files))
	for _, r := range out.quarantined {
		q := h.decodeQuarantine(r)
		t.Errorf("quarantined %s:%d %s: %+v", q.Lineage.FileName, q.Lineage.Line, q.Raw.RecordType, q.Violations)
	}
	derived := map[string]int{}
	for _, r := range out.validated {
		if e := h.decodeEntity(r); rules.Derived(e) {
			derived[rules.KindOf(e.Entity)]++
		}
	}
	if derived[rules.KindOrganisation] == 0 || derived[rules.KindLocation] == 0 {
		t.Errorf("validated derived entities %v, want organisations and locations", derived)
	}
	t.Logf("%d raw rows -> %d normalised, %d validated (derived %v)", len(flatten(g.files)), len(out.normalised), len(out.validated), derived)
	checkCounts(t, h, g, out)
}
