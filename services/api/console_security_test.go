package api

import (
	"encoding/json"
	"fmt"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template/parse"
	"time"

	"github.com/PuerkitoBio/goquery"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// The hostile values: markup that would run if printed unescaped in an
// element, markup that would break out of an attribute, and a URL that
// would run if it became a link.
const (
	xssScript = `<script>alert(1)</script>`
	xssAttr   = `"><img src=x onerror=alert(1)>`
	xssURL    = `javascript:alert(1)`
	hostile   = xssScript + xssAttr + " " + xssURL
)

// checkInert fails unless doc is free of anything a hostile value could
// have made of it: no script or img element, no on* attribute, no
// javascript: anywhere in an attribute, and every link and form target a
// path of this site (or a query or fragment of the page), never
// scheme-relative.
func checkInert(t *testing.T, what string, doc *goquery.Document) {
	t.Helper()
	if n := doc.Find("script, img, iframe, object, embed, svg").Length(); n != 0 {
		t.Errorf("%s: %d script/img/iframe/object/embed/svg elements", what, n)
	}
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Nodes[0].Attr {
			name, val := strings.ToLower(a.Key), strings.ToLower(strings.TrimSpace(a.Val))
			if strings.HasPrefix(name, "on") {
				t.Errorf("%s: <%s> has an event handler attribute %s=%q", what, goquery.NodeName(s), a.Key, a.Val)
			}
			// (javascript: inside a path, /console/t/javascript:x/files,
			// is a path segment, not a scheme.)
			urlAttr := name == "href" || name == "action" || name == "formaction" || name == "src" || name == "srcset" || name == "poster" || name == "data"
			if urlAttr && strings.HasPrefix(strings.Map(dropSpace, val), "javascript:") {
				t.Errorf("%s: <%s %s=%q>", what, goquery.NodeName(s), a.Key, a.Val)
			}
			if name == "href" || name == "action" || name == "formaction" {
				ok := strings.HasPrefix(val, "?") || strings.HasPrefix(val, "#") ||
					(strings.HasPrefix(val, "/") && !strings.HasPrefix(val, "//") && !strings.HasPrefix(val, "/\\"))
				if !ok {
					t.Errorf("%s: <%s %s=%q> is not a path of this site", what, goquery.NodeName(s), a.Key, a.Val)
				}
			}
		}
	})
}

// dropSpace drops what browsers ignore in a URL's scheme.
func dropSpace(r rune) rune {
	if r <= ' ' || r == 0x7f {
		return -1
	}
	return r
}

// TestConsoleHostileValues: values from files, quarantined rows, operators'
// reasons and query strings, carrying markup and javascript: URLs, are
// shown as text on every page, and become no element, attribute or link.
func TestConsoleHostileValues(t *testing.T) {
	dbtest.ForEach(t, testConsoleHostileValues)
}

