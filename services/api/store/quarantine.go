package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/format/gov1"
	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Quarantined is one decoded quarantine record on its way into the database.
type Quarantined struct {
	Rec *internalv1.QuarantineRecord
	// Seq orders a tenant's records as they were quarantined: the Kafka
	// offset (the topic is keyed by tenant, so a tenant is one partition).
	Seq int64
}

// QuarantineID is the id of a quarantined row: "q-" and 20 hex digits of
// the SHA-256 of tenant, file SHA-256 and line. A row of a file is
// quarantined at most once per attempt, so its lineage names it; the id
// stays the same when a replay quarantines it again.
func QuarantineID(tenant, fileSHA256 string, line int64) string {
	h := sha256.Sum256([]byte(strings.ToUpper(tenant) + "\x00" + strings.ToLower(fileSHA256) + "\x00" + strconv.FormatInt(line, 10)))
	return "q-" + hex.EncodeToString(h[:10])
}

// ruleSummary is what the database keeps of a record's violations.
type ruleSummary struct {
	violations string // JSON array
	rules      []string
	rulesText  string // " R1 R2 ", sorted, for display and LIKE
	errors     int
	warnings   int
}

func summarise(vs []internalv1.Violation) (ruleSummary, error) {
	if vs == nil {
		vs = []internalv1.Violation{}
	}
	b, err := json.Marshal(vs)
	if err != nil {
		return ruleSummary{}, err
	}
	out := ruleSummary{violations: string(b)}
	for _, v := range vs {
		if !slices.Contains(out.rules, v.Rule) {
			out.rules = append(out.rules, v.Rule)
		}
		if v.Severity == internalv1.SeverityWarning {
			out.warnings++
		} else {
			out.errors++
		}
	}
	slices.Sort(out.rules)
	out.rulesText = " " + strings.Join(out.rules, " ") + " "
	return out, nil
}

