package api

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
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

// writeAssignments replaces a person's rows in person_assignments with list.
func writeAssignments(ctx context.Context, tx *sql.Tx, d dialect, tenant, personID string, list []storedAssignment) error {
	if _, err := tx.ExecContext(ctx, d.rebind(`DELETE FROM person_assignments WHERE tenant = ? AND person_id = ?`), tenant, personID); err != nil {
		return fmt.Errorf("writing assignments: %w", err)
	}
	for _, a := range list {
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO person_assignments (tenant, person_id, assignment_number,
			position_number, position_title, organisation, grade, staff_group, job_role, occupation_code, location, set_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			tenant, personID, a.AssignmentNumber, a.PositionNumber, a.PositionTitle, a.Organisation, a.Grade,
			a.StaffGroup, a.JobRole, a.OccupationCode, a.Location, a.At); err != nil {
			return fmt.Errorf("writing assignments: %w", err)
		}
	}
	return nil
}

// backfillAssignments fills person_assignments from the people stored
// before the table existed.
func backfillAssignments(ctx context.Context, tx *sql.Tx, d dialect) error {
	rows, err := tx.QueryContext(ctx, `SELECT tenant, person_id, assignments FROM people`)
	if err != nil {
		return err
	}
	type person struct {
		tenant, id string
		list       []storedAssignment
	}
	var all []person
	for rows.Next() {
		var p person
		var js string
		if err := rows.Scan(&p.tenant, &p.id, &js); err != nil {
			rows.Close()
			return err
		}
		if err := json.Unmarshal([]byte(js), &p.list); err != nil {
			rows.Close()
			return fmt.Errorf("person assignments: %w", err)
		}
		all = append(all, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, p := range all {
		if err := writeAssignments(ctx, tx, d, p.tenant, p.id, p.list); err != nil {
			return err
		}
	}
	return nil
}

// peopleQuery selects a tenant's people.
type peopleQuery struct {
	Tenant         string
	Status         string // EMPLOYED or LEFT; empty: both
	Organisation   string // with a current assignment in it
	StaffGroup     string // with a current assignment in it
	EmployeeNumber string
	ChangedSince   time.Time // the api changed their state at or after
	After          string    // person id the previous page ended with
	Limit          int
}

// people returns a page of a tenant's people in person id order.
func (s *store) people(ctx context.Context, q peopleQuery) ([]*Person, error) {
	where, args := []string{"tenant = ?"}, []any{q.Tenant}
	add := func(cond string, v any) { where, args = append(where, cond), append(args, v) }
	if q.Status != "" {
		add("employment_status = ?", q.Status)
	}
	if q.EmployeeNumber != "" {
		add("employee_number = ?", q.EmployeeNumber)
	}
	if !q.ChangedSince.IsZero() {
		add("changed_at >= ?", q.ChangedSince.UnixMilli())
	}
	for _, f := range []struct{ col, v string }{{"organisation", q.Organisation}, {"staff_group", q.StaffGroup}} {
		if f.v != "" {
			// IN, not EXISTS: the planner can then start from the
			// assignments index of that value instead of every person.
			where = append(where, `person_id IN (SELECT person_id FROM person_assignments WHERE tenant = ? AND `+f.col+` = ?)`)
			args = append(args, q.Tenant, f.v)
		}
	}
	if q.After != "" {
		add("person_id > ?", q.After)
	}
	args = append(args, q.Limit)
	rows, err := s.reader().QueryContext(ctx, s.d.rebind(`SELECT `+personColumns+` FROM people WHERE `+strings.Join(where, " AND ")+
		` ORDER BY person_id LIMIT ?`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Person{}
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Position is a position the tenant's current assignments name, with the
// attributes of the latest event that named it, and how many current
// assignments hold it.
type Position struct {
	PositionNumber string `json:"position_number"`
	PositionTitle  string `json:"position_title"`
	Organisation   string `json:"organisation"`
	Grade          string `json:"grade"`
	StaffGroup     string `json:"staff_group"`
	JobRole        string `json:"job_role"`
	OccupationCode string `json:"occupation_code"`
	Location       string `json:"location"`
	Assignments    int64  `json:"assignments"`
}

// positions returns positions in number order: after the number after, or
// the one numbered exactly (limit 1).
func (s *store) positions(ctx context.Context, tenant, after, exactly string, limit int) ([]Position, error) {
	cond, key := "position_number > ?", after
	if exactly != "" {
		cond, key = "position_number = ?", exactly
	}
	// The page's numbers first (an index range), then the newest row and
	// count of just those, so a page costs the same wherever it starts.
	rows, err := s.reader().QueryContext(ctx, s.d.rebind(`SELECT position_number, position_title, organisation, grade, staff_group,
		job_role, occupation_code, location, n FROM (
			SELECT a.*, ROW_NUMBER() OVER (PARTITION BY position_number ORDER BY set_at DESC, person_id, assignment_number) AS rn,
				COUNT(*) OVER (PARTITION BY position_number) AS n
			FROM person_assignments a WHERE tenant = ? AND position_number IN (
				SELECT DISTINCT position_number FROM person_assignments WHERE tenant = ? AND position_number <> '' AND `+cond+`
				ORDER BY position_number LIMIT ?)) AS latest
		WHERE rn = 1 ORDER BY position_number`), tenant, tenant, key, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Position{}
	for rows.Next() {
		var p Position
		if err := rows.Scan(&p.PositionNumber, &p.PositionTitle, &p.Organisation, &p.Grade, &p.StaffGroup,
			&p.JobRole, &p.OccupationCode, &p.Location, &p.Assignments); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Place is an organisation or a location the tenant's current assignments
// name, with how many people and assignments are in it now.
type Place struct {
	Name        string `json:"name"`
	People      int64  `json:"people"`
	Assignments int64  `json:"assignments"`
}

// places lists the values of column (organisation or location, never
// request input) in name order, after after, or the one named exactly.
func (s *store) places(ctx context.Context, tenant, column, after, exactly string, limit int) ([]Place, error) {
	cond, key := column+" > ?", after
	if exactly != "" {
		cond, key = column+" = ?", exactly
	}
	// The page's names first (an index range), then counts of just those.
	rows, err := s.reader().QueryContext(ctx, s.d.rebind(`SELECT `+column+`, COUNT(DISTINCT person_id), COUNT(*) FROM person_assignments
		WHERE tenant = ? AND `+column+` IN (SELECT DISTINCT `+column+` FROM person_assignments
			WHERE tenant = ? AND `+column+` <> '' AND `+cond+` ORDER BY `+column+` LIMIT ?)
		GROUP BY `+column+` ORDER BY `+column), tenant, tenant, key, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Place{}
	for rows.Next() {
		var p Place
		if err := rows.Scan(&p.Name, &p.People, &p.Assignments); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

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
	if err != nil || at != 0 || !cleanText(key) {
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
	People     []*Person `json:"people"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

func (s *Service) getPeople(w http.ResponseWriter, r *http.Request) {
	t, n, ok := tenantAndLimit(w, r)
	if !ok {
		return
	}
	get := r.URL.Query().Get
	q := peopleQuery{Tenant: t, Limit: n + 1, Organisation: get("organisation"), StaffGroup: get("staff_group"),
		EmployeeNumber: get("employee_number")}
	for _, v := range []string{q.Organisation, q.StaffGroup, q.EmployeeNumber} {
		if !cleanText(v) {
			writeError(w, http.StatusBadRequest, "filters must be valid text")
			return
		}
	}
	switch st := strings.ToUpper(get("status")); st {
	case "", StatusEmployed, StatusLeft:
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
	list, err := s.store.people(r.Context(), q)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := peopleList{}
	out.People, out.NextCursor = page(list, n, func(p *Person) string { return p.PersonID })
	writeJSON(w, http.StatusOK, out)
}

type assignmentList struct {
	Assignments []Assignment `json:"assignments"`
}

func (s *Service) getPersonAssignments(w http.ResponseWriter, r *http.Request) {
	if p, ok := s.pathPerson(w, r); ok {
		writeEntity(w, r, assignmentList{Assignments: p.Assignments})
	}
}

type positionList struct {
	Positions  []Position `json:"positions"`
	NextCursor string     `json:"next_cursor,omitempty"`
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
	list, err := s.store.positions(r.Context(), t, after, "", n+1)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := positionList{}
	out.Positions, out.NextCursor = page(list, n, func(p Position) string { return p.PositionNumber })
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) getPosition(w http.ResponseWriter, r *http.Request) {
	t, ok := tenant(w, r)
	if !ok {
		return
	}
	number := r.PathValue("number")
	if !cleanText(number) {
		writeError(w, http.StatusNotFound, "position not found")
		return
	}
	list, err := s.store.positions(r.Context(), t, "", number, 1)
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
	Places     []Place
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
		list, err := s.store.places(r.Context(), t, column, after, "", n+1)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		out := placeList{key: key}
		out.Places, out.NextCursor = page(list, n, func(p Place) string { return p.Name })
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
		if !cleanText(name) || name == "" {
			writeError(w, http.StatusNotFound, what+" not found")
			return
		}
		list, err := s.store.places(r.Context(), t, column, "", name, 1)
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
