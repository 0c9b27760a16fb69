package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/minimise"
	"github.com/esrflow/esrflow/services/api/store"
)

// Handler serves the JSON API (docs/api.md). It is the handler the binary
// mounts beside /metrics, /healthz and /readyz, and what `esrflow up` mounts
// in-process. Every route goes through guard (authentication, scope and
// tenant checks), and every request, routed or not, is in the access log
// (LogRequests). Serve it on a listener wrapped by WrapListener so the
// requests net/http answers itself are logged too.
func (s *Service) Handler() http.Handler {
	if s.console == nil {
		return s.LogRequests(s.routes)
	}
	mux := http.NewServeMux()
	mux.Handle("/", s.routes)
	ch := s.console.Handler()
	mux.Handle("/console", ch)
	mux.Handle("/console/", ch)
	return s.LogRequests(mux)
}

// newRoutes is the api's router: every /v1 endpoint and the contracts,
// without the access log (Handler adds it around the routes and the
// console both, so a console page and the calls it makes are one row).
func (s *Service) newRoutes() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, h http.HandlerFunc, scopes ...string) {
		mux.Handle(pattern, s.guard(h, scopes...))
	}
	route("GET /v1/tenants/{tenant}/people/{person_id}", s.getPerson, auth.ScopeReadPeople)
	route("GET /v1/tenants/{tenant}/people/{person_id}/events", s.getPersonEvents, auth.ScopeReadPeople)
	route("GET /v1/tenants/{tenant}/events", s.getEvents, auth.ScopeReadEvents)
	// Current state and lineage (state.go, lineage.go).
	route("GET /v1/tenants/{tenant}/people", s.getPeople, auth.ScopeReadPeople)
	route("GET /v1/tenants/{tenant}/people/{person_id}/assignments", s.getPersonAssignments, auth.ScopeReadPeople)
	route("GET /v1/tenants/{tenant}/positions", s.getPositions, auth.ScopeReadPeople)
	route("GET /v1/tenants/{tenant}/positions/{number}", s.getPosition, auth.ScopeReadPeople)
	route("GET /v1/tenants/{tenant}/organisations", s.getPlaces("organisation", "organisations"), auth.ScopeReadPeople)
	route("GET /v1/tenants/{tenant}/organisations/{name}", s.getPlace("organisation", "organisation"), auth.ScopeReadPeople)
	route("GET /v1/tenants/{tenant}/locations", s.getPlaces("location", "locations"), auth.ScopeReadPeople)
	route("GET /v1/tenants/{tenant}/locations/{name}", s.getPlace("location", "location"), auth.ScopeReadPeople)
	route("GET /v1/tenants/{tenant}/events/{event_id}/lineage", s.getLineage, auth.ScopeReadEvents)
	route("GET /v1/tenants/{tenant}/files/{sha256}/events", s.getFileEvents, auth.ScopeReadEvents)
	route("GET /v1/tenants/{tenant}/files/{sha256}/quarantine", s.getFileQuarantine, auth.ScopeQuarantineRead)
	route("GET /v1/tenants/{tenant}/files/{sha256}/lines", s.getFileLines, auth.ScopeQuarantineRead)
	route("GET /v1/tenants/{tenant}/files", s.getFiles, auth.ScopeReadFiles)
	route("GET /v1/tenants/{tenant}/files/{file}", s.getFile, auth.ScopeReadFiles)
	route("POST /v1/tenants/{tenant}/files", s.postFile, auth.ScopeFilesWrite, auth.ScopeOperate)
	route("POST /v1/tenants/{tenant}/files/{sha256}/release", s.decideFile(internalv1.IntakeActionRelease), auth.ScopeOperate)
	route("POST /v1/tenants/{tenant}/files/{sha256}/discard", s.decideFile(internalv1.IntakeActionDiscard), auth.ScopeOperate)
	route("GET /v1/tenants/{tenant}/held-batches", s.getHeldBatches, auth.ScopeReadBatches)
	route("GET /v1/tenants/{tenant}/held-batches/{batch_id}", s.getHeldBatch, auth.ScopeReadBatches)
	route("POST /v1/tenants/{tenant}/held-batches/{batch_id}/release", s.decide(internalv1.OperatorActionRelease), auth.ScopeOperate)
	route("POST /v1/tenants/{tenant}/held-batches/{batch_id}/reject", s.decide(internalv1.OperatorActionReject), auth.ScopeOperate)
	route("GET /v1/tenants/{tenant}/audit", s.getAudit, auth.ScopeOperate, auth.ScopeReadBatches)
	route("GET /v1/tenants/{tenant}/dead-letters", s.getDeadLetters, auth.ScopeOperate, auth.ScopeReadBatches)
	route("GET /v1/tenants/{tenant}/quarantine", s.getQuarantine, auth.ScopeQuarantineRead)
	route("GET /v1/tenants/{tenant}/quarantine/{id}", s.getQuarantineItem, auth.ScopeQuarantineRead)
	route("POST /v1/tenants/{tenant}/quarantine/replay", s.postReplay, auth.ScopeOperate)
	route("GET /v1/tenants/{tenant}/replays", s.getReplays, auth.ScopeQuarantineRead, auth.ScopeOperate)
	route("GET /v1/tenants/{tenant}/replays/{replay_id}", s.getReplay, auth.ScopeQuarantineRead, auth.ScopeOperate)
	route("POST /v1/tenants/{tenant}/webhooks", s.postWebhook, auth.ScopeOperate)
	route("GET /v1/tenants/{tenant}/webhooks", s.getWebhooks, auth.ScopeOperate)
	route("GET /v1/tenants/{tenant}/webhooks/{webhook_id}", s.getWebhook, auth.ScopeOperate)
	route("DELETE /v1/tenants/{tenant}/webhooks/{webhook_id}", s.deleteWebhook, auth.ScopeOperate)
	route("GET /v1/tenants/{tenant}/webhooks/{webhook_id}/deliveries", s.getWebhookDeliveries, auth.ScopeOperate)
	route("GET /v1/tenants/{tenant}/webhooks/{webhook_id}/dead-letters", s.getWebhookDeadLetters, auth.ScopeOperate)
	route("POST /v1/tenants/{tenant}/webhooks/{webhook_id}/dead-letters/replay", s.postWebhookReplay, auth.ScopeOperate)
	// Who the caller is, and the region overview (overview.go).
	route("GET /v1/whoami", s.getWhoami)
	route("GET /v1/tenants", s.getTenants, auth.ScopeReadFiles)
	route("POST /v1/keys", s.postKey, auth.ScopeAdmin)
	route("GET /v1/keys", s.getKeys, auth.ScopeAdmin)
	route("DELETE /v1/keys/{id}", s.deleteKey, auth.ScopeAdmin)
	route("GET /v1/access-log", s.getAccessLog, auth.ScopeAdmin)
	// The published contracts (docs/api-reference.md): no key, no tenant data.
	mux.HandleFunc("GET /openapi.json", serveDocument(openAPIJSON))
	mux.HandleFunc("GET /asyncapi.json", serveDocument(asyncAPIJSON))
	// Unknown endpoints still need a valid key when clients are configured,
	// so probing paths reveals nothing to a caller without one.
	route("/v1/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
	return mux
}

