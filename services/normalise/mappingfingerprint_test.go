package normalise_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/csvfeed"
	"github.com/esrflow/esrflow/esr/format/gov1"
	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/normalise"
)

// The mapping fingerprint guards the rule in mappingversion.go: a change
// that maps the same row differently must bump mappingCodeVersion, since
// MappingVersion (the lineage every entity record carries) is a hash of it.
//
// A fixed synthetic corpus (esr/gen, fixed seed and start date; GO v2 full
// and change files with planted faults, GO v1 files, CSV staff lists) goes
// through the mapping entry points the processor uses (MapRowFor, and
// V1File.Next for the GO v1 linking), and the outcomes, canonicalised, are
// hashed into one fingerprint per dialect. testdata/mapping-fingerprint.json
// records the fingerprints under the mapping code version that named them,
// with a hash of the corpus itself so a change of the generator or a reader
// is told apart from a change of the mapping.
//
// UPDATE_GOLDEN=1 rewrites the file, except in the one case the test is
// for: the version, the corpus and the canonical form (fingerprintForm) are
// unchanged but the mapped outcomes are not.

const fingerprintGolden = "testdata/mapping-fingerprint.json"

func updateFingerprint() bool { return os.Getenv("UPDATE_GOLDEN") == "1" }

type fingerprintFile struct {
	MappingCodeVersion string            `json:"mapping_code_version"`
	Fingerprints       map[string]string `json:"fingerprints"`
	// Corpus hashes, per dialect, the rows fed to the mapping and the
	// tenant settings: when it changes, the inputs did, not (only) the
	// mapping.
	Corpus map[string]string `json:"corpus"`
	// CanonicalForm is fingerprintForm when the file was written.
	CanonicalForm int `json:"canonical_form"`
}

// fingerprintForm numbers the way this test canonicalises and hashes the
// outcomes (canonRow, canonValue): bump it in a change of those, so the
// changed fingerprints are not taken for a change of the mapping.
const fingerprintForm = 1

// The corpus: small enough to map in well under a second, long enough for
// leavers, rehires, deletes and (GO v2) planted faults.
var fingerprintStart = time.Date(2024, time.April, 1, 0, 0, 0, 0, time.UTC)

func fingerprintConfig(format string) gen.Config {
	c := gen.Config{Tenant: "RXX", VPD: "412", Staff: 100, Days: 24, Seed: 20240401, Start: fingerprintStart, Format: format}
	switch format {
	case gen.FormatGOv2:
		c.Faults, c.FullEvery = true, 12
	case gen.FormatGOv1:
		c.FullEvery = 12
	case gen.FormatCSV:
		c.Days = 8 // every list is the whole trust
	}
	return c
}

// fingerprintTenant is RXX with a staff-group alias (so the tenant mapping
// path is exercised) and the generator's CSV staff list.
func fingerprintTenant(t *testing.T) tenant.Tenant {
	t.Helper()
	set, err := tenant.New(tenant.Tenant{Code: "RXX", VPDs: []string{"412"},
		Mapping: tenant.Mapping{StaffGroupAliases: map[string]string{"nursing and midwifery registered": "Registered Nursing"}},
		Feeds:   tenant.Feeds{CSV: tenant.CSVFeed{Lists: []tenant.CSVList{gen.CSVList()}}}})
	if err != nil {
		t.Fatal(err)
	}
	rxx, _ := set.Get("RXX")
	return rxx
}

// coverage counts what the corpus exercised, so a generator change that
// drops an edge case fails here rather than thinning the fingerprint.
type coverage struct {
	persons, assignments, others, corrections, ignored, quarantined int
	leavers, missingOptional, derived, linkFailures                 int
}

