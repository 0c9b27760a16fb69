package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/esrflow/esrflow/services/api/store"
)

func (s *Service) getLineage(w http.ResponseWriter, r *http.Request) {
	t, ok := tenant(w, r)
	if !ok {
		return
	}
	l, err := s.store.LineageOf(r.Context(), t, r.PathValue("event_id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "event not found")
	case err != nil:
		s.internal(w, r, err)
	default:
		writeEntity(w, r, l)
	}
}

// fileSHA reads the path's {sha256}, answering 400 when it is not one.
func fileSHA(w http.ResponseWriter, r *http.Request) (string, bool) {
	sha := r.PathValue("sha256")
	if !store.IsSHA256(sha) {
		writeError(w, http.StatusBadRequest, "file must be a SHA-256 (64 hex digits)")
		return "", false
	}
	return strings.ToLower(sha), true
}

func (s *Service) getFileEvents(w http.ResponseWriter, r *http.Request) {
	t, n, ok := tenantAndLimit(w, r)
	if !ok {
		return
	}
	sha, ok := fileSHA(w, r)
	if !ok {
		return
	}
	afterLine, afterID := int64(-1), ""
	if c := r.URL.Query().Get("cursor"); c != "" {
		var err error
		if afterLine, afterID, err = parseCursor(c); err != nil || !store.CleanText(afterID) {
			writeError(w, http.StatusBadRequest, "bad cursor")
			return
		}
	}
	evs, lines, err := s.store.FileEvents(r.Context(), t, sha, afterLine, afterID, n+1)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := eventList{Events: evs}
	if len(evs) > n {
		out.Events = evs[:n]
		out.NextCursor = makeCursor(lines[n-1], evs[n-1].EventID)
	}
	writeJSON(w, http.StatusOK, out)
}

// getFileQuarantine is the quarantine listing (its filters and cursor)
// restricted to one file.
func (s *Service) getFileQuarantine(w http.ResponseWriter, r *http.Request) {
	sha, ok := fileSHA(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	q.Set("file", sha)
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	s.getQuarantine(w, r2)
}
