package validate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/esr/rules"
	tenantcfg "github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/logx"
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
// Its state, in memory and in the changelog, is per tenant: the entities
// known from accepted rows of earlier files (persons with their employee
// numbers, positions, organisations, locations) and the open file's
// buffered records.
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

type tenantState struct {
	partition int32
	persons   map[entKey]string              // person → employee number
	known     map[string]map[entKey]struct{} // position, organisation, location
	files     map[string]*openFile           // by file SHA-256
}

// openFile is a file between its FILE_START and FILE_END.
type openFile struct {
	// start is the FILE_START record; after a restore only startRaw (its
	// changelog value) is known until the file is next touched.
	start     *internalv1.EntityRecord
	startRaw  []byte
	startHdrs []kgo.RecordHeader
	// pending are buffered records restored from the changelog, by
	// sequence, not yet re-added to judge.
	pending map[int][]byte
	judge   *rules.File
	hdrs    [][]kgo.RecordHeader // each added record's headers, in order
	known   *fileKnown
	next    int // the next record's sequence number
	// reset: a full file whose omissions are corrections replaces what
	// the tenant knows, so it is judged against itself alone and, once
	// accepted, forgets everything before it.
	reset bool
}

// tenantKnown adapts a tenant's state to rules.Known.
type tenantKnown struct{ ts *tenantState }

func (k tenantKnown) Person(vpd string, id int64) (string, bool) {
	emp, ok := k.ts.persons[entKey{vpd, id}]
	return emp, ok
}

func (k tenantKnown) Has(kind, vpd string, id int64) bool {
	_, ok := k.ts.known[kind][entKey{vpd, id}]
	return ok
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
}

// NewProcessor builds the processor without touching the network. It
// compiles every tenant's rule set: a bad override or CEL rule fails here,
// naming the tenant and the rule, not at the first file.
func NewProcessor(deps ProcessorDeps) (*Processor, error) {
	if deps.Registry == nil {
		return nil, errors.New("validate: a schema registry client is required")
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
		config: deps.Tenants, sets: sets}
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
	switch rec.Kind {
	case internalv1.EntityRecordKindFileStart:
		return p.fileStart(tx, ts, in, rec)
	case internalv1.EntityRecordKindEntity, internalv1.EntityRecordKindCorrection:
		return p.add(ctx, tx, ts, in, rec)
	case internalv1.EntityRecordKindFileEnd:
		return p.fileEnd(ctx, outRec{tx: tx, key: key, hdrs: in.Headers}, ts, rec)
	}
	return fmt.Errorf("validate: unknown entity record kind %q", rec.Kind)
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
}

func (p *Processor) tenant(code string, partition int32) *tenantState {
	ts := p.tenants[code]
	if ts == nil {
		ts = &tenantState{partition: partition, persons: map[entKey]string{},
			known: map[string]map[entKey]struct{}{}, files: map[string]*openFile{}}
		for _, k := range knownKinds {
			ts.known[k] = map[entKey]struct{}{}
		}
		p.tenants[code] = ts
	}
	return ts
}

