package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// writeAssignments replaces a person's rows in person_assignments with list.
func writeAssignments(ctx context.Context, tx *sql.Tx, d Dialect, tenant, personID string, list []storedAssignment) error {
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
func backfillAssignments(ctx context.Context, tx *sql.Tx, d Dialect) error {
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
type PeopleQuery struct {
	Tenant         string
	Status         string // EMPLOYED or LEFT; empty: both
	Organisation   string // with a current assignment in it
	StaffGroup     string // with a current assignment in it
	EmployeeNumber string
	ChangedSince   time.Time // the api changed their state at or after
	After          string    // person id the previous page ended with
	Limit          int
}

// People returns a page of a tenant's People in person id order.
func (s *Store) People(ctx context.Context, q PeopleQuery) ([]*Person, error) {
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

// Positions returns Positions in number order: after the number after, or
// the one numbered exactly (limit 1).
func (s *Store) Positions(ctx context.Context, tenant, after, exactly string, limit int) ([]Position, error) {
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

// Places lists the values of column (organisation or location, never
// request input) in name order, after after, or the one named exactly.
func (s *Store) Places(ctx context.Context, tenant, column, after, exactly string, limit int) ([]Place, error) {
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
