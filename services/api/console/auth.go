package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/esrflow/esrflow/services/api/auth"
)

// whoami is GET /v1/whoami: the signed-in key as the api sees it.
type whoami struct{ auth.Identity }

// Can says whether the key acts with scope (its effective scopes: admin's
// implied ones included). The pages use it to offer an action or not; the
// api checks it regardless.
func (w *whoami) Can(scope string) bool { return slices.Contains(w.EffectiveScopes, scope) }

// Admin says whether the key holds the admin scope.
func (w *whoami) Admin() bool { return slices.Contains(w.Scopes, auth.ScopeAdmin) }

// Grants says whether the key names tenant: a 403 for such a tenant is a
// missing scope, not another tenant's page.
func (w *whoami) Grants(tenant string) bool {
	return w.AllTenants() || slices.ContainsFunc(w.Tenants, func(t string) bool { return strings.EqualFold(t, tenant) })
}

// AllTenants says whether the key may see every tenant.
func (w *whoami) AllTenants() bool { return slices.Contains(w.Tenants, auth.AllTenants) }

type signInPage struct {
	Next    string
	Message string
	Open    bool
}

func (c *Console) getSignIn(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := signInPage{Next: safeNext(q.Get("next"))}
	switch q.Get("why") {
	case "expired":
		data.Message = "Your session has ended, or its key was revoked or has expired. Sign in again."
	case "signed-out":
		data.Message = "You have signed out."
	}
	c.render(w, http.StatusOK, "sign-in", &view{Title: "Sign in", Data: data})
}

// postSignIn checks the key by asking the api who it is, then seals it
// into the session cookie. A wrong key is the api's 401 (or 429 past its
// limit per address for requests without a valid key), so guessing keys
// here is as slow as guessing them against the api.
func (c *Console) postSignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		c.signInFailed(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	key := strings.TrimSpace(r.PostForm.Get("key"))
	cl := client{api: c.cfg.API, key: key, remote: r.RemoteAddr}
	var who whoami
	if err := cl.get(r.Context(), "/v1/whoami", &who); err != nil {
		switch st := statusOf(err); st {
		case http.StatusUnauthorized:
			c.signInFailed(w, r, st, "That API key was not accepted.")
		case http.StatusTooManyRequests:
			c.signInFailed(w, r, st, "Too many attempts without a valid key from this address: wait a moment and try again.")
		default:
			c.fail(w, r, &view{Title: "Sign in"}, err)
		}
		return
	}
	if key == "" && !who.Open {
		c.signInFailed(w, r, http.StatusUnauthorized, "Enter an API key.")
		return
	}
	id, err := newSessionID()
	if err != nil {
		c.fail(w, r, &view{Title: "Sign in"}, err)
		return
	}
	expires := c.now().Add(c.cfg.SessionTTL)
	if who.ExpiresAt != nil { // a session never outlives its key
		if at, err := time.Parse(time.RFC3339Nano, *who.ExpiresAt); err == nil && at.Before(expires) {
			expires = at
		}
	}
	sealed, err := c.seal.seal(session{Key: key, ID: id, Expires: expires.Unix(), Who: who})
	if err != nil {
		c.fail(w, r, &view{Title: "Sign in"}, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: sealed, Path: "/console", Expires: expires,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteStrictMode})
	next := safeNext(r.PostForm.Get("next"))
	if next == "" {
		next = "/console/overview"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) signInFailed(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, status, "sign-in", &view{Title: "Sign in", Data: signInPage{Next: safeNext(r.PostForm.Get("next")), Message: msg}})
}

func (c *Console) postSignOut(w http.ResponseWriter, r *http.Request, _ *view) {
	c.clearCookie(w, r)
	http.Redirect(w, r, "/console/sign-in?why=signed-out", http.StatusSeeOther)
}

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/console", MaxAge: -1,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteStrictMode})
}

func (c *Console) secure(r *http.Request) bool { return r.TLS != nil || c.cfg.SecureCookies }

// safeNext keeps a post-sign-in destination only if it is a console path
// on this host: never an open redirect, and never a path a browser would
// take out of the console. So no backslash (browsers read it as a slash),
// no control character (browsers drop tabs and newlines from a URL, and
// Location cannot carry them), and no dot segment, escaped or not:
// browsers resolve "%2e%2e" as "..", so "/console/%2e%2e/x" is "/x".
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.ContainsAny(u.Path, "\\") {
		return ""
	}
	for _, seg := range strings.Split(u.Path, "/") { // Path is unescaped
		if seg == "." || seg == ".." {
			return ""
		}
	}
	return next
}
