package validate_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov1"
	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/statestore"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/normalise"
	"github.com/esrflow/esrflow/services/registry/registrytest"
	"github.com/esrflow/esrflow/services/validate"
)

var fixedNow = time.Date(2024, 4, 20, 9, 30, 0, 0, time.UTC)

// harness drives both processors directly (Process + stage.Tx) against a
// real schema registry on an in-process Kafka.
type harness struct {
	t      testing.TB
	reg    *sr.Client
	serde  *avrox.Serde
	raw    avrox.Writer
	entity avro.Schema
	quar   avro.Schema
	report avro.Schema
	norm   *normalise.Processor
	val    *validate.Processor
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	k := testkit.Kafka(t)
	url := registrytest.Start(t, k.Seeds(), schemas.TopicRaw, schemas.TopicNormalised, schemas.TopicValidated, schemas.TopicQuarantine)
	return newHarnessOn(t, url)
}

// newHarnessOn builds a harness on an existing registry.
func newHarnessOn(t testing.TB, url string) *harness {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, reg: cl, serde: avrox.New(cl, internalv1.NewAPI())}
	_, text, err := schemas.Latest(schemas.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if h.raw, err = h.serde.Register(context.Background(), schemas.Subject(schemas.TopicRaw), text); err != nil {
		t.Fatal(err)
	}
	if h.entity, _, err = schemas.Latest(schemas.Entity); err != nil {
		t.Fatal(err)
	}
	if h.quar, _, err = schemas.Latest(schemas.Quarantine); err != nil {
		t.Fatal(err)
	}
	if h.report, _, err = schemas.Latest(schemas.FileReport); err != nil {
		t.Fatal(err)
	}
	h.norm = h.newNormalise()
	h.val = h.newValidate()
	return h
}

