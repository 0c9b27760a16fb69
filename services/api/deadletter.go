package api

import (
	"net/http"

	"github.com/esrflow/esrflow/services/api/store"
)

type deadLetterList struct {
	DeadLetters []store.DeadLetter `json:"dead_letters"`
}

func (s *Service) getDeadLetters(w http.ResponseWriter, r *http.Request) {
	t, n, ok := tenantAndLimit(w, r)
	if !ok {
		return
	}
	list, err := s.store.DeadLetters(r.Context(), t, n)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, deadLetterList{DeadLetters: list})
}
