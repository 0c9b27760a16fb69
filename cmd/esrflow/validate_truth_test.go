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

// `esrflow validate` over a generated GO v1 trust links every ASG to the PER
// before it, as normalise does: every file accepted, nothing reported, each
// row counted once (the organisations and locations derived from ASG rows
// are judged but counted nowhere). A hand-made file with an ASG before any
// PER, and one numbered after another employee, reports ESR-R009 at both.
func TestValidateCommandGOv1(t *testing.T) {
	dir := t.TempDir()
	cfg := gen.Config{Tenant: "RXX", VPD: "412", Staff: 300, Days: 4, Seed: 3, Format: gen.FormatGOv1,
		Start: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)}
	res, err := gen.Generate(cfg, gen.DirSink(dir))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"validate", "--format", "json", "--tenants", "RXX=412"}
	for _, f := range res.Files {
		args = append(args, filepath.Join(dir, filepath.FromSlash(f.Path)))
	}
	code, out, errOut := runCLI(t, args...)
	if code != 0 {
		t.Errorf("exit status %d, want 0; stderr %s", code, errOut)
	}
	rep := decodeReport(t, out)
	if len(rep.Files) != len(res.Files) {
		t.Fatalf("%d file reports, want %d", len(rep.Files), len(res.Files))
	}
	for i, f := range rep.Files {
		if f.Verdict != verdictAccepted || len(f.Violations) != 0 || f.Totals.Rows != int64(res.Files[i].Rows) ||
			f.Totals.Accepted != f.Totals.Rows {
			t.Errorf("%s: %s, totals %+v, %d violations (first %+v); want every one of %d rows accepted",
				f.File, f.Verdict, f.Totals, len(f.Violations), f.Violations, res.Files[i].Rows)
		}
	}

	const name = "GO_412_ASG_20240301_Full_00000001.DAT"
	per := `PER,20990417,31004581,"Ms.","Okafor","Adaeze","","","Female",19880214,JT482913C,20240301,,Yes,"","","","","","","","","","","a.okafor@example.nhs.uk","","",,"",No`
	asg := func(id, number string) string {
		return `ASG,` + id + `,` + number + `,20240301,,"Active Assignment",Contracted,"412 Monthly","Calendar Month","","","","","","",0,,,"","",FT,"Permanent",1,37.5,"Week",37.5,,,"","","","","412 Cardiology Outpatients",RXX,"5102277|Staff Nurse|N6A|Cardiology|","Staff Nurse","N6A","412 z 0231 Ward 7","NHS|XR05|Review Body Band 5","Nursing and Midwifery Registered|Staff Nurse","","",,,""`
	}
	body := "HDR," + name + "\n" + asg("41000001", "31004581") + "\n" + per + "\n" + asg("41000002", "31004581") + "\n" +
		asg("41000003", "39999999-2") + "\nFTR," + name + ",4\n"
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "validate", "--format", "json", "--tenants", "RXX=412", path)
	if code != 1 {
		t.Errorf("exit status %d, want 1; stderr %s", code, errOut)
	}
	f := decodeReport(t, out).Files[0]
	var got []string
	for _, v := range f.Violations {
		for _, l := range v.Lines {
			got = append(got, fmt.Sprintf("%s:%d", v.Code, l))
		}
	}
	if !slices.Equal(got, []string{"ESR-R009:2", "ESR-R009:5"}) || f.Totals.Rows != 4 || f.Totals.Accepted != 2 || f.Totals.Quarantined != 2 {
		t.Errorf("violations %v, totals %+v; want ESR-R009 at lines 2 and 5, 2 of 4 rows accepted", got, f.Totals)
	}
}