// problem is an error body: an RFC 9457 problem details object. Type is
// always about:blank, so Title is the status's reason phrase; Detail says
// what was wrong with this request. Error repeats Detail under the name
// every error body had before problem details, as an extension member, so
// clients (and the CLI) that read "error" keep working.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance,omitempty"`
	Error    string `json:"error"`
}

// problemContentType is the media type of every error body.
const problemContentType = "application/problem+json"

// encodeAnswer encodes v as the answer's JSON. Through guard's recorder it
// is also where field minimisation happens, once for every endpoint
// (writeJSON, writeEntity): a client without people:sensitive gets the
// answer without the members minimise.Fields names.
func encodeAnswer(w http.ResponseWriter, v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // JSON for programs, not HTML: keep < > & as they are
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if rec, _ := w.(*statusRecorder); rec != nil && rec.minimise {
		return minimise.JSON(b.Bytes()), nil
	}
	return b.Bytes(), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := encodeAnswer(w, v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers status with a problem details body: the one place
// every error response of the api is written. Its instance is the request's
// id (guard sets X-Request-Id first), so a caller quoting it can be found in
// the access log.
func writeError(w http.ResponseWriter, status int, msg string) {
	p := problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: msg, Error: msg}
	if id := w.Header().Get("X-Request-Id"); id != "" {
		p.Instance = "urn:uuid:" + id
	}
	w.Header().Set("Content-Type", problemContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(p)
}

// writeEntity answers 200 with one entity (a person, a position ...) and a
// strong ETag: a hash of the exact bytes sent, so it changes whenever the
// representation does (also when a client's scopes shape it differently).
// A GET whose If-None-Match names that tag gets 304 and no body. Such
// responses may be kept by the client (private) but must be revalidated
// (no-cache), which is what makes the tag useful.
func writeEntity(w http.ResponseWriter, r *http.Request, v any) {
	body, err := encodeAnswer(w, v) // minimised first: the tag is of what is sent
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, no-cache")
	if etagMatches(r.Header.Values("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// etagMatches applies If-None-Match (RFC 9110 13.1.2): "*", or a list of
// tags compared weakly (a W/ prefix is ignored).
func etagMatches(headers []string, etag string) bool {
	for _, h := range headers {
		for _, t := range strings.Split(h, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == etag {
				return true
			}
		}
	}
	return false
}

// internal answers 500 and logs the cause (never request values: they may be
// person ids).
func (s *Service) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("api request failed", zap.String("route", r.Pattern), zap.Error(err))
	writeError(w, http.StatusInternalServerError, "internal error")
}

// tenant returns the path's tenant as an upper-case ODS code.
func tenant(w http.ResponseWriter, r *http.Request) (string, bool) {
	t := r.PathValue("tenant")
	if !store.ValidTenant(t) {
		writeError(w, http.StatusBadRequest, "tenant must be an ODS code (letters and digits)")
		return "", false
	}
	return strings.ToUpper(t), true
}

func limit(w http.ResponseWriter, r *http.Request) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return store.DefaultLimit, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > store.MaxLimit {
		writeError(w, http.StatusBadRequest, "limit must be 1 to "+strconv.Itoa(store.MaxLimit))
		return 0, false
	}
	return n, true
}

// tenantAndLimit reads a listing's tenant and ?limit=, answering 400 for
// either.
func tenantAndLimit(w http.ResponseWriter, r *http.Request) (string, int, bool) {
	t, ok := tenant(w, r)
	if !ok {
		return "", 0, false
	}
	n, ok := limit(w, r)
	return t, n, ok
}

func (s *Service) getPerson(w http.ResponseWriter, r *http.Request) {
	if p, ok := s.pathPerson(w, r); ok {
		writeEntity(w, r, p)
	}
}

// pathPerson returns the path's person, or answers 400, 404 or 500.
func (s *Service) pathPerson(w http.ResponseWriter, r *http.Request) (*store.Person, bool) {
	t, ok := tenant(w, r)
	if !ok {
		return nil, false
	}
	p, err := s.store.PersonByID(r.Context(), t, r.PathValue("person_id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "person not found")
	case err != nil:
		s.internal(w, r, err)
	default:
		return p, true
	}
	return nil, false
}

type eventList struct {
	Events []store.Event `json:"events"`
	// NextCursor continues the listing (?cursor=); empty at the end.
	NextCursor string `json:"next_cursor,omitempty"`
	// Cursor is the feed position after this page (?after=): always set
	// on the tenant feed, the request's own when the page is empty.
	Cursor string `json:"cursor,omitempty"`
}

func (s *Service) getPersonEvents(w http.ResponseWriter, r *http.Request) {
	t, ok := tenant(w, r)
	if !ok {
		return
	}
	id := r.PathValue("person_id")
	if _, err := s.store.PersonByID(r.Context(), t, id); errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "person not found")
		return
	} else if err != nil {
		s.internal(w, r, err)
		return
	}
	evs, err := s.store.PersonEvents(r.Context(), t, id, store.MaxLimit)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, eventList{Events: evs})
}

func parseSince(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, v)
}

