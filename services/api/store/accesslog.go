package store

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/esrflow/esrflow/services/api/accesslog"
)

// LogAccess writes a batch of access log rows in one statement. A request
// id already stored (a retried batch) is skipped.
func (s *Store) LogAccess(ctx context.Context, batch []accesslog.Entry) error {
	if len(batch) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO access_log (request_id, at, client, method, path, tenant, status, duration_us) VALUES `)
	args := make([]any, 0, 8*len(batch))
	for i, e := range batch {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, e.RequestID, e.At.UnixMilli(), e.Client, e.Method, e.Path,
			sql.NullString{String: e.Tenant, Valid: e.Tenant != ""}, e.Status, e.Duration.Microseconds())
	}
	q.WriteString(` ON CONFLICT (request_id) DO NOTHING`)
	_, err := s.db.ExecContext(ctx, s.d.rebind(q.String()), args...)
	return err
}

// AccessLogEntry is one access log row as GET /v1/access-log serves it.
type AccessLogEntry struct {
	RequestID  string  `json:"request_id"`
	At         string  `json:"at"`
	Client     string  `json:"client"`
	Method     string  `json:"method"`
	Path       string  `json:"path"`
	Tenant     *string `json:"tenant"`
	Status     int     `json:"status"`
	DurationUS int64   `json:"duration_us"`

	AtMS int64 `json:"-"`
}

// accessQuery selects access log rows, newest first.
type AccessQuery struct {
	Client, Tenant, Path string
	Status               int
	Since, Until         time.Time // zero: unbounded; Since inclusive, Until exclusive
	// After continues a listing after the row (AfterAt, AfterID).
	AfterAt int64
	AfterID string
	Limit   int
}

func (s *Store) AccessLog(ctx context.Context, q AccessQuery) ([]AccessLogEntry, error) {
	where := []string{"1 = 1"}
	var args []any
	add := func(cond string, v ...any) { where, args = append(where, cond), append(args, v...) }
	if q.Client != "" {
		add("client = ?", q.Client)
	}
	if q.Tenant != "" {
		add("tenant = ?", q.Tenant)
	}
	if q.Path != "" {
		add("path = ?", q.Path)
	}
	if q.Status != 0 {
		add("status = ?", q.Status)
	}
	if !q.Since.IsZero() {
		add("at >= ?", q.Since.UnixMilli())
	}
	if !q.Until.IsZero() {
		add("at < ?", q.Until.UnixMilli())
	}
	if q.AfterID != "" {
		add("(at < ? OR (at = ? AND request_id < ?))", q.AfterAt, q.AfterAt, q.AfterID)
	}
	args = append(args, q.Limit)
	rows, err := s.queryRead(ctx, `SELECT request_id, at, client, method, path, tenant, status, duration_us
		FROM access_log WHERE `+strings.Join(where, " AND ")+` ORDER BY at DESC, request_id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AccessLogEntry{}
	for rows.Next() {
		var e AccessLogEntry
		var tenant sql.NullString
		if err := rows.Scan(&e.RequestID, &e.AtMS, &e.Client, &e.Method, &e.Path, &tenant, &e.Status, &e.DurationUS); err != nil {
			return nil, err
		}
		e.At, e.Tenant = MillisRFC3339(e.AtMS), nullable(tenant)
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteAccessBefore deletes the access log rows written before t.
func (s *Store) DeleteAccessBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.d.rebind(`DELETE FROM access_log WHERE at < ?`), t.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
