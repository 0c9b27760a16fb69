package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/store"
)

// maxIdempotencyKey bounds a replay's idempotency key, in bytes.
const maxIdempotencyKey = 200

// replayFilter is the filter form of a replay request.
type replayFilter struct {
	File       string `json:"file"`
	Rule       string `json:"rule"`
	RecordType string `json:"record_type"`
	EntityKind string `json:"entity_kind"`
	Stage      string `json:"stage"`
	Status     string `json:"status"`
}

// replayRequest is the body of POST …/quarantine/replay.
type replayRequest struct {
	IDs            []string      `json:"ids"`
	Filter         *replayFilter `json:"filter"`
	Reason         string        `json:"reason"`
	IdempotencyKey string        `json:"idempotency_key"`
}

const replayBodyHelp = `body must be JSON {"ids": [...]} or {"filter": {...}}, with "reason" and optionally "idempotency_key"`

// replayResponse answers a replay request.
type replayResponse struct {
	ReplayID string `json:"replay_id"`
	Status   string `json:"status"`
	Rows     int64  `json:"rows"`
}

// postReplay handles POST /v1/tenants/{tenant}/quarantine/replay.
//
// Like a held-batch decision: the replay, its rows (marked replaying) and
// its audit row are written first, in one transaction that holds the rows,
// then the request is produced to esr.ops.replays.v1. If Kafka does not
// take it the replay is FAILED, its rows go back to their earlier status,
// and the caller gets 503.
func (s *Service) postReplay(w http.ResponseWriter, r *http.Request) {
	var req replayRequest
	t, client, ok := operatorBody(w, r, 256<<10, &req, &req.Reason, replayBodyHelp)
	if !ok {
		return
	}
	if len(req.IdempotencyKey) > maxIdempotencyKey || !store.CleanText(req.IdempotencyKey) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("idempotency_key must be text of at most %d bytes", maxIdempotencyKey))
		return
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	key := req.IdempotencyKey
	if key == "" {
		key = "at:" + strconv.FormatInt(now.UnixMilli(), 10)
	}
	var (
		ids       []string
		filter    *store.QuarantineQuery
		selection string
	)
	switch {
	case (req.IDs == nil) == (req.Filter == nil):
		writeError(w, http.StatusBadRequest, `give either "ids" or "filter"`)
		return
	case req.IDs != nil:
		if len(req.IDs) == 0 || len(req.IDs) > store.MaxReplayRows {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("ids must list 1 to %d records", store.MaxReplayRows))
			return
		}
		ids = slices.Clone(req.IDs)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		for _, id := range ids {
			if !store.CleanText(id) {
				writeError(w, http.StatusBadRequest, "ids must be valid text")
				return
			}
		}
		selection = "ids:" + strings.Join(ids, ",")
	default:
		f := req.Filter
		filter = &store.QuarantineQuery{Tenant: t}
		values := map[string]string{"file": f.File, "rule": f.Rule, "record_type": f.RecordType, "entity_kind": f.EntityKind,
			"stage": f.Stage, "status": f.Status}
		if !quarantineFilter(w, func(k string) string { return values[k] }, filter) {
			return
		}
		if filter.Status != "" && filter.Status != store.QuarantineOpen && filter.Status != store.QuarantineFailedAgain {
			writeError(w, http.StatusBadRequest, "filter status must be open or failed_again: only those can be replayed")
			return
		}
		b, _ := json.Marshal([]string{filter.File, filter.Rule, filter.RecordType, filter.EntityKind, filter.Stage, filter.Status})
		selection = "filter:" + string(b)
	}
	rp := &internalv1.ReplayRequest{
		ReplayID: store.ReplayID(t, key, selection), Tenant: t, RequestedBy: client.Name(), Reason: req.Reason, RequestedAt: now,
	}
	plan, err := s.store.RequestReplay(r.Context(), rp, req.IdempotencyKey, ids, filter)
	switch {
	case errors.Is(err, store.ErrReplayExists):
		// The same request again (same idempotency key): answer with the
		// replay it made, send nothing.
		d, err := s.store.ReplayByID(r.Context(), t, rp.ReplayID)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, replayResponse{ReplayID: d.ReplayID, Status: d.Status, Rows: d.Rows})
		return
	case errors.As(err, new(store.UnknownRecord)):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case errors.Is(err, store.ErrReplayConflict):
		writeError(w, http.StatusConflict, err.Error())
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	if err := s.commands.send(r.Context(), schemas.TopicReplays, t, plan.Req); err != nil {
		s.m.replays.WithLabelValues("kafka_unavailable").Inc()
		s.log.Error("replay request not written", logx.Tenant(t), zap.String("replay_id", rp.ReplayID), zap.Error(err))
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if ferr := s.store.FailReplay(ctx, rp.ReplayID); ferr != nil {
			s.log.Error("marking the replay failed", zap.String("replay_id", rp.ReplayID), zap.Error(ferr))
		}
		writeError(w, http.StatusServiceUnavailable, "Kafka did not confirm the replay request (unavailable?); retry later with a new idempotency_key")
		return
	}
	s.m.replays.WithLabelValues("requested").Inc()
	s.log.Info("replay requested", logx.Tenant(t), zap.String("replay_id", rp.ReplayID), zap.Int("rows", len(rp.Rows)),
		zap.String("actor", rp.RequestedBy))
	writeJSON(w, http.StatusAccepted, replayResponse{ReplayID: rp.ReplayID, Status: store.ReplayRequested, Rows: int64(len(rp.Rows))})
}

type replayList struct {
	Replays []*store.Replay `json:"replays"`
}

func (s *Service) getReplays(w http.ResponseWriter, r *http.Request) {
	t, n, ok := tenantAndLimit(w, r)
	if !ok {
		return
	}
	list, err := s.store.Replays(r.Context(), t, n)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if list == nil {
		list = []*store.Replay{}
	}
	writeJSON(w, http.StatusOK, replayList{Replays: list})
}

func (s *Service) getReplay(w http.ResponseWriter, r *http.Request) {
	t, ok := tenant(w, r)
	if !ok {
		return
	}
	d, err := s.store.ReplayByID(r.Context(), t, r.PathValue("replay_id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "replay not found")
	case err != nil:
		s.internal(w, r, err)
	default:
		writeJSON(w, http.StatusOK, d)
	}
}
