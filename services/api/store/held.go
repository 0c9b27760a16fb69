package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// HeldBatch is a leaver-guard batch as the API serves it (from
// esr.ops.held-batches.v1). Decision fields are null while it is HELD.
type HeldBatch struct {
	BatchID          string  `json:"batch_id"`
	Tenant           string  `json:"tenant"`
	VPD              string  `json:"vpd"`
	FileName         string  `json:"file_name"`
	FileSHA256       string  `json:"file_sha256"`
	RunDate          string  `json:"run_date"`
	Status           string  `json:"status"`
	Leavers          int64   `json:"leavers"`
	ActivePopulation int64   `json:"active_population"`
	MaxLeavers       int64   `json:"max_leavers"`
	MaxPercent       float64 `json:"max_percent"`
	Tripped          string  `json:"tripped"`
	HeldAt           string  `json:"held_at"`
	DecidedAt        *string `json:"decided_at"`
	DecidedBy        *string `json:"decided_by"`
	Reason           *string `json:"reason"`
	CommandID        *string `json:"command_id"`
	Emitted          int64   `json:"emitted"`

	held string // JSON array of HeldLeaver
}

// HeldBatchDetail is one batch with its held leavers.
type HeldBatchDetail struct {
	HeldBatch
	Held []HeldLeaver `json:"held"`
}

// HeldLeaver is one leaver a batch holds: ids and dates only.
type HeldLeaver struct {
	PersonID       string `json:"person_id"`
	EmployeeNumber string `json:"employee_number"`
	LeavingDate    string `json:"leaving_date"`
	EventID        string `json:"event_id"`
	Line           int64  `json:"line"`
}

// AuditEntry is one operator decision: requested through the api, and its
// outcome once publish has applied it.
type AuditEntry struct {
	CommandID   string  `json:"command_id"`
	Tenant      string  `json:"tenant"`
	BatchID     string  `json:"batch_id"`
	Action      string  `json:"action"`
	Actor       string  `json:"actor"`
	Reason      string  `json:"reason"`
	RequestedAt string  `json:"requested_at"`
	Status      string  `json:"status"`
	DecidedAt   *string `json:"decided_at"`
	Emitted     *int64  `json:"emitted"`
	// ReplayID is set on a replay's row (action REPLAY, batch_id empty).
	ReplayID *string `json:"replay_id,omitempty"`
	// FileSHA256 is set on a held file's release or discard (actions
	// FILE_RELEASE, FILE_DISCARD; batch_id empty).
	FileSHA256 *string `json:"file_sha256,omitempty"`
}

// Audit statuses besides the batch outcomes RELEASED and REJECTED.
const (
	// AuditRequested: the command is on esr.ops.commands.v1, publish has
	// not yet reported applying it.
	AuditRequested = "REQUESTED"
	// AuditFailed: Kafka did not accept the command; the request answered
	// 503. Publish may still report it applied if the write in fact landed.
	AuditFailed = "FAILED"
)

