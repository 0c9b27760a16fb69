package normalise

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/platform/tracing"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Stage identity: the consumer group and the changelog topic it owns.
const (
	Group     = "esrflow-normalise"
	Changelog = "esr.normalise.changelog.v1"
)

// RuleUndecodable is the rule of a quarantine record for an input value
// that is not Confluent-framed Avro readable as a RawRecord.
const RuleUndecodable = "undecodable"

// Processor is the normalise stage: esr.raw.v1 in, esr.normalised.v1 and
// esr.quarantine.v1 out, per-file running counts in its changelog. It is a
// stage.Processor and a stage.Stateful; like every processor it is called
// from one goroutine.
type Processor struct {
	serde      *avrox.Serde
	rawSchema  avro.Schema
	entity     avrox.Writer
	quarantine avrox.Writer
	registered atomic.Bool // read by Ready from another goroutine
	initMu     sync.Mutex  // Prepare runs on several goroutines

	tenants  *tenant.Set
	mappings mappingVersions
	metrics  *Metrics
	log      *zap.Logger
	now      func() time.Time
	spans    *tracing.Files

	// files holds the running counts of each open file, by state key.
	files map[string]*fileState
}

// fileState is one open file's running counts and the partition whose
// changelog holds them.
type fileState struct {
	partition int32
	counts    internalv1.StageCounts
	// ruleCounts are the file's rows quarantined here per rule code (a row
	// counts once under each distinct rule), for FILE_END's rule_counts.
	ruleCounts map[string]int64
	// v1 links a GO v1 file's rows: its person is saved with the counts,
	// each derived reference as a changelog key of its own (refStateKey),
	// so a restart mid-file links alike and never derives one twice.
	v1 V1File
}

// savedFile is a fileState's changelog value. The counts stay inline, so a
// value written before rule counts existed still reads.
type savedFile struct {
	internalv1.StageCounts
	RuleCounts map[string]int64 `json:"rule_counts,omitempty"`
	V1         *V1Person        `json:"v1,omitempty"`
}

// ProcessorDeps are the processor's collaborators. Metrics and Log may be nil
// (no metrics, no logs); Now defaults to time.Now.
type ProcessorDeps struct {
	Registry *sr.Client
	Tenants  *tenant.Set
	Metrics  *Metrics
	Log      *zap.Logger
	Now      func() time.Time
	// Tracing exports the "normalise file" spans (nil: none; the output
	// records still name the stage's span in their traceparent).
	Tracing trace.TracerProvider
}

