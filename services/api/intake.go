package api

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Audit actions of an operator's decision on a file ingest holds.
const (
	ActionFileRelease = "FILE_RELEASE"
	ActionFileDiscard = "FILE_DISCARD"
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
var errFileNotHeld = errors.New("file is not HELD")

// pendingFileDecision is a decision on the file already on its way to
// ingest (409), unless the request repeats it.
type pendingFileDecision struct {
	id, action, actor string
}

func (p *pendingFileDecision) Error() string {
	return fmt.Sprintf("%v: decision %s (%s by %s)", errPending, p.id, p.action, p.actor)
}

func (p *pendingFileDecision) Unwrap() error { return errPending }

// requestFileDecision records an operator's release or discard of a held
// file as a REQUESTED audit row, provided the tenant has a report for the
// file (errNotFound) and no decision on it is pending. A pending one that
// this request repeats (same client, action and reason: a retried POST) is
// returned instead, and nothing is recorded; another is refused
// (*pendingFileDecision). A file not HELD is refused (errFileNotHeld). The
// file's row is locked, so two concurrent requests cannot both pass.
func (s *store) requestFileDecision(ctx context.Context, d *internalv1.IntakeDecision) (*internalv1.IntakeDecision, error) {
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
		return nil, errNotFound
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
		return nil, fmt.Errorf("%w: it is %s", errFileNotHeld, status)
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
func (s *store) applyIntakeOutcome(ctx context.Context, tx *sql.Tx, tenant string, r *internalv1.FileReport) error {
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

// fileDecisionResponse answers a release or discard (202; 200 for a retry
// of a pending one).
type fileDecisionResponse struct {
	DecisionID string `json:"decision_id"`
	SHA256     string `json:"sha256"`
	Action     string `json:"action"`
	Status     string `json:"status"`
	// Report is the file's report: its history and decisions show the
	// outcome once ingest has carried the decision out.
	Report string `json:"report"`
}

// decideFile handles POST …/files/{sha256}/release and …/discard.
//
// Like a held-batch decision: the audit row is written first, under a lock
// on the file's row, then the IntakeDecision is produced to
// esr.ops.intake.v1 for ingest. If Kafka does not take it the row is
// marked FAILED and the caller gets 503 and may retry. A retry of a
// decision still pending (the answer was lost) gets that decision back and
// sends nothing.
func (s *Service) decideFile(action internalv1.IntakeAction) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req decisionRequest
		t, client, ok := operatorBody(w, r, 16<<10, &req, &req.Reason, `body must be JSON {"reason": "..."}`)
		if !ok {
			return
		}
		sha := r.PathValue("sha256")
		if !isSHA256(sha) {
			writeError(w, http.StatusBadRequest, "the file must be named by its SHA-256 (64 hex digits)")
			return
		}
		d := &internalv1.IntakeDecision{
			DecisionID: uuid.NewString(), Tenant: t, Sha256: strings.ToLower(sha), Action: action,
			Actor: client.name, Reason: req.Reason,
			// timestamp-millis: truncate so the audit row and the record agree.
			RequestedAt: time.Now().UTC().Truncate(time.Millisecond),
		}
		resp := func(d *internalv1.IntakeDecision) fileDecisionResponse {
			return fileDecisionResponse{DecisionID: d.DecisionID, SHA256: d.Sha256, Action: string(d.Action), Status: AuditRequested,
				Report: "/v1/tenants/" + t + "/files/" + d.Sha256}
		}
		first, err := s.store.requestFileDecision(r.Context(), d)
		done := map[internalv1.IntakeAction]string{internalv1.IntakeActionRelease: "released", internalv1.IntakeActionDiscard: "discarded"}[action]
		switch {
		case errors.Is(err, errNotFound):
			writeError(w, http.StatusNotFound, "file not found")
			return
		case errors.Is(err, errFileNotHeld), errors.Is(err, errPending):
			writeError(w, http.StatusConflict, "file "+d.Sha256+" cannot be "+done+": "+err.Error())
			return
		case err != nil:
			s.internal(w, r, err)
			return
		case first != nil:
			s.m.intake.WithLabelValues(string(action), "retried").Inc()
			w.Header().Set("Location", resp(first).Report)
			writeJSON(w, http.StatusOK, resp(first))
			return
		}
		if err := s.commands.send(r.Context(), schemas.TopicIntake, t, d); err != nil {
			s.m.intake.WithLabelValues(string(action), "kafka_unavailable").Inc()
			s.log.Error("intake decision not written", logx.Tenant(t), zap.String("decision_id", d.DecisionID), zap.Error(err))
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
			defer cancel()
			if ferr := s.store.failDecision(ctx, d.DecisionID); ferr != nil {
				s.log.Error("marking the decision failed", zap.String("decision_id", d.DecisionID), zap.Error(ferr))
			}
			writeError(w, http.StatusServiceUnavailable, "Kafka did not confirm the decision (unavailable?); retry later")
			return
		}
		s.m.intake.WithLabelValues(string(action), "requested").Inc()
		// The SHA-256 and the client name are not personal data; the
		// operator's reason may be, so it is not logged.
		s.log.Info("intake decision requested", logx.Tenant(t), zap.String("decision_id", d.DecisionID),
			zap.String("sha256", d.Sha256), zap.String("action", string(action)), zap.String("actor", d.Actor))
		w.Header().Set("Location", resp(d).Report)
		writeJSON(w, http.StatusAccepted, resp(d))
	}
}