// applyQuarantine stores one quarantine record.
//
// A record read for the first time is a row of a file: it is stored open.
// Delivered again (same Kafka offset) it changes nothing; another record
// about the same row adds its violations. A record
// carrying a replay id is a replayed row quarantined again: it completes
// that row's outcome in the replay (once: a re-delivery finds the outcome
// already set) and the row takes its new violations, status failed_again.
func (s *Store) applyQuarantine(ctx context.Context, tx *sql.Tx, q Quarantined, now int64) error {
	rec := q.Rec
	tenant := strings.ToUpper(rec.Lineage.Tenant)
	sha := strings.ToLower(rec.Lineage.FileSha256)
	id := QuarantineID(tenant, sha, rec.Lineage.Line)
	sum, err := summarise(rec.Violations)
	if err != nil {
		return err
	}
	var (
		seq        int64
		violations string
	)
	err = tx.QueryRowContext(ctx, s.d.rebind(`SELECT seq, violations FROM quarantine WHERE id = ?`+s.d.forUpdate()), id).Scan(&seq, &violations)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("reading quarantine: %w", err)
	}
	if rec.ReplayID == nil {
		switch {
		case !exists:
			return s.insertQuarantine(ctx, tx, id, tenant, sha, q, sum, QuarantineOpen, now)
		case seq == q.Seq:
			return nil // the same record delivered again
		}
		// Another record about the same row (a later stage refusing it
		// too): the row keeps every violation of both.
		var old []internalv1.Violation
		if err := json.Unmarshal([]byte(violations), &old); err != nil {
			return fmt.Errorf("quarantine %s violations: %w", id, err)
		}
		for _, v := range rec.Violations {
			if !slices.Contains(old, v) {
				old = append(old, v)
			}
		}
		if sum, err = summarise(old); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE quarantine SET rules = ?, violations = ?, errors = ?, warnings = ?, updated_at = ?
			WHERE id = ?`), sum.rulesText, sum.violations, sum.errors, sum.warnings, now, id); err != nil {
			return fmt.Errorf("updating quarantine: %w", err)
		}
		return s.indexRules(ctx, tx, tenant, id, sum.rules)
	}
	replayID := *rec.ReplayID
	var outcome string
	err = tx.QueryRowContext(ctx, s.d.rebind(`SELECT outcome FROM replay_rows WHERE replay_id = ? AND quarantine_id = ?`+s.d.forUpdate()),
		replayID, id).Scan(&outcome)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// A replay this database does not know (asked through an api whose
		// database was since replaced): keep the row, nothing to settle.
		if exists {
			return nil
		}
		return s.insertQuarantine(ctx, tx, id, tenant, sha, q, sum, QuarantineFailedAgain, now)
	case err != nil:
		return fmt.Errorf("reading replay row: %w", err)
	case outcome != OutcomePending:
		return nil // delivered again: the outcome is already recorded
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE replay_rows SET outcome = ?, rules = ?, violations = ? WHERE replay_id = ? AND quarantine_id = ?`),
		OutcomeFailedAgain, sum.rulesText, sum.violations, replayID, id); err != nil {
		return fmt.Errorf("recording replay outcome: %w", err)
	}
	if !exists {
		if err := s.insertQuarantine(ctx, tx, id, tenant, sha, q, sum, QuarantineFailedAgain, now); err != nil {
			return err
		}
	} else {
		if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE quarantine SET stage = ?, record_type = ?, entity_kind = ?, rules = ?,
			violations = ?, errors = ?, warnings = ?, raw_fields = ?, canonical = ?, rule_set_version = ?, replay_id = ?,
			quarantined_at = ?, status = ?, updated_at = ? WHERE id = ?`),
			string(rec.Stage), rec.Raw.RecordType, rec.EntityKind, sum.rulesText, sum.violations, sum.errors, sum.warnings,
			rawJSON(rec.Raw.Fields), sqlNull(rec.Canonical), rec.RuleSetVersion, replayID, rec.QuarantinedAt.UnixMilli(),
			QuarantineFailedAgain, now, id); err != nil {
			return fmt.Errorf("updating quarantine: %w", err)
		}
		if err := s.indexRules(ctx, tx, tenant, id, sum.rules); err != nil {
			return err
		}
	}
	return s.settleReplay(ctx, tx, tenant, replayID, now)
}

func rawJSON(fields []string) string {
	if fields == nil {
		fields = []string{}
	}
	b, _ := json.Marshal(fields) // strings only: cannot fail
	return string(b)
}

func (s *Store) insertQuarantine(ctx context.Context, tx *sql.Tx, id, tenant, sha string, q Quarantined, sum ruleSummary, status string, now int64) error {
	rec := q.Rec
	var file sql.NullString
	dialect := ""
	if rec.File != nil {
		dialect = rec.File.Dialect
		// The original file, as the replay request needs it; a replay
		// batch's own file info is not the row's file.
		if rec.ReplayID == nil {
			b, err := json.Marshal(rec.File)
			if err != nil {
				return err
			}
			file = sql.NullString{String: string(b), Valid: true}
		}
	}
	var replay sql.NullString
	if rec.ReplayID != nil {
		replay = sql.NullString{String: *rec.ReplayID, Valid: true}
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO quarantine (id, tenant, seq, stage, vpd, file_name, file_sha256, line,
		record_type, entity_kind, rules, violations, errors, warnings, raw_fields, canonical, file, dialect, rule_set_version,
		replay_id, quarantined_at, status, updated_at, raw_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		id, tenant, q.Seq, string(rec.Stage), rec.Vpd, rec.Lineage.FileName, sha, rec.Lineage.Line, rec.Raw.RecordType,
		rec.EntityKind, sum.rulesText, sum.violations, sum.errors, sum.warnings, rawJSON(rec.Raw.Fields), sqlNull(rec.Canonical),
		file, dialect, rec.RuleSetVersion, replay, rec.QuarantinedAt.UnixMilli(), status, now, lowerPtr(rec.RawSha256)); err != nil {
		return fmt.Errorf("storing quarantine: %w", err)
	}
	return s.indexRules(ctx, tx, tenant, id, sum.rules)
}

// indexRules replaces a record's rows in quarantine_rules, the index the
// ?rule= filter reads.
func (s *Store) indexRules(ctx context.Context, tx *sql.Tx, tenant, id string, rules []string) error {
	if _, err := tx.ExecContext(ctx, s.d.rebind(`DELETE FROM quarantine_rules WHERE id = ?`), id); err != nil {
		return fmt.Errorf("indexing rules: %w", err)
	}
	for _, r := range rules {
		if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO quarantine_rules (tenant, rule, id) VALUES (?, ?, ?)`), tenant, r, id); err != nil {
			return fmt.Errorf("indexing rules: %w", err)
		}
	}
	return nil
}

// QuarantineLineage is where a quarantined row was first read.
type QuarantineLineage struct {
	FileName   string `json:"file_name"`
	FileSHA256 string `json:"file_sha256"`
	Line       int64  `json:"line"`
}

// RawField is one column of a quarantined row. Value is null, and Redacted
// true, for a personal column shown to a caller without people:sensitive.
type RawField struct {
	Name     string  `json:"name"`
	Value    *string `json:"value"`
	Redacted bool    `json:"redacted,omitempty"`
}

// RawView is a quarantined row's columns, named from its dialect's layout.
type RawView struct {
	RecordType string     `json:"record_type"`
	Fields     []RawField `json:"fields"`
}