// applyHeldBatch stores a held-batch record. A decided batch (RELEASED or
// REJECTED) is final: a re-delivered HELD record, or any later record, never
// overwrites it. A decision also completes the audit row of its command.
func (s *Store) applyHeldBatch(ctx context.Context, tx *sql.Tx, b *internalv1.HeldBatch) error {
	tenant := strings.ToUpper(b.Tenant)
	var status string
	err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT status FROM held_batches WHERE tenant = ? AND batch_id = ?`+s.d.forUpdate()),
		tenant, b.BatchID).Scan(&status)
	exists := err == nil
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("reading held batch: %w", err)
	case status != string(internalv1.HeldBatchStatusHeld):
		return nil // decided: final
	}
	held := make([]HeldLeaver, len(b.Held))
	for i, h := range b.Held {
		held[i] = HeldLeaver{PersonID: h.PersonID, EmployeeNumber: h.EmployeeNumber, LeavingDate: date(h.LeavingDate), EventID: h.EventID, Line: h.Line}
	}
	heldJSON, err := json.Marshal(held)
	if err != nil {
		return err
	}
	var decidedAt sql.NullInt64
	if b.DecidedAt != nil {
		decidedAt = sql.NullInt64{Int64: b.DecidedAt.UnixMilli(), Valid: true}
	}
	args := []any{b.Vpd, b.FileName, b.FileSha256, date(b.RunDate), string(b.Status), b.Leavers, b.ActivePopulation,
		b.MaxLeavers, b.MaxPercent, b.Tripped, string(heldJSON), b.HeldAt.UnixMilli(), decidedAt, b.DecidedBy, b.Reason,
		b.CommandID, b.Emitted, time.Now().UnixMilli(), tenant, b.BatchID}
	q := `UPDATE held_batches SET vpd = ?, file_name = ?, file_sha256 = ?, run_date = ?, status = ?, leavers = ?, active_population = ?,
		max_leavers = ?, max_percent = ?, tripped = ?, held = ?, held_at = ?, decided_at = ?, decided_by = ?, reason = ?,
		command_id = ?, emitted = ?, updated_at = ? WHERE tenant = ? AND batch_id = ?`
	if !exists {
		q = `INSERT INTO held_batches (vpd, file_name, file_sha256, run_date, status, leavers, active_population,
		max_leavers, max_percent, tripped, held, held_at, decided_at, decided_by, reason, command_id, emitted, updated_at, tenant, batch_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(q), args...); err != nil {
		return fmt.Errorf("storing held batch: %w", err)
	}
	if b.Status == internalv1.HeldBatchStatusHeld || b.CommandID == "" {
		return nil
	}
	// The command may have been requested through another api (or this
	// database was rebuilt): then there is no row to complete, and the batch
	// row itself keeps who decided, when and why.
	_, err = tx.ExecContext(ctx, s.d.rebind(`UPDATE audit_log SET status = ?, decided_at = ?, emitted = ? WHERE command_id = ? AND tenant = ?`),
		string(b.Status), decidedAt, b.Emitted, b.CommandID, tenant)
	if err != nil {
		return fmt.Errorf("recording the decision's outcome: %w", err)
	}
	return nil
}

const heldColumns = `batch_id, tenant, vpd, file_name, file_sha256, run_date, status, leavers, active_population,
	max_leavers, max_percent, tripped, held_at, decided_at, decided_by, reason, command_id, emitted, held`

