package main

// The generator's planted faults against the pipeline's own rules, with no
// broker: every file of a generated run goes through the engine of
// `esrflow validate` — ingest's reader, normalise.MapRow and the baseline
// rule set (esr/rules NewFile/Add/Finish), with what each file's accepted
// rows defined carried to the next file of the tenant. The error violations
// must be exactly the truth's quarantine lines and the warnings exactly its
// warning lines: the faults break the rules they claim and nothing else,
// and the simulated trust's own rows break none.

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/esr/tenant"
)

// offlineFile is one file as `esrflow validate` judged it.
type offlineFile struct {
	rep *fileReport
}

// offlineRun judges every file of a generated run in order, per tenant,
// with the engine of `esrflow validate` (ingest's reader, normalise.MapRow,
// the tenant's rule set, known state carried from file to file): the one
// offline code path, so this test checks the command as much as the faults.
func offlineRun(t testing.TB, sink *gen.MemSink, trusts []gen.Result, tenants []string, vpds []string) []offlineFile {
	t.Helper()
	var ts []tenant.Tenant
	for i := range tenants {
		ts = append(ts, tenant.Tenant{Code: tenants[i], VPDs: []string{vpds[i]}})
	}
	set, err := tenant.New(ts...)
	if err != nil {
		t.Fatal(err)
	}
	sets, err := rules.CompileAll(set)
	if err != nil {
		t.Fatal(err)
	}
	var out []offlineFile
	for _, res := range trusts {
		// One run per trust: its files carry known state to each other only.
		v := &validation{sets: sets, tenants: set, maxLines: 1 << 30, now: time.Now}
		for _, fi := range res.Files {
			data := sink.Bytes(fi.Path)
			rep, err := v.file(path.Base(fi.Path), int64(len(data)), func() (io.ReadCloser, error) {
				return io.NopCloser(bytes.NewReader(data)), nil
			})
			if err != nil {
				t.Fatalf("%s: %v", fi.Path, err)
			}
			out = append(out, offlineFile{rep: rep})
		}
	}
	return out
}

// checkOfflineAgainstTruth compares a run's violations with its truth.
func checkOfflineAgainstTruth(t *testing.T, label string, files []offlineFile, truth []gen.TruthLine) {
	t.Helper()
	wantErr, wantWarn := map[string]gen.TruthLine{}, map[string]gen.TruthLine{}
	for _, tl := range truth {
		k := fmt.Sprintf("%s:%d %s", tl.File, tl.Line, tl.Rule)
		switch tl.Kind {
		case gen.KindQuarantine:
			wantErr[k] = tl
		case gen.KindWarning:
			wantWarn[k] = tl
		}
	}
	gotErr, gotWarn := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		if f.rep.Verdict != verdictAccepted {
			t.Errorf("%s: %s %s: %s", label, f.rep.File, f.rep.Verdict, f.rep.Reason)
		}
		for _, v := range f.rep.Violations {
			for _, l := range v.Lines {
				k := fmt.Sprintf("%s:%d %s", f.rep.File, l, v.Code)
				if v.Severity == string(rules.Warning) {
					gotWarn[k] = true
				} else {
					gotErr[k] = true
				}
			}
		}
	}
	compare := func(what string, want map[string]gen.TruthLine, got map[string]bool) {
		var missing, extra []string
		for k := range want {
			if !got[k] {
				missing = append(missing, k)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				extra = append(extra, k)
			}
		}
		slices.Sort(missing)
		slices.Sort(extra)
		for i, k := range missing {
			if i == 20 {
				t.Errorf("%s: ... %d more", label, len(missing)-20)
				break
			}
			t.Errorf("%s: truth %s %s, the rules do not find it", label, what, k)
		}
		for i, k := range extra {
			if i == 20 {
				t.Errorf("%s: ... %d more", label, len(extra)-20)
				break
			}
			t.Errorf("%s: the rules find %s %s, not in the truth", label, what, k)
		}
	}
	compare("error", wantErr, gotErr)
	compare("warning", wantWarn, gotWarn)
}

