package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Lineage is where an event came from and what it passed through, as far
// as the api can know it (docs/api.md, Lineage): the event and its file's
// reports, and the record publish wrote for it on esr.ops.lineage.v1 (the
// source row's hash, mapping and rule-set versions, stage times). What no
// record carries (an event published before lineage was recorded, or one
// with no single source row) is null and named in NotRecorded rather than
// guessed.
type Lineage struct {
	EventID  string `json:"event_id"`
	Type     string `json:"type"`
	Tenant   string `json:"tenant"`
	PersonID string `json:"person_id"`
	// Source is the record that caused the event, from the event itself.
	Source LineageSource `json:"source"`
	// File is the source file's current report (null when the api has none).
	File *LineageFile `json:"file"`
	// Schema is the registry schema the event was written with.
	Schema LineageSchema `json:"schema"`
	Kafka  KafkaPosition `json:"kafka"`
	// Stages every event passes, in order; at is null where no record the
	// api reads says when.
	Stages      []LineageStage `json:"stages"`
	NotRecorded []string       `json:"not_recorded"`
}

// LineageSource is the ESR record an event came from.
type LineageSource struct {
	FileName        string  `json:"file_name"`
	FileSHA256      string  `json:"file_sha256"`
	Line            int64   `json:"line"`
	RawRecordSHA256 *string `json:"raw_record_sha256"`
}

// LineageFile is the source file as its reports describe it.
type LineageFile struct {
	Name           string  `json:"name"`
	Status         string  `json:"status"`
	Dialect        string  `json:"dialect"`
	Kind           string  `json:"kind"`
	RuleSetVersion string  `json:"rule_set_version"`
	MappingVersion *string `json:"mapping_version"`
	ReportedAt     string  `json:"reported_at"`
	// History is every report of the file, oldest first (e.g. HELD,
	// RELEASED, ACCEPTED).
	History []LineageReport `json:"history"`
}

// LineageReport is one report of a file.
type LineageReport struct {
	Status     string `json:"status"`
	ReportedAt string `json:"reported_at"`
}

// LineageSchema names the schema an event was written with.
type LineageSchema struct {
	Subject string `json:"subject"`
	ID      int    `json:"schema_id"`
}

// LineageStage is one stage an event passed.
type LineageStage struct {
	Stage string  `json:"stage"`
	At    *string `json:"at"`
}

