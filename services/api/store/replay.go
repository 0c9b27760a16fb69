package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// ReplayID derives a replay's id from its request: the tenant, the
// idempotency key (the client's, or the request time) and what the request
// selects (its sorted ids, or its filter). The same request sent twice with
// the same key names the same replay, which is sent once.
func ReplayID(tenant, key, selection string) string {
	h := sha256.Sum256([]byte(strings.ToUpper(tenant) + "\x00" + key + "\x00" + selection))
	return "rp-" + hex.EncodeToString(h[:10])
}

// Replay is a replay as the API serves it.
type Replay struct {
	ReplayID    string         `json:"replay_id"`
	Tenant      string         `json:"tenant"`
	RequestedBy string         `json:"requested_by"`
	Reason      string         `json:"reason"`
	RequestedAt string         `json:"requested_at"`
	Status      string         `json:"status"`
	Rows        int64          `json:"rows"`
	Outcomes    map[string]int `json:"outcomes"`
	CompletedAt *string        `json:"completed_at"`
	Batches     []ReplayBatch  `json:"batches"`
}

// ReplayBatch is one batch of a replay as ingest sends it (a run of rows
// sharing a dialect and VPD), with its file report once that has arrived.
type ReplayBatch struct {
	Batch      int             `json:"batch"` // 1-based
	FileName   string          `json:"file_name"`
	FileSHA256 string          `json:"file_sha256"`
	Settled    bool            `json:"settled"`
	Report     json.RawMessage `json:"report"` // null until it arrives
}

// ReplayRowOutcome is one replayed row and what became of it.
type ReplayRowOutcome struct {
	QuarantineID string                 `json:"quarantine_id"`
	Lineage      QuarantineLineage      `json:"lineage"`
	Batch        int                    `json:"batch"` // 1-based
	Outcome      string                 `json:"outcome"`
	Violations   []internalv1.Violation `json:"violations"`
	Events       []Event                `json:"events"`
}

// ReplayDetail is one replay with its rows.
type ReplayDetail struct {
	Replay
	RowOutcomes []ReplayRowOutcome `json:"row_outcomes"`
}

// unknownRecord is an id a replay request names that the tenant has no
// quarantined record for (404).
type UnknownRecord string

func (u UnknownRecord) Error() string { return "quarantined record " + string(u) + " not found" }

// conflictf is a request the current state refuses (409).
func conflictf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrReplayConflict, fmt.Sprintf(format, args...))
}

// plannedReplay is what a request resolves to, before it is sent.
type PlannedReplay struct {
	Req   *internalv1.ReplayRequest
	ids   []string // quarantine ids, in row order
	prior []string // each row's status before the replay
}

