package api

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/esrflow/esrflow/schemas"
)

// Lineage is where an event came from and what it passed through, as far
// as the api can know it (docs/api.md, Lineage). The api reads the public
// events and the file reports, not the internal topics, so what those do
// not carry is null and named in NotRecorded rather than guessed.
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

// notRecorded lists what lineage cannot tell: none of it is in a public
// event or a file report.
var notRecorded = []string{"source.raw_record_sha256", "file.mapping_version",
	"stages.ingest.at", "stages.normalise.at", "stages.validate.at"}

// lineage returns an event's lineage.
func (s *store) lineage(ctx context.Context, tenant, eventID string) (*Lineage, error) {
	if !cleanText(eventID) {
		return nil, errNotFound
	}
	var (
		l                 Lineage
		recordedAt, store int64
		sha               sql.NullString
		line              sql.NullInt64
		payload           string
	)
	err := s.db.QueryRowContext(ctx, s.d.rebind(`SELECT event_id, type, tenant, person_id, recorded_at, stored_at, topic,
		kafka_partition, kafka_offset, schema_id, source_sha256, source_line, payload FROM events WHERE tenant = ? AND event_id = ?`),
		tenant, eventID).Scan(&l.EventID, &l.Type, &l.Tenant, &l.PersonID, &recordedAt, &store, &l.Kafka.Topic,
		&l.Kafka.Partition, &l.Kafka.Offset, &l.Kafka.SchemaID, &sha, &line, &payload)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
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
	recorded, stored := millisRFC3339(recordedAt), millisRFC3339(store)
	l.Stages = []LineageStage{{Stage: "ingest"}, {Stage: "normalise"}, {Stage: "validate"},
		{Stage: "publish", At: &recorded}, {Stage: "api", At: &stored}}
	l.NotRecorded = notRecorded
	if l.File, err = s.lineageFile(ctx, tenant, l.Source.FileSHA256); err != nil {
		return nil, err
	}
	return &l, nil
}

// lineageFile describes a file from its reports; nil when there are none.
func (s *store) lineageFile(ctx context.Context, tenant, sha string) (*LineageFile, error) {
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
	rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT status, reported_at FROM file_report_history WHERE tenant = ? AND sha256 = ?
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
		h.ReportedAt = millisRFC3339(at)
		f.History = append(f.History, h)
	}
	return f, rows.Err()
}

// fileEvents returns a page of the events a file caused, in (line,
// event_id) order after the given position.
func (s *store) fileEvents(ctx context.Context, tenant, sha string, afterLine int64, afterID string, limit int) ([]Event, []int64, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT `+eventColumns+`, source_line FROM events
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
			&e.Kafka.Topic, &e.Kafka.Partition, &e.Kafka.Offset, &e.Kafka.SchemaID, &payload, &line); err != nil {
			return nil, nil, err
		}
		e.RecordedAt, e.Data = millisRFC3339(e.recordedAt), json.RawMessage(payload)
		out, lines = append(out, e), append(lines, line)
	}
	return out, lines, rows.Err()
}

func (s *Service) getLineage(w http.ResponseWriter, r *http.Request) {
	t, ok := tenant(w, r)
	if !ok {
		return
	}
	l, err := s.store.lineage(r.Context(), t, r.PathValue("event_id"))
	switch {
	case errors.Is(err, errNotFound):
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
	if !isSHA256(sha) {
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
		if afterLine, afterID, err = parseCursor(c); err != nil || !cleanText(afterID) {
			writeError(w, http.StatusBadRequest, "bad cursor")
			return
		}
	}
	evs, lines, err := s.store.fileEvents(r.Context(), t, sha, afterLine, afterID, n+1)
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
