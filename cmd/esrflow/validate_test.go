package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The fixtures (testdata/validate/README.md says what each holds).
const (
	vdir        = "testdata/validate/"
	vFull       = vdir + "GO_412_EXP_GOF_20240301_00000001.DAT"
	vChange     = vdir + "GO_412_EXP_GOC_20240302_00000002.DAT"
	vOverBudget = vdir + "GO_412_EXP_GOC_20240303_00000003.DAT"
	vBadTrailer = vdir + "GO_412_EXP_GOC_20240304_00000004.DAT"
	vTenants    = vdir + "tenants.yaml"
)

// plantedLines are the change fixture's bad rows: the rule each must be
// reported under, at its line. Golden files are regenerated when rules
// change; these are not, so a rule that stops catching its row fails here.
var plantedLines = map[string]int64{
	"ESR-R001": 143, "ESR-R002": 144, "ESR-R003": 145, "ESR-V001": 146, "ESR-V002": 147,
	"ESR-R010": 148, "ESR-R011": 149, "ESR-R025": 150, "ESR-X001": 151, "ESR-X002": 152,
	"ESR-X003": 153, "ESR-X006": 154, "ESR-X007": 155, "ESR-X008": 156, "ESR-X004": 157,
}

// goodPlanted are planted rows that must pass: an assignment naming a
// person and a position defined further down the file (142), those two,
// and an assignment of 45 hours a week (160, which tenants.yaml's CEL rule
// quarantines).
var goodPlanted = []int64{142, 158, 159, 160}

func updateGoldens() bool { return os.Getenv("UPDATE_GOLDEN") == "1" }

// runCLI runs an esrflow command line the way main does and returns its
// exit status and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := dispatch(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// golden compares got with testdata/validate/<name>.golden (UPDATE_GOLDEN=1
// rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(vdir, name+".golden")
	if updateGoldens() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 writes it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the output (UPDATE_GOLDEN=1 rewrites it after a deliberate change):\n--- got\n%s", path, got)
	}
}

func decodeReport(t *testing.T, out string) validateReport {
	t.Helper()
	var rep validateReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out)
	}
	if rep.Version != reportFormatVersion {
		t.Errorf("report version = %d, want %d", rep.Version, reportFormatVersion)
	}
	return rep
}

func violationsByCode(f *fileReport) map[string]ruleReport {
	out := map[string]ruleReport{}
	for _, v := range f.Violations {
		out[v.Code] = v
	}
	return out
}

func TestValidateGoldenReports(t *testing.T) {
	cases := []struct {
		name string
		args []string
		exit int
	}{
		{"clean-full", []string{vFull}, 0},
		{"full-then-change", []string{vFull, vChange}, 1},
		{"change-alone", []string{vChange}, 1},
		{"over-budget", []string{vFull, vOverBudget}, 1},
		{"bad-trailer", []string{vBadTrailer}, 1},
		{"tenant-override", []string{"--tenants", vTenants, vFull, vChange}, 1},
		{"max-lines", []string{"--max-lines", "3", vOverBudget}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, format := range []string{"text", "json"} {
				args := append([]string{"validate", "--format", format}, tc.args...)
				code, out, errOut := runCLI(t, args...)
				if code != tc.exit {
					t.Errorf("%s: exit status %d, want %d; stderr: %s", format, code, tc.exit, errOut)
				}
				ext := ".txt"
				if format == "json" {
					ext = ".json"
				}
				golden(t, tc.name+ext, out)
			}
		})
	}
}