// RequestReplay selects the rows, checks each may be replayed, and records
// the replay (replays, replay_rows, the rows marked replaying, the audit
// row), all in one transaction holding the rows' locks so two concurrent
// replays cannot take the same row. An existing replay of the same id is
// returned as errReplayExists.
func (s *Store) RequestReplay(ctx context.Context, rp *internalv1.ReplayRequest, key string, ids []string, f *QuarantineQuery) (*PlannedReplay, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var one int
	switch err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT 1 FROM replays WHERE replay_id = ?`), rp.ReplayID).Scan(&one); {
	case err == nil:
		return nil, ErrReplayExists
	case !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	var items []*QuarantineItem
	if ids != nil {
		for _, id := range ids {
			it, err := scanQuarantine(tx.QueryRowContext(ctx, s.d.rebind(`SELECT `+quarantineColumns+` FROM quarantine WHERE tenant = ? AND id = ?`+s.d.forUpdate()), rp.Tenant, id))
			if errors.Is(err, ErrNotFound) {
				return nil, UnknownRecord(id)
			}
			if err != nil {
				return nil, err
			}
			items = append(items, it)
		}
	} else {
		where, args := f.where()
		if f.Status == "" {
			where += " AND status IN ('" + QuarantineOpen + "', '" + QuarantineFailedAgain + "')"
		}
		if f.Stage == "" {
			where += " AND stage IN ('" + strings.Join(replayableStages, "', '") + "')"
		}
		rows, err := tx.QueryContext(ctx, s.d.rebind(`SELECT `+quarantineColumns+` FROM quarantine WHERE `+where+
			` ORDER BY seq, id LIMIT ?`+s.d.forUpdate()), append(args, MaxReplayRows+1)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			it, err := scanQuarantine(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			items = append(items, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return nil, conflictf("no quarantined record that can be replayed matches the filter")
		}
		if len(items) > MaxReplayRows {
			return nil, conflictf("more than %d records match; narrow the filter or replay in several requests", MaxReplayRows)
		}
	}
	// Rows in the order they were first read: file by file (the file
	// quarantined first goes first), line by line.
	first := map[string]int64{}
	for _, it := range items {
		if v, ok := first[it.Lineage.FileSHA256]; !ok || it.Seq < v {
			first[it.Lineage.FileSHA256] = it.Seq
		}
	}
	slices.SortStableFunc(items, func(a, b *QuarantineItem) int {
		return cmp.Or(cmp.Compare(first[a.Lineage.FileSHA256], first[b.Lineage.FileSHA256]),
			strings.Compare(a.Lineage.FileSHA256, b.Lineage.FileSHA256), cmp.Compare(a.Lineage.Line, b.Lineage.Line))
	})
	plan := &PlannedReplay{Req: rp}
	for _, it := range items {
		switch {
		case !slices.Contains(replayableStages, it.Stage):
			return nil, conflictf("record %s was quarantined by %s: only rows quarantined by NORMALISE or VALIDATE can be replayed", it.ID, it.Stage)
		case it.Status != QuarantineOpen && it.Status != QuarantineFailedAgain:
			return nil, conflictf("record %s is %s: only open or failed_again records can be replayed", it.ID, it.Status)
		case !it.file.Valid:
			return nil, conflictf("record %s: its file's details are unknown (quarantined before quarantine v2), so it cannot be replayed", it.ID)
		}
		var file internalv1.FileInfo
		if err := json.Unmarshal([]byte(it.file.String), &file); err != nil {
			return nil, fmt.Errorf("record %s file: %w", it.ID, err)
		}
		rp.Rows = append(rp.Rows, internalv1.ReplayRow{
			Lineage: internalv1.Lineage{Tenant: rp.Tenant, FileName: it.Lineage.FileName, FileSha256: it.Lineage.FileSHA256, Line: it.Lineage.Line},
			Vpd:     it.VPD, File: file,
			Raw:       internalv1.RawRow{RecordType: it.RecordType, Fields: it.fields},
			RawSha256: nullString(it.rawSHA256),
		})
		plan.ids, plan.prior = append(plan.ids, it.ID), append(plan.prior, it.Status)
	}
	// The batches ingest will make of the rows: a new one wherever the
	// dialect or VPD changes from the row before.
	batches := make([]int, len(rp.Rows))
	for i := 1; i < len(rp.Rows); i++ {
		batches[i] = batches[i-1]
		if rp.Rows[i].File.Dialect != rp.Rows[i-1].File.Dialect || rp.Rows[i].Vpd != rp.Rows[i-1].Vpd {
			batches[i]++
		}
	}
	count := batches[len(batches)-1] + 1
	at := rp.RequestedAt.UnixMilli()
	if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO replays (replay_id, tenant, actor, reason, requested_at, idempotency_key,
		row_count, batch_count, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		rp.ReplayID, rp.Tenant, rp.RequestedBy, rp.Reason, at, key, len(rp.Rows), count, ReplayRequested); err != nil {
		return nil, fmt.Errorf("writing replay: %w", err)
	}
	for n := range count {
		name, sha := schemas.ReplayBatch(rp.ReplayID, n)
		if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO replay_batches (replay_id, batch, file_name, file_sha256, settled)
			VALUES (?, ?, ?, ?, 0)`), rp.ReplayID, n, name, sha); err != nil {
			return nil, fmt.Errorf("writing replay batch: %w", err)
		}
	}
	for i, id := range plan.ids {
		row := rp.Rows[i]
		if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO replay_rows (replay_id, seq, batch, quarantine_id, file_sha256, line, outcome,
			rules, violations, prior_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			rp.ReplayID, i, batches[i], id, row.Lineage.FileSha256, row.Lineage.Line, OutcomePending, "", "[]", plan.prior[i]); err != nil {
			return nil, fmt.Errorf("writing replay row: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE quarantine SET status = ?, replay_id = ?, updated_at = ? WHERE id = ?`),
			QuarantineReplaying, rp.ReplayID, time.Now().UnixMilli(), id); err != nil {
			return nil, fmt.Errorf("marking replaying: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO audit_log
		(command_id, tenant, batch_id, action, actor, reason, requested_at, status, replay_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		rp.ReplayID, rp.Tenant, "", ActionReplay, rp.RequestedBy, rp.Reason, at, ReplayRequested, rp.ReplayID); err != nil {
		return nil, fmt.Errorf("writing audit row: %w", err)
	}
	return plan, tx.Commit()
}

// FailReplay records that Kafka did not take a replay: the rows it marked
// replaying go back to their earlier status.
func (s *Store) FailReplay(ctx context.Context, replayID string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE quarantine SET status = (SELECT prior_status FROM replay_rows r WHERE r.replay_id = ? AND r.quarantine_id = quarantine.id)
			WHERE replay_id = ? AND status = ?`, []any{replayID, replayID, QuarantineReplaying}},
		{`UPDATE replays SET status = ? WHERE replay_id = ? AND status = ?`, []any{ReplayFailed, replayID, ReplayRequested}},
		{`UPDATE audit_log SET status = ? WHERE command_id = ? AND status = ?`, []any{ReplayFailed, replayID, ReplayRequested}},
	} {
		if _, err := tx.ExecContext(ctx, s.d.rebind(q.sql), q.args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// applyReplayReport records the file report of one batch of a replay and
// settles what it can. The batch is the one whose SHA-256 the report names;
// failing that (a naming rule drifted), the first batch still without a
// report, so a replay never waits forever for a report it already has.
func (s *Store) applyReplayReport(ctx context.Context, tx *sql.Tx, tenant, replayID string, r FileReport) error {
	var batch int
	err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT b.batch FROM replay_batches b JOIN replays r ON r.replay_id = b.replay_id
		WHERE b.replay_id = ? AND r.tenant = ? AND b.file_sha256 = ?`), replayID, tenant, strings.ToLower(r.Report.File.Sha256)).Scan(&batch)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRowContext(ctx, s.d.rebind(`SELECT b.batch FROM replay_batches b JOIN replays r ON r.replay_id = b.replay_id
			WHERE b.replay_id = ? AND r.tenant = ? AND b.report IS NULL ORDER BY b.batch LIMIT 1`), replayID, tenant).Scan(&batch)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil // a replay this database does not know, or a report delivered again
	case err != nil:
		return fmt.Errorf("reading replay batch: %w", err)
	}
	emitted := int64(0)
	for _, n := range r.Report.EventsEmitted {
		emitted += n
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE replay_batches SET report = ?, report_status = ?, quarantined = ?, emitted = ?
		WHERE replay_id = ? AND batch = ? AND report IS NULL`),
		string(r.Payload), string(r.Report.Status), r.Report.Quarantined, emitted, replayID, batch); err != nil {
		return fmt.Errorf("recording replay report: %w", err)
	}
	return s.settleReplay(ctx, tx, tenant, replayID, time.Now().UnixMilli())
}

// settleReplay settles each batch of a replay whose report is in and whose
// rows quarantined again (as many as the report counts) are in too: the
// quarantine and report topics are read independently, so either may come
// first, and a batch never settles early. Its rows still pending were then
// accepted, or, when the batch was rejected whole, are open again. Once
// every batch is settled, so is the replay (and its audit row).
func (s *Store) settleReplay(ctx context.Context, tx *sql.Tx, tenant, replayID string, now int64) error {
	var status string
	err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT status FROM replays WHERE replay_id = ? AND tenant = ?`+s.d.forUpdate()),
		replayID, tenant).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("reading replay: %w", err)
	case status != ReplayRequested && status != ReplayFailed:
		return nil // settled
	}
	type batchState struct {
		batch        int
		reportStatus sql.NullString
		quarantined  sql.NullInt64
		emitted      sql.NullInt64
		settled      bool
		failed       int64
	}
	rows, err := tx.QueryContext(ctx, s.d.rebind(`SELECT b.batch, b.report_status, b.quarantined, b.emitted, b.settled,
		(SELECT COUNT(*) FROM replay_rows r WHERE r.replay_id = b.replay_id AND r.batch = b.batch AND r.outcome = ?)
		FROM replay_batches b WHERE b.replay_id = ? ORDER BY b.batch`), OutcomeFailedAgain, replayID)
	if err != nil {
		return fmt.Errorf("reading replay batches: %w", err)
	}
	var batches []batchState
	for rows.Next() {
		var b batchState
		var settled int
		if err := rows.Scan(&b.batch, &b.reportStatus, &b.quarantined, &b.emitted, &settled, &b.failed); err != nil {
			rows.Close()
			return err
		}
		b.settled = settled != 0
		batches = append(batches, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var settled, rejected int
	var emitted int64
	for _, b := range batches {
		if !b.settled && b.reportStatus.Valid && b.failed >= b.quarantined.Int64 {
			outcome, itemStatus := OutcomeAccepted, QuarantineResolved
			if b.reportStatus.String != string(internalv1.FileStatusAccepted) {
				outcome, itemStatus = OutcomeRejected, QuarantineOpen
			}
			for _, q := range []struct {
				sql  string
				args []any
			}{
				// (not only replaying rows: a replay marked FAILED whose
				// request reached Kafka after all gave its rows back their
				// earlier status, yet settles here like any other)
				{`UPDATE quarantine SET status = ?, updated_at = ? WHERE replay_id = ? AND status <> ? AND id IN
					(SELECT quarantine_id FROM replay_rows WHERE replay_id = ? AND batch = ? AND outcome = ?)`,
					[]any{itemStatus, now, replayID, QuarantineResolved, replayID, b.batch, OutcomePending}},
				{`UPDATE replay_rows SET outcome = ? WHERE replay_id = ? AND batch = ? AND outcome = ?`,
					[]any{outcome, replayID, b.batch, OutcomePending}},
				{`UPDATE replay_batches SET settled = 1 WHERE replay_id = ? AND batch = ?`, []any{replayID, b.batch}},
			} {
				if _, err := tx.ExecContext(ctx, s.d.rebind(q.sql), q.args...); err != nil {
					return fmt.Errorf("settling replay: %w", err)
				}
			}
			b.settled = true
		}
		if b.settled {
			settled++
			emitted += b.emitted.Int64
			if b.reportStatus.String != string(internalv1.FileStatusAccepted) {
				rejected++
			}
		}
	}
	if settled < len(batches) {
		return nil
	}
	final := ReplayCompleted
	switch {
	case rejected == len(batches):
		final = ReplayRejected
	case rejected > 0:
		final = ReplayPartial
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE replays SET status = ?, completed_at = ? WHERE replay_id = ?`, []any{final, now, replayID}},
		{`UPDATE audit_log SET status = ?, decided_at = ?, emitted = ? WHERE command_id = ? AND tenant = ?`,
			[]any{final, now, emitted, replayID, tenant}},
	} {
		if _, err := tx.ExecContext(ctx, s.d.rebind(q.sql), q.args...); err != nil {
			return fmt.Errorf("settling replay: %w", err)
		}
	}
	return nil
}

func scanReplay(row rowScanner) (*Replay, error) {
	var (
		r           Replay
		requestedAt int64
		completedAt sql.NullInt64
	)
	err := row.Scan(&r.ReplayID, &r.Tenant, &r.RequestedBy, &r.Reason, &requestedAt, &r.Status, &r.Rows, &completedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	r.RequestedAt = MillisRFC3339(requestedAt)
	if completedAt.Valid {
		r.CompletedAt = Ptr(MillisRFC3339(completedAt.Int64))
	}
	return &r, nil
}

// fill adds a replay's outcome counts and batches.
func (s *Store) fill(ctx context.Context, r *Replay) error {
	rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT outcome, COUNT(*) FROM replay_rows WHERE replay_id = ? GROUP BY outcome`), r.ReplayID)
	if err != nil {
		return err
	}
	defer rows.Close()
	r.Outcomes = map[string]int{}
	for rows.Next() {
		var o string
		var n int
		if err := rows.Scan(&o, &n); err != nil {
			return err
		}
		r.Outcomes[o] = n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	rows, err = s.db.QueryContext(ctx, s.d.rebind(`SELECT batch, file_name, file_sha256, settled, report FROM replay_batches
		WHERE replay_id = ? ORDER BY batch`), r.ReplayID)
	if err != nil {
		return err
	}
	defer rows.Close()
	r.Batches = []ReplayBatch{}
	for rows.Next() {
		var b ReplayBatch
		var settled int
		var report sql.NullString
		if err := rows.Scan(&b.Batch, &b.FileName, &b.FileSHA256, &settled, &report); err != nil {
			return err
		}
		b.Batch++
		b.Settled = settled != 0
		b.Report = json.RawMessage("null")
		if report.Valid {
			b.Report = json.RawMessage(report.String)
		}
		r.Batches = append(r.Batches, b)
	}
	return rows.Err()
}

// Replays lists a tenant's Replays, newest first.
func (s *Store) Replays(ctx context.Context, tenant string, limit int) ([]*Replay, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT `+replayColumns+` FROM replays WHERE tenant = ?
		ORDER BY requested_at DESC, replay_id LIMIT ?`), tenant, limit)
	if err != nil {
		return nil, err
	}
	out := []*Replay{}
	for rows.Next() {
		r, err := scanReplay(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, r := range out {
		if err := s.fill(ctx, r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReplayByID returns one ReplayByID with each row's outcome; an accepted row lists
// the events whose source is the row's original file and line.
func (s *Store) ReplayByID(ctx context.Context, tenant, replayID string) (*ReplayDetail, error) {
	if !CleanText(replayID) {
		return nil, ErrNotFound
	}
	r, err := scanReplay(s.db.QueryRowContext(ctx, s.d.rebind(`SELECT `+replayColumns+` FROM replays WHERE tenant = ? AND replay_id = ?`), tenant, replayID))
	if err != nil {
		return nil, err
	}
	if err := s.fill(ctx, r); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT r.quarantine_id, q.file_name, r.file_sha256, r.line, r.batch, r.outcome, r.violations
		FROM replay_rows r JOIN quarantine q ON q.id = r.quarantine_id WHERE r.replay_id = ? ORDER BY r.seq`), replayID)
	if err != nil {
		return nil, err
	}
	d := &ReplayDetail{Replay: *r, RowOutcomes: []ReplayRowOutcome{}}
	for rows.Next() {
		var o ReplayRowOutcome
		var violations string
		if err := rows.Scan(&o.QuarantineID, &o.Lineage.FileName, &o.Lineage.FileSHA256, &o.Lineage.Line, &o.Batch, &o.Outcome, &violations); err != nil {
			rows.Close()
			return nil, err
		}
		o.Batch++
		if err := json.Unmarshal([]byte(violations), &o.Violations); err != nil {
			rows.Close()
			return nil, err
		}
		o.Events = []Event{}
		d.RowOutcomes = append(d.RowOutcomes, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, o := range d.RowOutcomes {
		if o.Outcome != OutcomeAccepted {
			continue
		}
		evs, err := s.QueryEvents(ctx, `SELECT `+EventColumns+` FROM events WHERE tenant = ? AND source_sha256 = ? AND source_line = ?
			ORDER BY recorded_at, event_id`, tenant, o.Lineage.FileSHA256, o.Lineage.Line)
		if err != nil {
			return nil, err
		}
		d.RowOutcomes[i].Events = evs
	}
	return d, nil
}

// MaxReplayRows is the most rows one replay request may hold: the request
// is one Kafka record, and a row is up to a few hundred bytes, so this
// keeps it well under a broker's default 1 MB record limit.
const MaxReplayRows = 500

// Statuses of a replay (replays.status, and its audit row's status).
const (
	// ReplayRequested: on esr.ops.replays.v1; its outcome is not settled.
	ReplayRequested = "REQUESTED"
	// ReplayFailed: Kafka did not take the request (the call answered
	// 503); its rows are back to their earlier status.
	ReplayFailed = "FAILED"
	// ReplayCompleted: every batch's file report arrived ACCEPTED and
	// every row has its outcome.
	ReplayCompleted = "COMPLETED"
	// ReplayRejected: every batch of the replay was rejected whole (e.g.
	// over the tenant's error budget): nothing from it was published.
	ReplayRejected = "REJECTED"
	// ReplayPartial: some of its batches were accepted, some rejected.
	ReplayPartial = "PARTIAL"
)

// Outcomes of one replayed row (replay_rows.outcome).
const (
	OutcomePending     = "pending"
	OutcomeFailedAgain = "failed_again"
	OutcomeAccepted    = "accepted"
	// OutcomeRejected: the whole replay batch was rejected; the row is open
	// again.
	OutcomeRejected = "rejected"
)

// ActionReplay is the audit_log action of a replay.
const ActionReplay = "REPLAY"

// replayable stages: rows an earlier stage refused (ingest: the file or row
// did not parse) cannot be mended by a mapping or rule change.
var replayableStages = []string{string(internalv1.StageNormalise), string(internalv1.StageValidate)}

var (
	ErrReplayConflict = errors.New("cannot replay")
	ErrReplayExists   = errors.New("replay exists")
)

const replayColumns = `replay_id, tenant, actor, reason, requested_at, status, row_count, completed_at`
