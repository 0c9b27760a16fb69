package api

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/services/api/accesslog"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store"
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
		e := &accesslog.Entry{RequestID: uuid.NewString(), At: start, Client: auth.Anonymous}
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
		s.access.Log(accesslog.Entry{RequestID: uuid.NewString(), At: time.Now(), Client: auth.Anonymous, Status: status})
	})
}

// FlushAccessLog returns once every request answered before the call is in
// the access log.
func (s *Service) FlushAccessLog(ctx context.Context) error { return s.access.Flush(ctx) }

type accessLogList struct {
	AccessLog []store.AccessLogEntry `json:"access_log"`
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
	q := store.AccessQuery{Client: query.Get("client"), Path: query.Get("path"), Limit: n}
	for _, v := range []string{q.Client, q.Path} {
		if !store.CleanText(v) {
			writeError(w, http.StatusBadRequest, "client and path must be text without NUL")
			return
		}
	}
	if t := query.Get("tenant"); t != "" {
		if !store.ValidTenant(t) {
			writeError(w, http.StatusBadRequest, "tenant must be an ODS code (letters and digits)")
			return
		}
		q.Tenant = strings.ToUpper(t)
	}
	// A key for some tenants reads only their rows: it must name one.
	if c := clientOf(r); c != nil && !c.AllTenants() && (q.Tenant == "" || !c.Allows(q.Tenant)) {
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
		if q.AfterAt, q.AfterID, err = parseCursor(c); err != nil || !store.CleanText(q.AfterID) {
			writeError(w, http.StatusBadRequest, "bad cursor")
			return
		}
	}
	list, err := s.store.AccessLog(r.Context(), q)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := accessLogList{AccessLog: list}
	if len(list) == n {
		last := list[len(list)-1]
		out.NextCursor = makeCursor(last.AtMS, last.RequestID)
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
		n, err := s.store.DeleteAccessBefore(ctx, before)
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
