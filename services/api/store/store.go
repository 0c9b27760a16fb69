package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// errNotFound is returned by lookups that match nothing.
var ErrNotFound = errors.New("not found")

// Employment statuses of a person.
const (
	StatusEmployed = "EMPLOYED"
	StatusLeft     = "LEFT"
)

// PublicEvent is one decoded public PublicEvent on its way into the database.
type PublicEvent struct {
	ID, Tenant, Type, PersonID string
	EffectiveDate              time.Time
	RecordedAt                 time.Time
	Topic                      string
	Partition                  int32
	Offset                     int64
	SchemaID                   int
	Payload                    json.RawMessage // the event as JSON, latest schema shape
	Source                     eventsv1.Source // the row that caused it

	// Exactly one is set, matching Type.
	Starter  *eventsv1.StarterCreated
	Leaver   *eventsv1.LeaverConfirmed
	Position *eventsv1.PositionUpdated
	Reversed *eventsv1.LeaverReversed
}

// fileReport is one decoded file report on its way into the database.
type FileReport struct {
	Report  *internalv1.FileReport
	Payload json.RawMessage
	// Where it was read: a file's history is in this order.
	Partition int32
	Offset    int64
}

// Batch is what one poll delivered, written in one transaction.
type Batch struct {
	Events      []PublicEvent
	Reports     []FileReport
	HeldBatches []*internalv1.HeldBatch
	Quarantine  []Quarantined
	Lineage     []*internalv1.EventLineage
}

// Assignment is one current assignment of a person, with the position
// attributes the latest event carried for it. Attributes a starter event does
// not carry (grade, staff group ...) stay empty until a position-updated.
type Assignment struct {
	AssignmentNumber string `json:"assignment_number"`
	PositionNumber   string `json:"position_number"`
	PositionTitle    string `json:"position_title"`
	Organisation     string `json:"organisation"`
	Grade            string `json:"grade"`
	StaffGroup       string `json:"staff_group"`
	JobRole          string `json:"job_role"`
	OccupationCode   string `json:"occupation_code"`
	Location         string `json:"location"`
}

// Person is a person's current state in a tenant, as the API serves it.
type Person struct {
	Tenant           string       `json:"tenant"`
	PersonID         string       `json:"person_id"`
	VPD              string       `json:"vpd"`
	EmployeeNumber   string       `json:"employee_number"`
	EmploymentStatus string       `json:"employment_status"`
	StartDate        *string      `json:"start_date"`
	Scheduled        bool         `json:"scheduled"`
	Rehire           bool         `json:"rehire"`
	LeavingDate      *string      `json:"leaving_date"`
	LeavingReason    *string      `json:"leaving_reason"`
	LastWorkingDay   *string      `json:"last_working_day"`
	Assignments      []Assignment `json:"assignments"`
	LastEventID      string       `json:"last_event_id"`
	UpdatedAt        string       `json:"updated_at"` // recorded_at of the latest event applied

	statusAt    int64 // recorded_at (ms) of the event that set the status
	updatedAt   int64
	assignments []storedAssignment
}

// Event is one stored event as the API serves it.
type Event struct {
	EventID       string          `json:"event_id"`
	Type          string          `json:"type"`
	Tenant        string          `json:"tenant"`
	PersonID      string          `json:"person_id"`
	EffectiveDate string          `json:"effective_date"`
	RecordedAt    string          `json:"recorded_at"`
	Kafka         KafkaPosition   `json:"kafka"`
	Data          json.RawMessage `json:"data"`
	// Seq is the event's place in its tenant's feed (docs/api.md, Event
	// feed): every event of the tenant has a distinct one, and a reader
	// that has seen seq N has seen every event numbered below it.
	Seq int64 `json:"seq"`

	recordedAt int64
}

// KafkaPosition is where an event was read from.
type KafkaPosition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	SchemaID  int    `json:"schema_id"`
}

// Store is the api's database.
type Store struct {
	db *sql.DB
	d  Dialect
	// read is the pool the hot HTTP reads use (openReader); nil: db.
	read  *sql.DB
	stmts stmtCache
}

// Close releases the statements and both pools.
func (s *Store) Close() {
	s.stmts.close()
	if s.read != nil && s.read != s.db {
		_ = s.read.Close()
	}
	_ = s.db.Close()
}

// reader is the read pool.
func (s *Store) reader() *sql.DB {
	if s.read != nil {
		return s.read
	}
	return s.db
}

// queryRead runs a read on the read pool through a cached prepared
// statement (q is written with ? placeholders).
func (s *Store) queryRead(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = s.d.rebind(q)
	st, err := s.stmts.get(ctx, s.reader(), q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.reader().QueryContext(ctx, q, args...)
	}
	return st.QueryContext(ctx, args...)
}