// mapCorpus generates the dialect's corpus, maps every row as the
// processor does and returns the fingerprint of the outcomes and of the
// corpus.
func mapCorpus(t *testing.T, dialect string, tn tenant.Tenant) (out, corpus string, cov coverage) {
	t.Helper()
	cfg := fingerprintConfig(dialect)
	sink := &gen.MemSink{}
	res, err := gen.Generate(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Rehires == 0 || res.Stats.Leavers == 0 {
		t.Errorf("%s corpus: %d rehires, %d leavers; the fingerprint wants both", dialect, res.Stats.Rehires, res.Stats.Leavers)
	}
	m := &corpusMapper{t: t, tn: tn, vpd: cfg.VPD, v1: dialect == gen.FormatGOv1, out: sha256.New(), corpus: sha256.New()}
	writeCanon(t, m.corpus, tn.Mapping)
	var samples []format.Row
	var sampleInfo internalv1.FileInfo
	for i, fi := range res.Files {
		info := fingerprintFileInfo(t, fi, dialect, tn)
		rows := readRows(t, fi, sink.Bytes(fi.Path), dialect, tn)
		var v1 normalise.V1File
		for _, row := range rows {
			m.row(info, row, &v1)
		}
		if i == 0 {
			samples, sampleInfo = firstOfEachType(rows), info
		}
	}
	// Edge rows the generator does not write: each sample row (the first of
	// each record type in the first file) with one value at a time emptied,
	// padded with blanks or in another case (variants). A GO v1 variant is
	// linked to the unchanged PER sample.
	var per *format.Row
	for i := range samples {
		if samples[i].Type == gov1.TypePerson {
			per = &samples[i]
		}
	}
	line := 0
	for _, s := range samples {
		for _, v := range variants(s) {
			line++
			v.Line = line
			var v1 normalise.V1File
			if m.v1 && per != nil {
				v1.Next(per.Type, normalise.MapRowFor(m.raw(sampleInfo, *per), tn))
			}
			m.row(sampleInfo, v, &v1)
		}
	}
	return hex.EncodeToString(m.out.Sum(nil)), hex.EncodeToString(m.corpus.Sum(nil)), m.cov
}

// corpusMapper maps rows as the processor does (MapRowFor, then, for GO
// v1, V1File.Next in file order) and hashes the rows fed and the canonical
// outcomes.
type corpusMapper struct {
	t           *testing.T
	tn          tenant.Tenant
	vpd         string
	v1          bool
	out, corpus hash.Hash
	cov         coverage
}

// raw is the RawRecord ingest writes for a row (ingest.RawRow).
func (m *corpusMapper) raw(info internalv1.FileInfo, row format.Row) internalv1.RawRecord {
	return internalv1.RawRecord{Kind: internalv1.RawKindRecord, Tenant: m.tn.Code, Vpd: m.vpd, File: info,
		Line: int64(row.Line), RecordType: row.Type, Fields: slices.Clone(row.Fields[1:]), Problems: problemsOf(row.Problems)}
}

func (m *corpusMapper) row(info internalv1.FileInfo, row format.Row, v1 *normalise.V1File) {
	t := m.t
	raw := m.raw(info, row)
	writeCanon(t, m.corpus, raw)
	o := normalise.MapRowFor(raw, m.tn)
	var fresh []normalise.Derived
	if m.v1 {
		linked := o.LinkV1
		o, fresh = v1.Next(raw.RecordType, o)
		if linked && o.Kind == normalise.KindQuarantined {
			m.cov.linkFailures++
		}
	}
	for _, d := range fresh {
		m.cov.derived++
		writeCanon(t, m.out, canonRow{File: info.Name, Line: row.Line, Type: row.Type, Outcome: "derived",
			EntityKind: string(d.Kind), Entity: canonValue(t, d.Entity)})
	}
	m.cov.count(o)
	c := canonRow{File: info.Name, Line: row.Line, Type: row.Type, Outcome: o.Kind.String(), EntityKind: string(o.EntityKind),
		LinkV1: o.LinkV1}
	if o.Entity != nil {
		c.Entity = canonValue(t, o.Entity)
	}
	for _, v := range o.Violations {
		// Rule and field only: messages and severities are the rules
		// catalogue's, not the mapping's.
		c.Violations = append(c.Violations, [2]string{v.Rule, v.Field})
	}
	writeCanon(t, m.out, c)
}

func firstOfEachType(rows []format.Row) []format.Row {
	var out []format.Row
	seen := map[string]bool{}
	for _, r := range rows {
		if !seen[r.Type] && len(r.Problems) == 0 {
			seen[r.Type] = true
			out = append(out, r)
		}
	}
	return out
}

// variants of a row (record type kept in Fields[0]): each column in turn
// emptied, padded with blanks, in lower case and in upper case (the ones
// that differ from the row).
func variants(r format.Row) []format.Row {
	var out []format.Row
	for i := 1; i < len(r.Fields); i++ {
		f := r.Fields[i]
		for _, x := range []string{"", " " + f + " ", strings.ToLower(f), strings.ToUpper(f)} {
			if x == f || (f == "" && strings.TrimSpace(x) == "") {
				continue
			}
			v := r
			v.Fields = slices.Clone(r.Fields)
			v.Fields[i] = x
			out = append(out, v)
		}
	}
	return out
}

func (c *coverage) count(o normalise.Outcome) {
	switch o.Kind {
	case normalise.KindCorrection:
		c.corrections++
	case normalise.KindIgnored:
		c.ignored++
	case normalise.KindQuarantined:
		c.quarantined++
	case normalise.KindEntity:
		switch e := o.Entity.(type) {
		case internalv1.Person:
			c.persons++
			if e.ActualTerminationDate != nil {
				c.leavers++
			}
		case internalv1.Assignment:
			c.assignments++
			if e.Fte == nil || e.Hours == nil || e.EarliestStart == nil || e.LastWorkingDay == nil {
				c.missingOptional++
			}
		default:
			c.others++
		}
	}
}

// canonRow is one mapped row in the fingerprint: where it was, what it
// became. Nothing in it is a wall-clock stamp or the mapping version.
type canonRow struct {
	File       string      `json:"file"`
	Line       int         `json:"line"`
	Type       string      `json:"type"`
	Outcome    string      `json:"outcome"`
	EntityKind string      `json:"entity_kind,omitempty"`
	LinkV1     bool        `json:"link_v1,omitempty"`
	Entity     any         `json:"entity,omitempty"`
	Violations [][2]string `json:"violations,omitempty"`
}

// canonValue is v as generic JSON (maps marshal with sorted keys) with its
// nulls dropped: a nullable field added to a schema that the mapping leaves
// unset does not change the fingerprint, while any value the mapping sets,
// changes or clears does, zero and empty values included (an empty column
// mapped to null rather than 0 is a mapping rule).
func canonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var g any
	if err := d.Decode(&g); err != nil {
		t.Fatal(err)
	}
	return dropNull(g)
}

