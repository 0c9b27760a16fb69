package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
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
	tenantcfg "github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/platform/statestore"
	"github.com/esrflow/esrflow/platform/tracing"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Stage identity: the consumer group and the changelog topic it owns.
const (
	Group     = "esrflow-validate"
	Changelog = "esr.validate.changelog.v1"
)

// RuleUndecodable is the catalogue rule of a quarantine record for an input
// value that is not Confluent-framed Avro readable as an EntityRecord.
const RuleUndecodable = "ESR-R008"

// Processor is the validate stage: esr.normalised.v1 in, esr.validated.v1
// and esr.quarantine.v1 out, and esr.ops.file-reports.v1 for a file it
// rejects over its error budget.
//
// A file's verdict needs all of it (a row may refer to one further down, and
// the error budget counts the whole file), and nothing of a rejected file may
// reach publish. So validate holds each file's records until its FILE_END,
// writing each to the changelog as it arrives (the stage commits offsets per
// batch, long before the file ends), and emits the file — or its rejection —
// in FILE_END's transaction.
//
// Its state, in the changelog and in the stage's Store (on disk, off the
// heap), is per tenant: the entities known from accepted rows of earlier
// files (persons with their employee numbers, positions, organisations,
// locations) and the open file's buffered records. In memory it keeps only
// what the open files need to be judged.
type Processor struct {
	serde      *avrox.Serde
	inSchema   avro.Schema
	validated  avrox.Writer
	quarantine avrox.Writer
	reports    avrox.Writer
	registered atomic.Bool // read by Ready and Prepare from other goroutines
	initMu     sync.Mutex

	metrics *Metrics
	log     *zap.Logger
	now     func() time.Time
	spans   *tracing.Files

	// store is the stage's state store (the runner writes to it); read here
	// only outside a transaction (KnownCounts, Restored).
	store   *statestore.Store
	tenants map[string]*tenantState
	config  *tenantcfg.Set
	sets    *rules.Sets
}

// entKey is an entity's identity inside a tenant.
type entKey struct {
	vpd string
	id  int64
}

// Known kinds besides persons (whose employee number is kept too).
var knownKinds = []string{rules.KindPosition, rules.KindOrganisation, rules.KindLocation}

// tenantState is what validate holds in memory of a tenant: its open files.
type tenantState struct {
	code      string
	partition int32
	files     map[string]*openFile // by file SHA-256
	// tx is the transaction of the record being processed: what the
	// tenant knows is read through it. readErr is the first failed read,
	// returned by Process (rules.Known cannot return errors).
	tx      *stage.Tx
	readErr error
}

// openFile is a file between its FILE_START and FILE_END.
type openFile struct {
	// start is the FILE_START record; after a restore only startRaw (its
	// changelog value) is known until the file is next touched, when its
	// buffered records are read back from the store.
	start     *internalv1.EntityRecord
	startRaw  []byte
	startHdrs []kgo.RecordHeader
	judge     *rules.File
	known     *fileKnown
	next      int // the next record's sequence number
	// olderKeys: some of its records are buffered under the unpadded keys
	// of an older validate (dropBuffered then lists what to delete).
	olderKeys bool
	// reset: a full file whose omissions are corrections replaces what
	// the tenant knows, so it is judged against itself alone and, once
	// accepted, forgets everything before it.
	reset bool
}

// tenantKnown adapts a tenant's state in the store to rules.Known.
type tenantKnown struct{ ts *tenantState }

func (k tenantKnown) Person(vpd string, id int64) (string, bool) {
	v, ok := k.ts.get(rules.KindPerson, entKey{vpd, id})
	if !ok {
		return "", false
	}
	return employeeNumber(v), true
}

func (k tenantKnown) Has(kind, vpd string, id int64) bool {
	_, ok := k.ts.get(kind, entKey{vpd, id})
	return ok
}

// get reads a known entity through the current transaction.
func (ts *tenantState) get(kind string, k entKey) ([]byte, bool) {
	v, ok, err := ts.tx.Get([]byte(entityKey(kind, ts.code, k)))
	if err != nil && ts.readErr == nil {
		ts.readErr = err
	}
	return v, ok
}

// employeeNumber is a known person's value: the employee number, or the
// single byte 1 written before employee numbers were kept.
func employeeNumber(v []byte) string {
	if len(v) == 1 && v[0] == 1 {
		return ""
	}
	return string(v)
}

func (tenantKnown) Complete() bool { return true }

// ProcessorDeps are the processor's collaborators. Metrics and Log may be nil;
// Now defaults to time.Now.
type ProcessorDeps struct {
	Registry *sr.Client
	Metrics  *Metrics
	Log      *zap.Logger
	Now      func() time.Time
	// Tenants gives each tenant's feeds' missing mode and validation
	// overrides (nil: defaults and the baseline rule set).
	Tenants *tenantcfg.Set
	// Store is the stage's state store, the one given to the runner.
	Store *statestore.Store
	// Tracing exports the "validate file" spans (nil: none; the output
	// records still name the stage's span in their traceparent).
	Tracing trace.TracerProvider
}