func testConsoleHostileValues(t *testing.T, dbURL string) {
	e, _, srv := consoleEnv(t, dbURL)
	const shaH = "2222222222222222222222222222222222222222222222222222222222222222"
	const shaA = "3333333333333333333333333333333333333333333333333333333333333333"
	name := "GO_412_" + hostile + ".DAT"
	// A held file and an accepted one named with markup, a rejection
	// reason and rule codes that are markup and a javascript: URL.
	held := heldReport("RXX", name, shaH, 350, time.Now().UTC(), internalv1.FileHold{Feed: "412/" + hostile, AwaitingSequences: []int64{349}})
	reason := "rejected: " + hostile
	held.Reason = &reason
	held.TopRules = []internalv1.RuleCount{{Rule: xssURL, Count: 1}, {Rule: xssAttr, Count: 1}}
	accepted := &internalv1.FileReport{Tenant: "RXX", Vpd: "412", File: *fileInfo(name, shaA, 351), Status: internalv1.FileStatusAccepted,
		RowsRead: 1, Quarantined: 1, EventsEmitted: map[string]int64{xssScript: 1}, RuleSetVersion: hostile,
		TopRules: []internalv1.RuleCount{{Rule: xssURL, Count: 1}}, ReportedAt: time.Now().UTC().Add(time.Minute)}
	// A quarantined row of the accepted file: raw values, a violation's
	// rule, field and message are all hostile.
	fields := praFields()
	fields[3], fields[5] = hostile, xssAttr
	q := qrec("RXX", name, shaA, 3, internalv1.StageValidate, "PRA", "person", fields,
		internalv1.Violation{Rule: xssURL, Field: xssAttr, Message: "message " + hostile, Severity: internalv1.SeverityError})
	e.produce(true, e.reportV4(held), e.reportV4(accepted), e.quarantine(q, 2))
	qid := store.QuarantineID("RXX", shaA, 3)
	waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/quarantine/"+qid, http.StatusOK, `"status":"open"`)
	waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/files/"+shaH, http.StatusOK, `"status":"HELD"`)
	waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/files/"+shaA, http.StatusOK, `"status":"ACCEPTED"`)

	ops := newBrowser(t, srv)
	if code, doc := ops.signIn(consoleOpsKey); code != http.StatusOK {
		t.Fatalf("sign-in: %d %q", code, texts(doc, "main"))
	}
	// Operators type hostile reasons into the console's own forms.
	ops.get("/console/t/RXX/files/" + shaH)
	if code, doc := ops.post("/console/t/RXX/files/"+shaH+"/release", url.Values{"reason": {"file " + hostile}}); code != http.StatusOK {
		t.Fatalf("releasing the file: %d %q", code, texts(doc, "main"))
	}
	ops.get("/console/t/RXX/held-batches/hb-9f2c4e1a7b3d5f6e")
	if code, doc := ops.post("/console/t/RXX/held-batches/hb-9f2c4e1a7b3d5f6e/release", url.Values{"reason": {"batch " + hostile}}); code != http.StatusOK {
		t.Fatalf("releasing the batch: %d %q", code, texts(doc, "main"))
	}
	ops.get("/console/t/RXX/quarantine/" + qid)
	code, doc := ops.post("/console/t/RXX/quarantine/replay", url.Values{"reason": {"replay " + hostile}, "id": {qid}, "idempotency_key": {"hostile-1"}})
	if code != http.StatusOK {
		t.Fatalf("replaying: %d %q", code, texts(doc, "main"))
	}
	replays := consoleReplays(t, srv)
	if len(replays) != 1 {
		t.Fatalf("replays = %q, want one", replays)
	}

	// Every page, and that the hostile value is on it as text (so the
	// check is not passing on a page that left it out).
	for path, want := range map[string]string{
		"/console/overview":                                         name,
		"/console/t/RXX/files":                                      name,
		"/console/t/RXX/files/" + shaH:                              "file " + hostile,
		"/console/t/RXX/files/" + shaA:                              xssURL,
		"/console/t/RXX/files/" + shaA + "/events":                  name,
		"/console/t/RXX/quarantine":                                 xssURL,
		"/console/t/RXX/quarantine?rule=" + url.QueryEscape(xssURL): xssURL,
		"/console/t/RXX/quarantine/" + qid:                          "message " + hostile,
		"/console/t/RXX/replays":                                    "replay " + hostile,
		"/console/t/RXX/replays/" + replays[0]:                      "replay " + hostile,
		"/console/t/RXX/held-batches/hb-9f2c4e1a7b3d5f6e":           "batch " + hostile,
		"/console/t/RXX/audit":                                      "batch " + hostile,
		// Query-string values echoed into forms, links and the api's
		// refusals.
		"/console/t/RXX/files?status=" + url.QueryEscape(hostile) + "&limit=" + url.QueryEscape(xssAttr):    "",
		"/console/t/RXX/files?cursor=" + url.QueryEscape(hostile):                                           "",
		"/console/t/RXX/quarantine?file=" + url.QueryEscape(hostile) + "&stage=" + url.QueryEscape(xssAttr): "",
		"/console/t/RXX/lineage?type=" + url.QueryEscape(hostile) + "&since=" + url.QueryEscape(xssURL):     "",
		"/console/t/RXX/audit?batch_id=" + url.QueryEscape(hostile) + "&limit=" + url.QueryEscape(xssAttr):  "",
		"/console/access-log?client=" + url.QueryEscape(hostile) + "&since=" + url.QueryEscape(xssAttr):     "",
		"/console/t/RXX/files/" + shaA + "/lines?line=" + url.QueryEscape(hostile):                          "",
		"/console/t/RXX/files/" + shaA + "/events?limit=" + url.QueryEscape(hostile):                        "",
		"/console/t/" + url.PathEscape(hostile) + "/files":                                                  "",
		"/console/t/RXX/people/" + url.PathEscape(hostile):                                                  "",
		"/console/t/RXX/events/" + url.PathEscape(hostile):                                                  "",
		"/console/sign-in?next=" + url.QueryEscape(xssURL):                                                  "",
		"/console/sign-in?next=" + url.QueryEscape("/console/"+hostile):                                     "",
	} {
		_, doc := ops.get(path)
		checkInert(t, path, doc)
		if want != "" && !strings.Contains(doc.Text(), want) {
			t.Errorf("%s: %q is not on the page as text", path, want)
		}
	}
	// The sign-in page's next is a hidden value, never a link.
	anon := newBrowser(t, srv)
	_, doc = anon.get("/console/sign-in?next=" + url.QueryEscape(xssURL))
	if v, _ := doc.Find(`input[name=next]`).Attr("value"); v != "" {
		t.Errorf("sign-in keeps next %q, want none", v)
	}
	checkInert(t, "sign-in", doc)
}