// QuarantineItem is a quarantined record as the API serves it.
type QuarantineItem struct {
	ID             string                 `json:"id"`
	Tenant         string                 `json:"tenant"`
	Stage          string                 `json:"stage"`
	VPD            string                 `json:"vpd"`
	Lineage        QuarantineLineage      `json:"lineage"`
	RecordType     string                 `json:"record_type"`
	EntityKind     string                 `json:"entity_kind"`
	Violations     []internalv1.Violation `json:"violations"`
	Errors         int                    `json:"errors"`
	Warnings       int                    `json:"warnings"`
	RuleSetVersion string                 `json:"rule_set_version"`
	Status         string                 `json:"status"`
	ReplayID       *string                `json:"replay_id"`
	QuarantinedAt  string                 `json:"quarantined_at"`
	Raw            RawView                `json:"raw"`
	// Canonical is the canonical entity (internal field names), only for
	// callers with people:sensitive.
	Canonical json.RawMessage `json:"canonical,omitempty"`

	Seq       int64 `json:"-"` // its place in the tenant's quarantine order, for cursors
	fields    []string
	canonical sql.NullString
	dialect   string
	file      sql.NullString
	rawSHA256 sql.NullString // the row's original bytes' hash (quarantine v3), for a replay
}

func scanQuarantine(row rowScanner) (*QuarantineItem, error) {
	var (
		q                 QuarantineItem
		violations, raw   string
		replay            sql.NullString
		quarantinedAtMsec int64
	)
	err := row.Scan(&q.ID, &q.Tenant, &q.Seq, &q.Stage, &q.VPD, &q.Lineage.FileName, &q.Lineage.FileSHA256, &q.Lineage.Line,
		&q.RecordType, &q.EntityKind, &violations, &q.Errors, &q.Warnings, &q.RuleSetVersion, &q.Status, &replay,
		&quarantinedAtMsec, &raw, &q.canonical, &q.dialect, &q.file, &q.rawSHA256)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(violations), &q.Violations); err != nil {
		return nil, fmt.Errorf("quarantine %s violations: %w", q.ID, err)
	}
	if err := json.Unmarshal([]byte(raw), &q.fields); err != nil {
		return nil, fmt.Errorf("quarantine %s raw: %w", q.ID, err)
	}
	q.ReplayID = nullable(replay)
	q.QuarantinedAt = MillisRFC3339(quarantinedAtMsec)
	return &q, nil
}

// columnSpec returns the layout of a record type in a dialect; nil when
// unknown (every column is then treated as personal).
func columnSpec(dialect, recordType string) *format.RecordSpec {
	switch dialect {
	case "go-v2", "gov2":
		return gov2.Spec(recordType)
	case "go-v1", "gov1":
		return gov1.Spec(recordType)
	}
	return nil
}

// The GO v1 envelope, which gov1 checks in its reader rather than from a
// table: HDR,<file name> and FTR,<file name>,<record count>. Neither
// holds personal data.
var (
	gov1Header = format.RecordSpec{Type: gov1.TypeHeader, Entity: "header", Columns: []format.FieldSpec{
		{Name: "record_type"}, {Name: "file_name"},
	}}
	gov1Footer = format.RecordSpec{Type: gov1.TypeFooter, Entity: "trailer", Columns: []format.FieldSpec{
		{Name: "record_type"}, {Name: "file_name"}, {Name: "record_count", Kind: format.KindInteger},
	}}
)

// lineSpec is columnSpec with the file's envelope too (a GO header and
// trailer), for a file's lines as they are in the archive.
func lineSpec(dialect, recordType string) *format.RecordSpec {
	switch dialect {
	case "gov2":
		dialect = "go-v2"
	case "gov1":
		dialect = "go-v1"
	}
	switch {
	case dialect == "go-v2" && recordType == gov2.TypeHeader:
		return &gov2.HeaderSpec
	case dialect == "go-v2" && recordType == gov2.TypeTrailer:
		return &gov2.TrailerSpec
	case dialect == "go-v1" && recordType == gov1.TypeHeader:
		return &gov1Header
	case dialect == "go-v1" && recordType == gov1.TypeFooter:
		return &gov1Footer
	}
	return columnSpec(dialect, recordType)
}

// RawFields names and masks a row's columns after its record type for a
// caller: personal columns (format.FieldSpec.Sensitive) are redacted
// unless personal is set. A column the layout does not know (an unknown
// dialect or record type, an extra column) is treated as personal and
// named column_<n>. Data the pipeline never keeps is redacted whatever the
// caller holds: special-category columns (blanked at parse time) and the
// personal columns of vehicle rows (dropped at parse time); a quarantined
// row has them empty already, an archived line does not.
func RawFields(dialect, recordType string, fields []string, personal bool) []RawField {
	spec := lineSpec(dialect, recordType)
	out := make([]RawField, len(fields))
	for i, v := range fields {
		name, sensitive, withheld := fmt.Sprintf("column_%d", i+1), true, false
		if spec != nil && i+1 < len(spec.Columns) {
			c := &spec.Columns[i+1]
			name, sensitive = c.Name, c.Sensitive
			withheld = c.Special || (c.Sensitive && spec == gov2.Spec(gov2.TypeVehicle))
		}
		f := RawField{Name: name}
		switch {
		case v == "":
			f.Value = Ptr("") // an empty column reveals nothing
		case withheld:
			f.Redacted = true
		case personal || !sensitive:
			f.Value = Ptr(v)
		default:
			f.Redacted = true
		}
		out[i] = f
	}
	return out
}