func dropNull(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
			} else {
				x[k] = dropNull(e)
			}
		}
	case []any:
		for i := range x {
			x[i] = dropNull(x[i])
		}
	}
	return v
}

func writeCanon(t *testing.T, h hash.Hash, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	h.Write(append(b, '\n'))
}

// fingerprintFileInfo is the FileInfo ingest would give a generated file.
func fingerprintFileInfo(t *testing.T, fi gen.FileInfo, dialect string, tn tenant.Tenant) internalv1.FileInfo {
	t.Helper()
	run, err := time.Parse(time.DateOnly, fi.RunDate)
	if err != nil {
		t.Fatal(err)
	}
	kind := internalv1.FileKindChange
	if fi.Type != "GOC" {
		kind = internalv1.FileKindFull // GOF, and every CSV list
	}
	if dialect == gen.FormatCSV {
		dialect = csvDialect()
		if _, ok := tn.CSVList(dialect); !ok {
			t.Fatalf("tenant has no list %s", dialect)
		}
	}
	return internalv1.FileInfo{Name: fi.Name, Sha256: fi.SHA256, Dialect: dialect, Kind: kind, Sequence: int64(fi.Seq),
		RunDate: run, Size: int64(fi.Lines)}
}

// readRows reads a generated file with the dialect's reader (no run-date
// window: the corpus is dated in the past on purpose). Rows carry their
// record type first, as ingest's do; a CSV list row becomes a CSV-PER row
// on the person's first row and a CSV-ASG row, as ingest splits it.
func readRows(t *testing.T, fi gen.FileInfo, data []byte, dialect string, tn tenant.Tenant) []format.Row {
	t.Helper()
	var next func() (format.Row, error)
	switch dialect {
	case gen.FormatGOv2:
		rd, err := gov2.NewReader(fi.Name, bytes.NewReader(data), gov2.Options{FutureTolerance: -1})
		if err != nil {
			t.Fatalf("%s: %v", fi.Name, err)
		}
		next = rd.Next
	case gen.FormatGOv1:
		rd, err := gov1.NewReader(fi.Name, bytes.NewReader(data), gov1.Options{FutureTolerance: -1})
		if err != nil {
			t.Fatalf("%s: %v", fi.Name, err)
		}
		next = rd.Next
	case gen.FormatCSV:
		l, _ := tn.CSVList(csvDialect())
		rd, err := csvfeed.NewReader(fi.Name, bytes.NewReader(data), l.Feed(), csvfeed.Options{ExpectedVPDs: tn.VPDs})
		if err != nil {
			t.Fatalf("%s: %v", fi.Name, err)
		}
		next = csvRows(rd.Next, slices.Index(l.Feed().Fields(), "person_id"))
	}
	var rows []format.Row
	for {
		row, err := next()
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			t.Fatalf("%s: %v", fi.Name, err)
		}
		row.Fields = slices.Clone(row.Fields)
		rows = append(rows, row)
	}
}

