package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov1"
	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// ReplayGroup is the consumer group in which ingest reads replay requests
// from esr.ops.replays.v1.
const ReplayGroup = "esrflow-ingest-replays"

// ReplayTransactionalID is the transactional id of an instance's replay
// producer. It is not the file producer's: the replay producer is also the
// group member whose offsets go into its transactions.
func ReplayTransactionalID(instance string) string { return TransactionalID(instance) + "-replays" }

// Outcomes of a replay request, the outcome label of
// esrflow_ingest_replays_total.
const (
	replayAccepted = "accepted"
	replaySkipped  = "skipped"
)

// replayTenantLabel is the tenant label of a request naming no configured
// tenant: a value read from a topic must not mint metric series.
const replayTenantLabel = "unknown"

// errSkip marks a replay request that can never be turned into a batch: it
// is logged and its offset committed, so it is not read again.
type errSkip struct{ why string }

func (e *errSkip) Error() string { return e.why }

func skip(msg string, args ...any) error { return &errSkip{why: fmt.Sprintf(msg, args...)} }

// replayBatches turns a replay request into the esr.raw.v1 records of its
// replay batches, in the order they are written: for each run of rows that
// share a dialect and VPD, FILE_START, one RECORD per row, FILE_END. The
// batch is a CHANGE "file" whose run date is the last run date ingest
// accepted for the tenant's VPD, so nothing downstream sees a new feed day.
func replayBatches(req *internalv1.ReplayRequest, t tenant.Tenant, l *ledger) ([]internalv1.RawRecord, error) {
	switch {
	case req.ReplayID == "":
		return nil, skip("replay request without a replay id")
	case len(req.Rows) == 0:
		return nil, skip("replay request has no rows")
	}
	for i, r := range req.Rows {
		if r.Lineage.Tenant != t.Code {
			return nil, skip("row %d belongs to another tenant", i+1)
		}
	}
	id := req.ReplayID
	var out []internalv1.RawRecord
	for n, start := 0, 0; start < len(req.Rows); n++ {
		first := req.Rows[start]
		end := start + 1
		for end < len(req.Rows) && req.Rows[end].File.Dialect == first.File.Dialect && req.Rows[end].Vpd == first.Vpd {
			end++
		}
		rows := req.Rows[start:end]
		name, sha := schemas.ReplayBatch(id, n)
		info := internalv1.FileInfo{Name: name, Sha256: sha,
			Dialect: first.File.Dialect, Kind: internalv1.FileKindChange, RunDate: replayRunDate(t.Code, rows, l)}
		rid := &id
		ctl := func(kind internalv1.RawKind) internalv1.RawRecord {
			return internalv1.RawRecord{Kind: kind, Tenant: t.Code, Vpd: first.Vpd, File: info,
				Fields: []string{}, Problems: []internalv1.Problem{}, ReplayID: rid}
		}
		out = append(out, ctl(internalv1.RawKindFileStart))
		byType := map[string]int64{}
		for i, r := range rows {
			line := int64(i + 1)
			origin := r.Lineage
			fields := r.Raw.Fields
			if fields == nil {
				fields = []string{}
			}
			out = append(out, internalv1.RawRecord{Kind: internalv1.RawKindRecord, Tenant: t.Code, Vpd: r.Vpd, File: info,
				Line: line, RecordType: r.Raw.RecordType, Fields: fields,
				Problems: problems(replayProblems(info, int(line), r.Raw.RecordType, fields)),
				Origin:   &origin, ReplayID: rid, RawSha256: r.RawSha256})
			byType[r.Raw.RecordType]++
		}
		fe := ctl(internalv1.RawKindFileEnd)
		fe.Counts = &internalv1.RawCounts{Lines: int64(len(rows)), Rows: int64(len(rows)), RowsByType: byType}
		out = append(out, fe)
		start = end
	}
	return out, nil
}

// replayRunDate is the run date of the last file ingest accepted for the
// tenant's VPD, or, with none in the ledger, the latest run date of the
// rows' own files.
func replayRunDate(code string, rows []internalv1.ReplayRow, l *ledger) time.Time {
	if last, ok := l.lastFor(code, rows[0].Vpd); ok {
		if d, err := time.Parse(time.DateOnly, last.RunDate); err == nil {
			return d
		}
	}
	var latest time.Time
	for _, r := range rows {
		if d := civilDay(r.File.RunDate); d.After(latest) {
			latest = d
		}
	}
	return latest
}

// replayProblems re-runs the reader's row-level checks of the row's dialect
// (column count, typed columns, record type) on a replayed row, so a
// replayed row carries the problems its file's reader would have found.
// Dialects without fixed record layouts (csv feeds) get none here.
func replayProblems(info internalv1.FileInfo, line int, recordType string, fields []string) []*format.Error {
	var spec *format.RecordSpec
	switch info.Dialect {
	case dialectName(format.DialectGOv2):
		spec = gov2.Spec(recordType)
	case dialectName(format.DialectGOv1):
		spec = gov1.Spec(recordType)
	default:
		return nil
	}
	if spec == nil {
		return []*format.Error{format.RowProblem(info.Name, line, "", 0, "", format.RuleRecordType,
			"not a known "+info.Dialect+" record type (value not shown)")}
	}
	all := make([]string, 0, len(fields)+1)
	all = append(append(all, recordType), fields...)
	return format.CheckRow(info.Name, line, spec, all, nil)
}