// View fills Raw and Canonical for a caller, redacting personal values
// unless personal is set. Which columns are personal comes from the
// dialect's layout (format.FieldSpec.Sensitive: names, NI number, date of
// birth, e-mail, home addresses, phone numbers ...); a column the layout
// does not know (an unknown dialect or record type, an extra column) is
// treated as personal. See RawFields.
func (q *QuarantineItem) View(personal bool) {
	q.Raw = RawView{RecordType: q.RecordType, Fields: RawFields(q.dialect, q.RecordType, q.fields, personal)}
	q.Canonical = nil
	if personal && q.canonical.Valid {
		if json.Valid([]byte(q.canonical.String)) {
			q.Canonical = json.RawMessage(q.canonical.String)
		} else {
			b, _ := json.Marshal(q.canonical.String)
			q.Canonical = b
		}
	}
}

// quarantineQuery selects a tenant's quarantined records.
type QuarantineQuery struct {
	Tenant     string
	File       string // name, or SHA-256 (64 hex digits)
	Rule       string
	RecordType string
	EntityKind string
	Status     string
	Stage      string
	AfterSeq   int64
	AfterID    string
	Limit      int
}

// where renders the query's filters.
func (q QuarantineQuery) where() (string, []any) {
	where, args := []string{"tenant = ?"}, []any{q.Tenant}
	if q.File != "" {
		if IsSHA256(q.File) {
			where, args = append(where, "file_sha256 = ?"), append(args, strings.ToLower(q.File))
		} else {
			where, args = append(where, "file_name = ?"), append(args, q.File)
		}
	}
	if q.Rule != "" {
		where = append(where, "id IN (SELECT id FROM quarantine_rules WHERE tenant = ? AND rule = ?)")
		args = append(args, q.Tenant, q.Rule)
	}
	for _, f := range []struct{ col, v string }{{"record_type", q.RecordType}, {"entity_kind", q.EntityKind}, {"status", q.Status}, {"stage", q.Stage}} {
		if f.v != "" {
			where, args = append(where, f.col+" = ?"), append(args, f.v)
		}
	}
	if q.AfterID != "" {
		where = append(where, "(seq > ? OR (seq = ? AND id > ?))")
		args = append(args, q.AfterSeq, q.AfterSeq, q.AfterID)
	}
	return strings.Join(where, " AND "), args
}

func (s *Store) queryQuarantine(ctx context.Context, q string, args ...any) ([]*QuarantineItem, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*QuarantineItem{}
	for rows.Next() {
		item, err := scanQuarantine(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, item)
	}
	return out, rows.Err()
}

// Quarantine lists a tenant's quarantined records in the order they were
// quarantined.
func (s *Store) Quarantine(ctx context.Context, q QuarantineQuery) ([]*QuarantineItem, error) {
	where, args := q.where()
	return s.queryQuarantine(ctx, `SELECT `+quarantineColumns+` FROM quarantine WHERE `+where+` ORDER BY seq, id LIMIT ?`, append(args, q.Limit)...)
}

func (s *Store) QuarantineItemByID(ctx context.Context, tenant, id string) (*QuarantineItem, error) {
	if !CleanText(id) {
		return nil, ErrNotFound
	}
	return scanQuarantine(s.db.QueryRowContext(ctx, s.d.rebind(`SELECT `+quarantineColumns+` FROM quarantine WHERE tenant = ? AND id = ?`), tenant, id))
}

// Statuses of a quarantined record (quarantine.status).
const (
	// QuarantineOpen: quarantined, nobody has replayed it yet.
	QuarantineOpen = "open"
	// QuarantineReplaying: a replay holding it is on its way through the
	// pipeline.
	QuarantineReplaying = "replaying"
	// QuarantineResolved: a replay got it accepted.
	QuarantineResolved = "resolved"
	// QuarantineFailedAgain: a replay had it quarantined again; its
	// violations are the latest ones.
	QuarantineFailedAgain = "failed_again"
)

var QuarantineStatuses = []string{QuarantineOpen, QuarantineReplaying, QuarantineResolved, QuarantineFailedAgain}

const quarantineColumns = `id, tenant, seq, stage, vpd, file_name, file_sha256, line, record_type, entity_kind, violations,
	errors, warnings, rule_set_version, status, replay_id, quarantined_at, raw_fields, canonical, dialect, file, raw_sha256`
