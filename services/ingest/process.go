package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/platform/tracing"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Rules of ingest's own checks; the parser's file-level rules (format.Rule*)
// are used as they are.
const (
	RuleUnknownTenant = "unknown-tenant" // the folder names no configured tenant
	RuleDuplicate     = "duplicate"      // the same content was already accepted for the tenant
	RuleSequence      = "sequence"       // a change file's sequence is not after the last accepted one
	// RuleRunDateBackwards: the file's run date is before the run date of
	// the last file accepted for its tenant and VPD (the ledger knows it).
	RuleRunDateBackwards = "run-date-backwards"
)

// dialectName is the FileInfo.dialect of a parser dialect.
func dialectName(d format.Dialect) string {
	switch d {
	case format.DialectGOv2:
		return "go-v2"
	case format.DialectGOv1:
		return "go-v1"
	}
	return string(d)
}

// civilDay is the date part of t as midnight UTC (an Avro date).
func civilDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// hashFile returns the lower-hex SHA-256 and size of a delivered file.
func hashFile(drop, path string) (string, int64, error) {
	f, err := openDelivered(drop, path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// delivery is one file being handled.
type delivery struct {
	tenant string // configured code, or the folder name when unknown
	vpd    string
	root   string // the folder path is read through: the drop folder, or the archive for a held file
	path   string
	info   internalv1.FileInfo
	fn     format.FileName
	fnErr  error
	// prevRun is the GO v2 header's previous run date, once read.
	prevRun *time.Time
	// held is set when the file is read from the archive where it was
	// held; its outcome ends the hold in the same transaction.
	held *holdEntry
	csv  *Delivered // a CSV staff list of the tenant (MatchTenant)
}

// reasonText renders a rejection reason the way the parser renders its
// errors: file, line, rule, message. Messages never carry row values.
func reasonText(file string, line int, rule, msg string) string {
	return (&format.Error{File: file, Line: line, Rule: rule, Msg: msg}).Error()
}

// handle ingests one complete file. An error means the file was left in
// place (I/O) or, wrapped by fatal, that its outcome in Kafka is unknown.
func (s *Service) handle(ctx context.Context, c *conn, folder string, f candidate) error {
	sha, size, err := hashFile(s.cfg.Drop, f.path)
	if err != nil {
		return err
	}
	if pending, ok := s.pendingArchive[f.path]; ok && pending.sha == sha {
		// Handled already; only archiving failed last time.
		return s.archive(pending.tenant, sha, f.path)
	}
	dd := Describe(f.name, sha, size)
	d := &delivery{tenant: folder, root: s.cfg.Drop, path: f.path, vpd: dd.VPD, info: dd.Info, fn: dd.Name, fnErr: dd.NameErr}
	t, known := s.cfg.Tenants.Get(folder)
	if !known {
		return s.reject(ctx, c, d, RuleUnknownTenant, reasonText(f.name, 0, RuleUnknownTenant,
			"tenant not configured: no tenant has the folder's name "+format.Quote(folder)))
	}
	d.tenant = t.Code
	if dd.MatchTenant(t); dd.CSV != nil {
		d.vpd, d.info, d.csv = dd.VPD, dd.Info, &dd
	}
	if prev, dup := s.ledger.accepted(t.Code, sha); dup {
		if prev.Name == f.name && !s.archived(t.Code, sha) {
			// Committed, then stopped before archiving: finish the job.
			s.log.Info("file already ingested before a restart; archiving it", logx.Tenant(t.Code), logx.File(f.name))
			return s.archive(t.Code, sha, f.path)
		}
		return s.duplicate(ctx, c, d, prev)
	}
	if h, held := s.holds.get(t.Code, sha); held {
		if h.Name == f.name && !s.archived(t.Code, sha) {
			// Held, then stopped before archiving: finish the job.
			s.log.Info("file already held before a restart; archiving it", logx.Tenant(t.Code), logx.File(f.name))
			return s.archive(t.Code, sha, f.path)
		}
		return s.heldAgain(ctx, c, d, h)
	}
	return s.ingest(ctx, c, d, t)
}

// ingest reads a file of a known tenant and writes it in one transaction.
func (s *Service) ingest(ctx context.Context, c *conn, d *delivery, t tenant.Tenant) (err error) {
	// The file's trace starts here: ingest's span is its root (trace id the
	// file's SHA-256, span id tracing.StageSpanID), and every raw record of
	// the file names it in its traceparent. A file read again after an
	// aborted transaction exports the span again, with the same ids.
	span := s.spans.Begin(ctx, 0, t.Code, d.info.Sha256, d.info.Name, nil)
	outcome, spanRows := "error", int64(0)
	defer func() {
		s.spans.End(t.Code, d.info.Sha256, err, tracing.AttrOutcome.String(outcome), tracing.AttrRows.Int64(spanRows))
	}()
	file, err := openDelivered(d.root, d.path)
	if err != nil {
		return err
	}
	defer file.Close()
	h := sha256.New()
	in := io.TeeReader(file, h)
	rd, err := s.open(d, t, in)
	if err != nil {
		var fe *format.FileError
		if errors.As(err, &fe) {
			outcome = "rejected"
			return s.rejectProblem(ctx, c, d, fe)
		}
		return err
	}
	// The chain checks need the header's VPD and previous run, so they run
	// after the header. A feed is a tenant's VPD and interface; only GO
	// dialects number their files.
	change := d.info.Kind == internalv1.FileKindChange && sequenced(d.info.Dialect)
	last, chained := s.ledger.lastInFeed(t.Code, d.vpd, d.fn.SubFile)
	if chained && change && d.info.Sequence <= last.Sequence {
		outcome = "rejected"
		return s.reject(ctx, c, d, RuleSequence, reasonText(d.info.Name, 0, RuleSequence,
			"sequence "+strconv.FormatInt(d.info.Sequence, 10)+" is not after the last accepted sequence "+
				strconv.FormatInt(last.Sequence, 10)+" for VPD "+d.vpd+" ("+last.Name+")"))
	}
	if fe := runDateBackwards(d, s.ledger); fe != nil {
		outcome = "rejected"
		return s.reject(ctx, c, d, RuleRunDateBackwards, fe.Error())
	}
	// Ahead of a missing file: held, unless an operator released it.
	if chained && change && (d.held == nil || d.held.Released == nil) {
		f := chainFacts{tenant: t.Code, vpd: d.vpd, iface: d.fn.SubFile, name: d.info.Name, sha: d.info.Sha256,
			seq: d.info.Sequence, prevRun: d.prevRun}
		if why := s.awaits(f, last); why != nil {
			outcome = "held"
			return s.hold(ctx, c, d, last, why)
		}
	}

	tx, err := s.begin(c)
	if err != nil {
		return err
	}
	tx.hdrs = span.Headers(nil)
	startedAt := s.cfg.Now().UTC()
	rec := internalv1.RawRecord{Kind: internalv1.RawKindFileStart, Tenant: t.Code, Vpd: d.vpd, File: d.info,
		Fields: []string{}, Problems: []internalv1.Problem{}, IngestedAt: &startedAt}
	if err := tx.produceRaw(ctx, c, &rec); err != nil {
		return tx.abortWith(ctx, err)
	}
	// Rows of types the tenant's mapping ignores are counted, not written:
	// normalise would only count them as ignored (tenant.Mapping.IgnoredRow
	// is its decision too), and a full file is more than half phones,
	// addresses and costings. FILE_END carries their count, so every later
	// count reconciles as before; the file's hash and the archive keep them.
	var rows, ignored int64
	byType, ignoredByType := map[string]int64{}, map[string]int64{}
	for {
		row, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			abortErr := tx.abort(ctx)
			if abortErr != nil {
				return fatal(abortErr)
			}
			var fe *format.FileError
			if errors.As(err, &fe) {
				outcome = "rejected"
				return s.rejectProblem(ctx, c, d, fe)
			}
			return err
		}
		if t.Mapping.IgnoredRow(d.info.Dialect, row) {
			ignored++
			ignoredByType[row.Type]++
			continue
		}
		rec = RawRow(t.Code, d.vpd, d.info, row)
		stampRaw(&rec, &row, s.cfg.Now().UTC())
		if err := tx.produceRaw(ctx, c, &rec); err != nil {
			return tx.abortWith(ctx, err)
		}
		rows++
		byType[row.Type]++
	}
	// The reader stops at the trailer's end; hash whatever follows too, so
	// the hash covers every byte read.
	if _, err := io.Copy(io.Discard, in); err != nil {
		if aerr := tx.abort(ctx); aerr != nil {
			return fatal(aerr)
		}
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.info.Sha256 {
		if err := tx.abort(ctx); err != nil {
			return fatal(err)
		}
		return errors.New("file changed while it was read")
	}
	sum := rd.Summary()
	endedAt := s.cfg.Now().UTC()
	rec = internalv1.RawRecord{Kind: internalv1.RawKindFileEnd, Tenant: t.Code, Vpd: d.vpd, File: d.info,
		Fields: []string{}, Problems: []internalv1.Problem{}, IngestedAt: &endedAt,
		Counts: &internalv1.RawCounts{Lines: int64(sum.Lines), Rows: rows, RowsByType: byType,
			IgnoredRows: ignored, IgnoredByType: ignoredByType}}
	if err := tx.produceRaw(ctx, c, &rec); err != nil {
		return tx.abortWith(ctx, err)
	}
	now := s.cfg.Now()
	e := entry{Tenant: t.Code, SHA256: d.info.Sha256, Name: d.info.Name, VPD: d.vpd, Interface: d.fn.SubFile, Dialect: d.info.Dialect,
		Kind: string(d.info.Kind), Sequence: d.info.Sequence, RunDate: d.info.RunDate.Format(time.DateOnly),
		Size: d.info.Size, Lines: int64(sum.Lines), Rows: rows, Ignored: ignored, AcceptedAt: now.UTC()}
	value, err := json.Marshal(e)
	if err != nil {
		return tx.abortWith(ctx, err)
	}
	tx.produce(ctx, &kgo.Record{Topic: TopicLedger, Key: []byte(ledgerKey(t.Code, e.SHA256)), Value: value})
	if d.held != nil {
		tx.produce(ctx, heldTombstone(d.held))
	}
	if err := tx.commit(ctx); err != nil {
		return err
	}

	outcome, spanRows = "accepted", rows+ignored
	s.ledger.add(e)
	s.endHold(d)
	s.metrics.files.WithLabelValues(t.Code, statusAccepted).Inc()
	// rows_total stays every data row read (the quarantine-rate alerts
	// divide by it); rows_ignored_total says how many of them were not written.
	s.metrics.rows.WithLabelValues(t.Code).Add(float64(rows + ignored))
	s.metrics.rowsIgnored.WithLabelValues(t.Code).Add(float64(ignored))
	s.metrics.lastAccepted.WithLabelValues(t.Code).Set(float64(now.UnixMilli()) / 1000)
	fields := []zap.Field{logx.Tenant(t.Code), logx.File(d.info.Name), zap.String("vpd", d.vpd),
		zap.String("sha256", d.info.Sha256), logx.Count("lines", int64(sum.Lines)), logx.Count("rows", rows), logx.Count("rows_ignored", ignored),
		logx.Count("rows_with_problems", int64(sum.RowsWithProblems))}
	if d.held != nil {
		fields = append(fields, zap.Int64("sequence", d.info.Sequence), zap.Bool("released", d.held.Released != nil))
	}
	s.log.Info("file accepted", fields...)
	return s.archive(t.Code, d.info.Sha256, d.path)
}

// open starts the dialect's reader and fills in what the header says.
func (s *Service) open(d *delivery, t tenant.Tenant, in io.Reader) (RowsReader, error) {
	dd := Delivered{Info: d.info, VPD: d.vpd, Name: d.fn, NameErr: d.fnErr}
	if d.csv != nil {
		dd = *d.csv
	}
	rd, err := dd.Open(in, t, s.cfg.Parse, s.cfg.Now)
	if err != nil {
		return nil, err
	}
	d.vpd, d.info, d.prevRun = dd.VPD, dd.Info, dd.PreviousRun
	return rd, nil
}

// runDateBackwards checks a feed's run dates never go backwards: the file's
// run date (GO v2: the header's; GO v1: the name's) may equal but not be
// before that of the last file accepted for its tenant and VPD, full or
// change. An old file re-sent under a new sequence would otherwise replay
// the past over newer state.
func runDateBackwards(d *delivery, l *ledger) *format.Error {
	last, ok := l.lastFor(d.tenant, d.vpd)
	if !ok {
		return nil
	}
	lastRun, err := time.Parse(time.DateOnly, last.RunDate)
	if err != nil || !d.info.RunDate.Before(lastRun) {
		return nil
	}
	e := &format.Error{File: d.info.Name, Rule: RuleRunDateBackwards, Severity: format.SeverityFile,
		Msg: "run date " + d.info.RunDate.Format(time.DateOnly) + " is before " + last.RunDate + ", the run date of " +
			last.Name + ", the last file accepted for VPD " + d.vpd}
	if d.info.Dialect == dialectName(format.DialectGOv2) {
		// The header's run date: HDR line 1, column 5.
		e.Line, e.RecordType, e.Column, e.Field = 1, "HDR", 5, "run_at"
	}
	return e
}

// dataFields are the columns after the record type.
func dataFields(f []string) []string {
	if len(f) <= 1 {
		return []string{}
	}
	return f[1:]
}

// problems converts a row's parser problems. The parser numbers columns with
// the record type at 0; esr.raw.v1 numbers the fields after it from 0, and
// uses -1 for the whole row.
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

func (s *Service) rejectProblem(ctx context.Context, c *conn, d *delivery, fe *format.FileError) error {
	return s.reject(ctx, c, d, fe.Problem.Rule, fe.Problem.Error())
}

// withCode puts the catalogue's code first (ESR-F006 ...), as every other
// rejection and quarantine reads.
func withCode(rule, reason string) string {
	if code := rules.CodeOf(rule); code != rule {
		return code + " " + reason
	}
	return reason
}

// reject writes a REJECTED report for the file (and nothing else) and
// archives it. A held file's rejection ends its hold.
func (s *Service) reject(ctx context.Context, c *conn, d *delivery, rule, reason string) error {
	reason = withCode(rule, reason)
	report := internalv1.FileReport{Tenant: d.tenant, Vpd: d.vpd, File: d.info, Status: internalv1.FileStatusRejected,
		Reason: &reason, EventsEmitted: map[string]int64{}, ReportedAt: s.cfg.Now().UTC().Truncate(time.Millisecond)}
	var extra []*kgo.Record
	if d.held != nil {
		extra = append(extra, heldTombstone(d.held))
	}
	if err := s.writeReport(ctx, c, &report, extra...); err != nil {
		return err
	}
	s.endHold(d)
	s.metrics.files.WithLabelValues(d.tenant, statusRejected).Inc()
	s.metrics.rejections.WithLabelValues(d.tenant, rule).Inc()
	s.log.Warn("file rejected", logx.Tenant(d.tenant), logx.File(d.info.Name), zap.String("sha256", d.info.Sha256),
		logx.Rule(rule), zap.String("reason", reason))
	return s.archive(d.tenant, d.info.Sha256, d.path)
}

// duplicate writes a DUPLICATE report for a file whose bytes were already
// accepted for the tenant, under any name or channel, and archives it.
// Nothing is read or published again: the same bytes were the same
// changes, so a re-delivery is a no-op, not an error an operator must act
// on. The report names the file it repeats (duplicate_of).
func (s *Service) duplicate(ctx context.Context, c *conn, d *delivery, prev entry) error {
	reason := withCode(RuleDuplicate, reasonText(d.info.Name, 0, RuleDuplicate,
		"same content (sha256 "+d.info.Sha256[:12]+"…) as "+prev.Name+" accepted at "+prev.AcceptedAt.UTC().Format(time.RFC3339)))
	// What the earlier file was: a duplicate's name may say nothing (a
	// wrong name) while its bytes are those of a file ingest read.
	if d.vpd == "" {
		d.vpd = prev.VPD
	}
	report := internalv1.FileReport{Tenant: d.tenant, Vpd: d.vpd, File: d.info, Status: internalv1.FileStatusDuplicate,
		Reason: &reason, EventsEmitted: map[string]int64{}, ReportedAt: s.cfg.Now().UTC().Truncate(time.Millisecond),
		DuplicateOf: &internalv1.DuplicateOf{Name: prev.Name, Sha256: prev.SHA256, AcceptedAt: prev.AcceptedAt.UTC().Truncate(time.Millisecond)}}
	if err := s.writeReport(ctx, c, &report); err != nil {
		return err
	}
	s.metrics.files.WithLabelValues(d.tenant, statusDuplicate).Inc()
	s.log.Info("file is a duplicate; nothing to do", logx.Tenant(d.tenant), logx.File(d.info.Name),
		zap.String("sha256", d.info.Sha256), zap.String("duplicate_of", prev.Name))
	return s.archive(d.tenant, d.info.Sha256, d.path)
}

// writeReport commits one file report in a transaction, with the records
// of state that must change with it (a hold, its end, a decision).
func (s *Service) writeReport(ctx context.Context, c *conn, report *internalv1.FileReport, with ...*kgo.Record) error {
	value, err := c.fileReport.Encode(nil, report)
	if err != nil {
		return fatal(err)
	}
	tx, err := s.begin(c)
	if err != nil {
		return err
	}
	tx.produce(ctx, &kgo.Record{Topic: schemas.TopicFileReports, Key: []byte(report.Tenant), Value: value})
	for _, r := range with {
		tx.produce(ctx, r)
	}
	return tx.commit(ctx)
}

// endHold forgets a held file's hold once its outcome is committed.
func (s *Service) endHold(d *delivery) {
	if d.held == nil {
		return
	}
	s.holds.remove(d.held.Tenant, d.held.SHA256)
	s.setHeld(d.held.Tenant)
}

// heldAgain reports a delivery of bytes already held: HELD again, with the
// hold as it stands, and the delivery archived (the archive has the bytes).
func (s *Service) heldAgain(ctx context.Context, c *conn, d *delivery, h holdEntry) error {
	reason := withCode(h.Rule, reasonText(d.info.Name, 0, h.Rule, "same content (sha256 "+d.info.Sha256[:12]+"…) as "+h.Name+
		", held since "+h.HeldAt.UTC().Format(time.RFC3339)))
	if d.vpd == "" {
		d.vpd = h.VPD
	}
	report := internalv1.FileReport{Tenant: d.tenant, Vpd: d.vpd, File: d.info, Status: internalv1.FileStatusHeld,
		Reason: &reason, EventsEmitted: map[string]int64{}, ReportedAt: s.cfg.Now().UTC().Truncate(time.Millisecond),
		Hold: h.fileHold()}
	if err := s.writeReport(ctx, c, &report); err != nil {
		return err
	}
	s.metrics.files.WithLabelValues(d.tenant, statusHeld).Inc()
	s.log.Info("file is already held; delivery archived", logx.Tenant(d.tenant), logx.File(d.info.Name),
		zap.String("sha256", d.info.Sha256), zap.String("held_as", h.Name))
	return s.archive(d.tenant, d.info.Sha256, d.path)
}

// txn is one open Kafka transaction of the ingest producer.
type txn struct {
	cl    *kgo.Client
	hdrs  []kgo.RecordHeader // on every raw record: the file's traceparent
	mu    sync.Mutex
	err   error
	parts producedParts // partitions written to, known to cl before ending
}

func (s *Service) begin(c *conn) (*txn, error) {
	if err := c.tx.BeginTransaction(); err != nil {
		return nil, fatal(fmt.Errorf("ingest: begin transaction: %w", err))
	}
	return &txn{cl: c.tx}, nil
}

func (t *txn) produce(ctx context.Context, r *kgo.Record) {
	t.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		if err != nil {
			t.mu.Lock()
			if t.err == nil {
				t.err = err
			}
			t.mu.Unlock()
			return
		}
		t.parts.add(r)
	})
}