// NewProcessor builds the processor without touching the network. It
// compiles every tenant's rule set: a bad override or CEL rule fails here,
// naming the tenant and the rule, not at the first file.
func NewProcessor(deps ProcessorDeps) (*Processor, error) {
	if deps.Registry == nil {
		return nil, errors.New("validate: a schema registry client is required")
	}
	if deps.Store == nil {
		return nil, errors.New("validate: a state store is required")
	}
	sets, err := rules.CompileAll(deps.Tenants)
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	in, _, err := schemas.Latest(schemas.Entity)
	if err != nil {
		return nil, err
	}
	p := &Processor{serde: avrox.New(deps.Registry, internalv1.NewAPI()), inSchema: in,
		metrics: deps.Metrics, log: deps.Log, now: deps.Now, tenants: map[string]*tenantState{},
		config: deps.Tenants, sets: sets, store: deps.Store, spans: tracing.NewFiles(deps.Tracing, "validate")}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// Init registers the output topics' schemas (idempotent).
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
	if p.validated, err = register(ctx, p.serde, schemas.TopicValidated, schemas.Entity); err != nil {
		return err
	}
	if p.quarantine, err = register(ctx, p.serde, schemas.TopicQuarantine, schemas.Quarantine); err != nil {
		return err
	}
	if p.reports, err = register(ctx, p.serde, schemas.TopicFileReports, schemas.FileReport); err != nil {
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

// prepared is an input record decoded by Prepare.
type prepared struct {
	rec internalv1.EntityRecord
	ok  bool // false: undecodable
}

// Prepare decodes an input record; the runner calls it for a poll's records
// on all cores, then Process for each in order. Decoding is the larger part
// of validate's work and needs no state.
func (p *Processor) Prepare(ctx context.Context, in *kgo.Record) (any, error) {
	if err := p.Init(ctx); err != nil {
		return nil, err
	}
	rec, ok, err := p.decode(ctx, in.Value)
	if err != nil {
		return nil, fmt.Errorf("validate: decoding %s/%d@%d: %w", in.Topic, in.Partition, in.Offset, err)
	}
	return &prepared{rec: rec, ok: ok}, nil
}

// Process takes one esr.normalised.v1 record.
func (p *Processor) Process(ctx context.Context, in *kgo.Record, tx *stage.Tx) error {
	pr, ok := tx.Prepared().(*prepared)
	if !ok {
		var err error
		if pr, err = p.prepareNow(ctx, in); err != nil {
			return err
		}
	}
	rec := pr.rec
	if !pr.ok {
		return p.undecodable(in, tx)
	}
	key := in.Key
	tenant := rec.Lineage.Tenant
	if len(key) == 0 {
		key = []byte(tenant)
	}
	ts := p.tenant(tenant, tx.Partition())
	ts.tx, ts.readErr = tx, nil
	defer func() { ts.tx = nil }()
	var err error
	// The stage's span of the file, from the first of its records this
	// instance processes to its FILE_END, when validate writes everything
	// of the file: every output record names it as its parent.
	span := p.spans.Begin(ctx, tx.Partition(), tenant, rec.File.Sha256, rec.File.Name, in.Headers)
	switch rec.Kind {
	case internalv1.EntityRecordKindFileStart:
		err = p.fileStart(tx, ts, in, rec)
	case internalv1.EntityRecordKindEntity, internalv1.EntityRecordKindCorrection:
		err = p.add(ctx, tx, ts, in, rec)
	case internalv1.EntityRecordKindFileEnd:
		err = p.fileEnd(ctx, outRec{tx: tx, key: key, hdrs: in.Headers, span: span}, ts, rec)
	default:
		err = fmt.Errorf("validate: unknown entity record kind %q", rec.Kind)
	}
	if err == nil && ts.readErr != nil {
		err = fmt.Errorf("validate: reading state: %w", ts.readErr)
	}
	return err
}

func (p *Processor) prepareNow(ctx context.Context, in *kgo.Record) (*prepared, error) {
	v, err := p.Prepare(ctx, in)
	if err != nil {
		return nil, err
	}
	return v.(*prepared), nil
}

// decode reads an EntityRecord; ok is false for a value that can never be
// read (not framed, or not an EntityRecord).
func (p *Processor) decode(ctx context.Context, b []byte) (internalv1.EntityRecord, bool, error) {
	var rec internalv1.EntityRecord
	if _, err := p.serde.Decode(ctx, b, p.inSchema, &rec); err != nil {
		if errors.Is(err, avrox.ErrNotFramed) || errors.Is(err, avrox.ErrIncompatible) {
			return rec, false, nil
		}
		return rec, false, err
	}
	return rec, true, nil
}

type outRec struct {
	tx   *stage.Tx
	key  []byte
	hdrs []kgo.RecordHeader
	span *tracing.File // the file's span, named by the records' traceparent (nil: hdrs as they are)
}

func (p *Processor) tenant(code string, partition int32) *tenantState {
	ts := p.tenants[code]
	if ts == nil {
		ts = &tenantState{code: code, partition: partition, files: map[string]*openFile{}}
		p.tenants[code] = ts
	}
	ts.partition = partition
	return ts
}

func (p *Processor) fileStart(tx *stage.Tx, ts *tenantState, in *kgo.Record, rec internalv1.EntityRecord) error {
	tenant, sha := rec.Lineage.Tenant, rec.File.Sha256
	if old := ts.files[sha]; old != nil {
		// The same file started again without ending (cannot happen with a
		// transactional upstream): drop what was buffered of it.
		p.log.Warn("file started again before it ended", logx.Tenant(tenant), logx.File(rec.File.Name))
		if err := p.dropBuffered(tx, tenant, sha, old); err != nil {
			return err
		}
	}
	of := &openFile{start: &rec, startHdrs: in.Headers}
	p.judge(ts, of)
	ts.files[sha] = of
	tx.SetState([]byte(fileKey(tenant, sha)), encodeStored(in.Value, in.Headers))
	p.metrics.file(tenant, "start")
	return nil
}

// judge opens the rules.File of a file whose start is known.
func (p *Processor) judge(ts *tenantState, of *openFile) {
	start := of.start
	tenant := start.Lineage.Tenant
	var known rules.Known = tenantKnown{ts}
	if start.File.Kind == internalv1.FileKindFull && p.missing(tenant, start.File.Dialect) == tenantcfg.MissingCorrect {
		// The feed says a full file is the whole truth and publish removes
		// whom it omits: what it does not define is no longer known. Under
		// ignore or leave publish keeps the omitted people, so they stay
		// known here too.
		of.reset = true
		known = rules.NoKnown{}
	}
	of.known = &fileKnown{base: known, deleted: map[string]map[entKey]struct{}{}}
	// The File keeps only what the rules need of each record; the records
	// stay in the store until the verdict, so a large trust's full file
	// does not sit decoded in memory.
	of.judge = p.sets.For(tenant).NewFile(start.File, of.known).WithoutRecords()
}

// fileKnown is what a file's references resolve against besides the file
// itself: the tenant's known entities less those the file deletes. A
// reference to an entity the same file deletes fails wherever the delete
// row stands, as references to rows further down resolve wherever they
// stand: a file is judged whole.
type fileKnown struct {
	base    rules.Known
	deleted map[string]map[entKey]struct{}
}

func (k *fileKnown) Person(vpd string, id int64) (string, bool) {
	if _, gone := k.deleted[rules.KindPerson][entKey{vpd, id}]; gone {
		return "", false
	}
	return k.base.Person(vpd, id)
}

func (k *fileKnown) Has(kind, vpd string, id int64) bool {
	if _, gone := k.deleted[kind][entKey{vpd, id}]; gone {
		return false
	}
	return k.base.Has(kind, vpd, id)
}

func (k *fileKnown) Complete() bool { return k.base.Complete() }

// add notes a record of the file: a correction hides what it deletes.
func (k *fileKnown) add(rec internalv1.EntityRecord) {
	c, ok := rec.Entity.(internalv1.Correction)
	if !ok {
		return
	}
	kind := correctionKinds[c.EntityKind]
	if kind == "" {
		return
	}
	if k.deleted[kind] == nil {
		k.deleted[kind] = map[entKey]struct{}{}
	}
	k.deleted[kind][entKey{c.Vpd, c.ID}] = struct{}{}
}

var correctionKinds = map[internalv1.EntityKind]string{
	internalv1.EntityKindPerson: rules.KindPerson, internalv1.EntityKindPosition: rules.KindPosition,
	internalv1.EntityKindOrganisation: rules.KindOrganisation, internalv1.EntityKindLocation: rules.KindLocation,
}

// open returns the open file of a record, rebuilding it from the changelog
// after a restore.
func (p *Processor) open(ctx context.Context, ts *tenantState, rec internalv1.EntityRecord) (*openFile, error) {
	of := ts.files[rec.File.Sha256]
	if of == nil {
		// No FILE_START seen (cannot happen with a transactional upstream,
		// but the file's rows must not be lost): open it from the record.
		p.log.Warn("record without an open file", logx.Tenant(rec.Lineage.Tenant), logx.File(rec.File.Name),
			logx.Line(int(rec.Lineage.Line)))
		start := internalv1.EntityRecord{Kind: internalv1.EntityRecordKindFileStart, Vpd: rec.Vpd, File: rec.File,
			ReplayID: rec.ReplayID, Lineage: internalv1.Lineage{Tenant: rec.Lineage.Tenant,
				FileName: rec.Lineage.FileName, FileSha256: rec.Lineage.FileSha256}}
		of = &openFile{start: &start}
		p.judge(ts, of)
		ts.files[rec.File.Sha256] = of
		return of, nil
	}
	if of.judge != nil {
		return of, nil
	}
	if of.start == nil {
		if of.startRaw == nil {
			of.start = &internalv1.EntityRecord{Kind: internalv1.EntityRecordKindFileStart, Vpd: rec.Vpd, File: rec.File,
				Lineage: internalv1.Lineage{Tenant: rec.Lineage.Tenant, FileName: rec.Lineage.FileName, FileSha256: rec.Lineage.FileSha256}}
		} else {
			v, hdrs := decodeStored(of.startRaw)
			of.startHdrs = hdrs
			start, ok, err := p.decode(ctx, v)
			if err != nil || !ok {
				return nil, fmt.Errorf("validate: restoring the FILE_START of %s: %v", rec.File.Name, err)
			}
			of.start = &start
		}
	}
	p.judge(ts, of)
	n, err := p.eachBuffered(ctx, ts.tx, rec.Lineage.Tenant, rec.File.Sha256, of, -1, func(_ int, r internalv1.EntityRecord, _ []kgo.RecordHeader) error {
		of.known.add(r)
		of.judge.Add(r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("validate: restoring the buffered records of %s: %w", rec.File.Name, err)
	}
	of.next = n
	return of, nil
}

// eachBuffered calls fn with an open file's buffered records and their
// headers in sequence order (0, 1, ...), want of them (-1: as many as
// there are), and returns how many it read. Sequence numbers are
// fixed-width, so one pass over the state reads them in order; keys
// written before they were (by an older validate) are read one at a time.
func (p *Processor) eachBuffered(ctx context.Context, tx *stage.Tx, tenant, sha string, of *openFile, want int,
	fn func(seq int, rec internalv1.EntityRecord, hdrs []kgo.RecordHeader) error) (int, error) {
	prefix := bufPrefix(tenant, sha)
	next := 0
	deliver := func(b []byte) error {
		v, hdrs := decodeStored(b)
		r, ok, err := p.decode(ctx, v)
		if err == nil && !ok {
			err = errors.New("not an entity record")
		}
		if err != nil {
			return fmt.Errorf("record %d: %w", next, err)
		}
		if err := fn(next, r, hdrs); err != nil {
			return err
		}
		next++
		return nil
	}
	err := tx.Scan([]byte(prefix), func(k, v []byte) error {
		if want >= 0 && next == want {
			return errEnough
		}
		if seq := string(k[len(prefix):]); seq != seqKey(next) {
			return errOlderKeys
		}
		// Cloned: the decoded record's strings may point into the value,
		// which the scan reuses.
		return deliver(bytes.Clone(v))
	})
	switch {
	case errors.Is(err, errOlderKeys):
		of.olderKeys = true
		for want < 0 || next < want {
			b, ok, err := tx.Get([]byte(prefix + strconv.Itoa(next)))
			if err == nil && !ok {
				b, ok, err = tx.Get([]byte(prefix + seqKey(next)))
			}
			if err != nil {
				return next, err
			}
			if !ok {
				break
			}
			if err := deliver(b); err != nil {
				return next, err
			}
		}
	case errors.Is(err, errEnough):
	case err != nil:
		return next, err
	}
	if want >= 0 && next != want {
		return next, fmt.Errorf("%d buffered records in the state, want %d", next, want)
	}
	return next, nil
}

var (
	errOlderKeys = errors.New("buffered records under keys an older validate wrote")
	errEnough    = errors.New("enough buffered records")
)

// add buffers an ENTITY or CORRECTION record: record rules run now, the
// verdict waits for FILE_END.
func (p *Processor) add(ctx context.Context, tx *stage.Tx, ts *tenantState, in *kgo.Record, rec internalv1.EntityRecord) error {
	of, err := p.open(ctx, ts, rec)
	if err != nil {
		return err
	}
	of.known.add(rec)
	of.judge.Add(rec)
	// Without the traceparent every row carries: FILE_END writes each with
	// the stage's own, and a record without headers is stored as its value
	// alone (encodeStored).
	tx.SetState([]byte(bufKey(rec.Lineage.Tenant, rec.File.Sha256, of.next)), encodeStored(in.Value, tracing.Without(in.Headers)))
	of.next++
	return nil
}

func (p *Processor) fileEnd(ctx context.Context, out outRec, ts *tenantState, rec internalv1.EntityRecord) error {
	tenant, sha := rec.Lineage.Tenant, rec.File.Sha256
	of, err := p.open(ctx, ts, rec)
	if err != nil {
		return err
	}
	var in internalv1.StageCounts
	if rec.Counts != nil {
		in = *rec.Counts
	}
	res := of.judge.Finish(rules.Upstream{RowsRead: in.RowsRead, Quarantined: in.Quarantined, RuleCounts: rec.RuleCounts})
	if rec.ReplayID != nil && res.Rejected {
		// A replay batch is an operator's deliberate resend of rows already
		// quarantined, each judged on its own again. The budget guards
		// against a broken feed file; applied to a replay it would only
		// withhold the rows a mapping or rule change has mended.
		res.Rejected, res.Reason = false, ""
	}

	// Rows quarantined per rule (this stage's at error severity, added to
	// the stages' before): FILE_END's rule_counts and the reports' top rules.
	ruleCounts := maps.Clone(rec.RuleCounts)
	if ruleCounts == nil {
		ruleCounts = map[string]int64{}
	}
	var accepted, corrections, quarantined, entities, upstreamCorr int64
	for _, d := range res.Decisions {
		switch {
		case d.Derived:
			// A reference entity normalise derived from a GO v1 ASG row is
			// not a row: no file count has it (rules.Derived).
			continue
		case d.Correction:
			upstreamCorr++
			if !res.Rejected {
				corrections++
			}
			continue
		case d.Quarantined:
			quarantined++
			seen := map[string]bool{}
			for _, v := range d.Violations {
				if v.Severity == internalv1.SeverityError && !seen[v.Rule] {
					seen[v.Rule] = true
					ruleCounts[v.Rule]++
				}
			}
		case !res.Rejected:
			accepted++
		}
		entities++
	}
	if in.Entities != entities || in.Corrections != upstreamCorr {
		p.log.Error("file counts do not reconcile with normalise's",
			logx.Tenant(tenant), logx.File(rec.File.Name),
			logx.Count("entities_normalised", in.Entities), logx.Count("entities_received", entities),
			logx.Count("corrections_normalised", in.Corrections), logx.Count("corrections_received", upstreamCorr))
	}
	now := p.now().UTC().Truncate(time.Millisecond)
	version := res.Version

	if !res.Rejected {
		start := *of.start
		start.RuleSetVersion = version
		if err := p.emit(outRec{tx: out.tx, key: out.key, hdrs: of.startHdrs, span: out.span}, start); err != nil {
			return err
		}
	}
	if !res.Rejected && of.reset {
		if err := p.resetKnown(out.tx, tenant); err != nil {
			return err
		}
	}
	// The records come back from the store in file order, in one pass.
	_, err = p.eachBuffered(ctx, out.tx, tenant, sha, of, len(res.Decisions), func(i int, r internalv1.EntityRecord, hdrs []kgo.RecordHeader) error {
		d := res.Decisions[i]
		d.Record = &r
		o := out
		o.hdrs = hdrs
		kind := d.Kind
		switch {
		case d.Quarantined:
			if err := p.emitQuarantine(o, quarantineOf(d, version, now)); err != nil {
				return err
			}
			p.metrics.record(tenant, kind, "quarantined")
			for _, v := range d.Violations {
				p.metrics.quarantined(tenant, v.Rule)
			}
		case res.Rejected:
			// The good rows of a rejected file are neither published nor
			// quarantined: the file report says why they went nowhere.
			if kind == "" {
				kind = "correction"
			}
			p.metrics.record(tenant, kind, "withheld")
		default:
			p.learn(out.tx, ts, r)
			r.RuleSetVersion = version
			r.Warnings = d.Violations // only warnings on a record that passed
			// Lineage: when the record passed (the file's verdict time).
			validatedAt := now
			r.ValidatedAt = &validatedAt
			if err := p.emit(o, r); err != nil {
				return err
			}
			if kind == "" {
				kind = "correction"
			}
			p.metrics.record(tenant, kind, "accepted")
			for _, v := range d.Violations {
				p.metrics.warned(tenant, v.Rule)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("validate: the buffered records of %s: %w", rec.File.Name, err)
	}

	counts := internalv1.StageCounts{
		RowsRead:    in.RowsRead,
		Entities:    accepted,
		Corrections: corrections,
		Ignored:     in.Ignored,
		Quarantined: in.Quarantined + quarantined,
	}
	if res.Rejected {
		if err := p.reject(out, rec, counts, res, now); err != nil {
			return err
		}
	} else {
		end := rec
		end.Counts = &counts
		end.RuleCounts = ruleCounts
		end.RuleSetVersion = version
		if err := p.emit(out, end); err != nil {
			return err
		}
	}
	if err := p.dropBuffered(out.tx, tenant, sha, of); err != nil {
		return err
	}
	delete(ts.files, sha)
	p.metrics.file(tenant, "end")
	outcome := "accepted"
	if res.Rejected {
		outcome = "rejected"
	}
	// Ended before the transaction commits: one that aborts and is redone
	// exports the span again (same ids).
	p.spans.End(tenant, sha, nil, tracing.AttrRows.Int64(counts.RowsRead), tracing.AttrOutcome.String(outcome),
		attribute.Int64("esrflow.entities", counts.Entities), attribute.Int64("esrflow.quarantined", counts.Quarantined))
	p.log.Info("file validated", logx.Tenant(tenant), logx.File(rec.File.Name), zap.Bool("rejected", res.Rejected),
		zap.String("rule_set_version", version),
		logx.Count("rows_read", counts.RowsRead), logx.Count("entities", counts.Entities),
		logx.Count("corrections", counts.Corrections), logx.Count("ignored", counts.Ignored),
		logx.Count("quarantined", counts.Quarantined), logx.Count("warned", res.Warned))
	return nil
}

// quarantineOf is the quarantine record of a decision: every violation
// (errors and warnings), the original row, and the canonical entity it
// mapped to.
func quarantineOf(d rules.Decision, version string, now time.Time) internalv1.QuarantineRecord {
	rec := d.Record
	raw := internalv1.RawRow{Fields: []string{}}
	if rec.Raw != nil {
		raw = *rec.Raw
		if raw.Fields == nil {
			raw.Fields = []string{}
		}
	}
	file := rec.File
	q := internalv1.QuarantineRecord{Stage: internalv1.StageValidate, Lineage: rec.Lineage, Vpd: rec.Vpd, Raw: raw,
		Violations: d.Violations, QuarantinedAt: now, RuleSetVersion: version, EntityKind: rules.KindOf(rec.Entity),
		File: &file, ReplayID: rec.ReplayID, RawSha256: rec.RawSha256}
	if rec.Entity != nil {
		// The canonical entity's internal form: personal data, shown by the
		// api only to callers entitled to personal fields.
		if b, err := json.Marshal(rec.Entity); err == nil {
			s := string(b)
			q.Canonical = &s
		}
	}
	return q
}

// reject reports a file over its error budget. Nothing of it goes to
// esr.validated.v1, so publish never sees it and no state changes anywhere.
func (p *Processor) reject(out outRec, rec internalv1.EntityRecord, counts internalv1.StageCounts, res rules.Result, now time.Time) error {
	tenant := rec.Lineage.Tenant
	reason := res.Reason
	top := make([]internalv1.RuleCount, 0, len(res.TopRules))
	for _, r := range res.TopRules {
		top = append(top, internalv1.RuleCount{Rule: r.Rule, Count: r.Count})
	}
	report := internalv1.FileReport{Tenant: tenant, Vpd: rec.Vpd, File: rec.File, Status: internalv1.FileStatusRejected,
		Reason: &reason, RowsRead: counts.RowsRead, Quarantined: counts.Quarantined, Ignored: counts.Ignored,
		EventsEmitted: map[string]int64{}, ReportedAt: now, RuleSetVersion: res.Version, TopRules: top,
		ReplayID: rec.ReplayID}
	b, err := p.reports.Encode(nil, &report)
	if err != nil {
		return fmt.Errorf("validate: encoding file report: %w", err)
	}
	hdrs := []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/avro")}}
	if out.span != nil {
		hdrs = out.span.Headers(hdrs)
	}
	out.tx.Produce(&kgo.Record{Topic: schemas.TopicFileReports, Key: []byte(tenant), Value: b, Headers: hdrs})
	p.metrics.rejected(tenant)
	p.log.Warn("file rejected over its error budget", logx.Tenant(tenant), logx.File(rec.File.Name),
		logx.Rule(rules.CodeErrorBudget()), zap.String("reason", reason), zap.String("rule_set_version", res.Version))
	return nil
}

// learn applies an accepted record of an accepted file to what the tenant
// knows (fileEnd calls it in file order): its entity is known from now on,
// a correction forgets what it deletes.
func (p *Processor) learn(tx *stage.Tx, ts *tenantState, rec internalv1.EntityRecord) {
	switch e := rec.Entity.(type) {
	case internalv1.Person:
		k := entKey{e.Vpd, e.PersonID}
		if v, ok := ts.get(rules.KindPerson, k); !ok || employeeNumber(v) != e.EmployeeNumber {
			tx.SetState([]byte(entityKey(rules.KindPerson, ts.code, k)), []byte(e.EmployeeNumber))
		}
	case internalv1.Position:
		p.learnKey(tx, ts, rules.KindPosition, entKey{e.Vpd, e.PositionID})
	case internalv1.Organisation:
		p.learnKey(tx, ts, rules.KindOrganisation, entKey{e.Vpd, e.OrganisationID})
	case internalv1.Location:
		p.learnKey(tx, ts, rules.KindLocation, entKey{e.Vpd, e.LocationID})
	case internalv1.Correction:
		if kind := correctionKinds[e.EntityKind]; kind != "" {
			p.unlearn(tx, ts, kind, entKey{e.Vpd, e.ID})
		}
	}
}

func (p *Processor) learnKey(tx *stage.Tx, ts *tenantState, kind string, k entKey) {
	if _, ok := ts.get(kind, k); ok {
		return
	}
	tx.SetState([]byte(entityKey(kind, ts.code, k)), []byte{1})
}

func (p *Processor) unlearn(tx *stage.Tx, ts *tenantState, kind string, k entKey) {
	if _, ok := ts.get(kind, k); !ok {
		return
	}
	tx.SetState([]byte(entityKey(kind, ts.code, k)), nil)
}

// missing is the tenant's missing mode for a dialect's full files.
func (p *Processor) missing(code, dialect string) string {
	t := tenantcfg.Tenant{Code: code}
	if p.config != nil {
		if c, ok := p.config.Get(code); ok {
			t = c
		}
	}
	return t.Missing(dialect)
}

// resetKnown forgets everything a tenant knows (a full file replacing
// it: work in proportion to the file).
func (p *Processor) resetKnown(tx *stage.Tx, tenant string) error {
	for _, kind := range append([]string{rules.KindPerson}, knownKinds...) {
		keys, err := keysUnder(tx, kind+"/"+tenant+"/")
		if err != nil {
			return err
		}
		for _, k := range keys {
			tx.SetState(k, nil)
		}
	}
	return nil
}

// keysUnder lists the state's keys under prefix as the transaction sees
// them (collected first: the transaction is written to afterwards).
func keysUnder(tx *stage.Tx, prefix string) ([][]byte, error) {
	var keys [][]byte
	err := tx.Scan([]byte(prefix), func(k, _ []byte) error {
		keys = append(keys, bytes.Clone(k))
		return nil
	})
	return keys, err
}

// dropBuffered deletes an open file's changelog entries: those it buffered
// in this process, or, for a file restored and not touched since, whatever
// the state holds.
func (p *Processor) dropBuffered(tx *stage.Tx, tenant, sha string, of *openFile) error {
	if of.judge != nil && !of.olderKeys {
		for seq := range of.next {
			tx.SetState([]byte(bufKey(tenant, sha, seq)), nil)
		}
	} else {
		keys, err := keysUnder(tx, bufPrefix(tenant, sha))
		if err != nil {
			return err
		}
		for _, k := range keys {
			tx.SetState(k, nil)
		}
	}
	tx.SetState([]byte(fileKey(tenant, sha)), nil)
	return nil
}

func (p *Processor) undecodable(in *kgo.Record, tx *stage.Tx) error {
	tenant := string(in.Key)
	q := internalv1.QuarantineRecord{Stage: internalv1.StageValidate, Lineage: internalv1.Lineage{Tenant: tenant},
		Raw: internalv1.RawRow{Fields: []string{}}, QuarantinedAt: p.now().UTC().Truncate(time.Millisecond),
		Violations: []internalv1.Violation{rules.Violation(RuleUndecodable, "")}}
	p.metrics.quarantined(tenant, RuleUndecodable)
	p.log.Error("undecodable input quarantined", logx.Tenant(tenant), logx.Topic(in.Topic),
		logx.Partition(in.Partition), logx.Offset(in.Offset))
	return p.emitQuarantine(outRec{tx: tx, key: in.Key, hdrs: in.Headers}, q)
}

func (p *Processor) emit(out outRec, rec internalv1.EntityRecord) error {
	b, err := p.validated.Encode(nil, rec)
	if err != nil {
		return fmt.Errorf("validate: encoding entity record: %w", err)
	}
	out.tx.Produce(&kgo.Record{Topic: schemas.TopicValidated, Key: out.key, Value: b, Headers: out.headers()})
	return nil
}

func (p *Processor) emitQuarantine(out outRec, q internalv1.QuarantineRecord) error {
	b, err := p.quarantine.Encode(nil, q)
	if err != nil {
		return fmt.Errorf("validate: encoding quarantine record: %w", err)
	}
	out.tx.Produce(&kgo.Record{Topic: schemas.TopicQuarantine, Key: out.key, Value: b, Headers: out.headers()})
	return nil
}

// headers are the record's headers with the traceparent naming the
// stage's span of the file.
func (o outRec) headers() []kgo.RecordHeader {
	if o.span == nil {
		return o.hdrs
	}
	return o.span.Headers(o.hdrs)
}

// Changelog keys:
//
//	file/<tenant>/<sha256>                 an open file: its FILE_START as received
//	buf/<tenant>/<sha256>/<seq>            the open file's seq-th ENTITY or CORRECTION, as received (seq: 10 digits)
//	person/<tenant>/<vpd>/<person id>      a known person → employee number
//	position/<tenant>/<vpd>/<position id>  a known position (likewise organisation/, location/)
//
// A file's buffered records are deleted (tombstoned) in its FILE_END's
// transaction, so the changelog holds at most the open file of each tenant
// beside the known entities.
func fileKey(tenant, sha string) string { return "file/" + tenant + "/" + sha }

func bufKey(tenant, sha string, seq int) string { return bufPrefix(tenant, sha) + seqKey(seq) }

// seqKey is a buffered record's sequence number, fixed-width so that keys
// sort in file order (validate before issue 14 wrote it unpadded).
func seqKey(seq int) string {
	n := strconv.Itoa(seq)
	if len(n) >= seqWidth {
		return n
	}
	return strings.Repeat("0", seqWidth-len(n)) + n
}

const seqWidth = 10

func bufPrefix(tenant, sha string) string { return "buf/" + tenant + "/" + sha + "/" }

func entityKey(kind, tenant string, k entKey) string {
	return kind + "/" + tenant + "/" + k.vpd + "/" + strconv.FormatInt(k.id, 10)
}

// storedRecord is a buffered input record with headers. A record without
// headers (what normalise writes) is stored as its value alone — Confluent
// framing starts with a zero byte, never '{' — so the changelog holds no
// second copy in base64.
type storedRecord struct {
	Value   []byte             `json:"v"`
	Headers []kgo.RecordHeader `json:"h"`
}

func encodeStored(value []byte, hdrs []kgo.RecordHeader) []byte {
	if len(hdrs) == 0 {
		return value
	}
	b, err := json.Marshal(storedRecord{Value: value, Headers: hdrs})
	if err != nil { // cannot happen: bytes and strings
		panic(err)
	}
	return b
}

func decodeStored(b []byte) ([]byte, []kgo.RecordHeader) {
	if len(b) > 0 && b[0] == '{' {
		var s storedRecord
		if err := json.Unmarshal(b, &s); err == nil {
			return s.Value, s.Headers
		}
	}
	return b, nil
}

var _ stage.Stored = (*Processor)(nil)

// Restored rebuilds, from the store, which files of partition p's tenants
// are open; their buffered records are read back when the file is next
// touched. The runner calls it after catching the partition up, and again
// after an aborted transaction (the open files' judges in memory may hold
// records of the aborted batch).
func (p *Processor) Restored(partition int32) error {
	p.Released(partition)
	return p.store.Scan(partition, []byte("file/"), func(key, value []byte) error {
		parts := strings.Split(string(key), "/")
		if len(parts) != 3 {
			return fmt.Errorf("validate: unknown changelog key %q", key)
		}
		if value[0] == '{' {
			if _, hdrs := decodeStored(value); hdrs == nil {
				// An open file's running counts from before validate buffered
				// files: its records were passed on already, nothing to hold.
				p.log.Warn("ignoring an open file left by an older validate", logx.Tenant(parts[1]))
				return nil
			}
		}
		p.tenant(parts[1], partition).files[parts[2]] = &openFile{startRaw: bytes.Clone(value)}
		return nil
	})
}

// Released drops what validate holds in memory of partition p's tenants.
func (p *Processor) Released(partition int32) {
	p.spans.Forget(partition)
	for code, ts := range p.tenants {
		if ts.partition == partition {
			delete(p.tenants, code)
		}
	}
}

// KnownCounts reports how many persons and positions a tenant has in its
// committed state.
func (p *Processor) KnownCounts(tenant string) (persons, positions int) {
	ts := p.tenants[tenant]
	if ts == nil {
		return 0, 0
	}
	count := func(kind string) int {
		n := 0
		_ = p.store.Scan(ts.partition, []byte(kind+"/"+tenant+"/"), func(_, _ []byte) error { n++; return nil })
		return n
	}
	return count(rules.KindPerson), count(rules.KindPosition)
}

// OpenFiles reports how many files of a tenant are open (started, not
// ended) and how many records they hold.
func (p *Processor) OpenFiles(tenant string) (files, records int) {
	if ts := p.tenants[tenant]; ts != nil {
		for sha, of := range ts.files {
			files++
			if of.judge != nil {
				records += of.judge.Len()
				continue
			}
			_ = p.store.Scan(ts.partition, []byte(bufPrefix(tenant, sha)), func(_, _ []byte) error { records++; return nil })
		}
	}
	return files, records
}