func csvRows(next func() (format.Row, error), personCol int) func() (format.Row, error) {
	if personCol < 0 {
		panic("the generator's list maps no person_id")
	}
	seen := map[string]bool{}
	var pending *format.Row
	return func() (format.Row, error) {
		if pending != nil {
			row := *pending
			pending = nil
			return row, nil
		}
		row, err := next()
		if err != nil {
			return row, err
		}
		asg := format.Row{Line: row.Line, Type: "CSV-ASG", Fields: append([]string{"CSV-ASG"}, row.Fields...), Problems: row.Problems}
		key := row.Field(personCol)
		if len(row.Problems) > 0 || seen[key] {
			return asg, nil
		}
		seen[key] = true
		pending = &asg
		per := asg
		per.Type, per.Fields = "CSV-PER", append([]string{"CSV-PER"}, row.Fields...)
		return per, nil
	}
}

func problemsOf(ps []*format.Error) []internalv1.Problem {
	out := make([]internalv1.Problem, 0, len(ps))
	for _, p := range ps {
		col := p.Column - 1
		if p.Column <= 0 {
			col = -1
		}
		out = append(out, internalv1.Problem{Rule: p.Rule, Column: col, Field: p.Field, Message: p.Msg})
	}
	return out
}

func csvDialect() string {
	l := gen.CSVList()
	return l.Dialect()
}

var fingerprintDialects = []string{gen.FormatGOv2, gen.FormatGOv1, gen.FormatCSV}

func TestMappingFingerprint(t *testing.T) {
	tn := fingerprintTenant(t)
	got := fingerprintFile{MappingCodeVersion: normalise.MappingCodeVersion,
		Fingerprints: map[string]string{}, Corpus: map[string]string{}, CanonicalForm: fingerprintForm}
	for _, d := range fingerprintDialects {
		out, corpus, cov := mapCorpus(t, d, tn)
		got.Fingerprints[d], got.Corpus[d] = out, corpus
		checkCoverage(t, d, cov)
	}
	// Deterministic: a second run of one dialect gives the same hashes.
	if out, corpus, _ := mapCorpus(t, gen.FormatCSV, tn); out != got.Fingerprints[gen.FormatCSV] || corpus != got.Corpus[gen.FormatCSV] {
		t.Fatalf("the csv fingerprint differs from run to run: the corpus or its canonical form is not deterministic")
	}

	var want fingerprintFile
	b, err := os.ReadFile(fingerprintGolden)
	switch {
	case errors.Is(err, os.ErrNotExist) && updateFingerprint():
	case err != nil:
		t.Fatalf("%v (UPDATE_GOLDEN=1 go test -run TestMappingFingerprint ./services/normalise/ writes it)", err)
	default:
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("%s: %v", fingerprintGolden, err)
		}
	}
	msg := fingerprintVerdict(want, got)
	switch {
	case msg == "":
	case updateFingerprint() && !forgottenBump(want, got):
		writeFingerprint(t, got)
		t.Logf("%s rewritten for %s", fingerprintGolden, got.MappingCodeVersion)
	default:
		t.Fatal(msg)
	}
}

