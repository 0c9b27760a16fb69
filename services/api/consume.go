package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/avrojson"
)

type metrics struct {
	stored     *prometheus.CounterVec
	duplicates prometheus.Counter
	reports    prometheus.Counter
	skipped    *prometheus.CounterVec
	retries    prometheus.Counter
	batches    prometheus.Histogram

	heldBatches prometheus.Counter
	commands    *prometheus.CounterVec
	requests    *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	quarantined *prometheus.CounterVec
	replays     *prometheus.CounterVec
	uploads     *prometheus.CounterVec
	uploadBytes *prometheus.CounterVec
	intake      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_events_stored_total",
			Help: "Events written to the api database for the first time, by tenant and event type."}, []string{"tenant", "type"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "esrflow_api_events_duplicate_total",
			Help: "Re-delivered events whose id was already stored (skipped)."}),
		reports: prometheus.NewCounter(prometheus.CounterOpts{Name: "esrflow_api_file_reports_total",
			Help: "File reports read from esr.ops.file-reports.v1."}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_records_skipped_total",
			Help: "Records that cannot be decoded (not Avro-framed, unknown or incompatible schema) and were skipped."}, []string{"topic"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "esrflow_api_batch_retries_total",
			Help: "Batches retried after a database or registry error."}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "esrflow_api_batch_seconds",
			Help: "Time to decode and write one polled batch.", Buckets: prometheus.DefBuckets}),
		heldBatches: prometheus.NewCounter(prometheus.CounterOpts{Name: "esrflow_api_held_batch_records_total",
			Help: "Records read from esr.ops.held-batches.v1."}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_operator_commands_total",
			Help: "Operator decisions on held batches, by action and result (requested, kafka_unavailable)."}, []string{"action", "result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_requests_total",
			Help: "HTTP requests to /v1, by route pattern and status code."}, []string{"route", "code"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_dead_letters_total",
			Help: "Records written to the dead_letters table instead of being applied, by topic and stage (decode, invalid, store)."}, []string{"topic", "stage"}),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_quarantine_records_total",
			Help: "Records read from esr.quarantine.v1, by the stage that quarantined them."}, []string{"stage"}),
		replays: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_replays_total",
			Help: "Replay requests, by result (requested, kafka_unavailable)."}, []string{"result"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_uploads_total",
			Help: "Files uploaded over HTTP into a tenant's drop folder."}, []string{"tenant"}),
		uploadBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_upload_bytes_total",
			Help: "Bytes of files uploaded over HTTP into a tenant's drop folder."}, []string{"tenant"}),
		intake: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_api_intake_decisions_total",
			Help: "Operator releases and discards of held files, by action and result (requested, retried, kafka_unavailable)."}, []string{"action", "result"}),
	}
	for _, c := range []prometheus.Collector{m.stored, m.duplicates, m.reports, m.skipped, m.retries, m.batches,
		m.heldBatches, m.commands, m.requests, m.deadLetters, m.quarantined, m.replays,
		m.uploads, m.uploadBytes, m.intake} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering api metrics: %w", err)
		}
	}
	return m, nil
}

// Run consumes until ctx ends, and meanwhile delivers webhooks (they
// follow what the consumer commits) and, on PostgreSQL, listens for other
// instances' commits.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	listening := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.webhooks.Run(ctx) // ends with ctx; its failures are logged and retried inside
	}()
	go func() {
		defer close(listening)
		s.listenFeed(ctx)
	}()
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		s.sweepAccessLog(ctx)
	}()
	defer func() {
		cancel()
		<-done
		<-listening
		<-swept
	}()
	return s.consume(ctx)
}

