package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/esrflow/esrflow/services/api/accesslog"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store"
)

// errOperateNeedsKey is the answer to an operate request when no clients are
// configured: reads stay open on one machine, decisions never are.
const errOperateNeedsKey = "an API key with the operate scope is required: this api has no API clients configured (--auth.clients)"

// errUploadNeedsKey is the same answer for an upload.
const errUploadNeedsKey = "an API key with the files:write or operate scope is required: this api has no API clients configured (--auth.clients)"

type clientKey struct{}

// clientOf returns the client a guarded request was authenticated as; nil in
// the open (no clients) mode.
func clientOf(r *http.Request) *auth.Caller {
	c, _ := r.Context().Value(clientKey{}).(*auth.Caller)
	return c
}

// errAdminNeedsKey is the same answer for key management and the access log.
const errAdminNeedsKey = "an API key with the admin scope is required: this api has no API clients configured (--auth.clients)"

// writes reports whether every scope that grants an endpoint is one that
// changes things (operate, files:write, admin): such an endpoint is never
// open without a key, even in the embedded mode.
func writes(scopes []string) bool {
	for _, s := range scopes {
		if s != auth.ScopeOperate && s != auth.ScopeFilesWrite && s != auth.ScopeAdmin {
			return false
		}
	}
	return len(scopes) > 0
}

// statusRecorder remembers the status a handler answered with.
// It also carries whether the JSON written through it is minimised
// (writeJSON): the one place field minimisation is decided.
type statusRecorder struct {
	http.ResponseWriter
	status   int
	minimise bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's writer
// (Flush, deadlines) through the recorder.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// guard wraps a handler: it authenticates the request, checks that the
// client holds one of scopes (none: any authenticated client) and may see
// the path's tenant, and runs h. It names the client and tenant in the
// request's access log entry, which LogRequests (around the whole mux)
// writes.
func (s *Service) guard(h http.HandlerFunc, scopes ...string) http.Handler {
	operate := writes(scopes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, minimise: true}
		tenant := strings.ToUpper(r.PathValue("tenant"))
		if !store.ValidTenant(tenant) {
			tenant = ""
		}
		e := entryOf(r)
		if e == nil {
			e = &accesslog.Entry{} // guard used without LogRequests (never in Handler)
		}
		e.Tenant = tenant
		c, ok, _ := s.authorize(rec, r, tenant, operate, scopes)
		if c != nil {
			e.Client = c.Name()
		}
		if ok {
			if c != nil {
				r = r.WithContext(context.WithValue(r.Context(), clientKey{}, c))
				// Without people:sensitive every JSON answer leaves out the
				// fields minimise.Fields names; anonymous (open mode)
				// callers never hold it.
				rec.minimise = !c.Sensitive()
			}
			h(rec, r)
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.m.requests.WithLabelValues(r.Pattern, strconv.Itoa(rec.status)).Inc()
	})
}

// authorize answers 401, 403 or 429 and returns false when the request may
// not proceed. It returns the authenticated client (nil when anonymous), also
// on a 403 so the access log names who was refused, and whether the answer
// was 429: too many requests without a valid key from this address.
func (s *Service) authorize(w http.ResponseWriter, r *http.Request, tenant string, operate bool, scopes []string) (*auth.Caller, bool, bool) {
	if s.auth.Open() {
		if operate {
			msg := errOperateNeedsKey
			if slices.Contains(scopes, auth.ScopeFilesWrite) {
				msg = errUploadNeedsKey
			} else if slices.Contains(scopes, auth.ScopeAdmin) {
				msg = errAdminNeedsKey
			}
			return nil, false, s.unauthorized(w, r, msg)
		}
		return nil, true, false
	}
	c, err := s.auth.Identify(r)
	if errors.Is(err, auth.ErrKeysUnavailable) {
		s.log.Warn("reading the api keys failed") // the cause is not logged: it is the database's, logged there
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return nil, false, false
	}
	if err != nil {
		return nil, false, s.unauthorized(w, r, err.Error())
	}
	// The tenant comes first: a key for another tenant gets the same answer
	// from every endpoint. A malformed tenant is left to the handler's 400.
	if tenant != "" && !c.Allows(tenant) {
		writeError(w, http.StatusForbidden, "this API key is not allowed tenant "+tenant)
		return c, false, false
	}
	if len(scopes) > 0 && !c.HasAny(scopes) {
		writeError(w, http.StatusForbidden, "this API key lacks the "+strings.Join(scopes, " or ")+" scope")
		return c, false, false
	}
	return c, true, false
}

// unauthorized answers 401, or 429 when this address has sent too many
// requests without a valid key (reported true).
func (s *Service) unauthorized(w http.ResponseWriter, r *http.Request, msg string) bool {
	if !s.unauth.allow(r) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "too many requests without a valid API key")
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="esrflow"`)
	writeError(w, http.StatusUnauthorized, msg)
	return false
}