// Every planted row is reported under its rule at its line, and the rows
// with forward references pass: the goldens aside, the checks themselves.
func TestValidatePlantedRows(t *testing.T) {
	code, out, _ := runCLI(t, "validate", "--format", "json", vFull, vChange)
	if code != 1 {
		t.Fatalf("exit status %d, want 1 (rows quarantined)", code)
	}
	rep := decodeReport(t, out)
	if len(rep.Files) != 2 {
		t.Fatalf("%d file reports, want 2", len(rep.Files))
	}
	full, chg := rep.Files[0], rep.Files[1]
	if full.Verdict != verdictAccepted || full.Totals.Quarantined != 0 || len(full.Violations) != 0 {
		t.Errorf("full file: %s with %d quarantined, violations %v; want a clean ACCEPTED", full.Verdict, full.Totals.Quarantined, full.Violations)
	}
	if chg.Verdict != verdictAccepted || !chg.ReferencesChecked {
		t.Errorf("change file: verdict %s, references checked %v; want ACCEPTED (within budget), checked", chg.Verdict, chg.ReferencesChecked)
	}
	got := violationsByCode(chg)
	for rule, line := range plantedLines {
		v, ok := got[rule]
		if !ok {
			t.Errorf("%s: not reported (planted at line %d)", rule, line)
			continue
		}
		if !slices.Contains(v.Lines, line) {
			t.Errorf("%s: lines %v, want %d among them", rule, v.Lines, line)
		}
	}
	for _, v := range chg.Violations {
		for _, good := range goodPlanted {
			if slices.Contains(v.Lines, good) {
				t.Errorf("line %d (a good row) reported under %s", good, v.Code)
			}
		}
	}
	if w := got["ESR-X004"]; w.Severity != "warning" {
		t.Errorf("ESR-X004 severity %q, want warning", w.Severity)
	}
	if chg.Totals.Rows != chg.Totals.Accepted+chg.Totals.Quarantined+chg.Totals.Ignored {
		t.Errorf("totals do not reconcile: %+v", chg.Totals)
	}
	if chg.Totals.Warned < 1 {
		t.Errorf("warned = %d, want the ESR-X004 row", chg.Totals.Warned)
	}

	// Alone, the change file's references outside it are not checked: the
	// unknown person (X001) is counted, not reported.
	_, out, _ = runCLI(t, "validate", "--format", "json", vChange)
	alone := decodeReport(t, out).Files[0]
	if alone.ReferencesChecked || alone.Unchecked == 0 {
		t.Errorf("change alone: references checked %v, unchecked %d; want false and > 0", alone.ReferencesChecked, alone.Unchecked)
	}
	if _, ok := violationsByCode(alone)["ESR-X001"]; ok {
		t.Error("change alone: ESR-X001 reported though earlier files are unknown")
	}
}

// A file over its error budget is rejected whole with the top rules; a file
// with a bad trailer is rejected by its file rule with the line.
func TestValidateRejections(t *testing.T) {
	_, out, _ := runCLI(t, "validate", "--format", "json", vFull, vOverBudget, vBadTrailer)
	rep := decodeReport(t, out)
	ob, bt := rep.Files[1], rep.Files[2]
	if ob.Verdict != verdictRejected || !ob.Budget.Over || !strings.Contains(ob.Reason, "ESR-F025") || len(ob.TopRules) == 0 || ob.TopRules[0].Code != "ESR-V001" {
		t.Errorf("over budget: verdict %s over %v reason %q top %v; want REJECTED under ESR-F025, top rule ESR-V001", ob.Verdict, ob.Budget.Over, ob.Reason, ob.TopRules)
	}
	if bt.Verdict != verdictRejected || bt.FileRule == nil || bt.FileRule.Code != "ESR-F006" || bt.FileRule.Line != 8 {
		t.Errorf("bad trailer: verdict %s file rule %+v; want REJECTED by ESR-F006 at line 8", bt.Verdict, bt.FileRule)
	}
	if rep.Summary.Accepted != 1 || rep.Summary.Rejected != 2 || rep.Summary.ExitStatus != 1 {
		t.Errorf("summary %+v; want 1 accepted, 2 rejected, exit 1", rep.Summary)
	}
}