// TestConsoleTemplateLinks: link and query return template.URL, which
// html/template trusts, so every call of link in a template must begin
// with a literal console path and have a literal at every other place
// (values are path-escaped between them), and every query's keys must be
// literals: then no value can make a link another scheme or host.
func TestConsoleTemplateLinks(t *testing.T) {
	files, err := filepath.Glob("console/templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("templates: %v %d", err, len(files))
	}
	stub := map[string]any{}
	for _, f := range []string{"when", "ago", "short", "pct", "link", "query", "deref64", "deref", "source", "reportStatus",
		"and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge", "html", "js", "urlquery", "call"} {
		stub[f] = func(...any) string { return "" }
	}
	calls := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		trees, err := parse.Parse(f, string(b), "{{", "}}", stub)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tree := range trees {
			walkTemplate(tree.Root, func(cmd *parse.CommandNode) {
				id, ok := cmd.Args[0].(*parse.IdentifierNode)
				if !ok || (id.Ident != "link" && id.Ident != "query") {
					return
				}
				calls++
				args := cmd.Args[1:]
				for i, a := range args {
					if i%2 == 1 {
						continue // a value: escaped (link) or encoded (query)
					}
					s, ok := a.(*parse.StringNode)
					if !ok {
						t.Errorf("%s: %s: %s argument %d (%s) is not a literal", f, cmd, id.Ident, i+1, a)
						continue
					}
					if id.Ident == "link" && i == 0 && (!strings.HasPrefix(s.Text, "/console/") || strings.HasPrefix(s.Text, "//")) {
						t.Errorf("%s: %s does not begin with a literal /console/ path", f, cmd)
					}
				}
				if id.Ident == "query" && len(args)%2 != 0 {
					t.Errorf("%s: %s: query takes pairs", f, cmd)
				}
			})
		}
	}
	if calls < 50 {
		t.Errorf("found %d calls of link and query: the walk is missing them", calls)
	}
}

func walkTemplate(n parse.Node, f func(*parse.CommandNode)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkTemplate(c, f)
		}
	case *parse.ActionNode:
		walkTemplate(n.Pipe, f)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walkTemplate(c, f)
		}
	case *parse.CommandNode:
		f(n)
		for _, a := range n.Args {
			walkTemplate(a, f)
		}
	case *parse.IfNode:
		walkBranch(&n.BranchNode, f)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, f)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, f)
	case *parse.TemplateNode:
		walkTemplate(n.Pipe, f)
	}
}

func walkBranch(b *parse.BranchNode, f func(*parse.CommandNode)) {
	walkTemplate(b.Pipe, f)
	walkTemplate(b.List, f)
	walkTemplate(b.ElseList, f)
}

// noFollow is a client that does not follow redirects, with jar.
func noFollow(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// consolePath says whether a redirect's Location stays in the console on
// this host, as a browser would resolve it.
func consolePath(loc string) bool {
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\\r\n\t") {
		return false
	}
	// A browser takes %2e as a dot in a path segment.
	p := strings.ReplaceAll(strings.ToLower(u.EscapedPath()), "%2e", ".")
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return strings.HasPrefix(p, "/console/") || p == "/console"
}

