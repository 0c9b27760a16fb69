package api

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// The console's keys: an operator for every tenant, a reader of RXX (no
// operate), and an operator of RYY.
const (
	consoleOpsKey    = "console-ops-key"
	consoleReaderKey = "console-rxx-reader-key"
	consoleRYYKey    = "console-ryy-operator-key"
)

var consoleClients = []auth.Client{
	{Name: "ops", KeySHA256: auth.HashKey(consoleOpsKey), Tenants: []string{"*"}, Scopes: auth.Scopes},
	{Name: "rxx-reader", KeySHA256: auth.HashKey(consoleReaderKey), Tenants: []string{"RXX"},
		Scopes: []string{auth.ScopeReadFiles, auth.ScopeQuarantineRead, auth.ScopeReadBatches, auth.ScopeReadEvents, auth.ScopeReadPeople}},
	{Name: "ryy-operator", KeySHA256: auth.HashKey(consoleRYYKey), Tenants: []string{"RYY"}, Scopes: auth.Scopes},
}

// browser is a console user: a cookie jar, and the last page's CSRF token.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newBrowser(t *testing.T, srv *httptest.Server) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: srv.URL, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// signIn signs in with key and returns the page it lands on.
func (b *browser) signIn(key string) (int, *goquery.Document) {
	b.t.Helper()
	b.get("/console/sign-in")
	return b.send(http.MethodPost, "/console/sign-in", url.Values{"key": {key}})
}

// get fetches a console page, following redirects.
func (b *browser) get(path string) (int, *goquery.Document) {
	b.t.Helper()
	return b.send(http.MethodGet, path, nil)
}

// post submits a form with the session's CSRF token, as the page's own
// form does, from the console's own origin.
func (b *browser) post(path string, form url.Values) (int, *goquery.Document) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	return b.send(http.MethodPost, path, form)
}

func (b *browser) send(method, path string, form url.Values) (int, *goquery.Document) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		b.t.Fatalf("%s %s: not HTML: %v", method, path, err)
	}
	if tok, ok := doc.Find(`input[name=csrf]`).Attr("value"); ok {
		b.csrf = tok
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		b.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, doc
}

// texts returns the trimmed text of every node sel matches.
func texts(doc *goquery.Document, sel string) []string {
	var out []string
	doc.Find(sel).Each(func(_ int, s *goquery.Selection) {
		out = append(out, strings.Join(strings.Fields(s.Text()), " "))
	})
	return out
}

// consoleEnv is an api with the console's clients and two tenants' data:
// RXX and RYY each have a held batch and an accepted file.
func consoleEnv(t *testing.T, dbURL string) (*env, *Service, *httptest.Server) {
	t.Helper()
	e := newEnv(t)
	s, srv := e.startWith(Config{DBURL: dbURL, Group: "console-test", Clients: consoleClients}, zaptest.NewLogger(t))
	e.produce(true,
		e.report(&internalv1.FileReport{Tenant: "RXX", Vpd: "412", File: internalv1.FileInfo{Name: "GO_412_RXX.DAT", Sha256: sha1, Dialect: "go-v2", Kind: internalv1.FileKindChange, Sequence: 1, RunDate: day(2026, 12, 1)},
			Status: internalv1.FileStatusAccepted, RowsRead: 10, EntitiesAccepted: 9, Quarantined: 1, EventsEmitted: map[string]int64{}, ReportedAt: time.Now().UTC()}),
		e.report(&internalv1.FileReport{Tenant: "RYY", Vpd: "413", File: internalv1.FileInfo{Name: "GO_413_RYY.DAT", Sha256: sha2, Dialect: "go-v2", Kind: internalv1.FileKindChange, Sequence: 1, RunDate: day(2026, 12, 1)},
			Status: internalv1.FileStatusAccepted, RowsRead: 4, EntitiesAccepted: 4, EventsEmitted: map[string]int64{}, ReportedAt: time.Now().UTC()}),
		e.heldBatch(heldRecord("RXX", "hb-9f2c4e1a7b3d5f6e", sha1, heldAt1, 3)),
		e.heldBatch(heldRecord("RYY", "hb-2222222222222222", sha2, heldAt1, 3)),
	)
	waitKey(t, srv, consoleOpsKey, "/v1/tenants/RYY/held-batches/hb-2222222222222222", http.StatusOK, "hb-2222222222222222")
	return e, s, srv
}

