// Package materialise is the api's Kafka consumer: it reads every tenant's
// public event topics and the ops topics the api serves (file reports, held
// batches, quarantine, lineage), as consumer group esrflow-api, read
// committed, and writes each polled batch into the store in one database
// transaction before committing its offsets. Delivery is at least once and
// the event-id primary key makes a re-delivery a no-op, so the database sees
// every event exactly once. A record that can never be applied goes to the
// dead-letter table instead of stopping the consumer.
package materialise

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/kafkax"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/avrojson"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/hamba/avro/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"
)

// Group is the api's consumer group.
const Group = "esrflow-api"

// EventTopicsRegex matches every tenant's public event topics.
const EventTopicsRegex = `^esr\.[a-z0-9]+\.(starter-created|leaver-confirmed|position-updated|leaver-reversed)\.v1$`

// Config configures the consumer.
type Config struct {
	// Kafka is the client's configuration; its ClientID is used as given.
	Kafka kafkax.Config
	// Group is the consumer group; empty means Group.
	Group string
	// TopicRefresh is how often the topic list is re-read, so a new
	// tenant's topics are consumed without a restart; zero means 10s.
	TopicRefresh time.Duration
	// MaxPollRecords caps one batch (one database transaction); zero
	// means 1000.
	MaxPollRecords int
}

// Deps are the consumer's collaborators.
type Deps struct {
	Log     *zap.Logger
	Metrics prometheus.Registerer
	Store   *store.Store
	// Serde decodes the records' Avro values through the registry.
	Serde *avrox.Serde
	// Notify is told, after each commit, every tenant with new events (the
	// feed's long polls and the webhook dispatcher wait on it); may be nil.
	Notify func(tenant string)
}

// Materialiser consumes the topics into the store.
type Materialiser struct {
	cfg    Config
	log    *zap.Logger
	store  *store.Store
	kafka  *kgo.Client
	serde  *avrox.Serde
	api    avro.API
	reader map[string]avro.Schema // latest schema by schema name
	notify func(tenant string)
	health *consumerHealth
	m      *Metrics
}

// New prepares the consumer; it reads nothing until Run.
func New(cfg Config, deps Deps) (*Materialiser, error) {
	if cfg.Group == "" {
		cfg.Group = Group
	}
	if cfg.TopicRefresh <= 0 {
		cfg.TopicRefresh = 10 * time.Second
	}
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = 1000
	}
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	if deps.Metrics == nil {
		deps.Metrics = prometheus.NewRegistry()
	}
	if deps.Notify == nil {
		deps.Notify = func(string) {}
	}
	m, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, err
	}
	health := newConsumerHealth()
	if err := health.register(deps.Metrics); err != nil {
		return nil, err
	}
	reader := map[string]avro.Schema{}
	for _, name := range []string{schemas.StarterCreated, schemas.LeaverConfirmed, schemas.PositionUpdated, schemas.LeaverReversed,
		schemas.FileReport, schemas.HeldBatch, schemas.Quarantine, schemas.EventLineage} {
		s, _, err := schemas.Latest(name)
		if err != nil {
			return nil, err
		}
		reader[name] = s
	}
	cl, err := cfg.Kafka.NewClient(
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeRegex(),
		kgo.ConsumeTopics(EventTopicsRegex, `^`+regexp.QuoteMeta(schemas.TopicFileReports)+`$`,
			`^`+regexp.QuoteMeta(schemas.TopicHeldBatches)+`$`, `^`+regexp.QuoteMeta(schemas.TopicQuarantine)+`$`,
			`^`+regexp.QuoteMeta(schemas.TopicLineage)+`$`),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.MetadataMaxAge(cfg.TopicRefresh),
		kgo.MetadataMinAge(min(cfg.TopicRefresh, time.Second)),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { health.forget(m) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { health.forget(m) }),
	)
	if err != nil {
		return nil, err
	}
	return &Materialiser{
		cfg: cfg, log: deps.Log, store: deps.Store, kafka: cl, serde: deps.Serde, api: internalv1.NewAPI(),
		reader: reader, notify: deps.Notify, health: health, m: m,
	}, nil
}

// Close releases the Kafka client. Call it after Run returns.
func (s *Materialiser) Close() { s.kafka.Close() }

// Ready reports whether Kafka answers and the consumer is not stuck on a
// batch it has kept failing to write for longer than stall.
func (s *Materialiser) Ready(ctx context.Context, stall time.Duration) error {
	if err := s.health.check(stall); err != nil {
		return err
	}
	return kafkax.Ping(ctx, s.kafka)
}