// TestConsoleRedirects: the destination after sign-in (next) and the
// lineage search's redirect never leave the console, whatever is asked.
func TestConsoleRedirects(t *testing.T) {
	_, _, srv := consoleEnv(t, "sqlite:"+t.TempDir()+"/api.db")
	for _, next := range []string{
		"//evil.example", "///evil.example", "/console/../evil", "/console/..", "/console/./../../evil",
		"/console/\\evil.example", "/console/\\\\evil.example", "/\\evil.example", "\\\\evil.example",
		"/console/%2e%2e/%2e%2e/evil", "/console/%2E%2E", "/console/.%2e/evil", "%2F%2Fevil.example",
		"/console/%2F%2Fevil.example", "/console/%5C%5Cevil.example", "https://evil.example/console/",
		"javascript:alert(1)", "/console/\r\nSet-Cookie: x=y", "/console/\t/evil", "/console/overview\x00",
		"/console//evil.example",
	} {
		form := url.Values{"key": {consoleOpsKey}, "next": {next}}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/console/sign-in", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		jar, _ := cookiejar.New(nil)
		resp, err := noFollow(jar).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !consolePath(loc) || resp.Header.Get("X-Evil") != "" {
			t.Errorf("sign-in with next %q: %d to %q, want a console page", next, resp.StatusCode, loc)
		}
		// The sign-in page does not offer it either.
		resp, err = http.Get(srv.URL + "/console/sign-in?next=" + url.QueryEscape(next))
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := goquery.NewDocumentFromReader(resp.Body)
		resp.Body.Close()
		if v, _ := doc.Find(`input[name=next]`).Attr("value"); v != "" && !consolePath(v) {
			t.Errorf("sign-in page with next %q keeps %q", next, v)
		}
	}

	ops := newBrowser(t, srv)
	ops.signIn(consoleOpsKey)
	c := noFollow(ops.c.Jar)
	for _, id := range []string{"//evil.example", "../../../evil", "..", ".", "a/../../b", "x\r\nX-Evil: 1", "\\\\evil.example", "javascript:alert(1)", "%2e%2e"} {
		for _, kind := range []string{"event", "person"} {
			resp, err := c.Get(srv.URL + "/console/t/RXX/lineage?" + url.Values{kind: {id}}.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			if id == "." || id == ".." {
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("lineage search %s=%q: %d to %q, want 404", kind, id, resp.StatusCode, loc)
				}
				continue
			}
			if resp.StatusCode != http.StatusSeeOther || !consolePath(loc) || !strings.HasPrefix(loc, "/console/t/RXX/") || resp.Header.Get("X-Evil") != "" {
				t.Errorf("lineage search %s=%q: %d to %q, want a page of RXX", kind, id, resp.StatusCode, loc)
			}
			// And the page it lands on answers cleanly.
			if code, _ := ops.get(loc); code >= 500 {
				t.Errorf("lineage search %s=%q lands on %q: %d", kind, id, loc, code)
			}
		}
	}
}

// sessionCookie returns the console's cookie from resp.
func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "esrflow_console" {
			return c
		}
	}
	return nil
}

