// Package httpapi serves the Confluent Schema Registry REST API (v1 media
// type) over the core service.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/services/registry/internal/core"
	"github.com/esrflow/esrflow/services/registry/internal/store"
)

// ContentType is Confluent's response media type.
const ContentType = "application/vnd.schemaregistry.v1+json"

// maxBody bounds request bodies; Avro schemas are small.
const maxBody = 8 << 20

// API is the HTTP handler.
type API struct {
	svc   *core.Service
	log   *zap.Logger
	ready func() error
	mux   *http.ServeMux

	requests *prometheus.HistogramVec
}

// New builds the handler. ready gates every request until the registry has
// read its topic; reg may be nil.
func New(svc *core.Service, log *zap.Logger, ready func() error, reg prometheus.Registerer) (*API, error) {
	a := &API{svc: svc, log: log, ready: ready, mux: http.NewServeMux()}
	a.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "esrflow",
		Subsystem: "registry",
		Name:      "http_request_duration_seconds",
		Help:      "Schema registry API requests by route and status code.",
	}, []string{"route", "code"})
	if reg != nil {
		if err := reg.Register(a.requests); err != nil {
			return nil, fmt.Errorf("registering http metrics: %w", err)
		}
	}
	a.routes()
	return a, nil
}

func (a *API) routes() {
	m := a.mux
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { a.write(w, r, map[string]any{}) })

	m.HandleFunc("GET /subjects", a.listSubjects)
	m.HandleFunc("GET /subjects/{subject}/versions", a.listVersions)
	m.HandleFunc("POST /subjects/{subject}/versions", a.register)
	m.HandleFunc("GET /subjects/{subject}/versions/{version}", a.getVersion)
	m.HandleFunc("GET /subjects/{subject}/versions/{version}/schema", a.getVersionSchema)
	m.HandleFunc("GET /subjects/{subject}/versions/{version}/referencedby", a.referencedBy)
	m.HandleFunc("DELETE /subjects/{subject}/versions/{version}", a.deleteVersion)
	m.HandleFunc("POST /subjects/{subject}", a.lookup)
	m.HandleFunc("DELETE /subjects/{subject}", a.deleteSubject)

	m.HandleFunc("GET /schemas", a.allSchemas)
	m.HandleFunc("GET /schemas/types", func(w http.ResponseWriter, r *http.Request) { a.write(w, r, []string{"AVRO"}) })
	m.HandleFunc("GET /schemas/ids/{id}", a.schemaByID)
	m.HandleFunc("GET /schemas/ids/{id}/schema", a.schemaTextByID)
	m.HandleFunc("GET /schemas/ids/{id}/subjects", a.subjectsByID)
	m.HandleFunc("GET /schemas/ids/{id}/versions", a.versionsByID)

	m.HandleFunc("GET /config", a.getConfig)
	m.HandleFunc("PUT /config", a.putConfig)
	m.HandleFunc("DELETE /config", a.deleteConfig)
	m.HandleFunc("GET /config/{subject}", a.getConfig)
	m.HandleFunc("PUT /config/{subject}", a.putConfig)
	m.HandleFunc("DELETE /config/{subject}", a.deleteConfig)

	m.HandleFunc("GET /mode", a.getMode)
	m.HandleFunc("PUT /mode", a.putMode)
	m.HandleFunc("DELETE /mode", a.deleteMode)
	m.HandleFunc("GET /mode/{subject}", a.getMode)
	m.HandleFunc("PUT /mode/{subject}", a.putMode)
	m.HandleFunc("DELETE /mode/{subject}", a.deleteMode)

	m.HandleFunc("POST /compatibility/subjects/{subject}/versions/{version}", a.checkCompatibility)
	m.HandleFunc("POST /compatibility/subjects/{subject}/versions", a.checkCompatibility)

	// Only the default context exists; clients that list contexts expect it.
	m.HandleFunc("GET /contexts", func(w http.ResponseWriter, r *http.Request) { a.write(w, r, []string{"."}) })
}

// statusRecorder remembers the status for metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// ServeHTTP answers unknown routes and wrong methods with Confluent-style JSON
// errors rather than ServeMux's plain text, and refuses work until ready.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	_, pattern := a.mux.Handler(r)
	route := pattern
	switch {
	case pattern == "":
		route = "unmatched"
		if allowed := a.allowedMethods(r); len(allowed) > 0 {
			rec.Header().Set("Allow", strings.Join(allowed, ", "))
			a.fail(rec, r, &core.Error{Code: core.CodeMethodNotAllowed, Message: "HTTP 405 Method Not Allowed"})
		} else {
			a.fail(rec, r, &core.Error{Code: core.CodeNotFound, Message: "HTTP 404 Not Found"})
		}
	case a.ready != nil && a.ready() != nil:
		a.fail(rec, r, &core.Error{Code: core.CodeNotReady, Message: "Schema registry is not ready: " + a.ready().Error()})
	case !acceptableBody(r):
		a.fail(rec, r, &core.Error{Code: core.CodeUnsupportedMediaType, Message: "HTTP 415 Unsupported Media Type: use application/vnd.schemaregistry.v1+json or application/json"})
	default:
		// Served through the mux, not the handler found above: only
		// ServeMux.ServeHTTP fills in the request's path values.
		a.mux.ServeHTTP(rec, r)
	}
	a.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Observe(time.Since(start).Seconds())
}