func (h *harness) newNormalise() *normalise.Processor {
	p, err := normalise.NewProcessor(normalise.ProcessorDeps{Registry: h.reg, Now: func() time.Time { return fixedNow }})
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (h *harness) newValidate() *validate.Processor { return h.newValidateWith(nil) }

// newValidateWith builds validate with tenant configuration (feeds).
func (h *harness) newValidateWith(tenants *tenant.Set) *validate.Processor {
	return h.newValidateOn(tenants, newStore(h.t))
}

func (h *harness) newValidateOn(tenants *tenant.Set, store *statestore.Store) *validate.Processor {
	p, err := validate.NewProcessor(validate.ProcessorDeps{Registry: h.reg, Now: func() time.Time { return fixedNow }, Tenants: tenants, Store: store})
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (h *harness) encodeRaw(rec internalv1.RawRecord) *kgo.Record {
	h.t.Helper()
	b, err := h.raw.Encode(nil, rec)
	if err != nil {
		h.t.Fatal(err)
	}
	return &kgo.Record{Topic: schemas.TopicRaw, Key: []byte(rec.Tenant), Value: b}
}

// step runs one record through a processor in its own transaction and
// returns what it produced and the state changes. Validate's transaction
// reads and writes its state store and commits, as the runner's would.
func step(t testing.TB, p stage.Processor, in *kgo.Record) *stage.Tx {
	t.Helper()
	tx := stage.NewTx(0)
	var txn *statestore.Txn
	if v, ok := p.(*validate.Processor); ok {
		txn = validate.StoreOf(v).Begin()
		tx = stage.NewTxIn(txn, 0)
	}
	if err := p.Process(context.Background(), in, tx); err != nil {
		t.Fatalf("process %s: %v", in.Topic, err)
	}
	if txn != nil {
		if err := txn.Commit(nil); err != nil {
			t.Fatal(err)
		}
	}
	return tx
}

// newStore is an in-memory state store for a validate processor.
func newStore(t testing.TB) *statestore.Store {
	t.Helper()
	s, err := statestore.Open(statestore.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// restoredValidate is a new validate processor whose store holds state (a
// compacted changelog), as the runner leaves it after a restore.
func (h *harness) restoredValidate(state []*kgo.Record) *validate.Processor {
	h.t.Helper()
	store := newStore(h.t)
	l := store.Load(0, statestore.Checkpoint{})
	for i, s := range compact(state) {
		if err := l.Apply(int64(i), s.Key, s.Value, true); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		h.t.Fatal(err)
	}
	p := h.newValidateOn(nil, store)
	if err := p.Restored(0); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (h *harness) decodeEntity(r *kgo.Record) internalv1.EntityRecord {
	h.t.Helper()
	var e internalv1.EntityRecord
	if _, err := h.serde.Decode(context.Background(), r.Value, h.entity, &e); err != nil {
		h.t.Fatal(err)
	}
	return e
}

func (h *harness) decodeQuarantine(r *kgo.Record) internalv1.QuarantineRecord {
	h.t.Helper()
	var q internalv1.QuarantineRecord
	if _, err := h.serde.Decode(context.Background(), r.Value, h.quar, &q); err != nil {
		h.t.Fatal(err)
	}
	return q
}

func (h *harness) decodeReport(r *kgo.Record) internalv1.FileReport {
	h.t.Helper()
	var f internalv1.FileReport
	if _, err := h.serde.Decode(context.Background(), r.Value, h.report, &f); err != nil {
		h.t.Fatal(err)
	}
	return f
}

// output is everything the two stages produced.
type output struct {
	normalised  []*kgo.Record
	validated   []*kgo.Record
	quarantined []*kgo.Record
	reports     []*kgo.Record
	normState   []*kgo.Record
	valState    []*kgo.Record
}

// run feeds raw records through normalise, and normalise's output through
// validate, one record per transaction.
func (h *harness) run(raws []internalv1.RawRecord) output {
	h.t.Helper()
	var out output
	for _, r := range raws {
		tx := step(h.t, h.norm, h.encodeRaw(r))
		out.normState = append(out.normState, tx.StateChanges()...)
		for _, o := range tx.Records() {
			switch o.Topic {
			case schemas.TopicNormalised:
				out.normalised = append(out.normalised, o)
				vtx := step(h.t, h.val, &kgo.Record{Topic: o.Topic, Key: o.Key, Value: o.Value})
				out.valState = append(out.valState, vtx.StateChanges()...)
				for _, v := range vtx.Records() {
					switch v.Topic {
					case schemas.TopicValidated:
						out.validated = append(out.validated, v)
					case schemas.TopicQuarantine:
						out.quarantined = append(out.quarantined, v)
					case schemas.TopicFileReports:
						out.reports = append(out.reports, v)
					default:
						h.t.Fatalf("validate produced to %s", v.Topic)
					}
				}
			case schemas.TopicQuarantine:
				out.quarantined = append(out.quarantined, o)
			default:
				h.t.Fatalf("normalise produced to %s", o.Topic)
			}
		}
	}
	return out
}

// generated is a synthetic trust's files as ingest would send them.
type generated struct {
	res   gen.Result
	sink  *gen.MemSink
	files [][]internalv1.RawRecord
	truth []gen.TruthLine
}

func generate(t testing.TB, cfg gen.Config) generated {
	t.Helper()
	sink := &gen.MemSink{}
	res, err := gen.Generate(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := gen.ReadTruth(bytes.NewReader(sink.Bytes(gen.TruthFile)))
	if err != nil {
		t.Fatal(err)
	}
	g := generated{res: res, sink: sink, truth: truth}
	for _, fi := range res.Files {
		g.files = append(g.files, rawFile(t, cfg.Tenant, cfg.VPD, cfg.Format, fi, sink.Bytes(fi.Name)))
	}
	return g
}

// rawFile mirrors ingest: FILE_START, one RawRecord per parsed row (columns
// after the record type, problems from row.Problems), FILE_END with counts.
func rawFile(t testing.TB, tenant, vpd, dialect string, fi gen.FileInfo, data []byte) []internalv1.RawRecord {
	t.Helper()
	run, err := time.Parse(time.DateOnly, fi.RunDate)
	if err != nil {
		t.Fatal(err)
	}
	var rd interface {
		Next() (format.Row, error)
		Summary() format.Summary
	}
	now := func() time.Time { return run.Add(3 * time.Hour) }
	if dialect == gen.FormatGOv1 {
		rd, err = gov1.NewReader(fi.Name, bytes.NewReader(data), gov1.Options{ExpectedVPDs: []string{vpd}, Now: now})
	} else {
		dialect = gen.FormatGOv2
		rd, err = gov2.NewReader(fi.Name, bytes.NewReader(data), gov2.Options{ExpectedVPDs: []string{vpd}, Now: now})
	}
	if err != nil {
		t.Fatalf("%s: %v", fi.Name, err)
	}
	kind := internalv1.FileKindChange
	if fi.Type == "GOF" {
		kind = internalv1.FileKindFull
	}
	info := internalv1.FileInfo{Name: fi.Name, Sha256: fi.SHA256, Dialect: dialect, Kind: kind, Sequence: int64(fi.Seq),
		RunDate: run, Size: int64(len(data))}
	recs := []internalv1.RawRecord{{Kind: internalv1.RawKindFileStart, Tenant: tenant, Vpd: vpd, File: info,
		Fields: []string{}, Problems: []internalv1.Problem{}}}
	byType := map[string]int64{}
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", fi.Name, err)
		}
		fields := []string{}
		if len(row.Fields) > 1 {
			fields = append(fields, row.Fields[1:]...)
		}
		recs = append(recs, internalv1.RawRecord{Kind: internalv1.RawKindRecord, Tenant: tenant, Vpd: vpd, File: info,
			Line: int64(row.Line), RecordType: row.Type, Fields: fields, Problems: problems(row.Problems)})
		byType[row.Type]++
	}
	sum := rd.Summary()
	return append(recs, internalv1.RawRecord{Kind: internalv1.RawKindFileEnd, Tenant: tenant, Vpd: vpd, File: info,
		Fields: []string{}, Problems: []internalv1.Problem{},
		Counts: &internalv1.RawCounts{Lines: int64(sum.Lines), Rows: int64(len(recs) - 1), RowsByType: byType}})
}

func problems(ps []*format.Error) []internalv1.Problem {
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

func flatten(files [][]internalv1.RawRecord) []internalv1.RawRecord {
	var all []internalv1.RawRecord
	for _, f := range files {
		all = append(all, f...)
	}
	return all
}

func newValidateErr(h *harness, tenants *tenant.Set) (*validate.Processor, error) {
	return validate.NewProcessor(validate.ProcessorDeps{Registry: h.reg, Now: func() time.Time { return fixedNow }, Tenants: tenants, Store: newStore(h.t)})
}