// signInRaw signs in with key on base through c, and returns the answer.
func signInRaw(t *testing.T, c *http.Client, base, key string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/console/sign-in", strings.NewReader(url.Values{"key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// getWithCookie fetches path with only cookie, not following redirects.
func getWithCookie(t *testing.T, base, path string, cookie *http.Cookie) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := noFollow(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func toSignInPage(resp *http.Response) bool {
	return resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/console/sign-in")
}

// TestConsoleSessionCookie: the cookie's flags; a tampered cookie, one
// sealed under another secret and an expired one are no session; signing
// out clears it.
func TestConsoleSessionCookie(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t)
	_, srv := e.startWith(Config{DBURL: "sqlite:" + dir + "/api.db", Group: "console-sess", Clients: consoleClients,
		Console: ConsoleConfig{Secret: []byte("the first secret, 32 bytes long!"), SessionTTL: 2 * time.Second}}, zaptest.NewLogger(t))
	_, other := e.startWith(Config{DBURL: "sqlite:" + dir + "/api2.db", Group: "console-sess-2", Clients: consoleClients,
		Console: ConsoleConfig{Secret: []byte("another secret, also 32 bytes!!!")}}, zaptest.NewLogger(t))

	resp := signInRaw(t, noFollow(nil), srv.URL, consoleOpsKey)
	c := sessionCookie(resp)
	if resp.StatusCode != http.StatusSeeOther || c == nil {
		t.Fatalf("sign-in: %d, cookie %v", resp.StatusCode, c)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/console" || c.Secure {
		t.Errorf("cookie over plain HTTP: HttpOnly %v SameSite %v Path %q Secure %v; want HttpOnly, Strict, /console, not Secure",
			c.HttpOnly, c.SameSite, c.Path, c.Secure)
	}
	if strings.Contains(c.Value, consoleOpsKey) {
		t.Error("the cookie carries the key in clear")
	}
	if r := getWithCookie(t, srv.URL, "/console/overview", c); r.StatusCode != http.StatusOK {
		t.Fatalf("overview with the cookie: %d", r.StatusCode)
	}
	// Tampered: every byte flipped in turn at a few places.
	for _, i := range []int{0, 5, len(c.Value) / 2, len(c.Value) - 1} {
		b := []byte(c.Value)
		b[i] ^= 0x01
		if b[i] == '.' || b[i] == ',' {
			b[i] = 'A'
		}
		bad := &http.Cookie{Name: c.Name, Value: string(b)}
		if r := getWithCookie(t, srv.URL, "/console/overview", bad); !toSignInPage(r) {
			t.Errorf("cookie changed at byte %d: %d %q, want sign-in", i, r.StatusCode, r.Header.Get("Location"))
		}
	}
	for _, v := range []string{"", "x", strings.Repeat("A", 4000), "%%%", c.Value + "A"} {
		if r := getWithCookie(t, srv.URL, "/console/overview", &http.Cookie{Name: c.Name, Value: v}); !toSignInPage(r) {
			t.Errorf("cookie %.20q: %d, want sign-in", v, r.StatusCode)
		}
	}
	// Sealed under another secret: the other instance's cookie here.
	oc := sessionCookie(signInRaw(t, noFollow(nil), other.URL, consoleOpsKey))
	if oc == nil {
		t.Fatal("no cookie from the other instance")
	}
	if r := getWithCookie(t, other.URL, "/console/overview", oc); r.StatusCode != http.StatusOK {
		t.Fatalf("the other instance's own cookie: %d", r.StatusCode)
	}
	if r := getWithCookie(t, srv.URL, "/console/overview", oc); !toSignInPage(r) {
		t.Errorf("a cookie of another secret: %d, want sign-in", r.StatusCode)
	}

	// Signing out clears the cookie.
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, base: srv.URL, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	b.signIn(consoleOpsKey)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/console/sign-out", strings.NewReader(url.Values{"csrf": {b.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	r, err := noFollow(jar).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if cl := sessionCookie(r); cl == nil || cl.MaxAge >= 0 || cl.Value != "" || cl.Path != "/console" {
		t.Errorf("sign-out: cookie %v, want it cleared on /console", cl)
	}
	if _, doc := b.get("/console/overview"); doc.Find(`input[name=key]`).Length() != 1 {
		t.Error("after sign-out the overview did not ask to sign in")
	}

	// Expired: the session lasts 2 s.
	time.Sleep(3 * time.Second)
	if r := getWithCookie(t, srv.URL, "/console/overview", c); !toSignInPage(r) {
		t.Errorf("an expired session: %d, want sign-in", r.StatusCode)
	}
}

// TestConsoleSecureCookieOverTLS: over TLS the session cookie is Secure.
func TestConsoleSecureCookieOverTLS(t *testing.T) {
	e := newEnv(t)
	s, _ := e.startWith(Config{DBURL: "sqlite:" + t.TempDir() + "/api.db", Group: "console-tls", Clients: consoleClients}, zaptest.NewLogger(t))
	srv := httptest.NewTLSServer(s.Handler())
	defer srv.Close()
	c := noFollow(nil)
	c.Transport = srv.Client().Transport
	resp := signInRaw(t, c, srv.URL, consoleOpsKey)
	ck := sessionCookie(resp)
	if ck == nil || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console" {
		t.Fatalf("cookie over TLS: %+v, want Secure, HttpOnly, Strict, /console", ck)
	}
}