// A tenant's overrides change the outcome: with ESR-X007 off and ESR-X002 a
// warning, both rows pass (the second flagged); its CEL rule quarantines a
// row the baseline accepts; and the rule-set version differs from the
// baseline's.
func TestValidateTenantOverride(t *testing.T) {
	_, out, _ := runCLI(t, "validate", "--format", "json", vFull, vChange)
	base := decodeReport(t, out).Files[1]
	_, out, _ = runCLI(t, "validate", "--format", "json", "--tenants", vTenants, vFull, vChange)
	over := decodeReport(t, out).Files[1]
	if over.Tenant != "RXX" {
		t.Errorf("tenant %q, want RXX (inferred from VPD 412)", over.Tenant)
	}
	if over.RuleSetVersion == base.RuleSetVersion {
		t.Errorf("rule-set version %s is the baseline's", over.RuleSetVersion)
	}
	got := violationsByCode(over)
	if _, ok := got["ESR-X007"]; ok {
		t.Error("ESR-X007 reported though RXX disabled it")
	}
	if v := got["ESR-X002"]; v.Severity != "warning" {
		t.Errorf("ESR-X002 severity %q, want warning", v.Severity)
	}
	if v := got["RXX-001"]; v.Severity != "error" || !slices.Equal(v.Lines, []int64{160}) || v.Name != tenantRuleName || !strings.Contains(v.Message, "40") {
		t.Errorf("RXX-001 %+v; want the CEL rule's error at line 160 only, with the tenant's message", v)
	}
	if over.Totals.Quarantined != base.Totals.Quarantined-2+1 || over.Totals.Warned != base.Totals.Warned+1 {
		t.Errorf("quarantined %d warned %d; baseline %d and %d: want one row fewer quarantined (two let through, one caught), one more warned",
			over.Totals.Quarantined, over.Totals.Warned, base.Totals.Quarantined, base.Totals.Warned)
	}
	if over.Budget.MaxPercent != 25 || over.Budget.MinErrors != 5 {
		t.Errorf("budget %+v, want RXX's (25 %%, from 5 rows)", over.Budget)
	}
	// --tenant wins over the VPD: RYY judges the file with the baseline
	// rules but its own VPDs, so the header's VPD is unexpected.
	_, out, _ = runCLI(t, "validate", "--format", "json", "--tenants", vTenants, "--tenant", "ryy", vFull)
	f := decodeReport(t, out).Files[0]
	if f.Tenant != "RYY" || f.FileRule == nil || f.FileRule.Code != "ESR-F010" {
		t.Errorf("--tenant RYY: tenant %q file rule %+v; want RYY rejecting under ESR-F010 unexpected-vpd", f.Tenant, f.FileRule)
	}
}

func TestValidateExitStatus(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("tenants:\n  - code: RXX\n    vpds: [\"412\"]\n    validation:\n      rules:\n        ESR-X999: {disabled: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		exit int
		err  string
	}{
		{"clean", []string{vFull}, 0, ""},
		{"errors", []string{vFull, vChange}, 1, ""},
		{"no files", nil, 2, "no files"},
		{"unknown flag", []string{"--bogus", vFull}, 2, "bogus"},
		{"bad format", []string{"--format", "xml", vFull}, 2, "--format"},
		{"missing file", []string{vdir + "nope.DAT"}, 2, "nope.DAT"},
		{"unreadable tenants", []string{"--tenants", vdir + "nope.yaml", vFull}, 2, "--tenants"},
		{"bad override", []string{"--tenants", bad, vFull}, 2, "ESR-X999"},
		{"unknown tenant", []string{"--tenants", vTenants, "--tenant", "RZZ", vFull}, 2, "RZZ"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, append([]string{"validate"}, tc.args...)...)
			if code != tc.exit {
				t.Errorf("exit status %d, want %d; stderr: %s", code, tc.exit, errOut)
			}
			if !strings.Contains(errOut, tc.err) {
				t.Errorf("stderr %q does not mention %q", errOut, tc.err)
			}
		})
	}
}

// No report prints a value from a file: the fixture's names, NI numbers
// and dates of birth appear in no output.
func TestValidateReportsNoPersonalValues(t *testing.T) {
	var texts []string
	for _, format := range []string{"text", "json"} {
		_, out, errOut := runCLI(t, "validate", "--format", format, vFull, vChange, vOverBudget, vBadTrailer)
		texts = append(texts, out, errOut)
	}
	all := strings.Join(texts, "\n")
	b, err := os.ReadFile(vChange)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, "~")
		if f[0] != "PRA" || len(f) < 15 {
			continue
		}
		for _, v := range []string{f[6], f[7], f[13], f[14]} { // last and first name, date of birth, NI number
			if len(v) >= 4 && strings.Contains(all, v) {
				t.Errorf("a report holds a personal value from the file (PRA line, %d chars)", len(v))
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no PRA rows checked")
	}
}

