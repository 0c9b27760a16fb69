package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/gen"
)

// `esrflow validate` over a generated --faults run reports exactly the
// rows the generator's truth says must be quarantined, under exactly the
// rule codes it names, and exactly its warnings — the command itself, from
// files on disk to the JSON report, not a copy of its path.
func TestValidateCommandMatchesGeneratorTruth(t *testing.T) {
	dir := t.TempDir()
	cfg := gen.Config{Tenant: "RXX", VPD: "412", Staff: 400, Days: 6, Seed: 3, Faults: true,
		Start: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)}
	res, err := gen.Generate(cfg, gen.DirSink(dir))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"validate", "--format", "json", "--max-lines", "1000000", "--tenants", "RXX=412"}
	for _, f := range res.Files { // the full file first, then the change files in order
		args = append(args, filepath.Join(dir, filepath.FromSlash(f.Path)))
	}
	code, out, errOut := runCLI(t, args...)
	if code != 1 {
		t.Errorf("exit status %d, want 1 (rows quarantined); stderr %s", code, errOut)
	}
	rep := decodeReport(t, out)

	tf, err := os.Open(filepath.Join(dir, "truth.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	truth, err := gen.ReadTruth(tf)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	rulesPlanted := map[string]bool{}
	for _, tl := range truth {
		switch tl.Kind {
		case gen.KindQuarantine:
			want[fmt.Sprintf("%s:%d %s error", filepath.Base(tl.File), tl.Line, tl.Rule)] = true
			rulesPlanted[tl.Rule] = true
		case gen.KindWarning:
			want[fmt.Sprintf("%s:%d %s warning", filepath.Base(tl.File), tl.Line, tl.Rule)] = true
		}
	}
	if len(rulesPlanted) < 10 {
		t.Fatalf("the run plants %d error rules; the check needs a run that plants many", len(rulesPlanted))
	}
	got := map[string]bool{}
	for _, f := range rep.Files {
		if f.Verdict != verdictAccepted {
			t.Errorf("%s: %s (%s); the generator keeps its files within budget", f.File, f.Verdict, f.Reason)
		}
		for _, v := range f.Violations {
			if v.MoreLines > 0 {
				t.Fatalf("%s %s: lines cut at --max-lines", f.File, v.Code)
			}
			for _, l := range v.Lines {
				got[fmt.Sprintf("%s:%d %s %s", f.File, l, v.Code, v.Severity)] = true
			}
		}
	}
	var missing, extra []string
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	for _, k := range missing {
		t.Errorf("truth %s: not reported", k)
	}
	for _, k := range extra {
		t.Errorf("reported %s: not in the truth", k)
	}
	t.Logf("%d files, %d truth violations over %d error rules, all reported and nothing else", len(rep.Files), len(want), len(rulesPlanted))
}