// Lag is how many committed records the consumer has still to apply, as of
// its last poll.
func (s *Materialiser) Lag() int64 { return s.health.totalLag() }

// Stalled is how long the batch being retried has kept failing; zero when
// the consumer is progressing.
func (s *Materialiser) Stalled() time.Duration { return s.health.stalled() }

// Metrics are the consumer's counters, registered with Deps.Metrics.
func (s *Materialiser) Metrics() *Metrics { return s.m }

// Metrics counts what the consumer read and wrote.
type Metrics struct {
	Stored      *prometheus.CounterVec // events stored the first time, by tenant and type
	Duplicates  prometheus.Counter     // re-delivered events skipped
	Reports     prometheus.Counter
	Skipped     *prometheus.CounterVec // undecodable records, by topic
	Retries     prometheus.Counter
	Batches     prometheus.Histogram
	HeldBatches prometheus.Counter
	DeadLetters *prometheus.CounterVec // by topic and stage
	Quarantined *prometheus.CounterVec // by stage
}

func newMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Stored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_events_stored_total",
			Help: "Events written to the api database for the first time, by tenant and event type."}, []string{"tenant", "type"}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "esrflow_api_events_duplicate_total",
			Help: "Re-delivered events whose id was already stored (skipped)."}),
		Reports: prometheus.NewCounter(prometheus.CounterOpts{Name: "esrflow_api_file_reports_total",
			Help: "File reports read from esr.ops.file-reports.v1."}),
		Skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_records_skipped_total",
			Help: "Records that cannot be decoded (not Avro-framed, unknown or incompatible schema) and were skipped."}, []string{"topic"}),
		Retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "esrflow_api_batch_retries_total",
			Help: "Batches retried after a database or registry error."}),
		Batches: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "esrflow_api_batch_seconds",
			Help: "Time to decode and write one polled batch.", Buckets: prometheus.DefBuckets}),
		HeldBatches: prometheus.NewCounter(prometheus.CounterOpts{Name: "esrflow_api_held_batch_records_total",
			Help: "Records read from esr.ops.held-batches.v1."}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_dead_letters_total",
			Help: "Records written to the dead_letters table instead of being applied, by topic and stage (decode, invalid, store)."}, []string{"topic", "stage"}),
		Quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_quarantine_records_total",
			Help: "Records read from esr.quarantine.v1, by the stage that quarantined them."}, []string{"stage"}),
	}
	for _, c := range []prometheus.Collector{m.Stored, m.Duplicates, m.Reports, m.Skipped, m.Retries, m.Batches,
		m.HeldBatches, m.DeadLetters, m.Quarantined} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering the api consumer's metrics: %w", err)
		}
	}
	return m, nil
}

// Run reads Kafka until ctx ends. Each poll is decoded, written in one
// database transaction, and only then committed to Kafka. A database or
// registry failure retries the same batch with backoff; it never skips it.
func (s *Materialiser) Run(ctx context.Context) error {
	s.log.Info("api consuming", zap.String("group", s.cfg.Group), zap.String("topics", EventTopicsRegex))
	for {
		fetches := s.kafka.PollRecords(ctx, s.cfg.MaxPollRecords)
		if ctx.Err() != nil {
			s.kafka.AllowRebalance()
			return ctx.Err()
		}
		var fatal error
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			s.log.Warn("fetch error", logx.Topic(topic), logx.Partition(p), zap.Error(err))
			if errors.Is(err, kgo.ErrClientClosed) {
				fatal = err
			}
		})
		if fatal != nil {
			return fatal
		}
		recs := fetches.Records()
		if len(recs) > 0 {
			s.health.polled(fetches)
			if err := s.handle(ctx, recs); err != nil {
				s.kafka.AllowRebalance()
				return err
			}
			s.health.applied(fetches)
		}
		s.kafka.AllowRebalance()
	}
}

