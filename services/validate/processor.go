package validate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

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

// RuleUndecodable is the rule of a quarantine record for an input value
// that is not Confluent-framed Avro readable as an EntityRecord.
const RuleUndecodable = "undecodable"

// Processor is the validate stage: esr.normalised.v1 in, esr.validated.v1
// and esr.quarantine.v1 out. Its state, in memory and in the changelog, is
// per tenant: the persons and positions known from accepted rows, and the
// running counts of each open file.
type Processor struct {
	serde      *avrox.Serde
	inSchema   avro.Schema
	validated  avrox.Writer
	quarantine avrox.Writer
	registered atomic.Bool // read by Ready from another goroutine

	metrics *Metrics
	log     *zap.Logger
	now     func() time.Time

	tenants map[string]*tenantState
	config  *tenantcfg.Set
}

// entKey is an entity's identity inside a tenant.
type entKey struct {
	vpd string
	id  int64
}

type tenantState struct {
	partition int32
	persons   map[entKey]struct{}
	positions map[entKey]struct{}
	files     map[string]*fileCounts // by file SHA-256
}

// fileCounts are validate's running counts for one file.
type fileCounts struct {
	Entities    int64 `json:"entities"`    // ENTITY records received
	Accepted    int64 `json:"accepted"`    // passed on
	Corrections int64 `json:"corrections"` // passed on
	Quarantined int64 `json:"quarantined"` // by this stage
}

// tenantKnown adapts a tenant's state to Known.
type tenantKnown struct{ ts *tenantState }

func (k tenantKnown) HasPerson(vpd string, id int64) bool {
	_, ok := k.ts.persons[entKey{vpd, id}]
	return ok
}

func (k tenantKnown) HasPosition(vpd string, id int64) bool {
	_, ok := k.ts.positions[entKey{vpd, id}]
	return ok
}

// ProcessorDeps are the processor's collaborators. Metrics and Log may be nil;
// Now defaults to time.Now.
type ProcessorDeps struct {
	Registry *sr.Client
	Metrics  *Metrics
	Log      *zap.Logger
	Now      func() time.Time
	// Tenants gives each tenant's feeds' missing mode (nil: defaults).
	Tenants *tenantcfg.Set
}

