package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/esrflow/esrflow/services/api/store"
)

// Current-state lists (docs/api.md, Current state). Everything here is
// derived from the public events the api materialises: a person's current
// assignments carry the position snapshot of the latest event that named
// them, and positions, organisations and locations are those the tenant's
// current assignments name. The api does not read the internal canonical
// topics, so an organisation nobody currently works in is not listed, and
// attributes a starter event does not carry (grade, staff group, location)
// stay empty until a position-updated names them.
//
// Every list is keyset-paged on an immutable key (person id, position
// number, organisation or location name): a cursor is the last key seen,
// so rows written between two pages never make a page repeat or skip a row
// that was there before the first page.

// keyCursor makes the opaque cursor of a keyset page that ended at key.
func keyCursor(key string) string { return makeCursor(0, key) }

// pageAfter reads ?cursor= of a keyset listing: the key to continue after
// ("" from the start). It answers 400 itself.
func pageAfter(w http.ResponseWriter, r *http.Request) (string, bool) {
	c := r.URL.Query().Get("cursor")
	if c == "" {
		return "", true
	}
	at, key, err := parseCursor(c)
	if err != nil || at != 0 || !store.CleanText(key) {
		writeError(w, http.StatusBadRequest, "bad cursor")
		return "", false
	}
	return key, true
}

// page takes the limit+1 rows a listing fetched and returns at most limit of
// them with the cursor of the next page ("" when this is the last).
func page[T any](rows []T, limit int, key func(T) string) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, keyCursor(key(rows[limit-1]))
}

type peopleList struct {
	People     []*store.Person `json:"people"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

func (s *Service) getPeople(w http.ResponseWriter, r *http.Request) {
	t, n, ok := tenantAndLimit(w, r)
	if !ok {
		return
	}
	get := r.URL.Query().Get
	q := store.PeopleQuery{Tenant: t, Limit: n + 1, Organisation: get("organisation"), StaffGroup: get("staff_group"),
		EmployeeNumber: get("employee_number")}
	for _, v := range []string{q.Organisation, q.StaffGroup, q.EmployeeNumber} {
		if !store.CleanText(v) {
			writeError(w, http.StatusBadRequest, "filters must be valid text")
			return
		}
	}
	switch st := strings.ToUpper(get("status")); st {
	case "", store.StatusEmployed, store.StatusLeft:
		q.Status = st
	default:
		writeError(w, http.StatusBadRequest, "status must be EMPLOYED or LEFT")
		return
	}
	if since := get("changed_since"); since != "" {
		at, err := parseSince(since)
		if err != nil {
			writeError(w, http.StatusBadRequest, "changed_since must be an RFC 3339 timestamp or a YYYY-MM-DD date")
			return
		}
		q.ChangedSince = at
	}
	if q.After, ok = pageAfter(w, r); !ok {
		return
	}
	list, err := s.store.People(r.Context(), q)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := peopleList{}
	out.People, out.NextCursor = page(list, n, func(p *store.Person) string { return p.PersonID })
	writeJSON(w, http.StatusOK, out)
}

type assignmentList struct {
	Assignments []store.Assignment `json:"assignments"`
}

func (s *Service) getPersonAssignments(w http.ResponseWriter, r *http.Request) {
	if p, ok := s.pathPerson(w, r); ok {
		writeEntity(w, r, assignmentList{Assignments: p.Assignments})
	}
}

type positionList struct {
	Positions  []store.Position `json:"positions"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

func (s *Service) getPositions(w http.ResponseWriter, r *http.Request) {
	t, n, ok := tenantAndLimit(w, r)
	if !ok {
		return
	}
	after, ok := pageAfter(w, r)
	if !ok {
		return
	}
	list, err := s.store.Positions(r.Context(), t, after, "", n+1)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := positionList{}
	out.Positions, out.NextCursor = page(list, n, func(p store.Position) string { return p.PositionNumber })
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) getPosition(w http.ResponseWriter, r *http.Request) {
	t, ok := tenant(w, r)
	if !ok {
		return
	}
	number := r.PathValue("number")
	if !store.CleanText(number) {
		writeError(w, http.StatusNotFound, "position not found")
		return
	}
	list, err := s.store.Positions(r.Context(), t, "", number, 1)
	switch {
	case err != nil:
		s.internal(w, r, err)
	case len(list) == 0:
		writeError(w, http.StatusNotFound, "position not found")
	default:
		writeEntity(w, r, list[0])
	}
}

// placeList is a page of organisations or of locations, under key.
type placeList struct {
	key        string
	Places     []store.Place
	NextCursor string
}

func (l placeList) MarshalJSON() ([]byte, error) {
	m := map[string]any{l.key: l.Places}
	if l.NextCursor != "" {
		m["next_cursor"] = l.NextCursor
	}
	return json.Marshal(m)
}

// getPlaces lists organisations (column organisation, under "organisations")
// or locations.
func (s *Service) getPlaces(column, key string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, n, ok := tenantAndLimit(w, r)
		if !ok {
			return
		}
		after, ok := pageAfter(w, r)
		if !ok {
			return
		}
		list, err := s.store.Places(r.Context(), t, column, after, "", n+1)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		out := placeList{key: key}
		out.Places, out.NextCursor = page(list, n, func(p store.Place) string { return p.Name })
		writeJSON(w, http.StatusOK, out)
	}
}

// getPlace answers one organisation or location by name ("not found" says
// which: what).
func (s *Service) getPlace(column, what string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, ok := tenant(w, r)
		if !ok {
			return
		}
		name := r.PathValue("name")
		if !store.CleanText(name) || name == "" {
			writeError(w, http.StatusNotFound, what+" not found")
			return
		}
		list, err := s.store.Places(r.Context(), t, column, "", name, 1)
		switch {
		case err != nil:
			s.internal(w, r, err)
		case len(list) == 0:
			writeError(w, http.StatusNotFound, what+" not found")
		default:
			writeEntity(w, r, list[0])
		}
	}
}