// NewProcessor builds the processor. It does not touch the network: Init
// registers the output schemas before the first record.
func NewProcessor(deps ProcessorDeps) (*Processor, error) {
	if deps.Registry == nil {
		return nil, errors.New("normalise: a schema registry client is required")
	}
	rawSchema, _, err := schemas.Latest(schemas.Raw)
	if err != nil {
		return nil, err
	}
	p := &Processor{
		serde:     avrox.New(deps.Registry, internalv1.NewAPI()),
		rawSchema: rawSchema,
		tenants:   deps.Tenants,
		metrics:   deps.Metrics,
		log:       deps.Log,
		now:       deps.Now,
		spans:     tracing.NewFiles(deps.Tracing, "normalise"),
		files:     map[string]*fileState{},
	}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// Init registers the schemas of the output topics (idempotent). Process
// calls it on first use if it was not called before.
func (p *Processor) Init(ctx context.Context) error {
	if p.registered.Load() {
		return nil
	}
	p.initMu.Lock()
	defer p.initMu.Unlock()
	if p.registered.Load() {
		return nil
	}
	var err error
	if p.entity, err = register(ctx, p.serde, schemas.TopicNormalised, schemas.Entity); err != nil {
		return err
	}
	if p.quarantine, err = register(ctx, p.serde, schemas.TopicQuarantine, schemas.Quarantine); err != nil {
		return err
	}
	p.registered.Store(true)
	return nil
}

func register(ctx context.Context, s *avrox.Serde, topic, name string) (avrox.Writer, error) {
	_, text, err := schemas.Latest(name)
	if err != nil {
		return avrox.Writer{}, err
	}
	return s.Register(ctx, schemas.Subject(topic), text)
}

// preparedRow is everything about one esr.raw.v1 record that needs no
// state: decoded, mapped and, for a row, its output record encoded. The
// stage runner prepares a poll's records on all cores (stage.Preparer);
// Process then only counts and produces, in order.
type preparedRow struct {
	raw         internalv1.RawRecord
	undecodable bool
	out         Outcome
	value       []byte // the encoded esr.normalised.v1 or esr.quarantine.v1 record of a row
}

// Prepare implements stage.Preparer.
func (p *Processor) Prepare(ctx context.Context, in *kgo.Record) (any, error) {
	return p.prepare(ctx, in)
}

func (p *Processor) prepare(ctx context.Context, in *kgo.Record) (*preparedRow, error) {
	if err := p.Init(ctx); err != nil {
		return nil, err
	}
	pr := &preparedRow{}
	if _, err := p.serde.Decode(ctx, in.Value, p.rawSchema, &pr.raw); err != nil {
		if errors.Is(err, avrox.ErrNotFramed) || errors.Is(err, avrox.ErrIncompatible) {
			pr.undecodable = true
			return pr, nil
		}
		return nil, fmt.Errorf("normalise: decoding %s/%d@%d: %w", in.Topic, in.Partition, in.Offset, err)
	}
	if pr.raw.Kind != internalv1.RawKindRecord {
		return pr, nil
	}
	raw := pr.raw
	var t tenant.Tenant
	if p.tenants != nil {
		t, _ = p.tenants.Get(raw.Tenant)
	}
	pr.out = MapRowFor(raw, t)
	if pr.out.LinkV1 {
		return pr, nil // encoded by Process, once linked to its person
	}
	var err error
	if pr.value, err = p.encodeOutcome(raw, pr.out); err != nil {
		return nil, err
	}
	return pr, nil
}

// encodeOutcome encodes a row's esr.normalised.v1 or esr.quarantine.v1
// record (nil for an ignored row).
func (p *Processor) encodeOutcome(raw internalv1.RawRecord, out Outcome) ([]byte, error) {
	lin := recordLineage(raw)
	rawRow := &internalv1.RawRow{RecordType: raw.RecordType, Fields: nonNil(raw.Fields)}
	switch out.Kind {
	case KindEntity, KindCorrection:
		kind := internalv1.EntityRecordKindEntity
		if out.Kind == KindCorrection {
			kind = internalv1.EntityRecordKindCorrection
		}
		rec := internalv1.EntityRecord{Kind: kind, Lineage: lin, Vpd: raw.Vpd, File: raw.File, Raw: rawRow, Entity: out.Entity,
			ReplayID: raw.ReplayID}
		p.stampLineage(&rec, raw)
		b, err := p.entity.Encode(nil, rec)
		if err != nil {
			return nil, fmt.Errorf("normalise: encoding entity record: %w", err)
		}
		return b, nil
	case KindQuarantined:
		q := internalv1.QuarantineRecord{Stage: internalv1.StageNormalise, Lineage: lin, Vpd: raw.Vpd,
			Raw: *rawRow, Violations: out.Violations, QuarantinedAt: p.now().UTC().Truncate(time.Millisecond),
			ReplayID: raw.ReplayID, RawSha256: raw.RawSha256}
		b, err := p.quarantine.Encode(nil, q)
		if err != nil {
			return nil, fmt.Errorf("normalise: encoding quarantine record: %w", err)
		}
		return b, nil
	}
	return nil, nil
}

// Process maps one esr.raw.v1 record, using what Prepare made of it when
// the runner prepared it.
func (p *Processor) Process(ctx context.Context, in *kgo.Record, tx *stage.Tx) error {
	pr, ok := tx.Prepared().(*preparedRow)
	if !ok {
		var err error
		if pr, err = p.prepare(ctx, in); err != nil {
			return err
		}
	}
	if pr.undecodable {
		return p.undecodable(in, tx)
	}
	raw := pr.raw
	key := in.Key
	if len(key) == 0 {
		key = []byte(raw.Tenant)
	}
	// The stage's span of the file, from the first of its records this
	// instance processes to its FILE_END; every output record names it as
	// its parent (traceparent), in place of ingest's span.
	hdrs := p.spans.Begin(ctx, tx.Partition(), raw.Tenant, raw.File.Sha256, raw.File.Name, in.Headers).Headers(in.Headers)
	switch raw.Kind {
	case internalv1.RawKindFileStart:
		return p.fileStart(tx, key, hdrs, raw)
	case internalv1.RawKindRecord:
		return p.record(tx, key, hdrs, pr)
	case internalv1.RawKindFileEnd:
		return p.fileEnd(tx, key, hdrs, raw)
	}
	return fmt.Errorf("normalise: unknown raw record kind %q", raw.Kind)
}

func (p *Processor) fileStart(tx *stage.Tx, key []byte, hdrs []kgo.RecordHeader, raw internalv1.RawRecord) error {
	sk := stateKey(raw.Tenant, raw.File.Sha256)
	fs := &fileState{partition: tx.Partition()}
	p.files[sk] = fs
	if err := p.saveState(tx, sk, fs); err != nil {
		return err
	}
	p.metrics.file(raw.Tenant, "start")
	return p.emitEntity(tx, key, hdrs, p.control(internalv1.EntityRecordKindFileStart, raw, nil))
}

func (p *Processor) record(tx *stage.Tx, key []byte, hdrs []kgo.RecordHeader, pr *preparedRow) error {
	raw, out := pr.raw, pr.out
	sk := stateKey(raw.Tenant, raw.File.Sha256)
	fs := p.files[sk]
	if fs == nil {
		// No FILE_START seen (cannot happen with ingest's transactions, but a
		// missing marker must not lose the row from the counts).
		fs = &fileState{partition: tx.Partition()}
		p.files[sk] = fs
		p.log.Warn("record without an open file", logx.Tenant(raw.Tenant), logx.File(raw.File.Name), logx.Line(int(raw.Line)))
	}
	if isGOv1(raw.File.Dialect) {
		var err error
		if out, err = p.linkV1(tx, key, hdrs, sk, fs, pr); err != nil {
			return err
		}
	}
	switch out.Kind {
	case KindEntity, KindCorrection:
		if out.Kind == KindCorrection {
			fs.counts.Corrections++
		} else {
			fs.counts.Entities++
		}
		tx.Produce(&kgo.Record{Topic: schemas.TopicNormalised, Key: key, Value: pr.value, Headers: hdrs})
		p.metrics.record(raw.Tenant, metricKind(out))
	case KindIgnored:
		fs.counts.Ignored++
		p.metrics.record(raw.Tenant, "ignored")
	case KindQuarantined:
		fs.counts.Quarantined++
		tx.Produce(&kgo.Record{Topic: schemas.TopicQuarantine, Key: key, Value: pr.value, Headers: hdrs})
		p.metrics.record(raw.Tenant, "quarantined")
		seen := map[string]bool{}
		for _, v := range out.Violations {
			p.metrics.quarantined(raw.Tenant, v.Rule)
			if code := rules.CodeOf(v.Rule); !seen[code] {
				seen[code] = true
				if fs.ruleCounts == nil {
					fs.ruleCounts = map[string]int64{}
				}
				fs.ruleCounts[code]++
			}
		}
	}
	fs.counts.RowsRead++
	return p.saveState(tx, sk, fs)
}

func (p *Processor) fileEnd(tx *stage.Tx, key []byte, hdrs []kgo.RecordHeader, raw internalv1.RawRecord) error {
	sk := stateKey(raw.Tenant, raw.File.Sha256)
	var counts internalv1.StageCounts
	ruleCounts := map[string]int64{}
	if fs := p.files[sk]; fs != nil {
		counts = fs.counts
		maps.Copy(ruleCounts, fs.ruleCounts)
	}
	if raw.Counts != nil && raw.Counts.Rows != counts.RowsRead {
		p.log.Error("file counts do not reconcile: rows read differ from ingest's rows",
			logx.Tenant(raw.Tenant), logx.File(raw.File.Name),
			logx.Count("rows_ingest", raw.Counts.Rows), logx.Count("rows_read", counts.RowsRead))
	}
	if raw.Counts != nil && raw.Counts.IgnoredRows > 0 {
		// Rows ingest counted instead of writing (their type is one the
		// tenant's mapping ignores): read, and ignored, as if they had
		// come. None of them reached this stage, so none is counted twice.
		counts.RowsRead += raw.Counts.IgnoredRows
		counts.Ignored += raw.Counts.IgnoredRows
		p.metrics.recordMany(raw.Tenant, "ignored", raw.Counts.IgnoredRows)
	}
	end := p.control(internalv1.EntityRecordKindFileEnd, raw, &counts)
	end.RuleCounts = ruleCounts
	if err := p.emitEntity(tx, key, hdrs, end); err != nil {
		return err
	}
	if fs := p.files[sk]; fs != nil {
		for ref := range fs.v1.Refs {
			tx.SetState([]byte(refStateKey(sk, ref)), nil)
		}
	}
	delete(p.files, sk)
	tx.SetState([]byte(sk), nil)
	// Ended before the transaction commits: one that aborts and is redone
	// exports the span again (same ids). Exactly-once is Kafka's, not the
	// tracer's.
	p.spans.End(raw.Tenant, raw.File.Sha256, nil, tracing.AttrRows.Int64(counts.RowsRead),
		tracing.AttrOutcome.String("normalised"),
		attribute.Int64("esrflow.entities", counts.Entities), attribute.Int64("esrflow.quarantined", counts.Quarantined))
	p.metrics.file(raw.Tenant, "end")
	p.log.Info("file normalised", logx.Tenant(raw.Tenant), logx.File(raw.File.Name),
		logx.Count("rows_read", counts.RowsRead), logx.Count("entities", counts.Entities),
		logx.Count("corrections", counts.Corrections), logx.Count("ignored", counts.Ignored),
		logx.Count("quarantined", counts.Quarantined))
	return nil
}

// undecodable quarantines an input value that can never be read, keyed and
// attributed by its Kafka key (the tenant) alone.
func (p *Processor) undecodable(in *kgo.Record, tx *stage.Tx) error {
	tenant := string(in.Key)
	q := internalv1.QuarantineRecord{Stage: internalv1.StageNormalise, Lineage: internalv1.Lineage{Tenant: tenant},
		Raw: internalv1.RawRow{Fields: []string{}}, QuarantinedAt: p.now().UTC().Truncate(time.Millisecond),
		Violations: []internalv1.Violation{{Rule: RuleUndecodable, Severity: internalv1.SeverityError,
			Message: "input value is not a RawRecord in the Confluent Avro wire format"}}}
	p.metrics.quarantined(tenant, RuleUndecodable)
	p.log.Error("undecodable input quarantined", logx.Tenant(tenant), logx.Topic(in.Topic),
		logx.Partition(in.Partition), logx.Offset(in.Offset))
	return p.emitQuarantine(tx, in.Key, in.Headers, q)
}

func (p *Processor) control(kind internalv1.EntityRecordKind, raw internalv1.RawRecord, counts *internalv1.StageCounts) internalv1.EntityRecord {
	return internalv1.EntityRecord{Kind: kind, Lineage: lineage(raw, 0), Vpd: raw.Vpd, File: raw.File, Counts: counts,
		ReplayID: raw.ReplayID}
}

func (p *Processor) emitEntity(tx *stage.Tx, key []byte, hdrs []kgo.RecordHeader, rec internalv1.EntityRecord) error {
	b, err := p.entity.Encode(nil, rec)
	if err != nil {
		return fmt.Errorf("normalise: encoding entity record: %w", err)
	}
	tx.Produce(&kgo.Record{Topic: schemas.TopicNormalised, Key: key, Value: b, Headers: hdrs})
	return nil
}

func (p *Processor) emitQuarantine(tx *stage.Tx, key []byte, hdrs []kgo.RecordHeader, q internalv1.QuarantineRecord) error {
	b, err := p.quarantine.Encode(nil, q)
	if err != nil {
		return fmt.Errorf("normalise: encoding quarantine record: %w", err)
	}
	tx.Produce(&kgo.Record{Topic: schemas.TopicQuarantine, Key: key, Value: b, Headers: hdrs})
	return nil
}

func (p *Processor) saveState(tx *stage.Tx, sk string, fs *fileState) error {
	b, err := json.Marshal(savedFile{StageCounts: fs.counts, RuleCounts: fs.ruleCounts, V1: fs.v1.Person})
	if err != nil {
		return err
	}
	tx.SetState([]byte(sk), b)
	return nil
}

// Restore applies one changelog record.
func (p *Processor) Restore(partition int32, key, value []byte) error {
	sk := string(key)
	if rest, ok := strings.CutPrefix(sk, refPrefix); ok {
		return p.restoreRef(partition, rest, value)
	}
	if !strings.HasPrefix(sk, statePrefix) {
		return fmt.Errorf("normalise: unknown changelog key %q", sk)
	}
	if value == nil {
		delete(p.files, sk)
		return nil
	}
	var saved savedFile
	if err := json.Unmarshal(value, &saved); err != nil {
		return fmt.Errorf("normalise: changelog value of %q: %w", sk, err)
	}
	fs := &fileState{partition: partition, counts: saved.StageCounts, ruleCounts: saved.RuleCounts, v1: V1File{Person: saved.V1}}
	if old := p.files[sk]; old != nil {
		fs.v1.Refs = old.v1.Refs // restored before the file's latest counts
	}
	p.files[sk] = fs
	return nil
}

// Forget drops the in-memory state of a partition.
func (p *Processor) Forget(partition int32) {
	p.spans.Forget(partition)
	for k, fs := range p.files {
		if fs.partition == partition {
			delete(p.files, k)
		}
	}
}

// OpenFiles is how many files have a FILE_START but no FILE_END yet.
func (p *Processor) OpenFiles() int { return len(p.files) }

const statePrefix = "file/"

// stateKey is the changelog key of a file's running counts.
func stateKey(tenant, sha string) string { return statePrefix + tenant + "/" + sha }

// recordLineage is a row's lineage: where ingest read it, or, for a row of
// a replay batch, where it was first read (its origin), so the audit trail
// and the events' source stay the original file and line.
// stampLineage puts on an entity record what lineage needs from this stage:
// the raw row's hash and ingest time, carried over, the mapping version and
// when it was mapped.
func (p *Processor) stampLineage(rec *internalv1.EntityRecord, raw internalv1.RawRecord) {
	var t tenant.Tenant
	if p.tenants != nil {
		t, _ = p.tenants.Get(raw.Tenant)
	}
	t.Code = raw.Tenant
	mv := p.mappings.get(t, raw.File.Dialect)
	now := p.now().UTC().Truncate(time.Millisecond)
	rec.RawSha256, rec.IngestedAt, rec.MappingVersion, rec.NormalisedAt = raw.RawSha256, raw.IngestedAt, &mv, &now
}

func recordLineage(raw internalv1.RawRecord) internalv1.Lineage {
	if raw.Origin != nil {
		return *raw.Origin
	}
	return lineage(raw, raw.Line)
}

func lineage(raw internalv1.RawRecord, line int64) internalv1.Lineage {
	return internalv1.Lineage{Tenant: raw.Tenant, FileName: raw.File.Name, FileSha256: raw.File.Sha256, Line: line}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func metricKind(o Outcome) string {
	if o.Kind == KindCorrection {
		return "correction"
	}
	return strings.ToLower(string(o.EntityKind))
}