// TestFaultsOffline: for several seeds, with and without --faults, the
// baseline rules find exactly the truth's quarantine and warning lines, and
// no generated file is over the default error budget.
func TestFaultsOffline(t *testing.T) {
	for _, c := range []gen.Config{
		{Tenant: "RXX", VPD: "412", Staff: 600, Days: 8, Seed: 1, Faults: true},
		{Tenant: "RXX", VPD: "412", Staff: 600, Days: 8, Seed: 1},
		{Tenant: "RXX", VPD: "412", Staff: 400, Days: 6, Seed: 7, Faults: true, FullEvery: 3},
		{Tenant: "RAB", VPD: "0123", Staff: 1500, Days: 4, Seed: 42, Faults: true},
		{Tenant: "RAB", VPD: "0123", Staff: 300, Days: 5, Seed: 42, FullEvery: 2},
	} {
		label := fmt.Sprintf("seed %d faults %v full-every %d", c.Seed, c.Faults, c.FullEvery)
		t.Run(label, func(t *testing.T) {
			tr := generate(t, c)
			files := offlineRun(t, tr.sink, []gen.Result{tr.res}, []string{c.Tenant}, []string{c.VPD})
			checkOfflineAgainstTruth(t, label, files, tr.truth)
			if c.Faults {
				checkFaultCoverage(t, tr.truth)
			}
		})
	}
}

// TestFaultsOfflineRegion: the same over a region of trusts with
// transfers between them, each trust's files judged in order.
func TestFaultsOfflineRegion(t *testing.T) {
	rc := gen.RegionConfig{
		Trusts: []gen.Trust{{Tenant: "RYY", VPD: "413", Staff: 500}, {Tenant: "RXX", VPD: "412", Staff: 700}},
		Days:   6, Seed: 5, Faults: true, FullEvery: 3, TransfersPerDay: 2,
	}
	sink := &gen.MemSink{}
	res, err := gen.GenerateRegion(rc, sink)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := gen.ReadTruth(bytes.NewReader(sink.Bytes(gen.TruthFile)))
	if err != nil {
		t.Fatal(err)
	}
	var tenants, vpds []string
	for _, tr := range rc.Trusts {
		tenants, vpds = append(tenants, tr.Tenant), append(vpds, tr.VPD)
	}
	files := offlineRun(t, sink, res.Trusts, tenants, vpds)
	checkOfflineAgainstTruth(t, "region", files, truth)
}

// checkFaultCoverage: a --faults run of eight or more days plants faults of
// at least 15 distinct error rules, each a catalogue rule at error severity
// (warning lines at warning severity), in both the normalise and validate
// stages.
func checkFaultCoverage(t *testing.T, truth []gen.TruthLine) {
	t.Helper()
	codes := map[string]bool{}
	stages := map[rules.Stage]bool{}
	for _, tl := range truth {
		if tl.Kind != gen.KindQuarantine && tl.Kind != gen.KindWarning {
			continue
		}
		r, ok := rules.Lookup(tl.Rule)
		if !ok {
			t.Errorf("truth names %s, not a catalogue rule", tl.Rule)
			continue
		}
		if string(r.Severity) != tl.Severity {
			t.Errorf("truth gives %s severity %s, the catalogue %s", tl.Rule, tl.Severity, r.Severity)
		}
		if tl.Kind == gen.KindQuarantine {
			codes[tl.Rule] = true
			stages[r.Stage] = true
		}
	}
	if len(codes) < 15 || !stages[rules.StageNormalise] || !stages[rules.StageValidate] {
		t.Errorf("faults cover %d error rules (stages %v), want at least 15 in normalise and validate", len(codes), stages)
	}
	t.Logf("faults cover %d error rules: %s", len(codes), strings.Join(slices.Sorted(maps.Keys(codes)), " "))
}
