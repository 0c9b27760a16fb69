package validate_test

import (
	"fmt"
	"sort"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

var truthCfg = gen.Config{Tenant: "RXX", VPD: "412", Staff: 2000, Days: 10, Seed: 1}

// normaliseRules are the rules the GO v2 parser reports; normalise
// quarantines them (and a keyless ignored row); validate the rest.
var normaliseRules = map[string]bool{}

func init() {
	for _, slug := range []string{"column-count", "record-type", "delete-id", "date", "timestamp"} {
		normaliseRules[rules.CodeOf(slug)] = true
	}
}

// truthRule is the catalogue code of a truth line's rule. The generator's
// older truth names validate's first rules by slug; the kind of record and
// the field say which catalogue rule they became.
func truthRule(tl gen.TruthLine) string {
	var code string
	switch tl.Rule {
	case "required":
		code = map[string]string{"PRA": "ESR-R010", "ASA": "ESR-R011", "POA": "ESR-R012", "ORA": "ESR-R013", "LCA": "ESR-R014"}[tl.RecordType]
	case "reference":
		code = map[string]string{"person_id": "ESR-X001", "position_id": "ESR-X002", "organisation_id": "ESR-X003",
			"location_id": "ESR-X004", "supervisor_person_id": "ESR-X005"}[tl.Field]
	}
	if code != "" {
		return code
	}
	return rules.CodeOf(tl.Rule)
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
					want[fmt.Sprintf("%s:%d %s %s %q", tl.File, tl.Line, tl.RecordType, truthRule(tl), tl.Field)] = true
				}
			}
			if faults && len(want) != 8*cfg.Days {
				t.Fatalf("truth has %d quarantine lines, want %d", len(want), 8*cfg.Days)
			}
			got := map[string]bool{}
			byStage := map[internalv1.Stage]int{}
			for _, r := range out.quarantined {
				q := h.decodeQuarantine(r)
				if len(q.Violations) != 1 {
					t.Errorf("%s:%d: %d violations %+v, want exactly 1", q.Lineage.FileName, q.Lineage.Line, len(q.Violations), q.Violations)
					continue
				}
				v := q.Violations[0]
				k := fmt.Sprintf("%s:%d %s %s %q", q.Lineage.FileName, q.Lineage.Line, q.Raw.RecordType, rules.CodeOf(v.Rule), v.Field)
				if got[k] {
					t.Errorf("quarantined twice: %s", k)
				}
				got[k] = true
				byStage[q.Stage]++
				wantStage := internalv1.StageValidate
				if normaliseRules[rules.CodeOf(v.Rule)] || q.Raw.RecordType == "ADA" {
					wantStage = internalv1.StageNormalise
				}
				if q.Stage != wantStage {
					t.Errorf("%s quarantined by %s, want %s", k, q.Stage, wantStage)
				}
				if q.Lineage.Tenant != "RXX" || q.Vpd != "412" || len(q.Lineage.FileSha256) != 64 ||
					v.Severity != internalv1.SeverityError || !q.QuarantinedAt.Equal(fixedNow) {
					t.Errorf("%s: lineage/vpd/severity/time wrong: %+v", k, q)
				}
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
			if faults && (byStage[internalv1.StageNormalise] != 6*cfg.Days || byStage[internalv1.StageValidate] != 2*cfg.Days) {
				t.Errorf("by stage %v, want %d by normalise and %d by validate", byStage, 6*cfg.Days, 2*cfg.Days)
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