func TestRulesCommand(t *testing.T) {
	code, out, errOut := runCLI(t, "rules")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "rules.txt", out)
	code, out, _ = runCLI(t, "rules", "--format", "json", "--stage", "validate", "--tenant", "RXX", "--tenants", vTenants)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	golden(t, "rules-rxx.json", out)
	var rep rulesReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Tenant != "RXX" || !strings.HasPrefix(rep.RuleSetVersion, "rs-") || rep.Budget.MaxPercent != 25 {
		t.Errorf("tenant %q version %q budget %+v", rep.Tenant, rep.RuleSetVersion, rep.Budget)
	}
	seen := 0
	for _, r := range rep.Rules {
		if r.Stage != "validate" {
			t.Errorf("%s: stage %s with --stage validate", r.Code, r.Stage)
		}
		switch r.Code {
		case "ESR-X007":
			seen++
			if r.Enabled || !r.Overridden {
				t.Errorf("ESR-X007 enabled %v overridden %v; want off, overridden", r.Enabled, r.Overridden)
			}
		case "ESR-X002":
			seen++
			if !r.Enabled || r.Severity != "warning" || !r.Overridden {
				t.Errorf("ESR-X002 %+v; want an enabled warning, overridden", r)
			}
		case "ESR-X001":
			seen++
			if !r.Enabled || r.Severity != "error" || r.Overridden {
				t.Errorf("ESR-X001 %+v; want the catalogue's", r)
			}
		}
	}
	if seen != 3 {
		t.Errorf("saw %d of the 3 checked rules", seen)
	}
	for _, args := range [][]string{{"--stage", "nope"}, {"--tenant", "RXX"}, {"--format", "xml"}, {"extra"}} {
		if code, _, _ := runCLI(t, append([]string{"rules"}, args...)...); code != 2 {
			t.Errorf("rules %v: exit %d, want 2", args, code)
		}
	}
}

// docs/validation.md's flag tables name the commands' flags with their
// defaults.
func TestValidationDocFlagTables(t *testing.T) {
	checkFlagTable(t, "docs/validation.md", "esrflow validate", commandFlags(t, runValidate))
	checkFlagTable(t, "docs/validation.md", "esrflow rules", commandFlags(t, runRules))
}

// The progress bar shows only on a terminal and only for large files, and
// passes every byte through.
func TestValidateProgressBars(t *testing.T) {
	if progressBars(&bytes.Buffer{}, false) != nil {
		t.Error("a bar for a writer that is not a terminal")
	}
	var w bytes.Buffer
	wrap := progressBars(&w, true)
	small := strings.NewReader("abc")
	if r, done := wrap("x", 3, small); r != io.Reader(small) {
		t.Error("a small file got a bar")
	} else {
		done()
	}
	data := bytes.Repeat([]byte("0123456789"), progressMinBytes/10+1)
	r, done := wrap("big.DAT", int64(len(data)), bytes.NewReader(data))
	got, err := io.ReadAll(r)
	done()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (%v), want %d unchanged", len(got), err, len(data))
	}
	if !strings.Contains(w.String(), "big.DAT") {
		t.Errorf("no bar drawn: %q", w.String())
	}
}

// Colour only when asked (stdout a terminal): plain text has no escapes.
func TestValidateTextColour(t *testing.T) {
	_, out, _ := runCLI(t, "validate", "--format", "json", vFull, vOverBudget)
	rep := decodeReport(t, out)
	var plain, coloured bytes.Buffer
	if err := writeTextReport(&plain, rep, false); err != nil {
		t.Fatal(err)
	}
	if err := writeTextReport(&coloured, rep, true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Error("escape codes in plain text")
	}
	if !strings.Contains(coloured.String(), ansiRed) || !strings.Contains(coloured.String(), ansiGreen) {
		t.Error("no colour in the coloured report")
	}
}

// --cel-fields lists what a tenant rule can read, a field the CEL rules
// compile against among them.
func TestRulesCELFields(t *testing.T) {
	code, out, _ := runCLI(t, "rules", "--cel-fields")
	if code != 0 || !strings.Contains(out, "hours") || !strings.Contains(out, "run_date") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	code, out, _ = runCLI(t, "rules", "--cel-fields", "--format", "json")
	var rep celFieldsReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("exit %d, %v", code, err)
	}
	found := false
	for _, f := range rep.Kinds["assignment"] {
		if f.Path == "fte" {
			found = f.Type == "double" && f.Optional
		}
	}
	if !found || rep.Variables["run_date"] != "timestamp" {
		t.Errorf("assignment.fte (optional double) or run_date missing: %+v", rep)
	}
}