// consume reads Kafka until ctx ends. Each poll is decoded, written in one
// database transaction, and only then committed to Kafka. A database or
// registry failure retries the same batch with backoff; it never skips it.
func (s *Service) consume(ctx context.Context) error {
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
func (s *Service) handle(ctx context.Context, recs []*kgo.Record) error {
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
		s.m.retries.Inc()
		s.log.Warn("batch failed; retrying", zap.Int("records", len(recs)), zap.Duration("backoff", backoff), zap.Error(err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
	s.health.progressed()
	s.m.batches.Observe(time.Since(start).Seconds())
	// The batch is in the database: a failed commit only means it is
	// delivered again, and the event ids make that a no-op.
	if err := s.kafka.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
		s.log.Warn("committing offsets failed; the batch will be re-delivered", zap.Error(err))
	}
	return nil
}

func (s *Service) writeBatch(ctx context.Context, recs []*kgo.Record) error {
	var b batch
	for _, r := range recs {
		err := s.decode(ctx, r, &b)
		if err == nil {
			continue
		}
		if transient(err) {
			return err
		}
		stage := DeadDecode
		var inv *invalidRecord
		if errors.As(err, &inv) {
			stage = DeadInvalid
		}
		if err := s.deadLetter(ctx, deadLetter{Rec: r, Stage: stage, Reason: err}); err != nil {
			return err
		}
	}
	fresh, err := s.store.apply(ctx, b)
	if err != nil {
		return err
	}
	notified := map[string]bool{}
	for _, e := range fresh {
		s.m.stored.WithLabelValues(e.Tenant, e.Type).Inc()
		if !notified[e.Tenant] {
			notified[e.Tenant] = true
			s.feed.Notify(e.Tenant)
		}
	}
	s.m.duplicates.Add(float64(len(b.Events) - len(fresh)))
	s.m.reports.Add(float64(len(b.Reports)))
	s.m.heldBatches.Add(float64(len(b.HeldBatches)))
	for _, q := range b.Quarantine {
		s.m.quarantined.WithLabelValues(string(q.Rec.Stage)).Inc()
	}
	return nil
}

// writeEach writes records one per transaction, after their batch was
// refused: a record the database still refuses is dead-lettered, and the
// others are applied. The records applied before a failure are applied
// again on the retry, which the event ids make a no-op.
func (s *Service) writeEach(ctx context.Context, recs []*kgo.Record) error {
	for _, r := range recs {
		err := s.writeBatch(ctx, []*kgo.Record{r})
		if err == nil {
			continue
		}
		if !poison(err) {
			return err
		}
		if err := s.deadLetter(ctx, deadLetter{Rec: r, Stage: DeadStore, Reason: err}); err != nil {
			return err
		}
	}
	return nil
}

// deadLetter records a record that will not be applied, counts it and logs
// where it is (never its values).
func (s *Service) deadLetter(ctx context.Context, d deadLetter) error {
	fresh, err := s.store.addDeadLetter(ctx, d)
	if err != nil {
		return err
	}
	if !fresh {
		return nil // already recorded by an earlier delivery
	}
	if d.Stage == DeadDecode {
		s.m.skipped.WithLabelValues(d.Rec.Topic).Inc()
	}
	s.m.deadLetters.WithLabelValues(d.Rec.Topic, d.Stage).Inc()
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
func (s *Service) decode(ctx context.Context, r *kgo.Record, b *batch) error {
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
		b.Reports = append(b.Reports, fileReport{Report: &rep, Payload: payload, Partition: r.Partition, Offset: r.Offset})
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
	typ, ok := eventType(r.Topic)
	if !ok {
		return fmt.Errorf("topic %s is not an event topic", r.Topic)
	}
	e := event{Type: typ, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	var v any
	switch typ {
	case schemas.StarterCreated:
		e.Starter = new(eventsv1.StarterCreated)
		v = e.Starter
	case schemas.LeaverConfirmed:
		e.Leaver = new(eventsv1.LeaverConfirmed)
		v = e.Leaver
	case schemas.PositionUpdated:
		e.Position = new(eventsv1.PositionUpdated)
		v = e.Position
	case schemas.LeaverReversed:
		e.Reversed = new(eventsv1.LeaverReversed)
		v = e.Reversed
	}
	id, err := s.serde.Decode(ctx, r.Value, s.reader[typ], v)
	if err != nil {
		return err
	}
	e.SchemaID = id
	switch {
	case e.Starter != nil:
		x := e.Starter
		e.ID, e.Tenant, e.PersonID, e.EffectiveDate, e.RecordedAt, e.Source = x.EventID, x.Tenant, x.PersonID, x.EffectiveDate, x.RecordedAt, x.Source
	case e.Leaver != nil:
		x := e.Leaver
		e.ID, e.Tenant, e.PersonID, e.EffectiveDate, e.RecordedAt, e.Source = x.EventID, x.Tenant, x.PersonID, x.EffectiveDate, x.RecordedAt, x.Source
	case e.Position != nil:
		x := e.Position
		e.ID, e.Tenant, e.PersonID, e.EffectiveDate, e.RecordedAt, e.Source = x.EventID, x.Tenant, x.PersonID, x.EffectiveDate, x.RecordedAt, x.Source
	case e.Reversed != nil:
		x := e.Reversed
		e.ID, e.Tenant, e.PersonID, e.EffectiveDate, e.RecordedAt, e.Source = x.EventID, x.Tenant, x.PersonID, x.EffectiveDate, x.RecordedAt, x.Source
	}
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
func (s *Service) asJSON(name string, v any) (json.RawMessage, error) {
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