func makeCursor(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at, 10) + ":" + id))
}

func parseCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", err
	}
	at, id, ok := strings.Cut(string(b), ":")
	if !ok || id == "" {
		return 0, "", errors.New("bad cursor")
	}
	n, err := strconv.ParseInt(at, 10, 64)
	return n, id, err
}

type fileList struct {
	Files []json.RawMessage `json:"files"`
	// NextCursor continues the listing (?cursor=); empty at the end.
	NextCursor string `json:"next_cursor,omitempty"`
}

func (s *Service) getFiles(w http.ResponseWriter, r *http.Request) {
	t, n, ok := tenantAndLimit(w, r)
	if !ok {
		return
	}
	q := store.FileQuery{Tenant: t, Limit: n}
	query := r.URL.Query()
	if st := query.Get("status"); st != "" {
		switch st = strings.ToUpper(st); internalv1.FileStatus(st) {
		case internalv1.FileStatusAccepted, internalv1.FileStatusRejected, internalv1.FileStatusDuplicate,
			internalv1.FileStatusHeld, internalv1.FileStatusReleased, internalv1.FileStatusDiscarded:
			q.Status = st
		default:
			writeError(w, http.StatusBadRequest, "status must be ACCEPTED, REJECTED, DUPLICATE, HELD, RELEASED or DISCARDED")
			return
		}
	}
	if c := query.Get("cursor"); c != "" {
		var ok bool
		if q.AfterAt, q.AfterSHA, q.AfterName, q.AfterKind, ok = parseFileCursor(c); !ok {
			writeError(w, http.StatusBadRequest, "bad cursor")
			return
		}
		q.After = true
	}
	rows, err := s.store.Files(r.Context(), q)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := fileList{Files: make([]json.RawMessage, len(rows))}
	for i, f := range rows {
		out.Files[i] = f.Report
	}
	if len(rows) == n {
		last := rows[len(rows)-1]
		out.NextCursor = makeCursor(last.ReportedAt, strconv.Itoa(last.Kind)+":"+last.SHA256+":"+last.FileName)
	}
	writeJSON(w, http.StatusOK, out)
}

