package api

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/services/api/accesslog"
)

func init() {
	// Every request takes a UUID (its access log row's id): read the
	// random bytes 16 at a time from a pool refilled in blocks, not with a
	// getrandom call each. The pool is crypto/rand all the same; enabling
	// it must happen before any UUID is made, hence init.
	uuid.EnableRandPool()
}

// reqLogKey holds the request's *accesslog.Entry, which guard fills in
// (client, tenant) and LogRequests writes once the response is done.
type reqLogKey struct{}

// LogRequests wraps h so that every request through it is one access log
// row, whatever answers it (a route, guard's 401/403/429, a mux's redirect
// or 404), queued once the handler has returned. Handler applies it; the
// binary applies it again around the whole port (the probes' mux, which
// redirects unclean paths itself), and the inner layer then steps aside:
// a request is logged once, by the outermost. The row is written
// asynchronously (accesslog): a client that has just read its response may
// not find it for up to the flush interval.
func (s *Service) LogRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if entryOf(r) != nil {
			h.ServeHTTP(w, r) // an outer layer logs it
			return
		}
		start := time.Now()
		e := &accesslog.Entry{RequestID: uuid.NewString(), At: start, Client: Anonymous}
		w.Header().Set("X-Request-Id", e.RequestID)
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			// Deferred, so a handler that panics (net/http answers nothing
			// and drops the connection) is logged too, as a 500 unless it
			// had answered already.
			p := recover()
			switch {
			case rec.status != 0:
			case p != nil:
				rec.status = http.StatusInternalServerError
			default:
				rec.status = http.StatusOK
			}
			e.Status, e.Duration = rec.status, time.Since(start)
			e.Method, e.Path = capText(r.Method, maxLoggedMethod), capText(r.URL.Path, MaxLoggedPath)
			s.access.Log(*e)
			if p != nil {
				panic(p)
			}
		}()
		h.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), reqLogKey{}, e)))
	})
}

// entryOf returns the access log entry of a request LogRequests wraps.
func entryOf(r *http.Request) *accesslog.Entry {
	e, _ := r.Context().Value(reqLogKey{}).(*accesslog.Entry)
	return e
}

// WrapListener wraps the api's listener so the answers net/http writes
// itself (431 header too large, 400 malformed request), which no handler
// sees, are in the access log too: anonymous, with no method or path (the
// request could not be read). Whoever serves Handler should serve it on a
// listener wrapped by this.
func (s *Service) WrapListener(ln net.Listener) net.Listener {
	return accesslog.WrapListener(ln, func(status int) {
		s.access.Log(accesslog.Entry{RequestID: uuid.NewString(), At: time.Now(), Client: Anonymous, Status: status})
	})
}

// FlushAccessLog returns once every request answered before the call is in
// the access log.
func (s *Service) FlushAccessLog(ctx context.Context) error { return s.access.Flush(ctx) }

// logAccess writes a batch of access log rows in one statement. A request
// id already stored (a retried batch) is skipped.
func (s *store) logAccess(ctx context.Context, batch []accesslog.Entry) error {
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

	at int64
}

// accessQuery selects access log rows, newest first.
type accessQuery struct {
	Client, Tenant, Path string
	Status               int
	Since, Until         time.Time // zero: unbounded; Since inclusive, Until exclusive
	// After continues a listing after the row (AfterAt, AfterID).
	AfterAt int64
	AfterID string
	Limit   int
}

func (s *store) accessLog(ctx context.Context, q accessQuery) ([]AccessLogEntry, error) {
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
		if err := rows.Scan(&e.RequestID, &e.at, &e.Client, &e.Method, &e.Path, &tenant, &e.Status, &e.DurationUS); err != nil {
			return nil, err
		}
		e.At, e.Tenant = millisRFC3339(e.at), nullable(tenant)
		out = append(out, e)
	}
	return out, rows.Err()
}

type accessLogList struct {
	AccessLog []AccessLogEntry `json:"access_log"`
	// NextCursor continues the listing (?cursor=); empty at the end.
	NextCursor string `json:"next_cursor,omitempty"`
}

// getAccessLog serves GET /v1/access-log (scope admin), newest first. A key
// for every tenant ("*") reads every row, those with no tenant included; a
// key for some tenants reads one of its tenants' rows at a time.
func (s *Service) getAccessLog(w http.ResponseWriter, r *http.Request) {
	n, ok := limit(w, r)
	if !ok {
		return
	}
	query := r.URL.Query()
	q := accessQuery{Client: query.Get("client"), Path: query.Get("path"), Limit: n}
	for _, v := range []string{q.Client, q.Path} {
		if !cleanText(v) {
			writeError(w, http.StatusBadRequest, "client and path must be text without NUL")
			return
		}
	}
	if t := query.Get("tenant"); t != "" {
		if !tenantRE.MatchString(t) {
			writeError(w, http.StatusBadRequest, "tenant must be an ODS code (letters and digits)")
			return
		}
		q.Tenant = strings.ToUpper(t)
	}
	// A key for some tenants reads only their rows: it must name one.
	if c := clientOf(r); c != nil && !c.allTenants && (q.Tenant == "" || !c.allows(q.Tenant)) {
		writeError(w, http.StatusForbidden, `this API key may read the access log of its own tenants only: pass ?tenant= (a key for "*" reads every row)`)
		return
	}
	if v := query.Get("status"); v != "" {
		st, err := strconv.Atoi(v)
		if err != nil || st < 100 || st > 599 {
			writeError(w, http.StatusBadRequest, "status must be an HTTP status code (100 to 599)")
			return
		}
		q.Status = st
	}
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if v := query.Get(b.name); v != "" {
			at, err := parseSince(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, b.name+" must be an RFC 3339 timestamp or a YYYY-MM-DD date")
				return
			}
			*b.dst = at
		}
	}
	if c := query.Get("cursor"); c != "" {
		var err error
		if q.AfterAt, q.AfterID, err = parseCursor(c); err != nil || !cleanText(q.AfterID) {
			writeError(w, http.StatusBadRequest, "bad cursor")
			return
		}
	}
	list, err := s.store.accessLog(r.Context(), q)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := accessLogList{AccessLog: list}
	if len(list) == n {
		last := list[len(list)-1]
		out.NextCursor = makeCursor(last.at, last.RequestID)
	}
	writeJSON(w, http.StatusOK, out)
}

// sweepAccessLog deletes access log rows older than the retention, at
// start and then hourly, until ctx ends.
func (s *Service) sweepAccessLog(ctx context.Context) {
	if s.cfg.AccessLogRetention <= 0 {
		return
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		before := time.Now().Add(-s.cfg.AccessLogRetention)
		n, err := s.store.deleteAccessBefore(ctx, before)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("access log retention: deleting old rows failed", zap.Error(err))
		case n > 0:
			s.log.Info("access log retention: old rows deleted", zap.Int64("rows", n), zap.Time("before", before))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// deleteAccessBefore deletes the access log rows written before t.
func (s *store) deleteAccessBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.d.rebind(`DELETE FROM access_log WHERE at < ?`), t.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
