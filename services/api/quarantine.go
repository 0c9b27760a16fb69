package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/store"
)

// personalAllowed reports whether the request may see personal values.
// Without clients (the open mode) nobody is: the port is unauthenticated.
func personalAllowed(r *http.Request) bool {
	c := clientOf(r)
	return c != nil && c.Sensitive()
}

type quarantineList struct {
	Quarantine []*store.QuarantineItem `json:"quarantine"`
	// NextCursor continues the listing (?cursor=); empty at the end.
	NextCursor string `json:"next_cursor,omitempty"`
}

// quarantineFilter reads the filters a listing and a replay share. It
// answers 400 and returns false for a bad one.
func quarantineFilter(w http.ResponseWriter, get func(string) string, q *store.QuarantineQuery) bool {
	q.File, q.Rule, q.RecordType = get("file"), get("rule"), strings.ToUpper(get("record_type"))
	q.EntityKind = strings.ToLower(get("entity_kind"))
	q.Status, q.Stage = strings.ToLower(get("status")), strings.ToUpper(get("stage"))
	for _, v := range []string{q.File, q.Rule, q.RecordType, q.EntityKind} {
		if !store.CleanText(v) {
			writeError(w, http.StatusBadRequest, "filters must be valid text")
			return false
		}
	}
	if q.Status != "" && !slices.Contains(store.QuarantineStatuses, q.Status) {
		writeError(w, http.StatusBadRequest, "status must be open, replaying, resolved or failed_again")
		return false
	}
	switch internalv1.Stage(q.Stage) {
	case "", internalv1.StageIngest, internalv1.StageNormalise, internalv1.StageValidate, internalv1.StagePublish:
	default:
		writeError(w, http.StatusBadRequest, "stage must be INGEST, NORMALISE, VALIDATE or PUBLISH")
		return false
	}
	return true
}

func (s *Service) getQuarantine(w http.ResponseWriter, r *http.Request) {
	t, n, ok := tenantAndLimit(w, r)
	if !ok {
		return
	}
	query := r.URL.Query()
	q := store.QuarantineQuery{Tenant: t, Limit: n}
	if !quarantineFilter(w, query.Get, &q) {
		return
	}
	if c := query.Get("cursor"); c != "" {
		var err error
		if q.AfterSeq, q.AfterID, err = parseCursor(c); err != nil || !store.CleanText(q.AfterID) {
			writeError(w, http.StatusBadRequest, "bad cursor")
			return
		}
	}
	items, err := s.store.Quarantine(r.Context(), q)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	personal := personalAllowed(r)
	for _, it := range items {
		it.View(personal)
	}
	out := quarantineList{Quarantine: items}
	if len(items) == n {
		last := items[len(items)-1]
		out.NextCursor = makeCursor(last.Seq, last.ID)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) getQuarantineItem(w http.ResponseWriter, r *http.Request) {
	t, ok := tenant(w, r)
	if !ok {
		return
	}
	it, err := s.store.QuarantineItemByID(r.Context(), t, r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "quarantined record not found")
	case err != nil:
		s.internal(w, r, err)
	default:
		it.View(personalAllowed(r))
		writeJSON(w, http.StatusOK, it)
	}
}
