// Package console is the operations console: server-rendered pages, served
// by the api at /console, for the people who run esrflow for a trust or a
// region. It answers their daily questions (did every trust's file arrive,
// what was rejected or quarantined and why, which leavers are held, where
// did an event come from) and carries out their decisions (release or
// discard a held file, replay quarantined rows, release or reject a held
// leaver batch).
//
// The console is a client of the REST api, in process: every page reads and
// every action writes through the /v1 endpoints with the signed-in user's
// api key (client), so tenants, scopes, field minimisation, redaction, the
// audit and the access log apply to it exactly as to any other caller. It
// holds no data of its own and no state but the sealed session cookie.
//
// Pages are html/template with embedded templates and one stylesheet, no
// JavaScript: forms and links work with a keyboard and any browser, and the
// Content-Security-Policy allows nothing but the console's own stylesheet.
package console

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// DefaultSessionTTL is how long a sign-in lasts.
const DefaultSessionTTL = 8 * time.Hour

// Config configures the console.
type Config struct {
	// API is the REST api's handler (its /v1 routes), called in process
	// with the user's key.
	API http.Handler
	// Secret seals session cookies and derives CSRF tokens. Instances
	// behind one load balancer need the same secret; empty takes a random
	// one (sessions end when the process does).
	Secret []byte
	// SecureCookies marks the session cookie Secure even on plain HTTP:
	// for a console behind a proxy that terminates TLS. Over TLS it is
	// always Secure.
	SecureCookies bool
	// SessionTTL is how long a sign-in lasts; zero means DefaultSessionTTL.
	SessionTTL time.Duration
	Log        *zap.Logger
	// Now is the clock for ages and session expiry; nil means time.Now.
	Now func() time.Time
}

// Console serves the pages.
type Console struct {
	cfg   Config
	seal  *sealer
	pages map[string]*template.Template
	now   func() time.Time
	log   *zap.Logger
}

// New prepares the console. It reads no flags or environment.
func New(cfg Config) (*Console, error) {
	if cfg.API == nil {
		return nil, errors.New("console: no api handler")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	s, err := newSealer(cfg.Secret)
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &Console{cfg: cfg, seal: s, pages: pages, now: cfg.Now, log: cfg.Log}, nil
}

// Handler serves /console and everything under it. Unsafe requests from
// another origin are refused (net/http's CrossOriginProtection, by
// Sec-Fetch-Site or Origin), and every form also carries the session's
// CSRF token: either check alone stops a forged request.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /console", redirectTo("/console/"))
	mux.HandleFunc("GET /console/{$}", redirectTo("/console/overview"))
	mux.HandleFunc("GET /console/sign-in", c.getSignIn)
	mux.HandleFunc("POST /console/sign-in", c.postSignIn)
	mux.HandleFunc("POST /console/sign-out", c.signedIn(c.postSignOut))
	mux.HandleFunc("GET /console/overview", c.signedIn(c.overview))
	c.routes(mux)
	mux.HandleFunc("/console/", c.signedIn(func(w http.ResponseWriter, r *http.Request, v *view) {
		c.fail(w, r, v, &apiError{Status: http.StatusNotFound, Detail: "no such page"})
	}))
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, &view{Title: "Refused"}, &apiError{Status: http.StatusForbidden, Detail: "cross-origin request refused"})
	}))
	return securityHeaders(cop.Handler(mux))
}

// routes adds the per-tenant pages (files, quarantine, held batches,
// lineage) and the admin pages; each lives in its own file.
func (c *Console) routes(mux *http.ServeMux) {
	for _, r := range pageRoutes {
		mux.HandleFunc(r.pattern, c.signedIn(r.handler(c)))
	}
}

// pageRoute is one page or action of the console beyond sign-in and the
// overview.
type pageRoute struct {
	pattern string
	handler func(*Console) pageHandler
}

// pageRoutes are registered by the files that define them (init), so each
// screen is one file: its handlers, its route and its template.
var pageRoutes []pageRoute

func addRoute(pattern string, h func(*Console) pageHandler) {
	pageRoutes = append(pageRoutes, pageRoute{pattern, h})
}