// TestConsoleSignInAndOverview: a wrong key is refused, the operator's key
// sees both tenants in the overview, the RXX reader sees RXX only, and a
// page without a session goes to sign in and comes back after.
func TestConsoleSignInAndOverview(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		_, _, srv := consoleEnv(t, dbURL)

		anon := newBrowser(t, srv)
		if code, doc := anon.get("/console/overview"); code != http.StatusOK || doc.Find(`input[name=key]`).Length() != 1 {
			t.Fatalf("overview without a session: %d, want the sign-in page", code)
		}
		if code, doc := anon.signIn("not-a-key"); code != http.StatusUnauthorized || !strings.Contains(doc.Text(), "was not accepted") {
			t.Errorf("sign-in with a wrong key: %d %q", code, texts(doc, "main"))
		}

		ops := newBrowser(t, srv)
		code, doc := ops.signIn(consoleOpsKey)
		if code != http.StatusOK {
			t.Fatalf("sign-in: %d %q", code, texts(doc, "main"))
		}
		if got := texts(doc, "#tenants tbody th[scope=row]"); !slices.Equal(got, []string{"RXX", "RYY"}) {
			t.Errorf("overview tenants for ops = %q, want RXX and RYY", got)
		}
		// The pipeline: every stage's group, its column headers scoped;
		// the stages never ran here (no group: Dead, nothing measured)
		// but the api, whose group is this api's own, consuming.
		if got := texts(doc, "#pipeline thead th[scope=col]"); !slices.Equal(got, []string{"Stage", "Group", "Lag", "Members", "State"}) {
			t.Errorf("pipeline columns = %q", got)
		}
		if got := texts(doc, "#pipeline tbody th[scope=row]"); !slices.Equal(got, []string{"normalise", "validate", "publish", "api"}) {
			t.Errorf("pipeline stages = %q, want normalise, validate, publish, api (ingest's replay group has no commit)", got)
		}
		if got := texts(doc, "#pipeline tbody tr:nth-child(2) td"); !slices.Equal(got, []string{"esrflow-validate", "none measured", "0", "Dead"}) {
			t.Errorf("pipeline validate row = %q", got)
		}
		if got := texts(doc, "#pipeline tbody tr:last-child td"); len(got) != 4 || got[0] != "console-test" || got[1] == "none measured" {
			t.Errorf("pipeline api row = %q, want the api's own group console-test with a lag", got)
		}

		reader := newBrowser(t, srv)
		if _, doc := reader.get("/console/t/RXX/files"); doc.Find(`input[name=key]`).Length() != 1 {
			t.Fatal("a page without a session did not ask to sign in")
		}
		code, doc = reader.send(http.MethodPost, "/console/sign-in", url.Values{"key": {consoleReaderKey}, "next": {"/console/overview"}})
		if code != http.StatusOK {
			t.Fatalf("reader sign-in: %d", code)
		}
		if got := texts(doc, "#tenants tbody th[scope=row]"); !slices.Equal(got, []string{"RXX"}) {
			t.Errorf("overview tenants for the RXX reader = %q, want RXX only", got)
		}
		if strings.Contains(doc.Text(), "RYY") {
			t.Error("the RXX reader's overview names RYY")
		}
	})
}

// TestConsoleCSRF: an action without the session's token, with another
// session's token, or from another origin is refused and changes nothing.
func TestConsoleCSRF(t *testing.T) {
	_, _, srv := consoleEnv(t, "sqlite:"+t.TempDir()+"/api.db")
	ops := newBrowser(t, srv)
	ops.signIn(consoleOpsKey)
	other := newBrowser(t, srv)
	other.signIn(consoleRYYKey)
	release := "/console/t/RXX/held-batches/hb-9f2c4e1a7b3d5f6e/release"
	reason := url.Values{"reason": {"csrf test"}}
	for name, form := range map[string]url.Values{
		"no token":              {"reason": {"csrf test"}, "csrf": {""}},
		"another session token": {"reason": {"csrf test"}, "csrf": {other.csrf}},
	} {
		if code, doc := ops.post(release, form); code != http.StatusForbidden || !strings.Contains(doc.Text(), "CSRF") {
			t.Errorf("%s: %d %q, want 403 naming the CSRF token", name, code, texts(doc, ".error"))
		}
	}
	// A form posted from another site: the browser says so.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+release, strings.NewReader(url.Values{"reason": reason["reason"], "csrf": {ops.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := ops.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site post: %d, want 403", resp.StatusCode)
	}
	if code, body := do(t, srv, http.MethodGet, "/v1/tenants/RXX/audit", consoleOpsKey, ""); code != http.StatusOK || body != `{"audit":[]}` {
		t.Errorf("audit after refused posts: %d %s, want none", code, body)
	}
}