// pollReplays reads replay requests until the deadline, turning each into
// its replay batches as it comes. It runs in the scan loop, between scans,
// so a replay batch and a file of the same tenant never interleave on
// esr.raw.v1: each is one transaction, and the next starts only when the
// last has ended.
func (s *Service) pollReplays(ctx context.Context, c *conn, deadline time.Time) error {
	for {
		pctx, cancel := context.WithDeadline(ctx, deadline)
		fetches := c.replays.PollRecords(pctx, 1)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, fe := range fetches.Errors() {
			switch {
			case errors.Is(fe.Err, context.DeadlineExceeded), errors.Is(fe.Err, context.Canceled):
			case errors.Is(fe.Err, kgo.ErrClientClosed):
				return fatal(fe.Err)
			default:
				s.log.Warn("fetching replay requests", logx.Topic(fe.Topic), logx.Partition(fe.Partition), zap.Error(fe.Err))
			}
		}
		var err error
		fetches.EachRecord(func(r *kgo.Record) {
			if err == nil {
				err = s.replay(ctx, c, r)
			}
		})
		if err != nil {
			return err
		}
		if !time.Now().Before(deadline) {
			return nil
		}
	}
}

// replay handles one replay request: its batches and the request's offset
// in one transaction of the replay producer. A request that can never
// become a batch commits its offset alone.
func (s *Service) replay(ctx context.Context, c *conn, in *kgo.Record) error {
	var req internalv1.ReplayRequest
	var recs []internalv1.RawRecord
	var t tenant.Tenant
	label := replayTenantLabel
	_, err := c.serde.Decode(ctx, in.Value, c.replayReader, &req)
	if err == nil {
		var known bool
		if t, known = s.cfg.Tenants.Get(req.Tenant); !known {
			err = skip("tenant not configured")
		} else {
			label = t.Code
			recs, err = replayBatches(&req, t, s.ledger)
			// Lineage: when ingest read the replay (the rows keep their
			// original raw_sha256 from the request).
			at := s.cfg.Now().UTC()
			for i := range recs {
				recs[i].IngestedAt = &at
			}
		}
	} else if errors.Is(err, avrox.ErrNotFramed) || errors.Is(err, avrox.ErrIncompatible) {
		// Not ours to fix and never readable: skip it, loudly. The decoder's
		// message is not logged: it may quote the payload, which holds rows.
		err = skip("not a replay request in the Confluent Avro wire format")
	} else {
		// The registry failing is not the request's fault. The request's
		// offset must not be committed by a later transaction, so ingest
		// stops and reads it again when restarted.
		return fatal(fmt.Errorf("ingest: decoding replay request at %s/%d@%d: %w", in.Topic, in.Partition, in.Offset, err))
	}
	var sk *errSkip
	if err != nil && !errors.As(err, &sk) {
		return err
	}
	// Only ids and counts are logged: rows carry personal data.
	fields := []zap.Field{zap.String("replay_id", req.ReplayID), logx.Partition(in.Partition), logx.Offset(in.Offset)}
	if t.Code != "" {
		fields = append(fields, logx.Tenant(t.Code))
	}

	if err := c.replays.Begin(); err != nil {
		return fatal(fmt.Errorf("ingest: begin replay transaction: %w", err))
	}
	var (
		mu       sync.Mutex
		firstErr error
		parts    producedParts
	)
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			return
		}
		parts.add(r)
	}
	for i := range recs {
		v, err := c.raw.Encode(nil, &recs[i])
		if err != nil {
			_, _ = c.replays.End(ctx, kgo.TryAbort)
			return fatal(fmt.Errorf("ingest: encoding replay record: %w", err))
		}
		c.replays.Produce(ctx, &kgo.Record{Topic: schemas.TopicRaw, Key: []byte(t.Code), Value: v}, promise)
	}
	if err := c.replays.Client().Flush(ctx); err != nil {
		return fatal(err)
	}
	end := kgo.TryCommit
	if firstErr != nil {
		end = kgo.TryAbort
	} else if err := parts.awaitKnown(ctx, c.replays.Client()); err != nil {
		// Otherwise kgo may end the commit as an abort (producedParts).
		firstErr, end = err, kgo.TryAbort
	}
	ectx, cancel := endCtx(ctx)
	defer cancel()
	committed, err := c.replays.End(ectx, end)
	if err != nil {
		return fatal(fmt.Errorf("ingest: ending replay transaction: %w", err))
	}
	if !committed {
		// Aborted (a produce failed, or the group rebalanced): the session
		// went back to the committed offset, so the request is read again.
		s.log.Warn("replay transaction aborted; the request will be read again", append(fields, zap.Error(firstErr))...)
		return nil
	}
	if sk != nil {
		s.metrics.replays.WithLabelValues(label, replaySkipped).Inc()
		s.log.Warn("replay request skipped: "+sk.why, fields...)
		return nil
	}
	rows := int64(len(req.Rows))
	s.metrics.replays.WithLabelValues(t.Code, replayAccepted).Inc()
	s.metrics.replayRows.WithLabelValues(t.Code).Add(float64(rows))
	s.log.Info("replay batch written", append(fields, logx.Count("rows", rows),
		logx.Count("batches", (int64(len(recs))-rows)/2))...)
	return nil
}