// securityHeaders sets what every console answer carries: nothing but the
// console's own stylesheet may load, no page may frame it, no referrer
// leaves it (URLs hold person and file ids), and nothing is cached.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, "/console/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

func redirectTo(path string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, path, http.StatusSeeOther) }
}

// view is what every page template gets: the signed-in user, the tenant
// the page is about, the CSRF token for its forms, and the page's own data.
type view struct {
	Title string
	User  *whoami
	// Tenant is the tenant the page is about ("" on region-wide pages).
	Tenant string
	CSRF   string
	// Notice is a message after an action (Post/Redirect/Get: ?done=).
	Notice string
	Error  *apiError
	Data   any

	client client
	sess   session
}

// NavTenant is the tenant the navigation offers: the page's, only if the
// key may see it, so a refused page of another tenant does not present
// that tenant's menu.
func (v *view) NavTenant() string {
	if v.User == nil || v.Tenant == "" || !v.User.Grants(v.Tenant) {
		return ""
	}
	return v.Tenant
}

// pageHandler serves one signed-in page.
type pageHandler func(http.ResponseWriter, *http.Request, *view)

// signedIn runs h with the request's session, or sends the browser to
// sign in. An unsafe request must carry the session's CSRF token. A page
// whose api call answers 401 (the key was revoked or has expired) ends the
// session.
func (c *Console) signedIn(h pageHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := c.seal.open(r, c.now())
		if err != nil {
			c.toSignIn(w, r, "")
			return
		}
		v := &view{User: &sess.Who, CSRF: c.seal.csrfToken(sess), sess: sess,
			client: client{api: c.cfg.API, key: sess.Key, remote: r.RemoteAddr}}
		if t := r.PathValue("tenant"); t != "" {
			v.Tenant = strings.ToUpper(t)
		}
		v.Notice = notices[r.URL.Query().Get("done")]
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, v, &apiError{Status: http.StatusBadRequest, Detail: "the form could not be read"})
				return
			}
			if !c.seal.validCSRF(sess, r.PostForm.Get("csrf")) {
				c.fail(w, r, v, &apiError{Status: http.StatusForbidden, Detail: "the form's CSRF token is missing or wrong: reload the page and try again"})
				return
			}
		}
		h(w, r, v)
	}
}

// maxFormBytes bounds a posted form (a replay of 500 ids fits easily).
const maxFormBytes = 64 << 10

// notices are the messages an action's redirect may ask a page to show.
var notices = map[string]string{
	"file-released":  "Release requested: ingest will read the file in its place. Its report below changes when it has.",
	"file-discarded": "Discard requested: ingest will set the file aside. Its report below changes when it has.",
	"released":       "Release requested: publish will emit the held leavers. The batch below changes when it has.",
	"rejected":       "Rejection requested: publish will drop the held leavers. The batch below changes when it has.",
	"replayed":       "Replay requested: the rows go through normalise and validate again. Their outcomes appear below.",
}

// toSignIn sends the browser to the sign-in page, back to this page after.
func (c *Console) toSignIn(w http.ResponseWriter, r *http.Request, reason string) {
	q := url.Values{}
	if r.Method == http.MethodGet && r.URL.Path != "/console/overview" {
		q.Set("next", r.URL.RequestURI())
	}
	if reason != "" {
		q.Set("why", reason)
	}
	http.Redirect(w, r, withQuery("/console/sign-in", q), http.StatusSeeOther)
}

// fail renders an error page for err: the api's own status and detail
// when the api refused (403 missing scope, 409 already decided ...), a
// generic 500 otherwise (logged without request values: they may be
// person ids). A 401 means the key no longer works: sign in again.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, v *view, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		c.log.Error("console page failed", zap.String("route", r.Pattern), zap.Error(err))
		ae = &apiError{Status: http.StatusInternalServerError, Detail: "internal error"}
	}
	if ae.Status == http.StatusUnauthorized && v.User != nil {
		c.clearCookie(w, r)
		c.toSignIn(w, r, "expired")
		return
	}
	v.Error = ae
	if v.Title == "" {
		v.Title = http.StatusText(ae.Status)
	}
	c.render(w, ae.Status, "error", v)
}