// parseFileCursor reads a file listing's cursor: the last row's
// reported_at, sha256, file_name and kind.
func parseFileCursor(c string) (at int64, sha, name string, kind int, ok bool) {
	at, id, err := parseCursor(c)
	if err != nil || !store.CleanText(id) {
		return 0, "", "", 0, false
	}
	k, rest, ok1 := strings.Cut(id, ":")
	sha, name, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || (k != "0" && k != "1") {
		return 0, "", "", 0, false
	}
	return at, sha, name, int(k[0] - '0'), true
}

func (s *Service) getFile(w http.ResponseWriter, r *http.Request) {
	t, ok := tenant(w, r)
	if !ok {
		return
	}
	rep, err := s.store.FileReportJSON(r.Context(), t, r.PathValue("file"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "file not found")
	case err != nil:
		s.internal(w, r, err)
	default:
		writeJSON(w, http.StatusOK, rep)
	}
}

type heldBatchList struct {
	HeldBatches []store.HeldBatch `json:"held_batches"`
}

func (s *Service) getHeldBatches(w http.ResponseWriter, r *http.Request) {
	t, n, ok := tenantAndLimit(w, r)
	if !ok {
		return
	}
	status := r.URL.Query().Get("status")
	switch internalv1.HeldBatchStatus(status) {
	case "", internalv1.HeldBatchStatusHeld, internalv1.HeldBatchStatusReleased, internalv1.HeldBatchStatusRejected:
	default:
		writeError(w, http.StatusBadRequest, "status must be HELD, RELEASED or REJECTED")
		return
	}
	list, err := s.store.HeldBatches(r.Context(), t, status, n)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, heldBatchList{HeldBatches: list})
}

func (s *Service) getHeldBatch(w http.ResponseWriter, r *http.Request) {
	t, ok := tenant(w, r)
	if !ok {
		return
	}
	b, err := s.store.HeldBatchByID(r.Context(), t, r.PathValue("batch_id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "held batch not found")
	case err != nil:
		s.internal(w, r, err)
	default:
		writeJSON(w, http.StatusOK, b)
	}
}

type auditList struct {
	Audit []store.AuditEntry `json:"audit"`
}

func (s *Service) getAudit(w http.ResponseWriter, r *http.Request) {
	t, n, ok := tenantAndLimit(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	list, err := s.store.Audit(r.Context(), store.AuditQuery{Tenant: t, BatchID: q.Get("batch_id"), FileSHA256: q.Get("file_sha256"), Limit: n})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, auditList{Audit: list})
}