// queryRowRead is queryRead for one row.
func (s *Store) queryRowRead(ctx context.Context, q string, args ...any) *sql.Row {
	q = s.d.rebind(q)
	st, err := s.stmts.get(ctx, s.reader(), q)
	if err != nil || st == nil {
		// An error preparing is the query's error: QueryRowContext meets
		// it again and Scan reports it.
		return s.reader().QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func date(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func MillisRFC3339(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

// Apply writes a batch in one transaction and returns the events that were
// new (a re-delivered event id is skipped, and so is its state change).
func (s *Store) Apply(ctx context.Context, b Batch) ([]PublicEvent, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var fresh []PublicEvent
	now := time.Now().UnixMilli()
	for _, e := range b.Events {
		res, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO events
			(event_id, tenant, type, person_id, effective_date, recorded_at, topic, kafka_partition, kafka_offset, schema_id, payload, stored_at,
			source_sha256, source_line)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`),
			e.ID, e.Tenant, e.Type, e.PersonID, date(e.EffectiveDate), e.RecordedAt.UnixMilli(),
			e.Topic, e.Partition, e.Offset, e.SchemaID, string(e.Payload), now, strings.ToLower(e.Source.FileSha256), e.Source.Line)
		if err != nil {
			return nil, fmt.Errorf("storing event: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 0 {
			continue // seen before: its state change is already applied
		}
		if err := s.applyPerson(ctx, tx, e); err != nil {
			return nil, err
		}
		fresh = append(fresh, e)
	}
	// Quarantine before reports: a replay's report settles the outcome of
	// its rows, so the rows it re-quarantined must be in first.
	for _, q := range b.Quarantine {
		if err := s.applyQuarantine(ctx, tx, q, now); err != nil {
			return nil, err
		}
	}
	for _, r := range b.Reports {
		if err := s.applyReport(ctx, tx, r); err != nil {
			return nil, err
		}
	}
	for _, h := range b.HeldBatches {
		if err := s.applyHeldBatch(ctx, tx, h); err != nil {
			return nil, err
		}
	}
	for _, l := range b.Lineage {
		if err := s.applyLineage(ctx, tx, l); err != nil {
			return nil, err
		}
	}
	// Last, so the tenant's counter row stays locked for as short a time
	// as the transaction allows.
	if err := s.assignFeedSeq(ctx, tx, fresh); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return fresh, nil
}

// assignFeedSeq gives each new event its place in its tenant's feed: the
// next numbers from the tenant's feed_counters row, in batch order (which
// is Kafka offset order within each partition).
//
// Why a counter row and not a database sequence or a timestamp: a reader
// that has seen seq N must be able to trust that every event numbered
// below N is already visible. Sequence values and clocks are taken before
// commit, so two transactions can commit out of order and a reader could
// pass a number whose event is not yet visible, then never see it. The
// counter row is updated in the transaction that stores the events: on
// PostgreSQL its row lock makes a second writer for the same tenant wait
// until the first commits (or rolls back, releasing its numbers unused),
// so numbers become visible in order; SQLite has one writer at a time. A
// rollback leaves no gap either: its increments roll back with it.
func (s *Store) assignFeedSeq(ctx context.Context, tx *sql.Tx, fresh []PublicEvent) error {
	counts := map[string]int64{}
	var tenants []string
	for _, e := range fresh {
		if counts[e.Tenant] == 0 {
			tenants = append(tenants, e.Tenant)
		}
		counts[e.Tenant]++
	}
	// One order of tenants for every writer, so two batches spanning the
	// same tenants lock their rows in the same order and cannot deadlock.
	slices.Sort(tenants)
	next := map[string]int64{}
	for _, t := range tenants {
		var last int64
		if err := tx.QueryRowContext(ctx, s.d.rebind(`INSERT INTO feed_counters (tenant, seq) VALUES (?, ?)
			ON CONFLICT (tenant) DO UPDATE SET seq = feed_counters.seq + excluded.seq RETURNING seq`), t, counts[t]).Scan(&last); err != nil {
			return fmt.Errorf("feed counter: %w", err)
		}
		next[t] = last - counts[t] + 1
		if s.d == Postgres {
			// Sent at commit (and dropped on rollback) to every api
			// instance listening: their long polls and webhooks wake.
			if _, err := tx.ExecContext(ctx, `SELECT pg_notify('`+FeedChannel+`', $1)`, t); err != nil {
				return fmt.Errorf("feed notify: %w", err)
			}
		}
	}
	for _, e := range fresh {
		if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE events SET feed_seq = ? WHERE event_id = ?`), next[e.Tenant], e.ID); err != nil {
			return fmt.Errorf("feed seq: %w", err)
		}
		next[e.Tenant]++
	}
	return nil
}

const personColumns = `tenant, person_id, vpd, employee_number, employment_status, status_at, start_date, scheduled, rehire,
	leaving_date, leaving_reason, last_working_day, assignments, last_event_id, updated_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanPerson(row rowScanner) (*Person, error) {
	var (
		p                  Person
		scheduled, rehire  int
		assignments        string
		startDate, leaving sql.NullString
		reason, lwd        sql.NullString
	)
	err := row.Scan(&p.Tenant, &p.PersonID, &p.VPD, &p.EmployeeNumber, &p.EmploymentStatus, &p.statusAt,
		&startDate, &scheduled, &rehire, &leaving, &reason, &lwd, &assignments, &p.LastEventID, &p.updatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	p.Scheduled, p.Rehire = scheduled != 0, rehire != 0
	p.StartDate, p.LeavingDate = nullable(startDate), nullable(leaving)
	p.LeavingReason, p.LastWorkingDay = nullable(reason), nullable(lwd)
	if err := json.Unmarshal([]byte(assignments), &p.assignments); err != nil {
		return nil, fmt.Errorf("person %s assignments: %w", p.PersonID, err)
	}
	p.Assignments = make([]Assignment, len(p.assignments))
	for i, a := range p.assignments {
		p.Assignments[i] = a.Assignment
	}
	p.UpdatedAt = MillisRFC3339(p.updatedAt)
	return &p, nil
}

func nullable(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

func sqlNull(s *string) sql.NullString {
	if s == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *s, Valid: true}
}

func Ptr[T any](v T) *T { return &v }

// applyPerson folds one new event into the person's current state.
//
// Events of one person arrive in order within a topic, but the three event
// topics are read independently, so a starter and a leaver may arrive in
// either order. The employment status therefore follows the event with the
// latest recorded_at, not the latest to arrive; a position change older than
// a recorded leave does not bring assignments back.
func (s *Store) applyPerson(ctx context.Context, tx *sql.Tx, e PublicEvent) error {
	p, err := scanPerson(tx.QueryRowContext(ctx,
		s.d.rebind(`SELECT `+personColumns+` FROM people WHERE tenant = ? AND person_id = ?`+s.d.forUpdate()), e.Tenant, e.PersonID))
	exists := err == nil
	switch {
	case errors.Is(err, ErrNotFound):
		p = &Person{Tenant: e.Tenant, PersonID: e.PersonID, EmploymentStatus: StatusEmployed, assignments: []storedAssignment{}}
	case err != nil:
		return fmt.Errorf("reading person: %w", err)
	}
	at := e.RecordedAt.UnixMilli()
	newest := at >= p.updatedAt
	statusCurrent := at >= p.statusAt
	switch {
	case e.Starter != nil:
		ev := e.Starter
		if newest || p.VPD == "" {
			p.VPD, p.EmployeeNumber = ev.Vpd, ev.EmployeeNumber
		}
		if statusCurrent {
			p.EmploymentStatus, p.statusAt = StatusEmployed, at
			p.StartDate, p.Scheduled, p.Rehire = Ptr(date(ev.StartDate)), ev.Scheduled, ev.Rehire
			p.LeavingDate, p.LeavingReason, p.LastWorkingDay = nil, nil, nil
			p.assignments = setAssignment(p.assignments, Assignment{
				AssignmentNumber: ev.AssignmentNumber, PositionNumber: ev.PositionNumber,
				PositionTitle: ev.PositionTitle, Organisation: ev.Organisation,
			}, at)
		} else if p.StartDate == nil {
			// An older starter arriving after the leave (the topics are read
			// independently): keep its facts, so the state does not depend
			// on which topic was read first.
			p.StartDate, p.Scheduled, p.Rehire = Ptr(date(ev.StartDate)), ev.Scheduled, ev.Rehire
		}
	case e.Leaver != nil:
		ev := e.Leaver
		if newest || p.VPD == "" {
			p.VPD, p.EmployeeNumber = ev.Vpd, ev.EmployeeNumber
		}
		if statusCurrent {
			p.EmploymentStatus, p.statusAt = StatusLeft, at
			p.LeavingDate, p.LeavingReason = Ptr(date(ev.LeavingDate)), Ptr(ev.LeavingReason)
			p.LastWorkingDay = nil
			if ev.LastWorkingDay != nil {
				p.LastWorkingDay = Ptr(date(*ev.LastWorkingDay))
			}
			p.assignments = []storedAssignment{}
		}
	case e.Reversed != nil:
		// The leaver no longer stands: the person is employed again (their
		// assignments come back with the next event that names them).
		ev := e.Reversed
		if newest || p.VPD == "" {
			p.VPD, p.EmployeeNumber = ev.Vpd, ev.EmployeeNumber
		}
		if statusCurrent { // (a leaver recorded before it may still arrive: it is older)
			p.EmploymentStatus, p.statusAt = StatusEmployed, at
			p.LeavingDate, p.LeavingReason, p.LastWorkingDay = nil, nil, nil
		}
	case e.Position != nil:
		ev := e.Position
		if newest || p.VPD == "" {
			p.VPD, p.EmployeeNumber = ev.Vpd, ev.EmployeeNumber
		}
		if p.EmploymentStatus == StatusEmployed || statusCurrent {
			switch ev.Change {
			case eventsv1.PositionChangeAssignmentEnded:
				p.assignments = endAssignment(p.assignments, ev.AssignmentNumber, at)
			default:
				if ev.After != nil {
					p.assignments = setAssignment(p.assignments, Assignment{
						AssignmentNumber: ev.AssignmentNumber,
						PositionNumber:   ev.After.PositionNumber, PositionTitle: ev.After.PositionTitle,
						Organisation: ev.After.Organisation, Grade: ev.After.Grade, StaffGroup: ev.After.StaffGroup,
						JobRole: ev.After.JobRole, OccupationCode: ev.After.OccupationCode, Location: ev.After.Location,
					}, at)
				}
			}
		}
	}
	if newest {
		p.LastEventID, p.updatedAt = e.ID, at
	}
	assignments, err := json.Marshal(p.assignments)
	if err != nil {
		return err
	}
	args := []any{p.VPD, p.EmployeeNumber, p.EmploymentStatus, p.statusAt, sqlNull(p.StartDate), boolInt(p.Scheduled), boolInt(p.Rehire),
		sqlNull(p.LeavingDate), sqlNull(p.LeavingReason), sqlNull(p.LastWorkingDay), string(assignments), p.LastEventID, p.updatedAt,
		p.Tenant, p.PersonID}
	q := `UPDATE people SET vpd = ?, employee_number = ?, employment_status = ?, status_at = ?, start_date = ?, scheduled = ?, rehire = ?,
		leaving_date = ?, leaving_reason = ?, last_working_day = ?, assignments = ?, last_event_id = ?, updated_at = ?
		WHERE tenant = ? AND person_id = ?`
	if !exists {
		q = `INSERT INTO people (vpd, employee_number, employment_status, status_at, start_date, scheduled, rehire,
		leaving_date, leaving_reason, last_working_day, assignments, last_event_id, updated_at, tenant, person_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(q), args...); err != nil {
		return fmt.Errorf("writing person: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE people SET changed_at = ? WHERE tenant = ? AND person_id = ?`),
		time.Now().UnixMilli(), p.Tenant, p.PersonID); err != nil {
		return fmt.Errorf("writing person: %w", err)
	}
	return writeAssignments(ctx, tx, s.d, p.Tenant, p.PersonID, p.assignments)
}

// storedAssignment is an assignment as kept in people.assignments, with the
// recorded_at (ms) of the event that last set it, so an older event arriving
// late from another topic never overwrites a newer one.
type storedAssignment struct {
	Assignment
	At int64 `json:"at"`
}

// setAssignment replaces or adds an assignment recorded at at, keeping the
// list sorted by assignment number. A newer stored value wins; from an older
// event only attributes still empty are filled (a starter event carries only
// some of them).
func setAssignment(list []storedAssignment, a Assignment, at int64) []storedAssignment {
	i, found := slices.BinarySearchFunc(list, a.AssignmentNumber, func(x storedAssignment, n string) int { return strings.Compare(x.AssignmentNumber, n) })
	if !found {
		return slices.Insert(list, i, storedAssignment{Assignment: a, At: at})
	}
	newer, older := &list[i].Assignment, a
	if at >= list[i].At {
		newer, older = &a, list[i].Assignment
		list[i].At = at
	}
	for _, f := range []struct{ dst, src *string }{
		{&newer.PositionNumber, &older.PositionNumber}, {&newer.PositionTitle, &older.PositionTitle},
		{&newer.Organisation, &older.Organisation}, {&newer.Grade, &older.Grade}, {&newer.StaffGroup, &older.StaffGroup},
		{&newer.JobRole, &older.JobRole}, {&newer.OccupationCode, &older.OccupationCode}, {&newer.Location, &older.Location},
	} {
		if *f.dst == "" {
			*f.dst = *f.src
		}
	}
	list[i].Assignment = *newer
	return list
}

// endAssignment removes an assignment unless a newer event set it.
func endAssignment(list []storedAssignment, number string, at int64) []storedAssignment {
	return slices.DeleteFunc(list, func(a storedAssignment) bool { return a.AssignmentNumber == number && a.At <= at })
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// applyReport stores a file report: in the file's history, always (a
// re-read report is a no-op), and as its current report when it is newer
// (reported_at). Two exceptions keep the current report the file's state
// whatever clock stamped the reports: ACCEPTED is final (a re-delivered
// accepted file is a DUPLICATE, or, before file-report v3, a REJECTED
// report for the same SHA-256), and the outcome of reading a file
// (ACCEPTED or REJECTED) replaces a HELD, RELEASED or DISCARDED report even
// when older, because publish may run on a pinned clock behind ingest's.
func (s *Store) applyReport(ctx context.Context, tx *sql.Tx, r FileReport) error {
	tenant := strings.ToUpper(r.Report.Tenant)
	if r.Report.ReplayID != nil {
		if err := s.applyReplayReport(ctx, tx, tenant, *r.Report.ReplayID, r); err != nil {
			return err
		}
	}
	if r.Report.Status == internalv1.FileStatusDuplicate {
		// Every delivery of the same bytes is one row; a re-read report is a no-op.
		_, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO file_duplicates (tenant, sha256, file_name, reported_at, report)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, sha256, file_name, reported_at) DO NOTHING`),
			tenant, r.Report.File.Sha256, r.Report.File.Name, r.Report.ReportedAt.UnixMilli(), string(r.Payload))
		if err != nil {
			return fmt.Errorf("storing duplicate file report: %w", err)
		}
		return nil
	}
	at := r.Report.ReportedAt.UnixMilli()
	newStatus := string(r.Report.Status)
	if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO file_report_history
		(tenant, sha256, status, reported_at, file_name, kafka_partition, kafka_offset, report) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, sha256, status, reported_at) DO NOTHING`),
		tenant, r.Report.File.Sha256, newStatus, at, r.Report.File.Name, r.Partition, r.Offset, string(r.Payload)); err != nil {
		return fmt.Errorf("storing file report history: %w", err)
	}
	if err := s.applyIntakeOutcome(ctx, tx, tenant, r.Report); err != nil {
		return err
	}
	var status string
	var reportedAt int64
	err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT status, reported_at FROM file_reports WHERE tenant = ? AND sha256 = ?`+s.d.forUpdate()),
		tenant, r.Report.File.Sha256).Scan(&status, &reportedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, s.d.rebind(`INSERT INTO file_reports (tenant, sha256, file_name, status, reported_at, report) VALUES (?, ?, ?, ?, ?, ?)`),
			tenant, r.Report.File.Sha256, r.Report.File.Name, newStatus, at, string(r.Payload))
	case err != nil:
	case status == string(internalv1.FileStatusAccepted) && newStatus != status:
		return nil
	case at >= reportedAt || newStatus == string(internalv1.FileStatusAccepted) || (readOutcome(newStatus) && !readOutcome(status)):
		_, err = tx.ExecContext(ctx, s.d.rebind(`UPDATE file_reports SET file_name = ?, status = ?, reported_at = ?, report = ? WHERE tenant = ? AND sha256 = ?`),
			r.Report.File.Name, newStatus, at, string(r.Payload), tenant, r.Report.File.Sha256)
	}
	if err != nil {
		return fmt.Errorf("storing file report: %w", err)
	}
	return nil
}

// readOutcome reports a status that says how reading the file ended.
func readOutcome(status string) bool {
	return status == string(internalv1.FileStatusAccepted) || status == string(internalv1.FileStatusRejected)
}

// PersonByID returns a PersonByID's current state.
func (s *Store) PersonByID(ctx context.Context, tenant, personID string) (*Person, error) {
	if !CleanText(personID) {
		return nil, ErrNotFound // no stored key holds a NUL (and PostgreSQL cannot compare one)
	}
	return scanPerson(s.queryRowRead(ctx, `SELECT `+personColumns+` FROM people WHERE tenant = ? AND person_id = ?`, tenant, personID))
}

const EventColumns = `event_id, type, tenant, person_id, effective_date, recorded_at, topic, kafka_partition, kafka_offset, schema_id, payload, feed_seq`

func (s *Store) QueryEvents(ctx context.Context, q string, args ...any) ([]Event, error) {
	rows, err := s.queryRead(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var e Event
		var payload string
		if err := rows.Scan(&e.EventID, &e.Type, &e.Tenant, &e.PersonID, &e.EffectiveDate, &e.recordedAt,
			&e.Kafka.Topic, &e.Kafka.Partition, &e.Kafka.Offset, &e.Kafka.SchemaID, &payload, &e.Seq); err != nil {
			return nil, err
		}
		e.RecordedAt, e.Data = MillisRFC3339(e.recordedAt), json.RawMessage(payload)
		out = append(out, e)
	}
	return out, rows.Err()
}

// PersonEvents returns a person's events, oldest first.
func (s *Store) PersonEvents(ctx context.Context, tenant, personID string, limit int) ([]Event, error) {
	return s.QueryEvents(ctx, `SELECT `+EventColumns+` FROM events WHERE tenant = ? AND person_id = ?
		ORDER BY recorded_at, event_id LIMIT ?`, tenant, personID, limit)
}

// eventQuery selects a tenant's events.
type EventQuery struct {
	Tenant string
	Types  []string  // empty: every type
	Since  time.Time // zero: from the first
	After  int64     // continue after this feed seq (0: from the start)
	Limit  int
}

// Events returns a tenant's Events in feed order (feed_seq).
func (s *Store) Events(ctx context.Context, q EventQuery) ([]Event, error) {
	after := q.After
	if !q.Since.IsZero() {
		// Start at the first event recorded at or after since: feed order
		// is commit order, close to but not exactly recorded_at's, so
		// the filter below stays, and nothing at or after since is
		// skipped. Without this the page would scan the feed from its
		// start to find its first match.
		var first sql.NullInt64
		if err := s.queryRowRead(ctx, `SELECT MIN(feed_seq) FROM events WHERE tenant = ? AND recorded_at >= ?`,
			q.Tenant, q.Since.UnixMilli()).Scan(&first); err != nil {
			return nil, err
		}
		if !first.Valid {
			return []Event{}, nil
		}
		after = max(after, first.Int64-1)
	}
	where := []string{"tenant = ?", "feed_seq > ?"}
	args := []any{q.Tenant, after}
	if len(q.Types) > 0 {
		where = append(where, "type IN (?"+strings.Repeat(", ?", len(q.Types)-1)+")")
		for _, t := range q.Types {
			args = append(args, t)
		}
	}
	if !q.Since.IsZero() {
		where, args = append(where, "recorded_at >= ?"), append(args, q.Since.UnixMilli())
	}
	args = append(args, q.Limit)
	return s.QueryEvents(ctx, `SELECT `+EventColumns+` FROM events WHERE `+strings.Join(where, " AND ")+
		` ORDER BY feed_seq LIMIT ?`, args...)
}

// FeedHead returns the highest feed seq of a tenant (0: no events yet).
func (s *Store) FeedHead(ctx context.Context, tenant string) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, s.d.rebind(`SELECT seq FROM feed_counters WHERE tenant = ?`), tenant).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// allReports is every file report of the api, duplicates included; kind
// (0 a file's own report, 1 a duplicate delivery) keeps rows apart that
// share (reported_at, sha256, file_name).
const allReports = `(SELECT tenant, sha256, file_name, status, 0 AS kind, reported_at, report FROM file_reports
	UNION ALL SELECT tenant, sha256, file_name, 'DUPLICATE' AS status, 1 AS kind, reported_at, report FROM file_duplicates) AS r`

// fileQuery selects a tenant's file reports.
type FileQuery struct {
	Tenant string
	Status string // empty: every status; else one FileStatus (a file is listed by its current report)
	// After continues a listing after the row (AfterAt, AfterSHA,
	// AfterName, AfterKind) of the order below.
	After     bool
	AfterAt   int64
	AfterSHA  string
	AfterName string
	AfterKind int
	Limit     int
}

// fileRow is a listed report with its place in the listing's order.
type FileRow struct {
	Report     json.RawMessage
	SHA256     string
	FileName   string
	Kind       int
	ReportedAt int64
}

// Files returns a tenant's file reports, newest first; reports of the same
// millisecond in (sha256, file_name, kind) order.
func (s *Store) Files(ctx context.Context, q FileQuery) ([]FileRow, error) {
	where := []string{"tenant = ?"}
	args := []any{q.Tenant}
	if q.Status != "" {
		where, args = append(where, "status = ?"), append(args, q.Status)
	}
	if q.After {
		if !CleanText(q.AfterSHA) || !CleanText(q.AfterName) {
			return nil, errors.New("cursor is not valid text")
		}
		where = append(where, `(reported_at < ? OR (reported_at = ? AND (sha256 > ? OR (sha256 = ? AND
			(file_name > ? OR (file_name = ? AND kind > ?))))))`)
		args = append(args, q.AfterAt, q.AfterAt, q.AfterSHA, q.AfterSHA, q.AfterName, q.AfterName, q.AfterKind)
	}
	args = append(args, q.Limit)
	rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT report, sha256, file_name, kind, reported_at FROM `+allReports+
		` WHERE `+strings.Join(where, " AND ")+` ORDER BY reported_at DESC, sha256, file_name, kind LIMIT ?`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []FileRow{}
	for rows.Next() {
		var f FileRow
		var report string
		if err := rows.Scan(&report, &f.SHA256, &f.FileName, &f.Kind, &f.ReportedAt); err != nil {
			return nil, err
		}
		f.Report = json.RawMessage(report)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return out, s.addPendingDecisions(ctx, q.Tenant, out)
}

// addPendingDecisions adds to each listed file that a release or discard
// is on its way for (REQUESTED, ingest has not reported it yet) that
// decision, as "pending_decision": the listing of held files then says
// which are already being dealt with.
func (s *Store) addPendingDecisions(ctx context.Context, tenant string, rows []FileRow) error {
	var shas []string
	for _, f := range rows {
		if f.Kind == 0 {
			shas = append(shas, strings.ToLower(f.SHA256))
		}
	}
	if len(shas) == 0 {
		return nil
	}
	pending, err := s.Audit(ctx, AuditQuery{Tenant: tenant, Status: AuditRequested, Files: shas, Limit: len(shas) + 1})
	if err != nil {
		return err
	}
	bySHA := map[string]AuditEntry{}
	for _, a := range pending {
		if _, seen := bySHA[*a.FileSHA256]; !seen { // newest first: one is pending at a time anyway
			bySHA[*a.FileSHA256] = a
		}
	}
	for i, f := range rows {
		a, ok := bySHA[strings.ToLower(f.SHA256)]
		if !ok || f.Kind != 0 {
			continue
		}
		if rows[i].Report, err = appendFields(f.Report, []extraField{{"pending_decision", a}}); err != nil {
			return err
		}
	}
	return nil
}

// FileReportJSON returns the report for a FileReportJSON, by SHA-256 (64 hex digits) or by name
// (the newest report of that name, a duplicate's too). By SHA-256 it is the
// FileReportJSON's current report (the state of the FileReportJSON those bytes were accepted,
// rejected, held, released or discarded as), with, when there are any,
// every later delivery of the same bytes under "duplicates", every report
// of the FileReportJSON under "history" (when it has had more than one) and the
// operators' releases and discards of it under "decisions"; when only
// duplicates are known it is the newest of them.
func (s *Store) FileReportJSON(ctx context.Context, tenant, key string) (json.RawMessage, error) {
	if !CleanText(key) {
		return nil, ErrNotFound
	}
	if !IsSHA256(key) {
		out, err := s.queryReports(ctx, `SELECT report FROM `+allReports+` WHERE tenant = ? AND file_name = ? ORDER BY reported_at DESC LIMIT 1`, tenant, key)
		if err != nil {
			return nil, err
		}
		if len(out) == 0 {
			return nil, ErrNotFound
		}
		return out[0], nil
	}
	key = strings.ToLower(key)
	out, err := s.queryReports(ctx, `SELECT report FROM file_reports WHERE tenant = ? AND sha256 = ?`, tenant, key)
	if err != nil {
		return nil, err
	}
	dups, err := s.queryReports(ctx, `SELECT report FROM file_duplicates WHERE tenant = ? AND sha256 = ? ORDER BY reported_at DESC, file_name`, tenant, key)
	if err != nil {
		return nil, err
	}
	switch {
	case len(out) == 0 && len(dups) == 0:
		return nil, ErrNotFound
	case len(out) == 0:
		return dups[0], nil
	}
	// Newest first: in the order read (reports stored before the history
	// began come first), by time within it.
	history, err := s.queryReports(ctx, `SELECT report FROM file_report_history WHERE tenant = ? AND sha256 = ?
		ORDER BY kafka_partition DESC, kafka_offset DESC, reported_at DESC, status`, tenant, key)
	if err != nil {
		return nil, err
	}
	decisions, err := s.Audit(ctx, AuditQuery{Tenant: tenant, FileSHA256: key, Limit: MaxLimit})
	if err != nil {
		return nil, err
	}
	var extra []extraField
	if len(dups) > 0 {
		extra = append(extra, extraField{"duplicates", dups})
	}
	if len(history) > 1 {
		extra = append(extra, extraField{"history", history})
	}
	if len(decisions) > 0 {
		extra = append(extra, extraField{"decisions", decisions})
	}
	return appendFields(out[0], extra)
}

// FileRef names a file the api has a report for.
type FileRef struct {
	Name    string `json:"name"`
	SHA256  string `json:"sha256"`
	Dialect string `json:"dialect"`
}

// FileByHash returns the name and dialect of a tenant's file by its
// SHA-256, from its own report or, when only duplicate deliveries of those
// bytes are known, the newest of them; ErrNotFound when the tenant has no
// report for it.
func (s *Store) FileByHash(ctx context.Context, tenant, sha string) (FileRef, error) {
	if !IsSHA256(sha) {
		return FileRef{}, ErrNotFound
	}
	sha = strings.ToLower(sha)
	out, err := s.queryReports(ctx, `SELECT report FROM file_reports WHERE tenant = ? AND sha256 = ?`, tenant, sha)
	if err == nil && len(out) == 0 {
		out, err = s.queryReports(ctx, `SELECT report FROM file_duplicates WHERE tenant = ? AND sha256 = ?
			ORDER BY reported_at DESC, file_name LIMIT 1`, tenant, sha)
	}
	if err != nil {
		return FileRef{}, err
	}
	if len(out) == 0 {
		return FileRef{}, ErrNotFound
	}
	var rep struct {
		File FileRef `json:"file"`
	}
	if err := json.Unmarshal(out[0], &rep); err != nil {
		return FileRef{}, fmt.Errorf("file report: %w", err)
	}
	rep.File.SHA256 = sha
	return rep.File, nil
}

// extraField is a key added to a stored report.
type extraField struct {
	key   string
	value any
}

// appendFields adds fields at the end of a stored JSON object as it is, so
// its own fields keep their order.
func appendFields(obj json.RawMessage, extra []extraField) (json.RawMessage, error) {
	if len(extra) == 0 {
		return obj, nil
	}
	rep := bytes.TrimRight(obj, " \t\r\n")
	if len(rep) < 2 || rep[len(rep)-1] != '}' {
		return nil, errors.New("stored file report is not a JSON object")
	}
	joined := append([]byte{}, rep[:len(rep)-1]...)
	for i, f := range extra {
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		if i > 0 || len(bytes.TrimSpace(rep[1:len(rep)-1])) > 0 {
			joined = append(joined, ',')
		}
		joined = append(append(append(joined, '"'), f.key...), `":`...)
		joined = append(joined, v...)
	}
	return append(joined, '}'), nil
}

func (s *Store) queryReports(ctx context.Context, q string, args ...any) ([]json.RawMessage, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []json.RawMessage{}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, json.RawMessage(r))
	}
	return out, rows.Err()
}

func IsSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// eventType maps a topic to its event name, e.g. esr.rxx.leaver-confirmed.v1
// → leaver-confirmed.
func EventType(topic string) (string, bool) {
	b, err := schemas.SchemaForTopic(topic)
	if err != nil || b.CEType == "" {
		return "", false
	}
	return b.Schema, true
}

// feedChannel is the PostgreSQL NOTIFY channel on which a commit of new
// events names its tenant.
const FeedChannel = "esrflow_feed"

// Listing limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// NewPublicEvent wraps a decoded public event (*eventsv1.StarterCreated,
// LeaverConfirmed, PositionUpdated or LeaverReversed): its id, tenant,
// person, dates and source come from the value. Where it was read (topic,
// partition, offset, schema id) and its JSON payload are the caller's.
func NewPublicEvent(v any) (PublicEvent, error) {
	var e PublicEvent
	switch x := v.(type) {
	case *eventsv1.StarterCreated:
		e = PublicEvent{Type: schemas.StarterCreated, Starter: x,
			ID: x.EventID, Tenant: x.Tenant, PersonID: x.PersonID, EffectiveDate: x.EffectiveDate, RecordedAt: x.RecordedAt, Source: x.Source}
	case *eventsv1.LeaverConfirmed:
		e = PublicEvent{Type: schemas.LeaverConfirmed, Leaver: x,
			ID: x.EventID, Tenant: x.Tenant, PersonID: x.PersonID, EffectiveDate: x.EffectiveDate, RecordedAt: x.RecordedAt, Source: x.Source}
	case *eventsv1.PositionUpdated:
		e = PublicEvent{Type: schemas.PositionUpdated, Position: x,
			ID: x.EventID, Tenant: x.Tenant, PersonID: x.PersonID, EffectiveDate: x.EffectiveDate, RecordedAt: x.RecordedAt, Source: x.Source}
	case *eventsv1.LeaverReversed:
		e = PublicEvent{Type: schemas.LeaverReversed, Reversed: x,
			ID: x.EventID, Tenant: x.Tenant, PersonID: x.PersonID, EffectiveDate: x.EffectiveDate, RecordedAt: x.RecordedAt, Source: x.Source}
	default:
		return e, fmt.Errorf("%T is not a public event", v)
	}
	return e, nil
}

// tenantCode is a tenant as the api stores and serves it.
var tenantCode = regexp.MustCompile(`^[A-Za-z0-9]{1,16}$`)

// ValidTenant reports whether t can name a tenant: 1 to 16 letters and
// digits (an ODS code, any case).
func ValidTenant(t string) bool { return tenantCode.MatchString(t) }