func (a *API) allowedMethods(r *http.Request) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := a.mux.Handler(probe); p != "" {
			allowed = append(allowed, m)
		}
	}
	return allowed
}

// acceptableBody accepts the media types Confluent clients send.
func acceptableBody(r *http.Request) bool {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return true
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case ContentType, "application/vnd.schemaregistry+json", "application/json", "application/octet-stream":
		return true
	}
	return false
}

func (a *API) write(w http.ResponseWriter, _ *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		a.log.Error("encoding response", zap.Error(err))
		http.Error(w, `{"error_code":50001,"message":"Error encoding response"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	_, _ = w.Write(b)
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *core.Error
	if !errors.As(err, &e) {
		e = &core.Error{Code: core.CodeStoreError, Message: "Internal error", Err: err}
	}
	status := e.Status()
	if status >= 500 {
		a.log.Error("request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("error_code", e.Code), zap.Error(e))
	} else {
		a.log.Debug("request refused", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("error_code", e.Code), zap.String("message", e.Message))
	}
	b, _ := json.Marshal(struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}{e.Code, e.Message})
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func flag(r *http.Request, name string) bool {
	v, err := strconv.ParseBool(r.URL.Query().Get(name))
	return err == nil && v
}

func decode(r *http.Request, into any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return &core.Error{Code: core.CodeBadRequest, Message: "Request body unreadable or too large", Err: err}
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return &core.Error{Code: core.CodeBadRequest, Message: "Request body is empty"}
	}
	if err := json.Unmarshal(body, into); err != nil {
		return &core.Error{Code: core.CodeUnprocessable, Message: "Unrecognized request body: " + err.Error()}
	}
	return nil
}

// schemaRequest is the body of register, lookup and compatibility calls.
// metadata and ruleSet (data contracts) are accepted and ignored.
type schemaRequest struct {
	Schema     string            `json:"schema"`
	SchemaType string            `json:"schemaType"`
	References []store.Reference `json:"references"`
	ID         int               `json:"id"`
	Version    int               `json:"version"`
}

func (s schemaRequest) input() core.SchemaInput {
	return core.SchemaInput{Schema: s.Schema, SchemaType: s.SchemaType, References: s.References, ID: s.ID, Version: s.Version}
}

// subjectVersionJSON is the shape of GET /subjects/{s}/versions/{v} and of lookups.
type subjectVersionJSON struct {
	Subject    string            `json:"subject"`
	Version    int               `json:"version"`
	ID         int               `json:"id"`
	SchemaType string            `json:"schemaType,omitempty"`
	References []store.Reference `json:"references,omitempty"`
	Schema     string            `json:"schema"`
	Deleted    bool              `json:"deleted,omitempty"`
}

func toJSON(v core.SubjectVersion) subjectVersionJSON {
	return subjectVersionJSON{
		Subject: v.Subject, Version: v.Version, ID: v.ID,
		SchemaType: v.SchemaType, References: v.References, Schema: v.Schema, Deleted: v.Deleted,
	}
}

func versionParam(r *http.Request) (int, error) {
	return core.ParseVersion(r.PathValue("version"))
}

func idParam(r *http.Request) (int, error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id <= 0 {
		return 0, &core.Error{Code: core.CodeSchemaNotFound, Message: fmt.Sprintf("Schema %s not found", r.PathValue("id"))}
	}
	return id, nil
}

func (a *API) listSubjects(w http.ResponseWriter, r *http.Request) {
	a.write(w, r, a.svc.Subjects(r.URL.Query().Get("subjectPrefix"), flag(r, "deleted"), flag(r, "deletedOnly")))
}

func (a *API) listVersions(w http.ResponseWriter, r *http.Request) {
	vs, err := a.svc.Versions(r.PathValue("subject"), flag(r, "deleted"), flag(r, "deletedOnly"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, vs)
}

func (a *API) register(w http.ResponseWriter, r *http.Request) {
	var req schemaRequest
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	id, err := a.svc.Register(r.Context(), r.PathValue("subject"), req.input())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, map[string]int{"id": id})
}

func (a *API) lookup(w http.ResponseWriter, r *http.Request) {
	var req schemaRequest
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	v, err := a.svc.Lookup(r.PathValue("subject"), req.input(), flag(r, "deleted"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, toJSON(v))
}

func (a *API) getVersion(w http.ResponseWriter, r *http.Request) {
	version, err := versionParam(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v, err := a.svc.GetVersion(r.PathValue("subject"), version, flag(r, "deleted"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, toJSON(v))
}

func (a *API) getVersionSchema(w http.ResponseWriter, r *http.Request) {
	version, err := versionParam(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v, err := a.svc.GetVersion(r.PathValue("subject"), version, flag(r, "deleted"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	_, _ = io.WriteString(w, v.Schema)
}

func (a *API) referencedBy(w http.ResponseWriter, r *http.Request) {
	version, err := versionParam(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ids, err := a.svc.ReferencedBy(r.PathValue("subject"), version)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, ids)
}

func (a *API) deleteVersion(w http.ResponseWriter, r *http.Request) {
	version, err := versionParam(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	n, err := a.svc.DeleteVersion(r.Context(), r.PathValue("subject"), version, flag(r, "permanent"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, n)
}

func (a *API) deleteSubject(w http.ResponseWriter, r *http.Request) {
	vs, err := a.svc.DeleteSubject(r.Context(), r.PathValue("subject"), flag(r, "permanent"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, vs)
}

func (a *API) allSchemas(w http.ResponseWriter, r *http.Request) {
	vs := a.svc.AllSchemas(r.URL.Query().Get("subjectPrefix"), flag(r, "deleted"), flag(r, "latestOnly"))
	out := make([]subjectVersionJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, toJSON(v))
	}
	a.write(w, r, out)
}

func (a *API) schemaByID(w http.ResponseWriter, r *http.Request) {
	id, err := idParam(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	sc, maxID, err := a.svc.SchemaByID(id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := struct {
		SchemaType string            `json:"schemaType,omitempty"`
		Schema     string            `json:"schema"`
		References []store.Reference `json:"references,omitempty"`
		MaxID      *int              `json:"maxId,omitempty"`
	}{SchemaType: sc.Type, Schema: sc.Text, References: sc.References}
	if flag(r, "fetchMaxId") {
		out.MaxID = &maxID
	}
	a.write(w, r, out)
}

func (a *API) schemaTextByID(w http.ResponseWriter, r *http.Request) {
	id, err := idParam(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	sc, _, err := a.svc.SchemaByID(id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	_, _ = io.WriteString(w, sc.Text)
}

func (a *API) usages(w http.ResponseWriter, r *http.Request) ([]store.Version, bool) {
	id, err := idParam(r)
	if err != nil {
		a.fail(w, r, err)
		return nil, false
	}
	vs, err := a.svc.Usages(id, flag(r, "deleted"))
	if err != nil {
		a.fail(w, r, err)
		return nil, false
	}
	if s := r.URL.Query().Get("subject"); s != "" {
		kept := vs[:0]
		for _, v := range vs {
			if v.Subject == s {
				kept = append(kept, v)
			}
		}
		vs = kept
	}
	return vs, true
}

func (a *API) subjectsByID(w http.ResponseWriter, r *http.Request) {
	vs, ok := a.usages(w, r)
	if !ok {
		return
	}
	out := []string{}
	for _, v := range vs {
		if len(out) == 0 || out[len(out)-1] != v.Subject {
			out = append(out, v.Subject)
		}
	}
	a.write(w, r, out)
}

func (a *API) versionsByID(w http.ResponseWriter, r *http.Request) {
	vs, ok := a.usages(w, r)
	if !ok {
		return
	}
	type subjectVersion struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	out := make([]subjectVersion, 0, len(vs))
	for _, v := range vs {
		out = append(out, subjectVersion{v.Subject, v.Version})
	}
	a.write(w, r, out)
}

func (a *API) getConfig(w http.ResponseWriter, r *http.Request) {
	level, err := a.svc.Config(r.PathValue("subject"), flag(r, "defaultToGlobal"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, map[string]string{"compatibilityLevel": level})
}

func (a *API) putConfig(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Compatibility string `json:"compatibility"`
	}
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	level, err := a.svc.SetConfig(r.Context(), r.PathValue("subject"), req.Compatibility)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, map[string]string{"compatibility": level})
}

func (a *API) deleteConfig(w http.ResponseWriter, r *http.Request) {
	prev, err := a.svc.DeleteConfig(r.Context(), r.PathValue("subject"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, map[string]string{"compatibilityLevel": prev})
}

func (a *API) getMode(w http.ResponseWriter, r *http.Request) {
	mode, err := a.svc.Mode(r.PathValue("subject"), flag(r, "defaultToGlobal"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, map[string]string{"mode": mode})
}

func (a *API) putMode(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Mode string `json:"mode"`
	}
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	mode, err := a.svc.SetMode(r.Context(), r.PathValue("subject"), req.Mode, flag(r, "force"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, map[string]string{"mode": mode})
}

func (a *API) deleteMode(w http.ResponseWriter, r *http.Request) {
	prev, err := a.svc.DeleteMode(r.Context(), r.PathValue("subject"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.write(w, r, map[string]string{"mode": prev})
}

func (a *API) checkCompatibility(w http.ResponseWriter, r *http.Request) {
	version := core.AllVersions
	if r.PathValue("version") != "" {
		v, err := versionParam(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		version = v
	}
	var req schemaRequest
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	msgs, err := a.svc.CheckCompatibility(r.PathValue("subject"), version, req.input())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !flag(r, "verbose") {
		a.write(w, r, map[string]bool{"is_compatible": len(msgs) == 0})
		return
	}
	if msgs == nil {
		msgs = []string{}
	}
	a.write(w, r, struct {
		IsCompatible bool     `json:"is_compatible"`
		Messages     []string `json:"messages"`
	}{len(msgs) == 0, msgs})
}
