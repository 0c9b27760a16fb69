package publish

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
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/platform/statestore"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/schemas/registrar"
)

// processor is the publish stage: a stage.Processor over esr.validated.v1
// whose state is in the stage's state store (stage.Stored). Every change
// goes through tx.SetState, to the changelog and the store; tenants holds
// in memory what is small (headers, open groups, held leavers, batches,
// organisation and location names), kept in step with it.
type processor struct {
	cfg     Config
	log     *zap.Logger
	metrics *metrics
	serde   *avrox.Serde
	sr      *sr.Client
	adm     *kadm.Client
	entity  avro.Schema

	// mu guards tenants against readers outside the stage goroutine
	// (ScheduledLeavers); Process, Tick, Restored and Released run on one
	// goroutine.
	mu      sync.Mutex
	tenants map[string]*tenantState
	// store is the stage's state store; rd reads it through the
	// transaction being processed.
	store *statestore.Store
	rd    stateReader

	// writers caches the registered writer schema per output topic; ensured
	// marks tenants whose event topics exist. Neither is state: both are
	// rebuilt on demand after a restart.
	writers map[string]avrox.Writer
	ensured map[string]bool

	// index is what other instances say for transfer links (nil in tests
	// that drive the processor alone).
	index *linkIndex

	// published are the leavers emitted in the open transaction, observed
	// in the latency histogram once it commits (TxEnded). Only the stage
	// goroutine touches it.
	published []publishedLeaver

	// spans traces the stage's files and the events it publishes
	// (tracing.go); set by New, nil-safe in tests that build a processor.
	spans *fileSpans
}

func newProcessor(cfg Config, log *zap.Logger, m *metrics, serde *avrox.Serde, srcl *sr.Client, adm *kadm.Client, store *statestore.Store, index *linkIndex) (*processor, error) {
	entity, _, err := schemas.Latest(schemas.Entity)
	if err != nil {
		return nil, err
	}
	return &processor{cfg: cfg, log: log, metrics: m, serde: serde, sr: srcl, adm: adm, entity: entity,
		tenants: map[string]*tenantState{}, writers: map[string]avrox.Writer{}, ensured: map[string]bool{}, index: index, store: store}, nil
}

var (
	_ stage.Processor   = (*processor)(nil)
	_ stage.Stored      = (*processor)(nil)
	_ stage.Initializer = (*processor)(nil)
	_ stage.Preparer    = (*processor)(nil)
	_ stage.Finisher    = (*processor)(nil)
)

// Init creates the topics publish writes besides its changelog and the
// tenants' event topics, if they are missing, before the stage joins its
// group: the ops topics (commands, held batches, event lineage) and the
// compacted link index.
func (p *processor) Init(ctx context.Context) error {
	compact := "compact"
	for _, c := range []struct {
		topics     []string
		partitions int32
		configs    map[string]*string
	}{
		// Keyed by tenant, with several partitions so their consumers can
		// run as several instances.
		{[]string{schemas.TopicCommands, schemas.TopicHeldBatches, schemas.TopicLineage}, schemas.DefaultOpsPartitions, nil},
		{[]string{p.cfg.LinkIndex}, 1, map[string]*string{"cleanup.policy": &compact}},
	} {
		resp, err := p.adm.CreateTopics(ctx, c.partitions, p.cfg.EventReplication, c.configs, c.topics...)
		if err != nil {
			return fmt.Errorf("publish: creating %v: %w", c.topics, err)
		}
		for _, r := range resp.Sorted() {
			if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("publish: creating topic %s: %w", r.Topic, r.Err)
			}
		}
	}
	// Every configured tenant's event topics exist, with their schemas,
	// before the first file: consumers can subscribe to a new trust's topics
	// from the day it is configured, and no transaction waits on the
	// registry for a tenant's first file (a tenant not configured still
	// gets them then).
	if p.cfg.Tenants != nil {
		start := time.Now()
		codes := p.cfg.Tenants.Codes()
		if err := p.ensureTenants(ctx, codes); err != nil {
			return err
		}
		p.log.Info("configured tenants' event topics ready", zap.Int("tenants", len(codes)), zap.Duration("took", time.Since(start)))
	}
	return nil
}