// applyLineage stores an event's lineage record; a re-delivered one
// changes nothing.
func (s *Store) applyLineage(ctx context.Context, tx *sql.Tx, l *internalv1.EventLineage) error {
	_, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO event_lineage (event_id, tenant, raw_sha256, mapping_version,
		rule_set_version, ingested_at, normalised_at, validated_at, published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id) DO NOTHING`),
		l.EventID, l.Tenant, lowerPtr(l.RawSha256), l.MappingVersion, l.RuleSetVersion, msPtr(l.IngestedAt), msPtr(l.NormalisedAt),
		msPtr(l.ValidatedAt), l.PublishedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("storing event lineage: %w", err)
	}
	return nil
}

func lowerPtr(s *string) *string {
	if s == nil {
		return nil
	}
	v := strings.ToLower(*s)
	return &v
}

func msPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := t.UnixMilli()
	return &v
}

// recorded is what event_lineage holds of an event (all null when it has
// no row).
type recorded struct {
	raw, mapping, ruleSet           sql.NullString
	ingested, normalised, validated sql.NullInt64
}

func (s *Store) recordedLineage(ctx context.Context, tenant, eventID string) (recorded, error) {
	var r recorded
	err := s.reader().QueryRowContext(ctx, s.d.rebind(`SELECT raw_sha256, mapping_version, rule_set_version, ingested_at,
		normalised_at, validated_at FROM event_lineage WHERE tenant = ? AND event_id = ?`), tenant, eventID).Scan(
		&r.raw, &r.mapping, &r.ruleSet, &r.ingested, &r.normalised, &r.validated)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil
	}
	return r, err
}

func nullString(v sql.NullString) *string {
	if !v.Valid {
		return nil
	}
	return &v.String
}

func nullTime(v sql.NullInt64) *string {
	if !v.Valid {
		return nil
	}
	t := MillisRFC3339(v.Int64)
	return &t
}

// LineageOf returns an event's LineageOf.
func (s *Store) LineageOf(ctx context.Context, tenant, eventID string) (*Lineage, error) {
	if !CleanText(eventID) {
		return nil, ErrNotFound
	}
	var (
		l                 Lineage
		recordedAt, store int64
		sha               sql.NullString
		line              sql.NullInt64
		payload           string
	)
	err := s.reader().QueryRowContext(ctx, s.d.rebind(`SELECT event_id, type, tenant, person_id, recorded_at, stored_at, topic,
		kafka_partition, kafka_offset, schema_id, source_sha256, source_line, payload FROM events WHERE tenant = ? AND event_id = ?`),
		tenant, eventID).Scan(&l.EventID, &l.Type, &l.Tenant, &l.PersonID, &recordedAt, &store, &l.Kafka.Topic,
		&l.Kafka.Partition, &l.Kafka.Offset, &l.Kafka.SchemaID, &sha, &line, &payload)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	// The event's own source is the authority (rows stored before the
	// source columns existed have them null).
	var ev struct {
		Source struct {
			FileName   string `json:"file_name"`
			FileSHA256 string `json:"file_sha256"`
			Line       int64  `json:"line"`
		} `json:"source"`
	}
	if err := json.Unmarshal([]byte(payload), &ev); err != nil {
		return nil, err
	}
	l.Source = LineageSource{FileName: ev.Source.FileName, FileSHA256: strings.ToLower(ev.Source.FileSHA256), Line: ev.Source.Line}
	l.Schema = LineageSchema{Subject: schemas.Subject(l.Kafka.Topic), ID: l.Kafka.SchemaID}
	rec, err := s.recordedLineage(ctx, tenant, eventID)
	if err != nil {
		return nil, err
	}
	published, stored := MillisRFC3339(recordedAt), MillisRFC3339(store)
	l.Source.RawRecordSHA256 = nullString(rec.raw)
	l.Stages = []LineageStage{{Stage: "ingest", At: nullTime(rec.ingested)}, {Stage: "normalise", At: nullTime(rec.normalised)},
		{Stage: "validate", At: nullTime(rec.validated)}, {Stage: "publish", At: &published}, {Stage: "api", At: &stored}}
	if l.File, err = s.lineageFile(ctx, tenant, l.Source.FileSHA256); err != nil {
		return nil, err
	}
	if l.File != nil {
		l.File.MappingVersion = nullString(rec.mapping)
		if rec.ruleSet.Valid {
			// The event's own rule set: a file's report names the one of its
			// verdict, the same unless the file was replayed under another.
			l.File.RuleSetVersion = rec.ruleSet.String
		}
	}
	// What is still unknown is named, never guessed.
	l.NotRecorded = []string{}
	if l.Source.RawRecordSHA256 == nil {
		l.NotRecorded = append(l.NotRecorded, "source.raw_record_sha256")
	}
	if l.File == nil || l.File.MappingVersion == nil {
		l.NotRecorded = append(l.NotRecorded, "file.mapping_version")
	}
	for _, st := range l.Stages[:3] {
		if st.At == nil {
			l.NotRecorded = append(l.NotRecorded, "stages."+st.Stage+".at")
		}
	}
	return &l, nil
}

// lineageFile describes a file from its reports; nil when there are none.
func (s *Store) lineageFile(ctx context.Context, tenant, sha string) (*LineageFile, error) {
	reports, err := s.queryReports(ctx, `SELECT report FROM file_reports WHERE tenant = ? AND sha256 = ?`, tenant, sha)
	if err != nil || len(reports) == 0 {
		return nil, err
	}
	var rep struct {
		File struct {
			Name    string `json:"name"`
			Dialect string `json:"dialect"`
			Kind    string `json:"kind"`
		} `json:"file"`
		Status         string `json:"status"`
		ReportedAt     string `json:"reported_at"`
		RuleSetVersion string `json:"rule_set_version"`
	}
	if err := json.Unmarshal(reports[0], &rep); err != nil {
		return nil, err
	}
	f := &LineageFile{Name: rep.File.Name, Status: rep.Status, Dialect: rep.File.Dialect, Kind: rep.File.Kind,
		RuleSetVersion: rep.RuleSetVersion, ReportedAt: rep.ReportedAt, History: []LineageReport{}}
	rows, err := s.reader().QueryContext(ctx, s.d.rebind(`SELECT status, reported_at FROM file_report_history WHERE tenant = ? AND sha256 = ?
		ORDER BY kafka_partition, kafka_offset, reported_at, status`), tenant, sha)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var h LineageReport
		var at int64
		if err := rows.Scan(&h.Status, &at); err != nil {
			return nil, err
		}
		h.ReportedAt = MillisRFC3339(at)
		f.History = append(f.History, h)
	}
	return f, rows.Err()
}

// FileEvents returns a page of the events a file caused, in (line,
// event_id) order after the given position.
func (s *Store) FileEvents(ctx context.Context, tenant, sha string, afterLine int64, afterID string, limit int) ([]Event, []int64, error) {
	rows, err := s.reader().QueryContext(ctx, s.d.rebind(`SELECT `+EventColumns+`, source_line FROM events
		WHERE tenant = ? AND source_sha256 = ? AND (source_line > ? OR (source_line = ? AND event_id > ?))
		ORDER BY source_line, event_id LIMIT ?`), tenant, sha, afterLine, afterLine, afterID, limit)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	out, lines := []Event{}, []int64{}
	for rows.Next() {
		var e Event
		var payload string
		var line int64
		if err := rows.Scan(&e.EventID, &e.Type, &e.Tenant, &e.PersonID, &e.EffectiveDate, &e.recordedAt,
			&e.Kafka.Topic, &e.Kafka.Partition, &e.Kafka.Offset, &e.Kafka.SchemaID, &payload, &e.Seq, &line); err != nil {
			return nil, nil, err
		}
		e.RecordedAt, e.Data = MillisRFC3339(e.recordedAt), json.RawMessage(payload)
		out, lines = append(out, e), append(lines, line)
	}
	return out, lines, rows.Err()
}
