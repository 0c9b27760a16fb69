package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/store"
)

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
		if !store.IsSHA256(sha) {
			writeError(w, http.StatusBadRequest, "the file must be named by its SHA-256 (64 hex digits)")
			return
		}
		d := &internalv1.IntakeDecision{
			DecisionID: uuid.NewString(), Tenant: t, Sha256: strings.ToLower(sha), Action: action,
			Actor: client.Name(), Reason: req.Reason,
			// timestamp-millis: truncate so the audit row and the record agree.
			RequestedAt: time.Now().UTC().Truncate(time.Millisecond),
		}
		resp := func(d *internalv1.IntakeDecision) fileDecisionResponse {
			return fileDecisionResponse{DecisionID: d.DecisionID, SHA256: d.Sha256, Action: string(d.Action), Status: store.AuditRequested,
				Report: "/v1/tenants/" + t + "/files/" + d.Sha256}
		}
		first, err := s.store.RequestFileDecision(r.Context(), d)
		done := map[internalv1.IntakeAction]string{internalv1.IntakeActionRelease: "released", internalv1.IntakeActionDiscard: "discarded"}[action]
		switch {
		case errors.Is(err, store.ErrNotFound):
			writeError(w, http.StatusNotFound, "file not found")
			return
		case errors.Is(err, store.ErrFileNotHeld), errors.Is(err, store.ErrPending):
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
			if ferr := s.store.FailDecision(ctx, d.DecisionID); ferr != nil {
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
