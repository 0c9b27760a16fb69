package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// AuditSuperseded is the audit status of a release or discard the file
// outran: it left HELD another way (the missing file arrived and it was
// read in order, a later full file superseded it, another decision) before
// ingest carried the decision out, so ingest had nothing to do.
const AuditSuperseded = "SUPERSEDED"

// auditAction names an intake action in the audit log, where batch
// decisions already use RELEASE.
func auditAction(a internalv1.IntakeAction) string {
	if a == internalv1.IntakeActionDiscard {
		return ActionFileDiscard
	}
	return ActionFileRelease
}

// errFileNotHeld refuses a decision on a file that is not HELD (409).
var ErrFileNotHeld = errors.New("file is not HELD")

// pendingFileDecision is a decision on the file already on its way to
// ingest (409), unless the request repeats it.
type pendingFileDecision struct {
	id, action, actor string
}

func (p *pendingFileDecision) Error() string {
	return fmt.Sprintf("%v: decision %s (%s by %s)", ErrPending, p.id, p.action, p.actor)
}

func (p *pendingFileDecision) Unwrap() error { return ErrPending }

// RequestFileDecision records an operator's release or discard of a held
// file as a REQUESTED audit row, provided the tenant has a report for the
// file (errNotFound) and no decision on it is pending. A pending one that
// this request repeats (same client, action and reason: a retried POST) is
// returned instead, and nothing is recorded; another is refused
// (*pendingFileDecision). A file not HELD is refused (errFileNotHeld). The
// file's row is locked, so two concurrent requests cannot both pass.
func (s *Store) RequestFileDecision(ctx context.Context, d *internalv1.IntakeDecision) (*internalv1.IntakeDecision, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var status string
	err = tx.QueryRowContext(ctx, s.d.rebind(`SELECT status FROM file_reports WHERE tenant = ? AND sha256 = ?`+s.d.forUpdate()),
		d.Tenant, d.Sha256).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, ErrNotFound
	case err != nil:
		return nil, err
	}
	var (
		p           pendingFileDecision
		reason      string
		requestedAt int64
	)
	err = tx.QueryRowContext(ctx, s.d.rebind(`SELECT command_id, action, actor, reason, requested_at FROM audit_log
		WHERE tenant = ? AND file_sha256 = ? AND status = ? ORDER BY requested_at DESC LIMIT 1`),
		d.Tenant, d.Sha256, AuditRequested).Scan(&p.id, &p.action, &p.actor, &reason, &requestedAt)
	switch {
	case err == nil:
		if p.action == auditAction(d.Action) && p.actor == d.Actor && reason == d.Reason {
			first := *d
			first.DecisionID, first.RequestedAt = p.id, time.UnixMilli(requestedAt).UTC()
			return &first, nil
		}
		return nil, &p
	case !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	if status != string(internalv1.FileStatusHeld) {
		return nil, fmt.Errorf("%w: it is %s", ErrFileNotHeld, status)
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO audit_log
		(command_id, tenant, batch_id, action, actor, reason, requested_at, status, file_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		d.DecisionID, d.Tenant, "", auditAction(d.Action), d.Actor, d.Reason, d.RequestedAt.UnixMilli(), AuditRequested, d.Sha256); err != nil {
		return nil, fmt.Errorf("writing audit row: %w", err)
	}
	return nil, tx.Commit()
}

// applyIntakeOutcome completes the audit rows a file report settles: a
// RELEASED or DISCARDED report carrying a decision completes that
// decision's row (also one marked FAILED whose write landed after all);
// any other report but HELD means the file has left HELD, so a decision
// still REQUESTED for it can no longer be carried out (SUPERSEDED).
func (s *Store) applyIntakeOutcome(ctx context.Context, tx *sql.Tx, tenant string, r *internalv1.FileReport) error {
	at := r.ReportedAt.UnixMilli()
	sha := strings.ToLower(r.File.Sha256)
	decided := ""
	if d := r.Decision; d != nil && (r.Status == internalv1.FileStatusReleased || r.Status == internalv1.FileStatusDiscarded) {
		decided = d.DecisionID
		if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE audit_log SET status = ?, decided_at = ? WHERE command_id = ? AND tenant = ? AND file_sha256 = ?`),
			string(r.Status), at, d.DecisionID, tenant, sha); err != nil {
			return fmt.Errorf("recording the decision's outcome: %w", err)
		}
	}
	if r.Status == internalv1.FileStatusHeld {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE audit_log SET status = ?, decided_at = ?
		WHERE tenant = ? AND file_sha256 = ? AND status = ? AND command_id <> ?`),
		AuditSuperseded, at, tenant, sha, AuditRequested, decided); err != nil {
		return fmt.Errorf("superseding decisions: %w", err)
	}
	return nil
}

// Audit actions of an operator's decision on a file ingest holds.
const (
	ActionFileRelease = "FILE_RELEASE"
	ActionFileDiscard = "FILE_DISCARD"
)