// NewProcessor builds the processor without touching the network.
func NewProcessor(deps ProcessorDeps) (*Processor, error) {
	if deps.Registry == nil {
		return nil, errors.New("validate: a schema registry client is required")
	}
	in, _, err := schemas.Latest(schemas.Entity)
	if err != nil {
		return nil, err
	}
	p := &Processor{serde: avrox.New(deps.Registry, internalv1.NewAPI()), inSchema: in,
		metrics: deps.Metrics, log: deps.Log, now: deps.Now, tenants: map[string]*tenantState{}, config: deps.Tenants}
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
	var err error
	if p.validated, err = register(ctx, p.serde, schemas.TopicValidated, schemas.Entity); err != nil {
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

// Process validates one esr.normalised.v1 record.
func (p *Processor) Process(ctx context.Context, in *kgo.Record, tx *stage.Tx) error {
	if err := p.Init(ctx); err != nil {
		return err
	}
	var rec internalv1.EntityRecord
	if _, err := p.serde.Decode(ctx, in.Value, p.inSchema, &rec); err != nil {
		if errors.Is(err, avrox.ErrNotFramed) || errors.Is(err, avrox.ErrIncompatible) {
			return p.undecodable(in, tx)
		}
		return fmt.Errorf("validate: decoding %s/%d@%d: %w", in.Topic, in.Partition, in.Offset, err)
	}
	key := in.Key
	tenant := rec.Lineage.Tenant
	if len(key) == 0 {
		key = []byte(tenant)
	}
	ts := p.tenant(tenant, tx.Partition())
	out := outRec{tx: tx, key: key, hdrs: in.Headers}
	switch rec.Kind {
	case internalv1.EntityRecordKindFileStart:
		if rec.File.Kind == internalv1.FileKindFull && p.missing(tenant, rec.File.Dialect) == tenantcfg.MissingCorrect {
			// The feed says a full file is the whole truth and publish
			// removes whom it omits: what it does not define is no longer
			// known. Under ignore or leave publish keeps the omitted people,
			// so they stay known here too.
			p.resetKnown(tx, tenant, ts)
		}
		fc := &fileCounts{}
		ts.files[rec.File.Sha256] = fc
		if err := p.saveFile(tx, tenant, rec.File.Sha256, fc); err != nil {
			return err
		}
		p.metrics.file(tenant, "start")
		return p.emit(out, rec)
	case internalv1.EntityRecordKindEntity:
		return p.entity(out, ts, rec)
	case internalv1.EntityRecordKindCorrection:
		return p.correction(out, ts, rec)
	case internalv1.EntityRecordKindFileEnd:
		return p.fileEnd(out, ts, rec)
	}
	return fmt.Errorf("validate: unknown entity record kind %q", rec.Kind)
}

type outRec struct {
	tx   *stage.Tx
	key  []byte
	hdrs []kgo.RecordHeader
}

func (p *Processor) tenant(code string, partition int32) *tenantState {
	ts := p.tenants[code]
	if ts == nil {
		ts = &tenantState{partition: partition, persons: map[entKey]struct{}{},
			positions: map[entKey]struct{}{}, files: map[string]*fileCounts{}}
		p.tenants[code] = ts
	}
	return ts
}

func (p *Processor) file(ts *tenantState, rec internalv1.EntityRecord) *fileCounts {
	fc := ts.files[rec.File.Sha256]
	if fc == nil {
		fc = &fileCounts{}
		ts.files[rec.File.Sha256] = fc
		p.log.Warn("record without an open file", logx.Tenant(rec.Lineage.Tenant), logx.File(rec.File.Name),
			logx.Line(int(rec.Lineage.Line)))
	}
	return fc
}

func (p *Processor) entity(out outRec, ts *tenantState, rec internalv1.EntityRecord) error {
	tenant := rec.Lineage.Tenant
	fc := p.file(ts, rec)
	fc.Entities++
	kind := entityKind(rec.Entity)
	vs := Check(rec, tenantKnown{ts})
	if len(vs) > 0 {
		fc.Quarantined++
		raw := internalv1.RawRow{Fields: []string{}}
		if rec.Raw != nil {
			raw = *rec.Raw
			if raw.Fields == nil {
				raw.Fields = []string{}
			}
		}
		q := internalv1.QuarantineRecord{Stage: internalv1.StageValidate, Lineage: rec.Lineage, Vpd: rec.Vpd, Raw: raw,
			Violations: vs, QuarantinedAt: p.now().UTC().Truncate(time.Millisecond)}
		if err := p.emitQuarantine(out, q); err != nil {
			return err
		}
		p.metrics.record(tenant, kind, "quarantined")
		for _, v := range vs {
			p.metrics.quarantined(tenant, v.Rule)
		}
		return p.saveFile(out.tx, tenant, rec.File.Sha256, fc)
	}
	fc.Accepted++
	switch e := rec.Entity.(type) {
	case internalv1.Person:
		p.learn(out.tx, tenant, "person", ts.persons, entKey{e.Vpd, e.PersonID})
	case internalv1.Position:
		p.learn(out.tx, tenant, "position", ts.positions, entKey{e.Vpd, e.PositionID})
	}
	if err := p.emit(out, rec); err != nil {
		return err
	}
	p.metrics.record(tenant, kind, "accepted")
	return p.saveFile(out.tx, tenant, rec.File.Sha256, fc)
}

func (p *Processor) correction(out outRec, ts *tenantState, rec internalv1.EntityRecord) error {
	tenant := rec.Lineage.Tenant
	fc := p.file(ts, rec)
	fc.Corrections++
	if c, ok := rec.Entity.(internalv1.Correction); ok {
		switch c.EntityKind {
		case internalv1.EntityKindPerson:
			p.unlearn(out.tx, tenant, "person", ts.persons, entKey{c.Vpd, c.ID})
		case internalv1.EntityKindPosition:
			p.unlearn(out.tx, tenant, "position", ts.positions, entKey{c.Vpd, c.ID})
		}
	}
	if err := p.emit(out, rec); err != nil {
		return err
	}
	p.metrics.record(tenant, "correction", "accepted")
	return p.saveFile(out.tx, tenant, rec.File.Sha256, fc)
}

func (p *Processor) fileEnd(out outRec, ts *tenantState, rec internalv1.EntityRecord) error {
	tenant := rec.Lineage.Tenant
	var fc fileCounts
	if c := ts.files[rec.File.Sha256]; c != nil {
		fc = *c
	}
	var in internalv1.StageCounts
	if rec.Counts != nil {
		in = *rec.Counts
	}
	if in.Entities != fc.Entities || in.Corrections != fc.Corrections {
		p.log.Error("file counts do not reconcile with normalise's",
			logx.Tenant(tenant), logx.File(rec.File.Name),
			logx.Count("entities_normalised", in.Entities), logx.Count("entities_received", fc.Entities),
			logx.Count("corrections_normalised", in.Corrections), logx.Count("corrections_received", fc.Corrections))
	}
	counts := internalv1.StageCounts{
		RowsRead:    in.RowsRead,
		Entities:    fc.Accepted,
		Corrections: fc.Corrections,
		Ignored:     in.Ignored,
		Quarantined: in.Quarantined + fc.Quarantined,
	}
	rec.Counts = &counts
	if err := p.emit(out, rec); err != nil {
		return err
	}
	delete(ts.files, rec.File.Sha256)
	out.tx.SetState([]byte(fileKey(tenant, rec.File.Sha256)), nil)
	p.metrics.file(tenant, "end")
	p.log.Info("file validated", logx.Tenant(tenant), logx.File(rec.File.Name),
		logx.Count("rows_read", counts.RowsRead), logx.Count("entities", counts.Entities),
		logx.Count("corrections", counts.Corrections), logx.Count("ignored", counts.Ignored),
		logx.Count("quarantined", counts.Quarantined))
	return nil
}

func (p *Processor) learn(tx *stage.Tx, tenant, kind string, set map[entKey]struct{}, k entKey) {
	if _, ok := set[k]; ok {
		return
	}
	set[k] = struct{}{}
	tx.SetState([]byte(entityKey(kind, tenant, k)), []byte{1})
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

// resetKnown forgets every known person and position of a tenant.
func (p *Processor) resetKnown(tx *stage.Tx, tenant string, ts *tenantState) {
	for k := range ts.persons {
		p.unlearn(tx, tenant, "person", ts.persons, k)
	}
	for k := range ts.positions {
		p.unlearn(tx, tenant, "position", ts.positions, k)
	}
}

func (p *Processor) unlearn(tx *stage.Tx, tenant, kind string, set map[entKey]struct{}, k entKey) {
	if _, ok := set[k]; !ok {
		return
	}
	delete(set, k)
	tx.SetState([]byte(entityKey(kind, tenant, k)), nil)
}

func (p *Processor) undecodable(in *kgo.Record, tx *stage.Tx) error {
	tenant := string(in.Key)
	q := internalv1.QuarantineRecord{Stage: internalv1.StageValidate, Lineage: internalv1.Lineage{Tenant: tenant},
		Raw: internalv1.RawRow{Fields: []string{}}, QuarantinedAt: p.now().UTC().Truncate(time.Millisecond),
		Violations: []internalv1.Violation{{Rule: RuleUndecodable, Severity: internalv1.SeverityError,
			Message: "input value is not an EntityRecord in the Confluent Avro wire format"}}}
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

func (p *Processor) saveFile(tx *stage.Tx, tenant, sha string, fc *fileCounts) error {
	b, err := json.Marshal(fc)
	if err != nil {
		return err
	}
	tx.SetState([]byte(fileKey(tenant, sha)), b)
	return nil
}

// Changelog keys:
//
//	file/<tenant>/<sha256>             running counts of an open file (JSON)
//	person/<tenant>/<vpd>/<person id>     a known person
//	position/<tenant>/<vpd>/<position id> a known position
func fileKey(tenant, sha string) string { return "file/" + tenant + "/" + sha }

func entityKey(kind, tenant string, k entKey) string {
	return kind + "/" + tenant + "/" + k.vpd + "/" + strconv.FormatInt(k.id, 10)
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
		fc := &fileCounts{}
		if err := json.Unmarshal(value, fc); err != nil {
			return fmt.Errorf("validate: changelog value of %q: %w", key, err)
		}
		ts.files[parts[2]] = fc
		return nil
	case (parts[0] == "person" || parts[0] == "position") && len(parts) == 4:
		id, err := strconv.ParseInt(parts[3], 10, 64)
		if err != nil {
			return fmt.Errorf("validate: changelog key %q: %w", key, err)
		}
		set := ts.persons
		if parts[0] == "position" {
			set = ts.positions
		}
		if value == nil {
			delete(set, entKey{parts[2], id})
		} else {
			set[entKey{parts[2], id}] = struct{}{}
		}
		return nil
	}
	return fmt.Errorf("validate: unknown changelog key %q", key)
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
		return len(ts.persons), len(ts.positions)
	}
	return 0, 0
}

func entityKind(e any) string {
	switch e.(type) {
	case internalv1.Person:
		return "person"
	case internalv1.Assignment:
		return "assignment"
	case internalv1.Position:
		return "position"
	case internalv1.Organisation:
		return "organisation"
	case internalv1.Location:
		return "location"
	}
	return "unknown"
}