func (t *txn) produceRaw(ctx context.Context, c *conn, r *internalv1.RawRecord) error {
	v, err := c.raw.Encode(nil, r)
	if err != nil {
		return err
	}
	t.produce(ctx, &kgo.Record{Topic: schemas.TopicRaw, Key: []byte(r.Tenant), Value: v, Headers: t.hdrs})
	return t.failed()
}

func (t *txn) failed() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// endCtx bounds ending a transaction without inheriting cancellation: an
// EndTransaction cut short leaves its outcome unknown.
func endCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// commit flushes and commits. Any failure is fatal: whether the file was
// committed is then decided by the ledger when the service restarts.
func (t *txn) commit(ctx context.Context) error {
	if err := t.cl.Flush(ctx); err != nil {
		return t.abortWith(ctx, err)
	}
	if err := t.failed(); err != nil {
		return t.abortWith(ctx, err)
	}
	// Otherwise kgo may end the commit as an abort (producedParts).
	if err := t.parts.awaitKnown(ctx, t.cl); err != nil {
		return t.abortWith(ctx, err)
	}
	ectx, cancel := endCtx(ctx)
	defer cancel()
	if err := t.cl.EndTransaction(ectx, kgo.TryCommit); err != nil {
		return fatal(fmt.Errorf("ingest: committing transaction: %w", err))
	}
	return nil
}

// abort drops everything produced in the transaction.
func (t *txn) abort(ctx context.Context) error {
	ectx, cancel := endCtx(ctx)
	defer cancel()
	if err := t.cl.AbortBufferedRecords(ectx); err != nil {
		return fmt.Errorf("ingest: aborting buffered records: %w", err)
	}
	if err := t.cl.EndTransaction(ectx, kgo.TryAbort); err != nil {
		return fmt.Errorf("ingest: aborting transaction: %w", err)
	}
	return nil
}

// abortWith aborts after a produce failure. Once the abort is confirmed
// nothing of the file is committed, so the file is simply tried again on the
// next scan; only an abort that fails leaves the outcome unknown (fatal).
func (t *txn) abortWith(ctx context.Context, cause error) error {
	if err := t.abort(ctx); err != nil {
		return fatal(errors.Join(cause, err))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("producing (transaction aborted): %w", cause)
}
