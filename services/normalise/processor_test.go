package normalise_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/normalise"
	"github.com/esrflow/esrflow/services/registry/registrytest"
)

var fixedNow = time.Date(2024, 3, 11, 4, 0, 0, 0, time.UTC)

type env struct {
	t      *testing.T
	reg    *sr.Client
	serde  *avrox.Serde
	raw    avrox.Writer
	entity avro.Schema
	quar   avro.Schema
	url    string
	seeds  []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	k := testkit.Kafka(t)
	url := registrytest.Start(t, k.Seeds(), schemas.TopicRaw, schemas.TopicNormalised, schemas.TopicQuarantine)
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, reg: cl, serde: avrox.New(cl, internalv1.NewAPI()), url: url, seeds: k.Seeds()}
	_, text, _ := schemas.Latest(schemas.Raw)
	if e.raw, err = e.serde.Register(context.Background(), schemas.Subject(schemas.TopicRaw), text); err != nil {
		t.Fatal(err)
	}
	e.entity, _, _ = schemas.Latest(schemas.Entity)
	e.quar, _, _ = schemas.Latest(schemas.Quarantine)
	return e
}

func (e *env) processor(tenants *tenant.Set, m *normalise.Metrics) *normalise.Processor {
	e.t.Helper()
	p, err := normalise.NewProcessor(normalise.ProcessorDeps{Registry: e.reg, Tenants: tenants, Metrics: m,
		Now: func() time.Time { return fixedNow }})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) record(r internalv1.RawRecord) *kgo.Record {
	e.t.Helper()
	b, err := e.raw.Encode(nil, r)
	if err != nil {
		e.t.Fatal(err)
	}
	return &kgo.Record{Topic: schemas.TopicRaw, Key: []byte(r.Tenant), Value: b,
		Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")}}}
}

func (e *env) entityOf(r *kgo.Record) internalv1.EntityRecord {
	e.t.Helper()
	var v internalv1.EntityRecord
	if _, err := e.serde.Decode(context.Background(), r.Value, e.entity, &v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) quarantineOf(r *kgo.Record) internalv1.QuarantineRecord {
	e.t.Helper()
	var v internalv1.QuarantineRecord
	if _, err := e.serde.Decode(context.Background(), r.Value, e.quar, &v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

// testFile is a small change file as ingest sends it: 10 rows, of which 5
// entities, 1 correction, 2 ignored and 2 quarantined.
func testFile() []internalv1.RawRecord {
	control := func(k internalv1.RawKind) internalv1.RawRecord {
		return internalv1.RawRecord{Kind: k, Tenant: "RXX", Vpd: "412", File: fileInfo, Fields: []string{}, Problems: []internalv1.Problem{}}
	}
	badDate := rawOf(with(linePHA, 5, "20240231"), 10)
	badDate.Problems = []internalv1.Problem{{Rule: "date", Column: 4, Field: "effective_start", Message: `"20240231" is not a YYYYMMDD date`}}
	end := control(internalv1.RawKindFileEnd)
	end.Counts = &internalv1.RawCounts{Lines: 12, Rows: 10, RowsByType: map[string]int64{"LCA": 1}}
	return []internalv1.RawRecord{
		control(internalv1.RawKindFileStart),
		rawOf(lineLCA, 2), rawOf(lineORA, 3), rawOf(linePOA, 4), rawOf(linePRA, 5), rawOf(lineASA, 6),
		rawOf(linePHA, 7), rawOf(lineADA, 8), rawOf("ASD~41000876", 9), badDate, rawOf(with(lineADA, 1, ""), 11),
		end,
	}
}

type result struct {
	normalised, quarantined []*kgo.Record
	state                   []*kgo.Record
}

func run(t *testing.T, p stage.Processor, e *env, recs []internalv1.RawRecord) result {
	t.Helper()
	var res result
	for _, r := range recs {
		tx := stage.NewTx(0)
		if err := p.Process(context.Background(), e.record(r), tx); err != nil {
			t.Fatal(err)
		}
		for _, o := range tx.Records() {
			switch o.Topic {
			case schemas.TopicNormalised:
				res.normalised = append(res.normalised, o)
			case schemas.TopicQuarantine:
				res.quarantined = append(res.quarantined, o)
			default:
				t.Fatalf("produced to %s", o.Topic)
			}
		}
		res.state = append(res.state, tx.StateChanges()...)
	}
	return res
}

func TestProcessFile(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	m, err := normalise.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	p := e.processor(nil, m)
	res := run(t, p, e, testFile())

	wantKinds := []string{"FILE_START", "ENTITY:2", "ENTITY:3", "ENTITY:4", "ENTITY:5", "ENTITY:6", "CORRECTION:9", "FILE_END"}
	var gotKinds []string
	for _, r := range res.normalised {
		if string(r.Key) != "RXX" || len(r.Headers) != 1 || r.Headers[0].Key != "traceparent" {
			t.Errorf("record key %q headers %v: want key RXX and the input's traceparent", r.Key, r.Headers)
		}
		v := e.entityOf(r)
		k := string(v.Kind)
		if v.Kind == internalv1.EntityRecordKindEntity || v.Kind == internalv1.EntityRecordKindCorrection {
			k += ":" + itoa(v.Lineage.Line)
			if v.Raw == nil || v.Raw.RecordType == "" || len(v.Raw.Fields) == 0 {
				t.Errorf("line %d: raw row not carried: %+v", v.Lineage.Line, v.Raw)
			}
		} else if v.Raw != nil || v.Entity != nil || v.Lineage.Line != 0 {
			t.Errorf("%s: control record carries raw/entity/line: %+v", v.Kind, v)
		}
		if v.Lineage.Tenant != "RXX" || v.Lineage.FileName != fileInfo.Name || v.Lineage.FileSha256 != fileInfo.Sha256 ||
			v.Vpd != "412" || v.File.Name != fileInfo.Name || !v.File.RunDate.Equal(fileInfo.RunDate) {
			t.Errorf("%s: lineage/file wrong: %+v %+v", k, v.Lineage, v.File)
		}
		gotKinds = append(gotKinds, k)
	}
	if !reflect.DeepEqual(gotKinds, wantKinds) {
		t.Fatalf("normalised records %v, want %v", gotKinds, wantKinds)
	}
	first := e.entityOf(res.normalised[4]) // the PRA
	if pr, ok := first.Entity.(internalv1.Person); !ok || pr.PersonID != 20990417 || pr.NiNumber != "JT482913C" ||
		first.Raw.RecordType != "PRA" || !reflect.DeepEqual(first.Raw.Fields, strings.Split(linePRA, "~")[1:]) {
		t.Errorf("person record: %+v raw %+v", first.Entity, first.Raw)
	}
	corr := e.entityOf(res.normalised[6])
	if c, ok := corr.Entity.(internalv1.Correction); !ok || c != (internalv1.Correction{Vpd: "412", EntityKind: internalv1.EntityKindAssignment, ID: 41000876, RecordType: "ASD"}) {
		t.Errorf("correction: %+v", corr.Entity)
	}
	end := e.entityOf(res.normalised[7])
	want := internalv1.StageCounts{RowsRead: 10, Entities: 5, Corrections: 1, Ignored: 2, Quarantined: 2}
	if end.Counts == nil || *end.Counts != want {
		t.Errorf("FILE_END counts %+v, want %+v", end.Counts, want)
	}
	// Rows quarantined here per rule, by catalogue code.
	wantRules := map[string]int64{"ESR-V001": 1, "ESR-R007": 1} // date; the keyless ignored row
	if !reflect.DeepEqual(end.RuleCounts, wantRules) {
		t.Errorf("FILE_END rule_counts %v, want %v", end.RuleCounts, wantRules)
	}

	if len(res.quarantined) != 2 {
		t.Fatalf("%d quarantine records, want 2", len(res.quarantined))
	}
	wantQ := []internalv1.QuarantineRecord{
		{Stage: internalv1.StageNormalise, Lineage: internalv1.Lineage{Tenant: "RXX", FileName: fileInfo.Name, FileSha256: fileInfo.Sha256, Line: 10},
			Vpd: "412", Raw: internalv1.RawRow{RecordType: "PHA", Fields: strings.Split(with(linePHA, 5, "20240231"), "~")[1:]},
			Violations:    []internalv1.Violation{{Rule: "ESR-V001", Field: "effective_start", Message: "effective_start: not a valid YYYYMMDD date", Severity: internalv1.SeverityError}},
			QuarantinedAt: fixedNow},
		{Stage: internalv1.StageNormalise, Lineage: internalv1.Lineage{Tenant: "RXX", FileName: fileInfo.Name, FileSha256: fileInfo.Sha256, Line: 11},
			Vpd: "412", Raw: internalv1.RawRow{RecordType: "ADA", Fields: strings.Split(with(lineADA, 1, ""), "~")[1:]},
			Violations:    []internalv1.Violation{{Rule: "ESR-R007", Field: "person_id", Message: "person_id: required key is empty", Severity: internalv1.SeverityError}},
			QuarantinedAt: fixedNow},
	}
	for i, r := range res.quarantined {
		got := e.quarantineOf(r)
		got.QuarantinedAt = got.QuarantinedAt.UTC()
		if !reflect.DeepEqual(got, wantQ[i]) {
			t.Errorf("quarantine %d\n got %+v\nwant %+v", i, got, wantQ[i])
		}
	}

	// One state write per record, a tombstone at FILE_END.
	if len(res.state) != 12 {
		t.Fatalf("%d state changes, want 12", len(res.state))
	}
	sk := "file/RXX/" + fileInfo.Sha256
	for i, s := range res.state {
		if string(s.Key) != sk {
			t.Errorf("state key %q, want %q", s.Key, sk)
		}
		if (i == len(res.state)-1) != (s.Value == nil) {
			t.Errorf("state change %d value %q: only the last may be a tombstone", i, s.Value)
		}
	}
	if p.OpenFiles() != 0 {
		t.Errorf("%d open files after FILE_END", p.OpenFiles())
	}

	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP esrflow_normalise_quarantined_total Violations of quarantined rows, by tenant and rule (a row with two problems counts twice).
# TYPE esrflow_normalise_quarantined_total counter
esrflow_normalise_quarantined_total{rule="ESR-R007",tenant="RXX"} 1
esrflow_normalise_quarantined_total{rule="ESR-V001",tenant="RXX"} 1
`), "esrflow_normalise_quarantined_total"); err != nil {
		t.Error(err)
	}
	if got := counterValue(t, reg, "esrflow_normalise_records_total", "tenant", "RXX", "kind", "ignored"); got != 2 {
		t.Errorf("ignored counter = %v, want 2", got)
	}
}

// TestRestoreMidFile stops after every prefix of the file, rebuilds a fresh
// processor from the state changes written so far, and finishes the file
// with it: the output must be byte-identical to an uninterrupted run.
func TestRestoreMidFile(t *testing.T) {
	e := newEnv(t)
	recs := testFile()
	whole := run(t, e.processor(nil, nil), e, recs)
	for cut := 1; cut < len(recs); cut++ {
		first := run(t, e.processor(nil, nil), e, recs[:cut])
		p := e.processor(nil, nil)
		for _, s := range first.state {
			if err := p.Restore(s.Partition, s.Key, s.Value); err != nil {
				t.Fatal(err)
			}
		}
		rest := run(t, p, e, recs[cut:])
		got := append(append([]*kgo.Record{}, first.normalised...), rest.normalised...)
		gotQ := append(append([]*kgo.Record{}, first.quarantined...), rest.quarantined...)
		if !e.sameEntities(got, whole.normalised) || !sameValues(gotQ, whole.quarantined) {
			t.Errorf("cut after %d records: output differs from an uninterrupted run", cut)
		}
	}

	// Forget drops only the partition's files.
	p := e.processor(nil, nil)
	first := run(t, e.processor(nil, nil), e, recs[:4])
	last := first.state[len(first.state)-1]
	if err := p.Restore(3, last.Key, last.Value); err != nil {
		t.Fatal(err)
	}
	p.Forget(2)
	if p.OpenFiles() != 1 {
		t.Fatalf("Forget(2) dropped partition 3's file")
	}
	p.Forget(3)
	if p.OpenFiles() != 0 {
		t.Fatalf("Forget(3) kept the file")
	}
}

func TestTenantMappingInProcessor(t *testing.T) {
	e := newEnv(t)
	set, err := tenant.New(tenant.Tenant{Code: "RXX", VPDs: []string{"412"}, Mapping: tenant.Mapping{IgnoreRecordTypes: []string{"LCA", "ORA"}}})
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, e.processor(set, nil), e, testFile())
	end := e.entityOf(res.normalised[len(res.normalised)-1])
	want := internalv1.StageCounts{RowsRead: 10, Entities: 3, Corrections: 1, Ignored: 4, Quarantined: 2}
	if end.Counts == nil || *end.Counts != want {
		t.Errorf("counts with LCA and ORA ignored: %+v, want %+v", end.Counts, want)
	}
	// Another tenant (unknown to the set) gets the baseline mapping.
	other := testFile()
	for i := range other {
		other[i].Tenant = "RYY"
	}
	res = run(t, e.processor(set, nil), e, other)
	end = e.entityOf(res.normalised[len(res.normalised)-1])
	want = internalv1.StageCounts{RowsRead: 10, Entities: 5, Corrections: 1, Ignored: 2, Quarantined: 2}
	if end.Counts == nil || *end.Counts != want {
		t.Errorf("counts for an unconfigured tenant: %+v, want %+v", end.Counts, want)
	}
}

func TestUndecodableInputIsQuarantined(t *testing.T) {
	e := newEnv(t)
	p := e.processor(nil, nil)
	tx := stage.NewTx(0)
	if err := p.Process(context.Background(), &kgo.Record{Topic: schemas.TopicRaw, Key: []byte("RXX"), Value: []byte(`{"not":"avro"}`)}, tx); err != nil {
		t.Fatal(err)
	}
	if len(tx.Records()) != 1 || tx.Records()[0].Topic != schemas.TopicQuarantine {
		t.Fatalf("outputs %v, want one quarantine record", tx.Records())
	}
	q := e.quarantineOf(tx.Records()[0])
	if q.Lineage.Tenant != "RXX" || len(q.Violations) != 1 || q.Violations[0].Rule != normalise.RuleUndecodable {
		t.Errorf("quarantine %+v", q)
	}
}

func sameValues(a, b []*kgo.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Value, b[i].Value) || !bytes.Equal(a[i].Key, b[i].Key) || a[i].Topic != b[i].Topic {
			return false
		}
	}
	return true
}

// sameEntities is sameValues for esr.normalised.v1, where values that differ
// in bytes may still be equal: Avro maps (FILE_END's rule_counts) encode in
// Go's map order.
func (e *env) sameEntities(a, b []*kgo.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameValues(a[i:i+1], b[i:i+1]) {
			var x, y internalv1.EntityRecord
			if _, err := e.serde.Decode(context.Background(), a[i].Value, e.entity, &x); err != nil {
				return false
			}
			if _, err := e.serde.Decode(context.Background(), b[i].Value, e.entity, &y); err != nil {
				return false
			}
			if !reflect.DeepEqual(x, y) || !bytes.Equal(a[i].Key, b[i].Key) || a[i].Topic != b[i].Topic {
				return false
			}
		}
	}
	return true
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := true
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					ok = false
				}
			}
			if ok {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}

// TestEntityRecordsCarryLineage: every entity record carries its raw row's
// hash and ingest time unchanged, the tenant's mapping version and the
// processor's clock as normalised_at; control records carry none.
func TestEntityRecordsCarryLineage(t *testing.T) {
	e := newEnv(t)
	mapping := tenant.Mapping{StaffGroupAliases: map[string]string{"Nursing": "Nursing and Midwifery Registered"}}
	set, err := tenant.New(tenant.Tenant{Code: "RXX", VPDs: []string{"412"}, Mapping: mapping})
	if err != nil {
		t.Fatal(err)
	}
	recs := testFile()
	ingested := fixedNow.Add(-time.Minute)
	for i := range recs {
		if recs[i].Kind == internalv1.RawKindRecord {
			h := fmt.Sprintf("%064x", recs[i].Line)
			recs[i].RawSha256, recs[i].IngestedAt = &h, &ingested
		}
	}
	res := run(t, e.processor(set, nil), e, recs)
	wantMV := normalise.MappingVersion(tenant.Tenant{Code: "RXX", Mapping: mapping}, fileInfo.Dialect)
	entities := 0
	for _, r := range res.normalised {
		v := e.entityOf(r)
		if v.Kind != internalv1.EntityRecordKindEntity && v.Kind != internalv1.EntityRecordKindCorrection {
			if v.RawSha256 != nil || v.MappingVersion != nil {
				t.Errorf("%s carries lineage: %v %v", v.Kind, v.RawSha256, v.MappingVersion)
			}
			continue
		}
		entities++
		if want := fmt.Sprintf("%064x", v.Lineage.Line); v.RawSha256 == nil || *v.RawSha256 != want {
			t.Errorf("line %d: raw_sha256 %v, want %s", v.Lineage.Line, v.RawSha256, want)
		}
		if v.MappingVersion == nil || *v.MappingVersion != wantMV {
			t.Errorf("line %d: mapping_version %v, want %s", v.Lineage.Line, v.MappingVersion, wantMV)
		}
		if v.IngestedAt == nil || !v.IngestedAt.Equal(ingested) || v.NormalisedAt == nil || !v.NormalisedAt.Equal(fixedNow) {
			t.Errorf("line %d: ingested_at %v normalised_at %v, want %v and %v", v.Lineage.Line, v.IngestedAt, v.NormalisedAt, ingested, fixedNow)
		}
		if v.ValidatedAt != nil {
			t.Errorf("line %d: validated_at set by normalise", v.Lineage.Line)
		}
	}
	if entities != 6 {
		t.Fatalf("%d entity records, want 6", entities)
	}
	// Quarantined rows keep their hash too, for a replay to carry back.
	if len(res.quarantined) != 2 {
		t.Fatalf("%d quarantine records, want 2", len(res.quarantined))
	}
	for _, r := range res.quarantined {
		q := e.quarantineOf(r)
		if want := fmt.Sprintf("%064x", q.Lineage.Line); q.RawSha256 == nil || *q.RawSha256 != want {
			t.Errorf("quarantined line %d: raw_sha256 %v, want %s", q.Lineage.Line, q.RawSha256, want)
		}
	}
}