// postRaw posts form to path on srv with the given extra headers through
// c (not following redirects) and returns the status and the body's text.
func postRaw(t *testing.T, c *http.Client, srv *httptest.Server, path string, form url.Values, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, doc.Text()
}

// TestConsoleCSRFEveryAction: every POST route of the console refuses a
// missing token, a wrong one, and a request the browser marks as from
// another site or whose Origin is another site, even with the right
// token; a GET of an action's address does not act; and nothing was done.
func TestConsoleCSRFEveryAction(t *testing.T) {
	e, _, srv := consoleEnv(t, "sqlite:"+t.TempDir()+"/api.db")
	const shaH = "4444444444444444444444444444444444444444444444444444444444444444"
	qr := qrec("RXX", "GO_412_RXX.DAT", sha1, 3, internalv1.StageValidate, "PRA", "person", praFields(), violation("ESR-X001", "person_id", internalv1.SeverityError))
	e.produce(true, e.reportV4(heldReport("RXX", "GO_412_HELD.DAT", shaH, 5, time.Now().UTC(), internalv1.FileHold{Feed: "412/EXP", AwaitingSequences: []int64{4}})),
		e.quarantine(qr, 2))
	qid := store.QuarantineID("RXX", sha1, 3)
	waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/files/"+shaH, http.StatusOK, `"status":"HELD"`)
	waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/quarantine/"+qid, http.StatusOK, `"status":"open"`)

	ops := newBrowser(t, srv)
	ops.signIn(consoleOpsKey)
	other := newBrowser(t, srv)
	other.signIn(consoleRYYKey)
	c := noFollow(ops.c.Jar)
	reason := "csrf test"
	// Every POST route of the console (grep addRoute and console.go), with
	// a form that would act if it were let through.
	actions := map[string]url.Values{
		"/console/t/RXX/files/" + shaH + "/release":               {"reason": {reason}},
		"/console/t/RXX/files/" + shaH + "/discard":               {"reason": {reason}},
		"/console/t/RXX/held-batches/hb-9f2c4e1a7b3d5f6e/release": {"reason": {reason}},
		"/console/t/RXX/held-batches/hb-9f2c4e1a7b3d5f6e/reject":  {"reason": {reason}},
		"/console/t/RXX/quarantine/replay":                        {"reason": {reason}, "id": {qid}, "idempotency_key": {"csrf-1"}},
		"/console/sign-out":                                       {},
	}
	sameSite := map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": srv.URL}
	for path, form := range actions {
		for name, tc := range map[string]struct {
			token string
			hdr   map[string]string
		}{
			"no token":                 {"", sameSite},
			"a wrong token":            {"AAAA" + ops.csrf[4:], sameSite},
			"another session's token":  {other.csrf, sameSite},
			"cross-site fetch":         {ops.csrf, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
			"same-site, other origin":  {ops.csrf, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://sub.evil.example"}},
			"another Origin, no fetch": {ops.csrf, map[string]string{"Origin": "https://evil.example"}},
		} {
			f := cloneValues(form)
			if tc.token != "" {
				f.Set("csrf", tc.token)
			}
			if code, text := postRaw(t, c, srv, path, f, tc.hdr); code != http.StatusForbidden {
				t.Errorf("POST %s with %s: %d, want 403: %.200q", path, name, code, strings.Join(strings.Fields(text), " "))
			}
		}
		// A GET of the action's address is no action.
		resp, err := c.Get(srv.URL + path + "?" + cloneValues(form).Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d, want 404 or 405", path, resp.StatusCode)
		}
	}
	// Signing in from another site (login CSRF) is refused too.
	if code, _ := postRaw(t, noFollow(nil), srv, "/console/sign-in", url.Values{"key": {consoleOpsKey}},
		map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}); code != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d, want 403", code)
	}

	// Nothing was done, and the session is still there.
	if code, body := do(t, srv, http.MethodGet, "/v1/tenants/RXX/audit", consoleOpsKey, ""); code != http.StatusOK || body != `{"audit":[]}` {
		t.Errorf("audit after refused posts: %d %s, want none", code, body)
	}
	if ids := consoleReplays(t, srv); len(ids) != 0 {
		t.Errorf("replays after refused posts: %q", ids)
	}
	if _, body := do(t, srv, http.MethodGet, "/v1/tenants/RXX/files/"+shaH, consoleOpsKey, ""); strings.Contains(body, "REQUESTED") {
		t.Errorf("the held file has a decision after refused posts: %s", body)
	}
	if code, doc := ops.get("/console/overview"); code != http.StatusOK || doc.Find(`input[name=key]`).Length() != 0 {
		t.Errorf("after refused sign-outs the overview: %d, want the session kept", code)
	}
	// And the same forms with the token, from the console, do act: the
	// refusals above were not for another reason.
	for path, form := range actions {
		if path == "/console/sign-out" || strings.HasSuffix(path, "/discard") || strings.HasSuffix(path, "/reject") {
			continue
		}
		if code, doc := ops.post(path, cloneValues(form)); code != http.StatusOK {
			t.Errorf("POST %s with the token: %d %q", path, code, texts(doc, "main"))
		}
	}
	if code, body := do(t, srv, http.MethodGet, "/v1/tenants/RXX/audit", consoleOpsKey, ""); code != http.StatusOK || strings.Count(body, `"command_id"`) < 2 {
		t.Errorf("audit after the console's own posts: %d %s, want the decisions", code, body)
	}
}