// prepared is a record Prepare decoded: the record, or why it never can be.
type prepared struct {
	rec         internalv1.EntityRecord
	undecodable error
}

// Prepare decodes a record, on every core while the runner gathers a
// batch: decoding needs no state.
func (p *processor) Prepare(ctx context.Context, in *kgo.Record) (any, error) {
	d := &prepared{}
	if _, err := p.serde.Decode(ctx, in.Value, p.entity, &d.rec); err != nil {
		if !errors.Is(err, avrox.ErrNotFramed) && !errors.Is(err, avrox.ErrIncompatible) {
			return nil, err
		}
		d.undecodable = err
	}
	return d, nil
}

// Process handles one EntityRecord.
func (p *processor) Process(ctx context.Context, in *kgo.Record, tx *stage.Tx) error {
	d, ok := tx.Prepared().(*prepared)
	if !ok { // called directly, as unit tests do
		v, err := p.Prepare(ctx, in)
		if err != nil {
			return err
		}
		d = v.(*prepared)
	}
	if d.undecodable != nil {
		// Not ours to fix and not retryable: skip it, loudly.
		p.log.Error("skipping undecodable record", logx.Topic(in.Topic), logx.Partition(in.Partition), logx.Offset(in.Offset), zap.Error(d.undecodable))
		p.metrics.undecodable.Inc()
		return nil
	}
	rec := d.rec
	code := rec.Lineage.Tenant
	if code == "" {
		code = string(in.Key)
	}
	if code == "" || strings.Contains(code, "/") {
		p.log.Error("skipping record without a valid tenant", logx.Partition(in.Partition), logx.Offset(in.Offset))
		p.metrics.undecodable.Inc()
		return nil
	}
	if rec.Kind == internalv1.EntityRecordKindFileStart {
		// Topics and schemas before taking the lock: the only slow call, once
		// per tenant and process.
		if err := p.ensureTenant(ctx, code); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tenants[code]
	if t == nil {
		t = newTenantState(code, tx.Partition(), &p.rd)
		p.tenants[code] = t
		// A tenant new to this instance holds nothing yet: its gauges read
		// 0 from now on (dashboards show 0, not "no data"), as Restored
		// sets them for the tenants with state.
		p.metrics.scheduled.WithLabelValues(code).Set(0)
		p.metrics.heldBatches.WithLabelValues(code).Set(0)
	}
	t.partition = tx.Partition()
	p.rd = stateReader{tx: tx}
	defer func() { p.rd = stateReader{} }()
	w := &work{p: p, t: t, tx: tx, ctx: ctx}
	w.ensureIndexed()
	p.spans.begin(ctx, tx.Partition(), code, in, &rec)
	open := t.hdr.Open
	err := w.process(in, &rec)
	if err == nil {
		p.spans.end(code, &rec, open)
	}
	if err == nil && p.rd.err != nil {
		err = fmt.Errorf("publish: reading state: %w", p.rd.err)
	}
	return err
}

// process applies one decoded record of the tenant.
func (w *work) process(in *kgo.Record, rec *internalv1.EntityRecord) error {
	p, code := w.p, w.t.code
	switch rec.Kind {
	case internalv1.EntityRecordKindFileStart:
		return w.fileStart(rec)
	case internalv1.EntityRecordKindFileEnd:
		if err := w.ensureOpen(rec); err != nil {
			return err
		}
		return w.fileEnd(rec)
	case internalv1.EntityRecordKindEntity, internalv1.EntityRecordKindCorrection:
		if err := w.ensureOpen(rec); err != nil {
			return err
		}
		w.noteWarnings(rec)
		return w.entity(rec)
	case internalv1.EntityRecordKindCommand:
		cmd, ok := rec.Entity.(internalv1.OperatorCommand)
		if !ok {
			p.log.Error("skipping a command record without a command", logx.Tenant(code), logx.Offset(in.Offset))
			p.metrics.undecodable.Inc()
			return nil
		}
		return w.command(&cmd)
	}
	p.log.Error("skipping record of unknown kind", logx.Tenant(code), logx.Offset(in.Offset))
	return nil
}

// Restored loads into memory what publish keeps there of partition p's
// tenants, from the store the runner has just caught up (or after an
// aborted transaction, from the committed state).
func (p *processor) Restored(partition int32) error {
	codes, err := p.store.Prefixes(partition, '/')
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked(partition)
	for _, code := range codes {
		if !isTenantCode(code) {
			continue // the partition-wide index
		}
		t := newTenantState(code, partition, &p.rd)
		if err := t.load(p.store); err != nil {
			return fmt.Errorf("publish: state of %s: %w", code, err)
		}
		p.tenants[code] = t
		p.metrics.scheduled.WithLabelValues(code).Set(float64(t.dateHeld()))
		p.metrics.heldBatches.WithLabelValues(code).Set(float64(t.pendingBatches()))
	}
	return nil
}

// Released drops what is held in memory of the partition's tenants (their
// state stays in the store).
func (p *processor) Released(partition int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.spans.forget(partition)
	p.releaseLocked(partition)
}

func (p *processor) releaseLocked(partition int32) {
	for code, t := range p.tenants {
		if t.partition == partition {
			delete(p.tenants, code)
			p.metrics.scheduled.DeleteLabelValues(code)
			p.metrics.heldBatches.DeleteLabelValues(code)
		}
	}
}

// HeldLeaver is a future-dated leaver publish holds until its date: the
// tenant's clock day (Europe/London) or a file's run date reaches Due.
type HeldLeaver struct {
	Tenant         string
	PersonID       string
	EmployeeNumber string
	Due            time.Time // the leaving date (UTC midnight)
	LeavingReason  string
	LastWorkingDay *time.Time
	EventID        string // the id the event will carry when it fires
	SourceFile     string
	SourceLine     int64
}

// scheduledLeavers lists a tenant's date-held leavers by person id (not
// those in a leaver-guard batch).
func (p *processor) scheduledLeavers(code string) []HeldLeaver {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tenants[code]
	if t == nil {
		return nil
	}
	out := make([]HeldLeaver, 0, len(t.held))
	for _, pid := range slices.Sorted(maps.Keys(t.held)) {
		e := t.held[pid]
		if !e.dateHeld() {
			continue
		}
		out = append(out, HeldLeaver{Tenant: e.Tenant, PersonID: e.PersonID, EmployeeNumber: e.EmployeeNumber,
			Due: date(e.Due), LeavingReason: e.LeavingReason, LastWorkingDay: datePtr(e.LastWorkingDay),
			EventID: e.ID, SourceFile: e.FileName, SourceLine: e.Line})
	}
	return out
}

// heldBatches lists a tenant's batches by id.
func (p *processor) heldBatches(code string) []internalv1.HeldBatch {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tenants[code]
	if t == nil {
		return nil
	}
	out := make([]internalv1.HeldBatch, 0, len(t.batches))
	for _, id := range slices.Sorted(maps.Keys(t.batches)) {
		out = append(out, *t.batches[id])
	}
	return out
}

// tenantEvents are the event topics publish writes for every tenant.
var tenantEvents = []string{schemas.EventStarterCreated, schemas.EventLeaverConfirmed, schemas.EventPositionUpdated, schemas.EventLeaverReversed}

// ensureTenant creates the tenant's event topics if missing and registers
// their schemas, once per tenant and process.
func (p *processor) ensureTenant(ctx context.Context, code string) error {
	return p.ensureTenants(ctx, []string{code})
}

// ensureTenants does ensureTenant's work for many tenants at once: one
// request creates the missing topics, and the schemas are registered a few
// tenants at a time (a registry answers a schema it already has from
// memory: with 205 tenants, publish's restart → ready went from about 1.4 s
// to 4 s in bench-national).
func (p *processor) ensureTenants(ctx context.Context, codes []string) error {
	p.mu.Lock()
	var todo []string
	for _, code := range codes {
		if !p.ensured[code] {
			todo = append(todo, code)
		}
	}
	p.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	var topics []string
	for _, code := range todo {
		for _, e := range tenantEvents {
			topics = append(topics, schemas.EventTopic(code, e))
		}
	}
	compression := PublicCompression
	resp, err := p.adm.CreateTopics(ctx, p.cfg.EventPartitions, p.cfg.EventReplication,
		map[string]*string{"compression.type": &compression}, topics...)
	if err != nil {
		return fmt.Errorf("publish: creating event topics of %s: %w", strings.Join(todo, ", "), err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("publish: creating topic %s: %w", r.Topic, r.Err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, code := range todo {
		g.Go(func() error {
			for _, e := range tenantEvents {
				if _, err := p.writer(gctx, schemas.EventTopic(code, e), e); err != nil {
					return err
				}
			}
			p.mu.Lock()
			p.ensured[code] = true
			p.mu.Unlock()
			p.exportLeaverLatency(code)
			p.log.Info("tenant event topics ready", logx.Tenant(code))
			return nil
		})
	}
	return g.Wait()
}

// writer returns the writer for topic, registering every version of the
// schema on first use.
func (p *processor) writer(ctx context.Context, topic, schema string) (avrox.Writer, error) {
	p.mu.Lock()
	w, ok := p.writers[topic]
	p.mu.Unlock()
	if ok {
		return w, nil
	}
	if _, err := registrar.RegisterTopic(ctx, p.sr, topic); err != nil {
		return avrox.Writer{}, fmt.Errorf("publish: %w", err)
	}
	_, text, err := schemas.Latest(schema)
	if err != nil {
		return avrox.Writer{}, err
	}
	w, err = p.serde.Register(ctx, schemas.Subject(topic), text)
	if err != nil {
		return avrox.Writer{}, fmt.Errorf("publish: %w", err)
	}
	p.mu.Lock()
	p.writers[topic] = w
	p.mu.Unlock()
	return w, nil
}

// work is one Process call on one tenant; p.mu is held.
type work struct {
	p   *processor
	t   *tenantState
	tx  *stage.Tx
	ctx context.Context
}

// writerLocked is writer called with p.mu held (after a restart mid-file the
// cache may be cold).
func (w *work) writerLocked(topic, schema string) (avrox.Writer, error) {
	if wr, ok := w.p.writers[topic]; ok {
		return wr, nil
	}
	w.p.mu.Unlock()
	defer w.p.mu.Lock()
	return w.p.writer(w.ctx, topic, schema)
}

func (w *work) saveHeader() {
	w.tx.SetState(stateKey(w.t.code, keyTenant), mustJSON(&w.t.hdr))
}

func (w *work) fileStart(rec *internalv1.EntityRecord) error {
	t := w.t
	if t.hdr.Open != nil {
		// The previous file never ended (cannot happen with a transactional
		// upstream): close what is open and move on.
		w.p.log.Warn("file started before the previous one ended", logx.Tenant(t.code), logx.File(t.hdr.Open.Name), logx.File(rec.File.Name))
		if err := w.closeGroup(); err != nil {
			return err
		}
	}
	run := isoDate(rec.File.RunDate)
	t.hdr.Open = &openFile{Name: rec.File.Name, Sha256: rec.File.Sha256, VPD: rec.Vpd, Run: run,
		Baseline: t.hdr.Files == 0, Full: rec.File.Kind == internalv1.FileKindFull, Dialect: rec.File.Dialect,
		Active: t.employedCount(), Emitted: map[string]int64{}}
	if rec.ReplayID != nil {
		// A replay batch: rows an operator sent again, not the feed. It
		// is never the baseline nor a full file, and moves neither the
		// tenant's run date nor its feed clock, so no held leaver is due
		// because of it.
		o := t.hdr.Open
		o.Replay, o.Baseline, o.Full = *rec.ReplayID, false, false
		w.p.metrics.files.WithLabelValues(t.code).Inc()
		w.saveHeader()
		return nil
	}
	t.hdr.Files++
	t.hdr.LastRun = max(t.hdr.LastRun, run)
	t.hdr.LastFileMs = w.p.cfg.Now().UnixMilli()
	w.p.metrics.files.WithLabelValues(t.code).Inc()
	// Held leavers whose date the file's run date has reached fire now,
	// before any of its rows, and count in its report.
	if err := w.fireDue(func(due string) bool { return due <= run }, triggerFile); err != nil {
		return err
	}
	w.saveHeader()
	return nil
}

// markSeen records that the open full file lists the person.
func (w *work) markSeen(a *person) {
	if o := w.t.hdr.Open; o != nil && o.Full {
		a.Seen = w.t.hdr.Files
	}
}

// ensureOpen opens the record's file when its FILE_START was not seen (a
// record never arrives without one from a transactional upstream, but a
// record must not be lost if it does).
func (w *work) ensureOpen(rec *internalv1.EntityRecord) error {
	if o := w.t.hdr.Open; o != nil && o.Sha256 == rec.File.Sha256 {
		return nil
	}
	w.p.log.Warn("record of a file that was not started", logx.Tenant(w.t.code), logx.File(rec.File.Name))
	w.p.mu.Unlock()
	err := w.p.ensureTenant(w.ctx, w.t.code)
	w.p.mu.Lock()
	if err != nil {
		return err
	}
	return w.fileStart(rec)
}

func (w *work) fileEnd(rec *internalv1.EntityRecord) error {
	if err := w.closeGroup(); err != nil {
		return err
	}
	t, o := w.t, w.t.hdr.Open
	if err := w.postChanges(); err != nil {
		return err
	}
	if o.Full && !o.Baseline {
		w.omissions()
	}
	leaversHeld, err := w.decideLeavers()
	if err != nil {
		return err
	}
	c := rec.Counts
	if c == nil {
		c = &internalv1.StageCounts{}
	}
	emitted := map[string]int64{eventStarter: 0, eventLeaver: 0, eventPosition: 0, eventReversed: 0}
	maps.Copy(emitted, o.Emitted)
	now := w.p.now()
	report := &internalv1.FileReport{Tenant: t.code, Vpd: rec.Vpd, File: rec.File, Status: internalv1.FileStatusAccepted,
		RowsRead: c.RowsRead, EntitiesAccepted: c.Entities, Quarantined: c.Quarantined, Corrections: c.Corrections,
		Ignored: c.Ignored, EventsEmitted: emitted, LeaversHeld: leaversHeld, ReportedAt: now,
		RuleSetVersion: rec.RuleSetVersion, Warnings: o.Warned, TopRules: topRules(rec.RuleCounts)}
	if o.Replay != "" {
		replay := o.Replay
		report.ReplayID = &replay
	}
	wr, err := w.writerLocked(schemas.TopicFileReports, schemas.FileReport)
	if err != nil {
		return err
	}
	b, err := wr.Encode(nil, report)
	if err != nil {
		return err
	}
	w.tx.Produce(&kgo.Record{Topic: schemas.TopicFileReports, Key: []byte(t.code), Value: b, Headers: []kgo.RecordHeader{
		{Key: hdrContentType, Value: []byte("application/avro")},
		{Key: hdrTraceparent, Value: []byte(w.p.spans.traceparent(t.code, o.Sha256))},
	}})
	w.p.log.Info("file published", logx.Tenant(t.code), logx.File(o.Name),
		logx.Count("rows_read", c.RowsRead), logx.Count("starters", emitted[eventStarter]),
		logx.Count("leavers", emitted[eventLeaver]), logx.Count("position_updates", emitted[eventPosition]),
		logx.Count("leavers_held", leaversHeld), logx.Count("scheduled_leavers", int64(t.dateHeld())))
	t.hdr.Open = nil
	if o.Replay == "" {
		t.hdr.LastFileMs = w.p.cfg.Now().UnixMilli()
	}
	w.saveHeader()
	return nil
}

func (w *work) entity(rec *internalv1.EntityRecord) error {
	t, line := w.t, rec.Lineage.Line
	switch e := rec.Entity.(type) {
	case internalv1.Person:
		if err := w.closeGroup(); err != nil {
			return err
		}
		pid := strconv.FormatInt(e.PersonID, 10)
		a := t.person(pid)
		if a == nil {
			a = &person{ID: pid, Assignments: map[string]*assignment{}}
		}
		a.EmployeeNumber, a.NHSUniqueID, a.LeavingReason = e.EmployeeNumber, e.NhsUniqueID, e.LeavingReason
		a.Termination = isoDatePtr(e.ActualTerminationDate)
		a.Match = matchDigest(t.code, e.NiNumber, e.DateOfBirth)
		w.markSeen(a)
		t.group = &group{PersonID: pid, PRALine: line, After: a, Src: w.source(rec)}
		t.group.stampRow(line, stampOf(rec))
		w.saveGroup()
	case internalv1.Assignment:
		pid := strconv.FormatInt(e.PersonID, 10)
		if t.group == nil || t.group.PersonID != pid {
			// An ASA outside its person's group: a group of its own.
			if err := w.closeGroup(); err != nil {
				return err
			}
			a := t.person(pid)
			if a == nil {
				a = &person{ID: pid, Assignments: map[string]*assignment{}}
			}
			w.markSeen(a)
			t.group = &group{PersonID: pid, After: a, Src: w.source(rec)}
		}
		g := t.group
		if g.After.Assignments == nil {
			g.After.Assignments = map[string]*assignment{}
		}
		id := strconv.FormatInt(e.AssignmentID, 10)
		g.After.Assignments[id] = assignmentOf(&e)
		g.Rows = append(g.Rows, groupRow{ID: id, Line: line})
		g.stampRow(line, stampOf(rec))
		w.saveGroup()
	case internalv1.Organisation:
		// One derived from a GO v1 ASG row (rules.Derived) comes from a row
		// of the open person group, so it leaves the group open.
		if !rules.Derived(*rec) {
			if err := w.closeGroup(); err != nil {
				return err
			}
		}
		// Cloned: hamba/avro decodes strings into shared buffers, and a
		// kept string would pin its whole buffer for as long as it is kept.
		t.orgs[e.OrganisationID] = strings.Clone(e.Name)
		w.tx.SetState(stateKey(t.code, keyOrganisation, strconv.FormatInt(e.OrganisationID, 10)), []byte(e.Name))
	case internalv1.Location:
		if !rules.Derived(*rec) {
			if err := w.closeGroup(); err != nil {
				return err
			}
		}
		t.locs[e.LocationID] = strings.Clone(e.Description)
		w.tx.SetState(stateKey(t.code, keyLocation, strconv.FormatInt(e.LocationID, 10)), []byte(e.Description))
	case internalv1.Position:
		if err := w.closeGroup(); err != nil {
			return err
		}
		w.postRow(&e, line, w.source(rec), stampOf(rec))
	case internalv1.Correction:
		if err := w.closeGroup(); err != nil {
			return err
		}
		w.correct(&e)
	default:
		w.p.log.Error("skipping record with an unexpected entity", logx.Tenant(t.code), logx.File(rec.Lineage.FileName), logx.Line(int(line)))
		w.p.metrics.undecodable.Inc()
		return w.closeGroup()
	}
	return nil
}

// source is the file a record of a replay batch was first read from (its
// lineage), nil for a file's own rows: their source is the open file.
func (w *work) source(rec *internalv1.EntityRecord) *source {
	o := w.t.hdr.Open
	if o == nil || o.Replay == "" || rec.Lineage.FileSha256 == "" {
		return nil
	}
	return &source{Name: rec.Lineage.FileName, Sha256: rec.Lineage.FileSha256}
}

// correct applies a delete row: the entity leaves state, nothing is emitted.
func (w *work) correct(c *internalv1.Correction) {
	t, id := w.t, strconv.FormatInt(c.ID, 10)
	switch c.EntityKind {
	case internalv1.EntityKindAssignment:
		owner, ok := t.get(stateKey(t.code, keyOwner, id))
		if !ok {
			return
		}
		pid := string(owner)
		p := t.person(pid)
		if p == nil {
			return
		}
		delete(p.Assignments, id)
		w.putPerson(pid, p)
	case internalv1.EntityKindPerson:
		if t.person(id) != nil {
			w.putPerson(id, nil)
		}
		w.dropHeld(id) // the person was a mistake, so was their leaving
		w.p.metrics.scheduled.WithLabelValues(t.code).Set(float64(t.dateHeld()))
	case internalv1.EntityKindOrganisation:
		delete(t.orgs, c.ID)
		w.tx.SetState(stateKey(t.code, keyOrganisation, id), nil)
	case internalv1.EntityKindLocation:
		delete(t.locs, c.ID)
		w.tx.SetState(stateKey(t.code, keyLocation, id), nil)
	}
}

// saveGroup notes that the open group changed. It is written to the state
// once per poll (Finish), not at each of its rows: a person's group grows
// by a row at a time and was the largest share of what publish wrote.
func (w *work) saveGroup() { w.t.groupDirty = true }

// Finish writes the open group of every tenant of the partition whose
// group changed in this poll (the group itself, or its deletion once
// closed), so a transaction commits the group as its last record left it.
func (p *processor) Finish(_ context.Context, partition int32, tx *stage.Tx) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.tenants {
		if t.partition != partition || !t.groupDirty {
			continue
		}
		var v []byte
		if t.group != nil {
			v = mustJSON(t.group)
		}
		tx.SetState(stateKey(t.code, keyGroup), v)
		t.groupDirty = false
	}
	return nil
}

// closeGroup derives the open group's events and stores its person.
func (w *work) closeGroup() error {
	t, g := w.t, w.t.group
	if g == nil {
		return nil
	}
	o := t.hdr.Open
	B := t.person(g.PersonID)
	if h := t.held[g.PersonID]; h != nil && h.Batch != "" {
		// A later file speaks about a person whose leaving an operator has
		// not decided yet: it supersedes the held decision, and the person
		// is compared with their state before the held file.
		B = h.PreFile
		w.dropHeld(g.PersonID)
		w.p.metrics.superseded.WithLabelValues(t.code).Inc()
	}
	name, sha := o.Name, o.Sha256
	if g.Src != nil {
		name, sha = g.Src.Name, g.Src.Sha256
	}
	f := &fileCtx{tenant: t.code, vpd: o.VPD, name: name, sha256: sha, run: o.Run, baseline: o.Baseline,
		rehire:       t.rehire,
		transferFrom: func(a *person) string { return w.p.transferFrom(t.code, a) },
		orgName:      func(id int64) string { return t.orgs[id] },
		names:        t.snapshotOf,
		hasHeld:      func(pid string) bool { return t.held[pid] != nil },
	}
	out := derive(f, B, g)
	g.stampEvents(&out)
	pid := g.PersonID
	if out.clearLeft {
		// The published leaver no longer stands, from this group on; were
		// the file's own leavers rejected, the person is restored without it
		// too, because its reversal is already out.
		g.After.Left = nil
		if B != nil && B.Left != nil {
			B = B.clone()
			B.Left = nil
		}
	}
	if out.dropHeld {
		w.dropHeld(pid)
		if out.withdrawn {
			w.p.metrics.withdrawn.WithLabelValues(t.code).Inc()
		}
	}
	emitted := 0
	for i := range out.emit {
		e := &out.emit[i]
		if e.Type == eventLeaver && !o.Baseline {
			w.holdPending(e, B) // the guard decides at the file's end
			continue
		}
		if err := w.emit(e, true); err != nil {
			return err
		}
		if e.Type == eventLeaver { // a baseline's leaver dated on its run date
			w.notePublishedLeaver(viaFile, o.Run, "")
		}
		emitted++
	}
	if h := out.hold; h != nil {
		if o.Baseline {
			h.ID = idOf(h)
			w.setHeld(h)
		} else {
			w.holdPending(h, B)
		}
	}
	w.p.metrics.scheduled.WithLabelValues(t.code).Set(float64(t.dateHeld()))
	w.putPerson(pid, g.After)
	t.group = nil
	w.saveGroup()
	if emitted > 0 {
		w.saveHeader()
	}
	return nil
}

// setHeld stores a held leaver. Memory keeps the copy decoded from the
// changelog value, not e: e's strings may point into the decode buffers of
// the records it was made from, which a held leaver would pin for weeks.
func (w *work) setHeld(e *event) {
	v := mustJSON(e)
	kept := &event{}
	if err := json.Unmarshal(v, kept); err != nil {
		panic(err) // just encoded from the same type
	}
	w.t.held[e.PersonID] = kept
	w.tx.SetState(stateKey(w.t.code, keyHeld, e.PersonID), v)
}

// dropHeld removes a person's held leaver, if any.
func (w *work) dropHeld(pid string) {
	if _, ok := w.t.held[pid]; ok {
		delete(w.t.held, pid)
		w.tx.SetState(stateKey(w.t.code, keyHeld, pid), nil)
	}
}

func idOf(e *event) string {
	return eventID(e.Tenant, e.Type, e.PersonID, e.Change, e.AssignmentNumber, e.FileSha256, e.Line)
}

// emit produces one event now; inFile counts it in the open file's report.
func (w *work) emit(e *event, inFile bool) error {
	if e.ID == "" {
		e.ID = idOf(e)
	}
	if e.Type == eventLeaver && e.TransferTo == "" {
		e.TransferTo = w.p.transferTo(w.t.code, e)
	}
	topic := schemas.EventTopic(e.Tenant, e.Type)
	wr, err := w.writerLocked(topic, e.Type)
	if err != nil {
		return err
	}
	now := w.p.now()
	b, err := wr.Encode(nil, value(e, now))
	if err != nil {
		return err
	}
	w.tx.Produce(&kgo.Record{Topic: topic, Key: []byte(e.PersonID), Value: b, Headers: headers(e, now, w.p.dataSchema(wr.ID))})
	w.p.spans.event(w.ctx, e, topic)
	if err := w.produceLineage(e, topic, now); err != nil {
		return err
	}
	if e.Type == eventLeaver {
		w.markLeft(e)
	}
	if o := w.t.hdr.Open; inFile && o != nil {
		if o.Emitted == nil { // restored from a header written before any event
			o.Emitted = map[string]int64{}
		}
		o.Emitted[e.Type]++
	}
	w.p.metrics.events.WithLabelValues(e.Tenant, e.Type).Inc()
	return nil
}

// markLeft records a published leaver on its person (and on the person's
// open group, which becomes the person when it closes), so that no second
// leaver is published for the same employment end.
func (w *work) markLeft(e *event) {
	l := &leftRecord{EventID: e.ID, Date: e.Effective, Reason: e.LeavingReason}
	t := w.t
	if g := t.group; g != nil && g.PersonID == e.PersonID && g.After != nil {
		g.After.Left = l
		w.saveGroup()
	}
	if p := t.person(e.PersonID); p != nil {
		p.Left = l
		w.putPerson(e.PersonID, p)
	}
}

// now is the recording time, at the millisecond precision Avro keeps.
func (p *processor) now() time.Time {
	return p.cfg.Now().UTC().Truncate(time.Millisecond)
}

func assignmentOf(e *internalv1.Assignment) *assignment {
	return &assignment{Type: e.AssignmentType, Status: string(e.Status), Number: e.AssignmentNumber,
		Start: isoDate(e.EffectiveStart), Earliest: isoDatePtr(e.EarliestStart),
		LastDay: isoDatePtr(e.LastWorkingDay), End: isoDatePtr(e.FinalAssignmentEndDate), PositionID: e.PositionID,
		Attrs: attrs{PositionNumber: e.Position.Number, PositionTitle: e.Position.Title, OccupationCode: e.Position.OccupationCode,
			OrganisationID: e.OrganisationID, GradeOwner: e.Grade.Owner, GradeCode: e.Grade.Code, GradeDesc: e.Grade.Description,
			StaffGroup: e.StaffGroup, JobRole: e.JobRole, LocationID: e.LocationID}}
}

// isoDate is the civil day of an Avro date ("" for the zero time).
func isoDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

func isoDatePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return isoDate(*t)
}