func (p *Processor) fileStart(tx *stage.Tx, ts *tenantState, in *kgo.Record, rec internalv1.EntityRecord) error {
	tenant, sha := rec.Lineage.Tenant, rec.File.Sha256
	if old := ts.files[sha]; old != nil {
		// The same file started again without ending (cannot happen with a
		// transactional upstream): drop what was buffered of it.
		p.log.Warn("file started again before it ended", logx.Tenant(tenant), logx.File(rec.File.Name))
		p.dropBuffered(tx, tenant, sha, old)
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
	of.judge = p.sets.For(tenant).NewFile(start.File, of.known)
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
	seqs := slices.Sorted(maps.Keys(of.pending))
	for _, seq := range seqs {
		v, hdrs := decodeStored(of.pending[seq])
		r, ok, err := p.decode(ctx, v)
		if err != nil || !ok {
			return nil, fmt.Errorf("validate: restoring buffered record %d of %s: %v", seq, rec.File.Name, err)
		}
		of.known.add(r)
		of.judge.Add(r)
		of.hdrs = append(of.hdrs, hdrs)
		of.next = seq + 1
	}
	of.pending = nil
	return of, nil
}

// add buffers an ENTITY or CORRECTION record: record rules run now, the
// verdict waits for FILE_END.
func (p *Processor) add(ctx context.Context, tx *stage.Tx, ts *tenantState, in *kgo.Record, rec internalv1.EntityRecord) error {
	of, err := p.open(ctx, ts, rec)
	if err != nil {
		return err
	}
	of.known.add(rec)
	of.judge.Add(rec)
	of.hdrs = append(of.hdrs, in.Headers)
	tx.SetState([]byte(bufKey(rec.Lineage.Tenant, rec.File.Sha256, of.next)), encodeStored(in.Value, in.Headers))
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
		case rules.Derived(d.Record):
			// A reference entity normalise derived from a GO v1 ASG row is
			// not a row: no file count has it (rules.Derived).
			continue
		case d.Record.Kind == internalv1.EntityRecordKindCorrection:
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
		if err := p.emit(outRec{tx: out.tx, key: out.key, hdrs: of.startHdrs}, start); err != nil {
			return err
		}
	}
	for i, d := range res.Decisions {
		o := out
		o.hdrs = of.hdrs[i]
		kind := rules.KindOf(d.Record.Entity)
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
			r := d.Record
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
		p.learnFile(out.tx, tenant, ts, of, res)
	}
	p.dropBuffered(out.tx, tenant, sha, of)
	delete(ts.files, sha)
	p.metrics.file(tenant, "end")
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
	out.tx.Produce(&kgo.Record{Topic: schemas.TopicFileReports, Key: []byte(tenant), Value: b,
		Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/avro")}}})
	p.metrics.rejected(tenant)
	p.log.Warn("file rejected over its error budget", logx.Tenant(tenant), logx.File(rec.File.Name),
		logx.Rule(rules.CodeErrorBudget()), zap.String("reason", reason), zap.String("rule_set_version", res.Version))
	return nil
}

// learnFile applies an accepted file to what the tenant knows, in file
// order: accepted entities are known from now on, corrections forget them.
func (p *Processor) learnFile(tx *stage.Tx, tenant string, ts *tenantState, of *openFile, res rules.Result) {
	if of.reset {
		p.resetKnown(tx, tenant, ts)
	}
	for _, d := range res.Decisions {
		if d.Quarantined {
			continue
		}
		switch e := d.Record.Entity.(type) {
		case internalv1.Person:
			k := entKey{e.Vpd, e.PersonID}
			if emp, ok := ts.persons[k]; !ok || emp != e.EmployeeNumber {
				ts.persons[k] = e.EmployeeNumber
				tx.SetState([]byte(entityKey(rules.KindPerson, tenant, k)), []byte(e.EmployeeNumber))
			}
		case internalv1.Position:
			p.learn(tx, tenant, rules.KindPosition, ts, entKey{e.Vpd, e.PositionID})
		case internalv1.Organisation:
			p.learn(tx, tenant, rules.KindOrganisation, ts, entKey{e.Vpd, e.OrganisationID})
		case internalv1.Location:
			p.learn(tx, tenant, rules.KindLocation, ts, entKey{e.Vpd, e.LocationID})
		case internalv1.Correction:
			k := entKey{e.Vpd, e.ID}
			switch e.EntityKind {
			case internalv1.EntityKindPerson:
				p.unlearnPerson(tx, tenant, ts, k)
			case internalv1.EntityKindPosition:
				p.unlearn(tx, tenant, rules.KindPosition, ts, k)
			case internalv1.EntityKindOrganisation:
				p.unlearn(tx, tenant, rules.KindOrganisation, ts, k)
			case internalv1.EntityKindLocation:
				p.unlearn(tx, tenant, rules.KindLocation, ts, k)
			}
		}
	}
}

func (p *Processor) learn(tx *stage.Tx, tenant, kind string, ts *tenantState, k entKey) {
	if _, ok := ts.known[kind][k]; ok {
		return
	}
	ts.known[kind][k] = struct{}{}
	tx.SetState([]byte(entityKey(kind, tenant, k)), []byte{1})
}

func (p *Processor) unlearn(tx *stage.Tx, tenant, kind string, ts *tenantState, k entKey) {
	if _, ok := ts.known[kind][k]; !ok {
		return
	}
	delete(ts.known[kind], k)
	tx.SetState([]byte(entityKey(kind, tenant, k)), nil)
}

func (p *Processor) unlearnPerson(tx *stage.Tx, tenant string, ts *tenantState, k entKey) {
	if _, ok := ts.persons[k]; !ok {
		return
	}
	delete(ts.persons, k)
	tx.SetState([]byte(entityKey(rules.KindPerson, tenant, k)), nil)
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

// resetKnown forgets everything a tenant knows.
func (p *Processor) resetKnown(tx *stage.Tx, tenant string, ts *tenantState) {
	for k := range ts.persons {
		p.unlearnPerson(tx, tenant, ts, k)
	}
	for _, kind := range knownKinds {
		for k := range ts.known[kind] {
			p.unlearn(tx, tenant, kind, ts, k)
		}
	}
}

// dropBuffered deletes an open file's changelog entries.
func (p *Processor) dropBuffered(tx *stage.Tx, tenant, sha string, of *openFile) {
	n := of.next
	for seq := range of.pending {
		n = max(n, seq+1)
	}
	for seq := range n {
		tx.SetState([]byte(bufKey(tenant, sha, seq)), nil)
	}
	tx.SetState([]byte(fileKey(tenant, sha)), nil)
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
	out.tx.Produce(&kgo.Record{Topic: schemas.TopicValidated, Key: out.key, Value: b, Headers: out.hdrs})
	return nil
}

func (p *Processor) emitQuarantine(out outRec, q internalv1.QuarantineRecord) error {
	b, err := p.quarantine.Encode(nil, q)
	if err != nil {
		return fmt.Errorf("validate: encoding quarantine record: %w", err)
	}
	out.tx.Produce(&kgo.Record{Topic: schemas.TopicQuarantine, Key: out.key, Value: b, Headers: out.hdrs})
	return nil
}

// Changelog keys:
//
//	file/<tenant>/<sha256>                 an open file: its FILE_START as received
//	buf/<tenant>/<sha256>/<seq>            the open file's seq-th ENTITY or CORRECTION, as received
//	person/<tenant>/<vpd>/<person id>      a known person → employee number
//	position/<tenant>/<vpd>/<position id>  a known position (likewise organisation/, location/)
//
// A file's buffered records are deleted (tombstoned) in its FILE_END's
// transaction, so the changelog holds at most the open file of each tenant
// beside the known entities.
func fileKey(tenant, sha string) string { return "file/" + tenant + "/" + sha }

func bufKey(tenant, sha string, seq int) string {
	return "buf/" + tenant + "/" + sha + "/" + strconv.Itoa(seq)
}

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

// Restore applies one changelog record.
func (p *Processor) Restore(partition int32, key, value []byte) error {
	parts := strings.Split(string(key), "/")
	if len(parts) < 3 {
		return fmt.Errorf("validate: unknown changelog key %q", key)
	}
	ts := p.tenant(parts[1], partition)
	ts.partition = partition
	switch {
	case parts[0] == "file" && len(parts) == 3:
		if value == nil {
			delete(ts.files, parts[2])
			return nil
		}
		if value[0] == '{' {
			if _, hdrs := decodeStored(value); hdrs == nil {
				// An open file's running counts from before validate buffered
				// files: its records were passed on already, nothing to hold.
				p.log.Warn("ignoring an open file left by an older validate", logx.Tenant(parts[1]))
				return nil
			}
		}
		of := restoredFile(ts, parts[2])
		of.startRaw = value
		return nil
	case parts[0] == "buf" && len(parts) == 4:
		seq, err := strconv.Atoi(parts[3])
		if err != nil {
			return fmt.Errorf("validate: changelog key %q: %w", key, err)
		}
		if value == nil {
			if of := ts.files[parts[2]]; of != nil {
				delete(of.pending, seq)
			}
			return nil
		}
		restoredFile(ts, parts[2]).pending[seq] = value
		return nil
	case parts[0] == rules.KindPerson && len(parts) == 4:
		k, err := restoredKey(key, parts)
		if err != nil {
			return err
		}
		if value == nil {
			delete(ts.persons, k)
		} else {
			emp := string(value)
			if len(value) == 1 && value[0] == 1 {
				emp = "" // written before employee numbers were kept
			}
			ts.persons[k] = emp
		}
		return nil
	case slices.Contains(knownKinds, parts[0]) && len(parts) == 4:
		k, err := restoredKey(key, parts)
		if err != nil {
			return err
		}
		if value == nil {
			delete(ts.known[parts[0]], k)
		} else {
			ts.known[parts[0]][k] = struct{}{}
		}
		return nil
	}
	return fmt.Errorf("validate: unknown changelog key %q", key)
}

func restoredFile(ts *tenantState, sha string) *openFile {
	of := ts.files[sha]
	if of == nil {
		of = &openFile{}
		ts.files[sha] = of
	}
	if of.pending == nil {
		of.pending = map[int][]byte{}
	}
	return of
}

func restoredKey(key []byte, parts []string) (entKey, error) {
	id, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil {
		return entKey{}, fmt.Errorf("validate: changelog key %q: %w", key, err)
	}
	return entKey{parts[2], id}, nil
}

// Forget drops the in-memory state of a partition's tenants.
func (p *Processor) Forget(partition int32) {
	for code, ts := range p.tenants {
		if ts.partition == partition {
			delete(p.tenants, code)
		}
	}
}

// KnownCounts reports how many persons and positions a tenant has in state.
func (p *Processor) KnownCounts(tenant string) (persons, positions int) {
	if ts := p.tenants[tenant]; ts != nil {
		return len(ts.persons), len(ts.known[rules.KindPosition])
	}
	return 0, 0
}

// OpenFiles reports how many files of a tenant are open (started, not
// ended) and how many records they hold.
func (p *Processor) OpenFiles(tenant string) (files, records int) {
	if ts := p.tenants[tenant]; ts != nil {
		for _, of := range ts.files {
			files++
			if of.judge != nil {
				records += of.judge.Len()
			}
			records += len(of.pending)
		}
	}
	return files, records
}