// TestConsoleRevokedKey: a session whose database key is revoked ends at
// the next page: the user is sent to sign in and the cookie cleared.
func TestConsoleRevokedKey(t *testing.T) {
	_, _, srv := consoleEnv(t, "sqlite:"+t.TempDir()+"/api.db")
	code, k, body := createKey(t, srv.URL, consoleOpsKey, `{"name":"console-soon-revoked","tenants":["RXX"],"scopes":["files:read","batches:read"]}`)
	if code != http.StatusCreated {
		t.Fatalf("creating a key: %d %s", code, body)
	}
	b := newBrowser(t, srv)
	if code, doc := b.signIn(k.Key); code != http.StatusOK || doc.Find(`input[name=key]`).Length() != 0 {
		t.Fatalf("sign-in with the new key: %d %q", code, texts(doc, "main"))
	}
	if code, _ := b.get("/console/t/RXX/files"); code != http.StatusOK {
		t.Fatalf("files before revocation: %d", code)
	}
	if code, body := do(t, srv, http.MethodDelete, "/v1/keys/"+k.ID, consoleOpsKey, ""); code != http.StatusOK {
		t.Fatalf("revoking: %d %s", code, body)
	}
	resp, err := noFollow(b.c.Jar).Get(srv.URL + "/console/t/RXX/files")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/sign-in?") || !strings.Contains(loc, "why=expired") {
		t.Errorf("a page after revocation: %d to %q, want sign-in (expired)", resp.StatusCode, loc)
	}
	if ck := sessionCookie(resp); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("a page after revocation: cookie %v, want it cleared", ck)
	}
	if _, doc := b.get(resp.Header.Get("Location")); !strings.Contains(doc.Text(), "revoked") {
		t.Errorf("the sign-in page after revocation: %q, want it to say why", texts(doc, "main"))
	}
	if _, doc := b.get("/console/overview"); doc.Find(`input[name=key]`).Length() != 1 {
		t.Errorf("after revocation the overview: %q, want sign-in", texts(doc, "main"))
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// TestConsoleLimits: an oversized form, a replay of hundreds of ids, and
// odd tenants and ids in the path each get a clean page (an HTML answer
// under 500), never a 500 or a panic; and the console logs no value of
// them.
func TestConsoleLimits(t *testing.T) {
	e := newEnv(t)
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))
	_, srv := e.startWith(Config{DBURL: "sqlite:" + t.TempDir() + "/api.db", Group: "console-limits", Clients: consoleClients}, log)
	ops := newBrowser(t, srv)
	if code, _ := ops.signIn(consoleOpsKey); code != http.StatusOK {
		t.Fatalf("sign-in: %d", code)
	}
	const secret = "ZQ-personal-9F3" // stands for any value the user sent
	clean := func(what string, code int, doc *goquery.Document) {
		t.Helper()
		if code >= 500 || code < 200 {
			t.Errorf("%s: %d %q, want a clean page", what, code, texts(doc, "main"))
		}
		if doc.Find("main").Length() != 1 {
			t.Errorf("%s: %d, not a console page", what, code)
		}
	}

	// Oversized forms: the console reads at most 64 KiB.
	big := strings.Repeat(secret, 70<<10/len(secret))
	code, doc := ops.post("/console/t/RXX/quarantine/replay", url.Values{"reason": {big}, "id": {"x"}})
	clean("an oversized replay form", code, doc)
	if code != http.StatusBadRequest || !strings.Contains(doc.Text(), "could not be read") {
		t.Errorf("an oversized replay form: %d %q, want 400 could not be read", code, texts(doc, "main"))
	}
	code, doc = ops.send(http.MethodPost, "/console/sign-in", url.Values{"key": {big}})
	if code != http.StatusBadRequest || !strings.Contains(doc.Text(), "could not be read") {
		t.Errorf("an oversized sign-in form: %d %q, want 400 could not be read", code, texts(doc, "main"))
	}
	// Hundreds of ids: within the form's limit; the api says what is wrong.
	for _, n := range []int{300, 501, 1500} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("q-%s-%04d", secret, i)
		}
		code, doc := ops.post("/console/t/RXX/quarantine/replay", url.Values{"reason": {"many"}, "id": ids, "idempotency_key": {fmt.Sprint("many-", n)}})
		clean(fmt.Sprintf("a replay of %d ids", n), code, doc)
		if code == http.StatusOK {
			t.Errorf("a replay of %d unknown ids: 200 %q", n, texts(doc, "main"))
		}
	}

	// Odd tenants and ids in the path, on every page of a tenant.
	odd := []string{"%00", "%0D%0ASet-Cookie:%20x=y", strings.Repeat("A", 4000), "%2F%2Fevil.example", "%2E", "%252E%252E",
		"%C3%A9", "%FF%FE", "%5C%5Cevil", "a%2F..%2F..%2Fb", "%3Cscript%3E", secret}
	pages := []string{"/files", "/files?status=%00", "/quarantine", "/quarantine?rule=%00&limit=-1", "/held-batches", "/lineage",
		"/lineage?since=" + url.QueryEscape(secret), "/audit?limit=99999999999999999999", "/replays?limit=-5", "/replays/x"}
	var paths []string
	for _, t := range odd {
		for _, pg := range pages {
			paths = append(paths, "/console/t/"+t+pg)
		}
		for _, pg := range []string{"/files/", "/quarantine/", "/held-batches/", "/replays/", "/people/", "/events/"} {
			paths = append(paths, "/console/t/RXX"+pg+t)
		}
		paths = append(paths, "/console/t/RXX/files/"+t+"/events", "/console/t/RXX/files/"+t+"/lines?line="+t,
			"/console/t/RXX/files/"+sha1+"/lines?line="+t+"&context="+t, "/console/t/RXX/people/"+t+"/events")
	}
	for _, p := range paths {
		code, doc := ops.get(p)
		clean("GET "+p, code, doc)
	}
	for _, p := range []string{"/console/t/%00/files/x/release", "/console/t/RXX/held-batches/%00/reject", "/console/t/" + strings.Repeat("A", 4000) + "/quarantine/replay"} {
		code, doc := ops.post(p, url.Values{"reason": {secret}})
		clean("POST "+p, code, doc)
	}
	code, doc = ops.get("/console/overview")
	if code != http.StatusOK || doc.Find(`input[name=key]`).Length() != 0 {
		t.Errorf("after all that the overview: %d, want the session kept", code)
	}

	// The console logged nothing the user sent: no value, no path.
	for _, l := range logs.All() {
		b, _ := json.Marshal(l.ContextMap())
		text := l.Message + " " + string(b)
		if strings.Contains(text, secret) || strings.Contains(text, "evil") || strings.Contains(text, "<script") {
			t.Errorf("a log entry carries what the user sent: %s", text)
		}
		if l.LoggerName == "console" && l.Level >= zapcore.ErrorLevel {
			t.Errorf("the console logged an error: %s", text)
		}
	}
}
