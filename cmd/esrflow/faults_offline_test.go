package main

// The generator's planted faults against the pipeline's own rules, with no
// broker: every row of a generated run goes through the GO v2 reader
// (esr/format/gov2, as ingest reads it), normalise.MapRow and the baseline
// rule set (esr/rules NewFile/Add/Finish), with what each file's accepted
// rows defined carried to the next file of the tenant. The error violations
// must be exactly the truth's quarantine lines and the warnings exactly its
// warning lines: the faults break the rules they claim and nothing else,
// and the simulated trust's own rows break none.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/normalise"
)

// offlineKnown is what a tenant's accepted rows defined so far: the
// validate stage's known state, kept the simple way (generated tenants use
// the GO feed's default `missing: ignore`, so a full file clears nothing).
type offlineKnown struct {
	persons map[int64]string // person id → employee number
	has     map[string]map[int64]bool
}

func newOfflineKnown() *offlineKnown {
	k := &offlineKnown{persons: map[int64]string{}, has: map[string]map[int64]bool{}}
	for _, kind := range rules.RecordKinds {
		k.has[kind] = map[int64]bool{}
	}
	return k
}

func (k *offlineKnown) Person(_ string, id int64) (string, bool) {
	emp, ok := k.persons[id]
	return emp, ok
}
func (k *offlineKnown) Has(kind, _ string, id int64) bool { return k.has[kind][id] }
func (k *offlineKnown) Complete() bool                    { return true }

// learn takes in what an accepted record defines or deletes.
func (k *offlineKnown) learn(rec internalv1.EntityRecord) {
	switch e := rec.Entity.(type) {
	case internalv1.Person:
		k.persons[e.PersonID] = e.EmployeeNumber
		k.has[rules.KindPerson][e.PersonID] = true
	case internalv1.Assignment:
		k.has[rules.KindAssignment][e.AssignmentID] = true
	case internalv1.Position:
		k.has[rules.KindPosition][e.PositionID] = true
	case internalv1.Organisation:
		k.has[rules.KindOrganisation][e.OrganisationID] = true
	case internalv1.Location:
		k.has[rules.KindLocation][e.LocationID] = true
	case internalv1.Correction:
		kind := strings.ToLower(string(e.EntityKind))
		delete(k.has[kind], e.ID)
		if kind == rules.KindPerson {
			delete(k.persons, e.ID)
		}
	}
}

// offlineViolation is one rule a row broke.
type offlineViolation struct {
	file  string
	line  int64
	code  string
	field string
	sev   internalv1.Severity
}

func (v offlineViolation) key() string {
	return fmt.Sprintf("%s:%d %s", v.file, v.line, v.code)
}

// offlineFile is one file's outcome.
type offlineFile struct {
	name       string
	res        rules.Result
	violations []offlineViolation
}

// stageCode is a normalise violation's catalogue code. MapRow reports the
// parser's slugs ("date", "column-count") and "required" for a dropped
// segment's missing key (ESR-R007 row-key); a code passes as it is.
func stageCode(rule string) string {
	switch {
	case strings.HasPrefix(rule, "ESR-"):
		return rule
	case rule == normalise.RuleRequired:
		return "ESR-R007"
	}
	return rules.CodeOf(rule)
}