func scanHeldBatch(row rowScanner) (*HeldBatch, error) {
	var (
		b                            HeldBatch
		heldAt                       int64
		decidedAt                    sql.NullInt64
		decidedBy, reason, commandID string
	)
	err := row.Scan(&b.BatchID, &b.Tenant, &b.VPD, &b.FileName, &b.FileSHA256, &b.RunDate, &b.Status, &b.Leavers,
		&b.ActivePopulation, &b.MaxLeavers, &b.MaxPercent, &b.Tripped, &heldAt, &decidedAt, &decidedBy, &reason, &commandID,
		&b.Emitted, &b.held)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	b.HeldAt = MillisRFC3339(heldAt)
	if decidedAt.Valid {
		b.DecidedAt = Ptr(MillisRFC3339(decidedAt.Int64))
	}
	b.DecidedBy, b.Reason, b.CommandID = nonEmpty(decidedBy), nonEmpty(reason), nonEmpty(commandID)
	return &b, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// HeldBatches lists a tenant's batches, newest first, optionally of one
// status.
func (s *Store) HeldBatches(ctx context.Context, tenant, status string, limit int) ([]HeldBatch, error) {
	where, args := "tenant = ?", []any{tenant}
	if status != "" {
		where, args = where+" AND status = ?", append(args, status)
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT `+heldColumns+` FROM held_batches WHERE `+where+
		` ORDER BY held_at DESC, batch_id LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []HeldBatch{}
	for rows.Next() {
		b, err := scanHeldBatch(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *b)
	}
	return out, rows.Err()
}

// HeldBatchByID returns one batch with its held leavers.
func (s *Store) HeldBatchByID(ctx context.Context, tenant, batchID string) (*HeldBatchDetail, error) {
	if !CleanText(batchID) {
		return nil, ErrNotFound
	}
	b, err := scanHeldBatch(s.db.QueryRowContext(ctx, s.d.rebind(`SELECT `+heldColumns+` FROM held_batches WHERE tenant = ? AND batch_id = ?`),
		tenant, batchID))
	if err != nil {
		return nil, err
	}
	d := &HeldBatchDetail{HeldBatch: *b}
	if err := json.Unmarshal([]byte(b.held), &d.Held); err != nil {
		return nil, fmt.Errorf("held batch %s leavers: %w", batchID, err)
	}
	return d, nil
}

// errNotHeld and errPending refuse a decision (409).
var (
	ErrNotHeld = errors.New("batch is not HELD")
	ErrPending = errors.New("a decision is pending")
)

// RequestDecision records an operator's decision as a REQUESTED audit row,
// provided the batch exists (errNotFound), is still HELD (errNotHeld) and has
// no decision already on its way to publish (errPending). The batch row is
// locked, so two concurrent requests cannot both pass.
func (s *Store) RequestDecision(ctx context.Context, cmd *internalv1.OperatorCommand) error {
	if !CleanText(cmd.BatchID) {
		return ErrNotFound
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var status string
	err = tx.QueryRowContext(ctx, s.d.rebind(`SELECT status FROM held_batches WHERE tenant = ? AND batch_id = ?`+s.d.forUpdate()),
		cmd.Tenant, cmd.BatchID).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	case status != string(internalv1.HeldBatchStatusHeld):
		return fmt.Errorf("%w: it is %s", ErrNotHeld, status)
	}
	var pending string
	err = tx.QueryRowContext(ctx, s.d.rebind(`SELECT command_id FROM audit_log WHERE tenant = ? AND batch_id = ? AND status = ? LIMIT 1`),
		cmd.Tenant, cmd.BatchID, AuditRequested).Scan(&pending)
	switch {
	case err == nil:
		return fmt.Errorf("%w: command %s", ErrPending, pending)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO audit_log
		(command_id, tenant, batch_id, action, actor, reason, requested_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		cmd.CommandID, cmd.Tenant, cmd.BatchID, string(cmd.Action), cmd.Actor, cmd.Reason, cmd.RequestedAt.UnixMilli(), AuditRequested); err != nil {
		return fmt.Errorf("writing audit row: %w", err)
	}
	return tx.Commit()
}

// FailDecision marks a requested command that Kafka did not accept, unless
// its outcome has somehow already arrived.
func (s *Store) FailDecision(ctx context.Context, commandID string) error {
	_, err := s.db.ExecContext(ctx, s.d.rebind(`UPDATE audit_log SET status = ? WHERE command_id = ? AND status = ?`),
		AuditFailed, commandID, AuditRequested)
	return err
}

// auditQuery selects a tenant's decisions.
type AuditQuery struct {
	Tenant     string
	BatchID    string   // empty: any
	FileSHA256 string   // empty: any
	Files      []string // decisions on any of these files (SHA-256s); empty: any
	Status     string   // empty: any
	Limit      int
}

// Audit lists a tenant's decisions, newest first, optionally for one batch
// or one file.
func (s *Store) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	if !CleanText(q.BatchID) || !CleanText(q.FileSHA256) {
		return []AuditEntry{}, nil
	}
	where, args := "tenant = ?", []any{q.Tenant}
	if q.BatchID != "" {
		where, args = where+" AND batch_id = ?", append(args, q.BatchID)
	}
	if q.FileSHA256 != "" {
		where, args = where+" AND file_sha256 = ?", append(args, strings.ToLower(q.FileSHA256))
	}
	if len(q.Files) > 0 {
		where += " AND file_sha256 IN (?" + strings.Repeat(", ?", len(q.Files)-1) + ")"
		for _, f := range q.Files {
			args = append(args, f)
		}
	}
	if q.Status != "" {
		where, args = where+" AND status = ?", append(args, q.Status)
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT command_id, tenant, batch_id, action, actor, reason, requested_at, status,
		decided_at, emitted, replay_id, file_sha256 FROM audit_log WHERE `+where+` ORDER BY requested_at DESC, command_id LIMIT ?`), append(args, q.Limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var (
			a           AuditEntry
			requestedAt int64
			decidedAt   sql.NullInt64
			emitted     sql.NullInt64
			replayID    sql.NullString
			fileSHA256  sql.NullString
		)
		if err := rows.Scan(&a.CommandID, &a.Tenant, &a.BatchID, &a.Action, &a.Actor, &a.Reason, &requestedAt, &a.Status,
			&decidedAt, &emitted, &replayID, &fileSHA256); err != nil {
			return nil, err
		}
		a.RequestedAt = MillisRFC3339(requestedAt)
		if decidedAt.Valid {
			a.DecidedAt = Ptr(MillisRFC3339(decidedAt.Int64))
		}
		if emitted.Valid {
			a.Emitted = Ptr(emitted.Int64)
		}
		a.ReplayID, a.FileSHA256 = nullable(replayID), nullable(fileSHA256)
		out = append(out, a)
	}
	return out, rows.Err()
}