// forgottenBump: same version, corpus and canonical form, other outcomes.
func forgottenBump(want, got fingerprintFile) bool {
	return want.MappingCodeVersion == got.MappingCodeVersion && want.CanonicalForm == got.CanonicalForm &&
		reflect.DeepEqual(want.Corpus, got.Corpus) &&
		!reflect.DeepEqual(want.Fingerprints, got.Fingerprints)
}

// fingerprintVerdict says what is wrong with the golden, "" when nothing.
func fingerprintVerdict(want, got fingerprintFile) string {
	const regen = "UPDATE_GOLDEN=1 go test -run TestMappingFingerprint ./services/normalise/"
	switch {
	case want.MappingCodeVersion != got.MappingCodeVersion:
		return fmt.Sprintf("mappingCodeVersion is %q but %s records %q: regenerate it with %s "+
			"so the golden records which mapping behaviour %q names", got.MappingCodeVersion, fingerprintGolden,
			want.MappingCodeVersion, regen, got.MappingCodeVersion)
	case want.CanonicalForm != got.CanonicalForm:
		return fmt.Sprintf("the test's canonical form is %d but %s was written with %d: regenerate it with %s",
			got.CanonicalForm, fingerprintGolden, want.CanonicalForm, regen)
	case !reflect.DeepEqual(want.Corpus, got.Corpus):
		return fmt.Sprintf("the fingerprint corpus changed (%s): esr/gen, a reader or the test's tenant now feeds the mapping "+
			"other rows, so the fingerprints cannot be compared; regenerate with %s. If this change also maps the same "+
			"rows differently, bump mappingCodeVersion (services/normalise/mappingversion.go) first",
			changed(want.Corpus, got.Corpus), regen)
	case !reflect.DeepEqual(want.Fingerprints, got.Fingerprints):
		return fmt.Sprintf("the mapping maps the same rows differently (%s) but mappingCodeVersion is still %q: "+
			"bump mappingCodeVersion in services/normalise/mappingversion.go (records mapped before and after must carry "+
			"different mapping versions), then regenerate %s with %s",
			changed(want.Fingerprints, got.Fingerprints), got.MappingCodeVersion, fingerprintGolden, regen)
	}
	return ""
}

func changed(want, got map[string]string) string {
	var ds []string
	for _, d := range fingerprintDialects {
		if want[d] != got[d] {
			ds = append(ds, d)
		}
	}
	return "dialects " + strings.Join(ds, ", ")
}

func writeFingerprint(t *testing.T, f fingerprintFile) {
	t.Helper()
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(fingerprintGolden), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fingerprintGolden, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkCoverage fails when the corpus no longer has the rows that make the
// fingerprint worth having.
func checkCoverage(t *testing.T, d string, c coverage) {
	t.Helper()
	need := map[string]int{"persons": c.persons, "assignments": c.assignments, "leavers": c.leavers,
		"assignments missing an optional field": c.missingOptional}
	switch d {
	case gen.FormatGOv2:
		need["reference entities"] = c.others
		need["corrections (delete rows)"] = c.corrections
		need["ignored segments"] = c.ignored
		need["quarantined rows"] = c.quarantined
	case gen.FormatGOv1:
		need["derived organisations and locations"] = c.derived
	}
	for what, n := range need {
		if n == 0 {
			t.Errorf("%s corpus has no %s", d, what)
		}
	}
	t.Logf("%s corpus: %+v", d, c)
}