// validateOffline judges one GO v2 file as the pipeline would: ingest's
// reader, normalise's MapRow, then the rule set over the file's canonical
// records with known carrying earlier files; an accepted file's records
// teach known.
func validateOffline(t testing.TB, name string, data []byte, tenantCode string, vpds []string, set *rules.Set, known *offlineKnown) offlineFile {
	t.Helper()
	fn, err := format.ParseFileName(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	rd, err := gov2.NewReader(name, bytes.NewReader(data), gov2.Options{ExpectedVPDs: vpds,
		Now: func() time.Time { return time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	h := rd.Header()
	kind := internalv1.FileKindChange
	if fn.Kind == format.ExtractFull {
		kind = internalv1.FileKindFull
	}
	info := internalv1.FileInfo{Name: name, Dialect: normalise.DialectGOv2, Kind: kind, Sequence: fn.Sequence,
		RunDate: time.Date(h.RunAt.Year(), h.RunAt.Month(), h.RunAt.Day(), 0, 0, 0, 0, time.UTC), Size: int64(len(data))}
	file := set.NewFile(info, known)
	out := offlineFile{name: name}
	var lines []int64
	up := rules.Upstream{RuleCounts: map[string]int64{}}
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: file-level error: %v", name, err)
		}
		up.RowsRead++
		raw := internalv1.RawRecord{Kind: internalv1.RawKindRecord, Tenant: tenantCode, Vpd: h.VPD, File: info,
			Line: int64(row.Line), RecordType: row.Type, Fields: []string{}, Problems: []internalv1.Problem{}}
		if len(row.Fields) > 1 {
			raw.Fields = row.Fields[1:]
		}
		for _, p := range row.Problems {
			raw.Problems = append(raw.Problems, internalv1.Problem{Rule: p.Rule, Column: p.Column - 1, Field: p.Field, Message: p.Msg})
		}
		o := normalise.MapRow(raw, tenant.Mapping{})
		switch o.Kind {
		case normalise.KindQuarantined:
			up.Quarantined++
			seen := map[string]bool{}
			for _, v := range o.Violations {
				code := stageCode(v.Rule)
				out.violations = append(out.violations, offlineViolation{name, raw.Line, code, v.Field, internalv1.SeverityError})
				if !seen[code] {
					seen[code] = true
					up.RuleCounts[code]++
				}
			}
		case normalise.KindEntity, normalise.KindCorrection:
			k := internalv1.EntityRecordKindEntity
			if o.Kind == normalise.KindCorrection {
				k = internalv1.EntityRecordKindCorrection
			}
			file.Add(internalv1.EntityRecord{Kind: k, Vpd: h.VPD, File: info,
				Raw: &internalv1.RawRow{RecordType: raw.RecordType, Fields: raw.Fields}, Entity: o.Entity})
			lines = append(lines, raw.Line)
		}
	}
	out.res = file.Finish(up)
	for i, d := range out.res.Decisions {
		for _, v := range d.Violations {
			out.violations = append(out.violations, offlineViolation{name, lines[i], v.Rule, v.Field, v.Severity})
		}
		if !d.Quarantined && !out.res.Rejected {
			known.learn(d.Record)
		}
	}
	return out
}

// offlineRun judges every file of a generated run in order, per tenant.
func offlineRun(t testing.TB, sink *gen.MemSink, trusts []gen.Result, tenants []string, vpds []string) []offlineFile {
	t.Helper()
	set := rules.Baseline()
	var out []offlineFile
	for i, res := range trusts {
		known := newOfflineKnown()
		for _, fi := range res.Files {
			out = append(out, validateOffline(t, path.Base(fi.Path), sink.Bytes(fi.Path), tenants[i], []string{vpds[i]}, set, known))
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
	gotErr, gotWarn := map[string]offlineViolation{}, map[string]offlineViolation{}
	for _, f := range files {
		if f.res.Rejected {
			t.Errorf("%s: %s rejected whole: %s", label, f.name, f.res.Reason)
		}
		for _, v := range f.violations {
			if v.sev == internalv1.SeverityWarning {
				gotWarn[v.key()] = v
			} else {
				gotErr[v.key()] = v
			}
		}
	}
	compare := func(what string, want map[string]gen.TruthLine, got map[string]offlineViolation) {
		var missing, extra []string
		for k, tl := range want {
			v, ok := got[k]
			switch {
			case !ok:
				missing = append(missing, k)
			case v.field != tl.Field:
				t.Errorf("%s: %s %s: field %q, truth says %q", label, what, k, v.field, tl.Field)
			}
		}
		for k, v := range got {
			if _, ok := want[k]; !ok {
				extra = append(extra, k+" "+v.field)
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

// BenchmarkOfflineValidate measures the offline path above (GO v2 reader,
// MapRow, baseline rules with known state) over a generated trust's files,
// in rows per second.
func BenchmarkOfflineValidate(b *testing.B) {
	c := gen.Config{Tenant: "RXX", VPD: "412", Staff: 20000, Days: 3, Seed: 1, Faults: true}
	tr := generate(b, c)
	var rows int64
	for b.Loop() {
		for _, f := range offlineRun(b, tr.sink, []gen.Result{tr.res}, []string{c.Tenant}, []string{c.VPD}) {
			rows += f.res.Rows
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
