package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Operators decide on held files through the api, which writes an
// IntakeDecision to esr.ops.intake.v1 (key: tenant). Ingest reads the topic
// from the start at every start and carries each decision out once:
// RELEASE reads the held file now, out of order (a RELEASED report, then
// the file's ordinary outcome); DISCARD drops it unread (a DISCARDED
// report; the original stays in the archive). The decision's id is
// written to the holds topic in the same transaction as its report, so a
// restarted instance skips decisions already carried out. A decision about
// a file that is not held (never was, or was read or dropped since) is
// ignored: logged, counted, its id recorded, no report (there is no file
// outcome to report).

// Outcomes of an intake decision, the outcome label of
// esrflow_ingest_intake_decisions_total.
const (
	decisionApplied = "applied"
	decisionIgnored = "ignored"
)

// readIntake fetches decisions until ctx ends, handing each record to the
// scan loop through c.intakeRecs (the loop applies them between scans, so
// a decision and a file never race). Fetch errors other than the client
// closing are logged and retried by the client.
func (s *Service) readIntake(ctx context.Context, c *conn) {
	defer close(c.intakeRecs)
	for {
		fetches := c.intake.PollRecords(ctx, 100)
		if ctx.Err() != nil {
			return
		}
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, kgo.ErrClientClosed) {
				return
			}
			s.log.Warn("fetching intake decisions", logx.Topic(fe.Topic), logx.Partition(fe.Partition), zap.Error(fe.Err))
		}
		for _, r := range fetches.Records() {
			select {
			case c.intakeRecs <- r:
			case <-ctx.Done():
				return
			}
		}
	}
}

// pollIntake carries out the decisions fetched so far, without waiting.
func (s *Service) pollIntake(ctx context.Context, c *conn) error {
	for {
		select {
		case r, ok := <-c.intakeRecs:
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fatal(errors.New("ingest: the intake decision reader stopped"))
			}
			if err := s.decide(ctx, c, r); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// decide carries out one decision record.
func (s *Service) decide(ctx context.Context, c *conn, r *kgo.Record) error {
	var d internalv1.IntakeDecision
	if _, err := c.serde.Decode(ctx, r.Value, c.intakeReader, &d); err != nil {
		if errors.Is(err, avrox.ErrNotFramed) || errors.Is(err, avrox.ErrIncompatible) {
			s.log.Warn("intake decision skipped: not an IntakeDecision in the Confluent Avro wire format",
				logx.Partition(r.Partition), logx.Offset(r.Offset))
			return nil
		}
		return fatal(fmt.Errorf("ingest: decoding intake decision at %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err))
	}
	if d.DecisionID == "" {
		s.log.Warn("intake decision skipped: no decision id", logx.Partition(r.Partition), logx.Offset(r.Offset))
		return nil
	}
	if _, done := s.holds.decisions[d.DecisionID]; done {
		return nil // carried out (or ignored) before
	}
	fields := []zap.Field{zap.String("decision_id", d.DecisionID), zap.String("action", string(d.Action)),
		zap.String("actor", d.Actor), zap.String("sha256", d.Sha256), logx.Offset(r.Offset)}
	t, known := s.cfg.Tenants.Get(d.Tenant)
	if !known {
		return s.ignoreDecision(ctx, c, &d, replayTenantLabel, "tenant not configured", fields)
	}
	d.Tenant = t.Code
	fields = append(fields, logx.Tenant(t.Code))
	h, held := s.holds.get(t.Code, d.Sha256)
	switch {
	case !held:
		return s.ignoreDecision(ctx, c, &d, t.Code, "no held file has this sha256 (not held, or read or discarded since)", fields)
	case h.Released != nil:
		return s.ignoreDecision(ctx, c, &d, t.Code, "the file was released already and is waiting to be read", fields)
	}
	fields = append(fields, logx.File(h.Name), zap.Int64("sequence", h.Sequence), zap.String("feed", h.feed()))
	switch d.Action {
	case internalv1.IntakeActionDiscard:
		reason := withCode(h.Rule, reasonText(h.Name, 0, h.Rule, "discarded unread by operator decision "+d.DecisionID))
		if err := s.discardHeld(ctx, c, h, reason, &d, "operator"); err != nil {
			return err
		}
	case internalv1.IntakeActionRelease:
		if err := s.release(ctx, c, h, &d); err != nil {
			return err
		}
		// Read it now, out of order; the files after it follow if they can.
		if err := s.drainFeed(ctx, c, h.Tenant, h.VPD, h.Interface); err != nil {
			return err
		}
	default:
		return s.ignoreDecision(ctx, c, &d, t.Code, "unknown action", fields)
	}
	s.metrics.decisions.WithLabelValues(t.Code, string(d.Action), decisionApplied).Inc()
	s.log.Info("intake decision carried out", fields...)
	return nil
}

// release commits the RELEASED report, the hold marked released and the
// decision; the file is read next (drainFeed), skipping the chain checks.
// Should the read fail, the mark makes it the first read on a later scan.
func (s *Service) release(ctx context.Context, c *conn, h holdEntry, d *internalv1.IntakeDecision) error {
	reason := withCode(h.Rule, reasonText(h.Name, 0, h.Rule, "released out of order by operator decision "+d.DecisionID))
	report := internalv1.FileReport{Tenant: h.Tenant, Vpd: h.VPD, File: h.fileInfo(), Status: internalv1.FileStatusReleased,
		Reason: &reason, EventsEmitted: map[string]int64{}, ReportedAt: s.cfg.Now().UTC().Truncate(time.Millisecond),
		Hold: h.fileHold(), Decision: decisionRef(d)}
	h.Released = decisionRef(d)
	value, err := jsonValue(h)
	if err != nil {
		return err
	}
	dec, err := s.decisionRecord(d, decisionApplied)
	if err != nil {
		return err
	}
	if err := s.writeReport(ctx, c, &report, &kgo.Record{Topic: TopicHolds, Key: []byte(holdKey(h.Tenant, h.SHA256)), Value: value}, dec); err != nil {
		return err
	}
	s.holds.put(h)
	s.holds.decisions[d.DecisionID] = decisionEntry{ID: d.DecisionID, Tenant: h.Tenant, SHA256: h.SHA256, Action: string(d.Action), Outcome: decisionApplied}
	s.metrics.files.WithLabelValues(h.Tenant, statusReleased).Inc()
	s.log.Warn("held file released out of order", logx.Tenant(h.Tenant), logx.File(h.Name), zap.String("sha256", h.SHA256),
		zap.String("feed", h.feed()), zap.Int64("sequence", h.Sequence), zap.String("decision_id", d.DecisionID))
	return nil
}

// ignoreDecision records a decision that cannot be carried out, so it is
// not considered again, and says why.
func (s *Service) ignoreDecision(ctx context.Context, c *conn, d *internalv1.IntakeDecision, label, why string, fields []zap.Field) error {
	rec, err := s.decisionRecord(d, decisionIgnored)
	if err != nil {
		return err
	}
	tx, err := s.begin(c)
	if err != nil {
		return err
	}
	tx.produce(ctx, rec)
	if err := tx.commit(ctx); err != nil {
		return err
	}
	s.holds.decisions[d.DecisionID] = decisionEntry{ID: d.DecisionID, Tenant: d.Tenant, SHA256: d.Sha256, Action: string(d.Action), Outcome: decisionIgnored}
	s.metrics.decisions.WithLabelValues(label, string(d.Action), decisionIgnored).Inc()
	s.log.Warn("intake decision ignored: "+why, fields...)
	return nil
}