// handle writes one batch and commits its offsets, retrying transient
// failures until ctx ends. A record the database refuses (poison) does not
// hold back the others: the batch is then written record by record, and the
// records still refused go to the dead-letter table. A batch that keeps
// failing otherwise (the database down or misconfigured) is retried, never
// skipped, and shows as a stuck consumer (Ready, esrflow_api_consumer_stalled_seconds).
func (s *Materialiser) handle(ctx context.Context, recs []*kgo.Record) error {
	start := time.Now()
	backoff := 100 * time.Millisecond
	for {
		err := s.writeBatch(ctx, recs)
		if err != nil && poison(err) {
			err = s.writeEach(ctx, recs)
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.health.failing(len(recs), err)
		s.m.Retries.Inc()
		s.log.Warn("batch failed; retrying", zap.Int("records", len(recs)), zap.Duration("backoff", backoff), zap.Error(err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
	s.health.progressed()
	s.m.Batches.Observe(time.Since(start).Seconds())
	// The batch is in the database: a failed commit only means it is
	// delivered again, and the event ids make that a no-op.
	if err := s.kafka.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
		s.log.Warn("committing offsets failed; the batch will be re-delivered", zap.Error(err))
	}
	return nil
}

func (s *Materialiser) writeBatch(ctx context.Context, recs []*kgo.Record) error {
	var b store.Batch
	for _, r := range recs {
		err := s.decode(ctx, r, &b)
		if err == nil {
			continue
		}
		if transient(err) {
			return err
		}
		stage := store.DeadDecode
		var inv *invalidRecord
		if errors.As(err, &inv) {
			stage = store.DeadInvalid
		}
		if err := s.deadLetter(ctx, store.DeadRecord{Rec: r, Tenant: tenantOf(r), Stage: stage, Reason: err}); err != nil {
			return err
		}
	}
	fresh, err := s.store.Apply(ctx, b)
	if err != nil {
		return err
	}
	notified := map[string]bool{}
	for _, e := range fresh {
		s.m.Stored.WithLabelValues(e.Tenant, e.Type).Inc()
		if !notified[e.Tenant] {
			notified[e.Tenant] = true
			s.notify(e.Tenant)
		}
	}
	s.m.Duplicates.Add(float64(len(b.Events) - len(fresh)))
	s.m.Reports.Add(float64(len(b.Reports)))
	s.m.HeldBatches.Add(float64(len(b.HeldBatches)))
	for _, q := range b.Quarantine {
		s.m.Quarantined.WithLabelValues(string(q.Rec.Stage)).Inc()
	}
	return nil
}

// writeEach writes records one per transaction, after their batch was
// refused: a record the database still refuses is dead-lettered, and the
// others are applied. The records applied before a failure are applied
// again on the retry, which the event ids make a no-op.
func (s *Materialiser) writeEach(ctx context.Context, recs []*kgo.Record) error {
	for _, r := range recs {
		err := s.writeBatch(ctx, []*kgo.Record{r})
		if err == nil {
			continue
		}
		if !poison(err) {
			return err
		}
		if err := s.deadLetter(ctx, store.DeadRecord{Rec: r, Tenant: tenantOf(r), Stage: store.DeadStore, Reason: err}); err != nil {
			return err
		}
	}
	return nil
}

// deadLetter records a record that will not be applied, counts it and logs
// where it is (never its values).
func (s *Materialiser) deadLetter(ctx context.Context, d store.DeadRecord) error {
	fresh, err := s.store.AddDeadLetter(ctx, d)
	if err != nil {
		return err
	}
	if !fresh {
		return nil // already recorded by an earlier delivery
	}
	if d.Stage == store.DeadDecode {
		s.m.Skipped.WithLabelValues(d.Rec.Topic).Inc()
	}
	s.m.DeadLetters.WithLabelValues(d.Rec.Topic, d.Stage).Inc()
	s.log.Error("record not applied: written to dead_letters", logx.Topic(d.Rec.Topic), logx.Partition(d.Rec.Partition),
		logx.Offset(d.Rec.Offset), zap.String("stage", d.Stage), zap.Error(d.Reason))
	return nil
}

// transient reports an error worth retrying: the registry or network is
// down, not the record broken.
func transient(err error) bool {
	var ue *url.Error
	var ne net.Error
	var re *sr.ResponseError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return true
	case errors.As(err, &re):
		return re.StatusCode >= 500 || re.StatusCode == 429
	case errors.As(err, &ue), errors.As(err, &ne):
		return true
	}
	return false
}

// decode adds one record to the batch.
func (s *Materialiser) decode(ctx context.Context, r *kgo.Record, b *store.Batch) error {
	if r.Topic == schemas.TopicFileReports {
		var rep internalv1.FileReport
		if _, err := s.serde.Decode(ctx, r.Value, s.reader[schemas.FileReport], &rep); err != nil {
			return err
		}
		if err := errors.Join(keyText("tenant", rep.Tenant), keyText("file.sha256", rep.File.Sha256)); err != nil {
			return invalidf("file report: %v", err)
		}
		payload, err := s.asJSON(schemas.FileReport, &rep)
		if err != nil {
			return err
		}
		makeSafe(&rep)
		b.Reports = append(b.Reports, store.FileReport{Report: &rep, Payload: payload, Partition: r.Partition, Offset: r.Offset})
		return nil
	}
	if r.Topic == schemas.TopicQuarantine {
		return s.decodeQuarantine(ctx, r, b)
	}
	if r.Topic == schemas.TopicLineage {
		var l internalv1.EventLineage
		if _, err := s.serde.Decode(ctx, r.Value, s.reader[schemas.EventLineage], &l); err != nil {
			return err
		}
		if err := errors.Join(keyText("event_id", l.EventID), keyText("tenant", l.Tenant)); err != nil {
			return invalidf("event lineage: %v", err)
		}
		makeSafe(&l)
		b.Lineage = append(b.Lineage, &l)
		return nil
	}
	if r.Topic == schemas.TopicHeldBatches {
		var h internalv1.HeldBatch
		if _, err := s.serde.Decode(ctx, r.Value, s.reader[schemas.HeldBatch], &h); err != nil {
			return err
		}
		if err := errors.Join(keyText("batch_id", h.BatchID), keyText("tenant", h.Tenant)); err != nil {
			return invalidf("held batch: %v", err)
		}
		makeSafe(&h)
		b.HeldBatches = append(b.HeldBatches, &h)
		return nil
	}
	typ, ok := store.EventType(r.Topic)
	if !ok {
		return fmt.Errorf("topic %s is not an event topic", r.Topic)
	}
	var v any
	switch typ {
	case schemas.StarterCreated:
		v = new(eventsv1.StarterCreated)
	case schemas.LeaverConfirmed:
		v = new(eventsv1.LeaverConfirmed)
	case schemas.PositionUpdated:
		v = new(eventsv1.PositionUpdated)
	case schemas.LeaverReversed:
		v = new(eventsv1.LeaverReversed)
	}
	id, err := s.serde.Decode(ctx, r.Value, s.reader[typ], v)
	if err != nil {
		return err
	}
	e, err := store.NewPublicEvent(v)
	if err != nil {
		return err
	}
	e.Topic, e.Partition, e.Offset, e.SchemaID = r.Topic, r.Partition, r.Offset, id
	if err := errors.Join(keyText("event_id", e.ID), keyText("tenant", e.Tenant), keyText("person_id", e.PersonID)); err != nil {
		return invalidf("event: %v", err)
	}
	e.Tenant = strings.ToUpper(e.Tenant)
	if e.Payload, err = s.asJSON(typ, v); err != nil {
		return err
	}
	// The payload keeps the exact values; the current-state tables get
	// values every store can hold.
	makeSafe(v)
	b.Events = append(b.Events, e)
	return nil
}

// asJSON renders a decoded value as JSON in the shape of the latest schema
// (so a v1 leaver shows v2's new field as null): dates YYYY-MM-DD,
// timestamps RFC 3339, fields in schema order.
func (s *Materialiser) asJSON(name string, v any) (json.RawMessage, error) {
	schema := s.reader[name]
	bin, err := s.api.Marshal(schema, v)
	if err != nil {
		return nil, err
	}
	return toJSON(schema, bin)
}

func toJSON(schema avro.Schema, bin []byte) (json.RawMessage, error) {
	generic, err := avrojson.Decode(schema, bin)
	if err != nil {
		return nil, err
	}
	return json.Marshal(generic)
}

func (s *Materialiser) decodeQuarantine(ctx context.Context, r *kgo.Record, b *store.Batch) error {
	var q internalv1.QuarantineRecord
	if _, err := s.serde.Decode(ctx, r.Value, s.reader[schemas.Quarantine], &q); err != nil {
		return err
	}
	err := errors.Join(keyText("lineage.tenant", q.Lineage.Tenant), keyText("lineage.file_sha256", q.Lineage.FileSha256))
	if q.ReplayID != nil {
		err = errors.Join(err, keyText("replay_id", *q.ReplayID))
	}
	if err != nil {
		return invalidf("quarantine record: %v", err)
	}
	makeSafe(&q)
	b.Quarantine = append(b.Quarantine, store.Quarantined{Rec: &q, Seq: r.Offset})
	return nil
}
