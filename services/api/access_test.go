package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/esrflow/esrflow/platform/kafka/kafkax"
	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/services/api/accesslog"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
	"github.com/esrflow/esrflow/services/api/store/storetest"
)

// accessRow is an access log row as GET /v1/access-log lists it.
type accessRow struct {
	RequestID  string  `json:"request_id"`
	At         string  `json:"at"`
	Client     string  `json:"client"`
	Method     string  `json:"method"`
	Path       string  `json:"path"`
	Tenant     *string `json:"tenant"`
	Status     int     `json:"status"`
	DurationUS int64   `json:"duration_us"`
}

func (r accessRow) String() string {
	t := ""
	if r.Tenant != nil {
		t = *r.Tenant
	}
	return fmt.Sprintf("%s %s %s %s %d", r.Client, r.Method, r.Path, t, r.Status)
}

// listAccess reads one page of GET /v1/access-log.
func listAccess(t *testing.T, srv *httptest.Server, key, query string) ([]accessRow, string) {
	t.Helper()
	code, body := do(t, srv, "GET", "/v1/access-log?"+query, key, "")
	if code != 200 {
		t.Fatalf("GET /v1/access-log?%s = %d %s", query, code, body)
	}
	var l struct {
		AccessLog  []accessRow `json:"access_log"`
		NextCursor string      `json:"next_cursor"`
	}
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatal(err)
	}
	return l.AccessLog, l.NextCursor
}

// rawExchange writes req on a fresh connection and returns the status code
// of the answer (0 when there is none).
func rawExchange(t *testing.T, srv *httptest.Server, req string) int {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	go func() { _, _ = c.Write([]byte(req)) }() // the server may answer (and close) before reading it all
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Every request is in the access log once: answered by a handler (200,
// 404), by guard (401, 403, 429), by the mux (a redirect, an unknown path
// outside /v1) or by net/http itself before any handler runs (431 header
// too large, 400 malformed).
func TestAccessLogEveryRequest(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		admin, reader := newKey(t), newKey(t)
		s, srv := e.startWith(Config{DBURL: dbURL, UnauthenticatedRate: 0.001, UnauthenticatedBurst: 1, Clients: []auth.Client{
			{Name: "admin", KeySHA256: auth.HashKey(admin), Tenants: []string{"*"}, Scopes: []string{auth.ScopeAdmin}},
			{Name: "rxx", KeySHA256: auth.HashKey(reader), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeReadPeople}},
		}}, testLogger(t))
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		raw := func(path, key string) (int, string) {
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode, resp.Header.Get("X-Request-Id")
		}
		var want []string
		expect := func(got, wantCode int, row string) {
			t.Helper()
			if got != wantCode {
				t.Errorf("%s answered %d, want %d", row, got, wantCode)
			}
			f := strings.Split(row, " ") // client method path [tenant]
			for len(f) < 4 {
				f = append(f, "")
			}
			want = append(want, fmt.Sprintf("%s %s %s %s %d", f[0], f[1], f[2], f[3], wantCode))
		}
		code, notFoundID := raw("/v1/tenants/RXX/people/nobody", reader)
		expect(code, 404, "rxx GET /v1/tenants/RXX/people/nobody RXX")
		code, _ = raw("/v1/tenants/RYY/people/nobody", reader)
		expect(code, 403, "rxx GET /v1/tenants/RYY/people/nobody RYY")
		code, _ = raw("/v1/tenants/RXX/people/1", "")
		expect(code, 401, "anonymous GET /v1/tenants/RXX/people/1 RXX")
		code, _ = raw("/v1/tenants/RXX/people/2", "")
		expect(code, 429, "anonymous GET /v1/tenants/RXX/people/2 RXX")
		code, _ = raw("/v1", reader) // the mux redirects to /v1/
		expect(code, 307, "anonymous GET /v1")
		code, _ = raw("/not-the-api", "")
		expect(code, 404, "anonymous GET /not-the-api")
		code, _ = raw("/v1//tenants/RXX/people/1", reader) // the probes' mux cleans the path: a redirect
		expect(code, 307, "anonymous GET /v1//tenants/RXX/people/1")
		code, _ = raw("/healthz", "")
		expect(code, 200, "anonymous GET /healthz")
		code = rawExchange(t, srv, "GET /v1/tenants/RXX/people/3 HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\n\r\n")
		expect(code, 431, "anonymous")
		code = rawExchange(t, srv, "NOT HTTP AT ALL\r\n\r\n")
		expect(code, 400, "anonymous")

		flushAccessLog(t, s)
		rows, next := listAccess(t, srv, admin, "limit=1000")
		if next != "" {
			t.Errorf("one page expected, got a cursor")
		}
		var got []string
		for _, r := range rows {
			got = append(got, r.String())
			if r.RequestID == "" || r.DurationUS < 0 {
				t.Errorf("row %s: request id %q, duration %d", r, r.RequestID, r.DurationUS)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("access log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// The X-Request-Id a caller sees names its row.
		if !slices.ContainsFunc(rows, func(r accessRow) bool { return r.RequestID == notFoundID && r.Status == 404 }) {
			t.Errorf("no row with the 404's X-Request-Id %q", notFoundID)
		}
	})
}

// GET /v1/access-log filters by client, tenant, path, status and time, and
// pages newest first with a cursor; it needs admin.
func TestAccessLogQuery(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		admin, rxxAdmin, reader := newKey(t), newKey(t), newKey(t)
		s, srv := e.startWith(Config{DBURL: dbURL, Clients: []auth.Client{
			{Name: "admin", KeySHA256: auth.HashKey(admin), Tenants: []string{"*"}, Scopes: []string{auth.ScopeAdmin}},
			{Name: "rxx-admin", KeySHA256: auth.HashKey(rxxAdmin), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeAdmin}},
			{Name: "reader", KeySHA256: auth.HashKey(reader), Tenants: []string{"*"}, Scopes: auth.Scopes[:4]},
		}}, testLogger(t))
		// 40 rows in January 2026, one a minute: clients a/b alternate,
		// tenants RXX, RYY and none in turn, every fifth a 404. Some share
		// a millisecond, so the cursor must order by request id too.
		base := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
		var seeded []accesslog.Entry
		for i := range 40 {
			e := accesslog.Entry{
				RequestID: fmt.Sprintf("req-%02d", i), At: base.Add(time.Duration(i/2) * time.Minute),
				Client: []string{"a", "b"}[i%2], Method: "GET", Path: fmt.Sprintf("/v1/tenants/X/people/%d", i%4),
				Tenant: []string{"RXX", "RYY", ""}[i%3], Status: 200, Duration: time.Duration(i) * time.Microsecond,
			}
			if i%5 == 0 {
				e.Status = 404
			}
			seeded = append(seeded, e)
		}
		if err := s.store.LogAccess(context.Background(), seeded); err != nil {
			t.Fatal(err)
		}
		// Every query is bounded to January: the queries' own rows (now)
		// stay out.
		const jan = "since=2026-01-01&until=2026-02-01"
		ids := func(rows []accessRow) string {
			var out []string
			for _, r := range rows {
				out = append(out, strings.TrimPrefix(r.RequestID, "req-"))
			}
			return strings.Join(out, ",")
		}
		wantIDs := func(keep func(i int, e accesslog.Entry) bool) string {
			var out []string
			for i := len(seeded) - 1; i >= 0; i-- { // newest first; same minute: higher id first
				if keep(i, seeded[i]) {
					out = append(out, fmt.Sprintf("%02d", i))
				}
			}
			return strings.Join(out, ",")
		}
		for _, c := range []struct {
			query string
			keep  func(i int, e accesslog.Entry) bool
		}{
			{jan, func(int, accesslog.Entry) bool { return true }},
			{jan + "&client=a", func(_ int, e accesslog.Entry) bool { return e.Client == "a" }},
			{jan + "&tenant=ryy", func(_ int, e accesslog.Entry) bool { return e.Tenant == "RYY" }},
			{jan + "&path=" + url.QueryEscape("/v1/tenants/X/people/3"), func(_ int, e accesslog.Entry) bool { return e.Path == "/v1/tenants/X/people/3" }},
			{jan + "&status=404", func(_ int, e accesslog.Entry) bool { return e.Status == 404 }},
			{"since=2026-01-05T09:10:00Z&until=2026-01-05T09:12:00Z", func(i int, _ accesslog.Entry) bool { return i >= 20 && i < 24 }},
			{jan + "&client=b&tenant=RXX&status=200", func(_ int, e accesslog.Entry) bool {
				return e.Client == "b" && e.Tenant == "RXX" && e.Status == 200
			}},
		} {
			rows, _ := listAccess(t, srv, admin, c.query)
			if got, want := ids(rows), wantIDs(c.keep); got != want {
				t.Errorf("?%s = %s\nwant %s", c.query, got, want)
			}
		}
		// Pages of 7 walk every row once, in order.
		var paged []accessRow
		q := jan + "&limit=7"
		for range 10 {
			rows, next := listAccess(t, srv, admin, q)
			paged = append(paged, rows...)
			if next == "" {
				break
			}
			q = jan + "&limit=7&cursor=" + next
		}
		if got, want := ids(paged), wantIDs(func(int, accesslog.Entry) bool { return true }); got != want {
			t.Errorf("paged = %s\nwant %s", got, want)
		}
		// A key for some tenants reads those tenants' rows only.
		rows, _ := listAccess(t, srv, rxxAdmin, jan+"&tenant=RXX")
		if got, want := ids(rows), wantIDs(func(_ int, e accesslog.Entry) bool { return e.Tenant == "RXX" }); got != want {
			t.Errorf("rxx-admin ?tenant=RXX = %s, want %s", got, want)
		}
		for _, c := range []struct {
			key, query string
			want       int
		}{
			{"", jan, 401},
			{reader, jan, 403},   // no admin scope
			{rxxAdmin, jan, 403}, // no tenant named
			{rxxAdmin, "tenant=RYY", 403},
			{admin, "status=abc", 400},
			{admin, "status=42", 400},
			{admin, "since=yesterday", 400},
			{admin, "until=soon", 400},
			{admin, "tenant=R-X", 400},
			{admin, "cursor=!!!", 400},
			{admin, "limit=0", 400},
			{admin, "client=a%00", 400},
		} {
			if code, body := do(t, srv, "GET", "/v1/access-log?"+c.query, c.key, ""); code != c.want {
				t.Errorf("GET /v1/access-log?%s with key %d = %d %.200s, want %d", c.query, len(c.key), code, body, c.want)
			}
		}
	})
}

// Without API clients (the embedded mode, reads open) the access log is
// still refused: it is an administrator's.
func TestAccessLogNeedsKeyInOpenMode(t *testing.T) {
	e := newEnv(t)
	_, srv := e.startWith(Config{DBURL: "sqlite::memory:"}, testLogger(t))
	if code, body := do(t, srv, "GET", "/v1/access-log", "", ""); code != 401 || !strings.Contains(body, "admin scope") {
		t.Errorf("GET /v1/access-log in open mode = %d %s, want 401", code, body)
	}
}

// Rows still queued when the service stops are written by Close: with a
// flush interval no test outlives, only Close can have written them.
func TestAccessLogFlushedOnClose(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		s, err := New(Config{
			Kafka: kafkax.Config{Brokers: e.broker.Seeds(), ClientID: "api-test"}, RegistryURL: e.registry, DBURL: dbURL,
			AccessLog: accesslog.Config{FlushInterval: time.Hour, BatchSize: 1000},
		}, Deps{Log: testLogger(t), Metrics: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		const requests = 25
		for i := range requests {
			if code, _ := get(t, srv, fmt.Sprintf("/v1/tenants/RXX/people/%d", i)); code != 404 {
				t.Fatalf("GET person = %d, want 404", code)
			}
		}
		var before int
		if err := s.store.DB().QueryRow(`SELECT COUNT(*) FROM access_log`).Scan(&before); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		s.Close()
		if before != 0 {
			t.Fatalf("%d rows written before Close: the batch should still be queued", before)
		}
		db := storetest.Open(t, dbURL).DB()
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM access_log WHERE status = 404 AND client = 'anonymous'`).Scan(&n); err != nil || n != requests {
			t.Errorf("after Close the access log holds %d rows (%v), want %d", n, err, requests)
		}
	})
}

// The api binary (service.Run) logs its whole port: the probes, the probes'
// mux's own redirects and net/http's 431, and a graceful stop writes every
// queued row before the database closes.
func TestBinaryLogsEveryRequest(t *testing.T) {
	e := newEnv(t)
	dbPath := filepath.Join(t.TempDir(), "api.db")
	apiAddr, metricsAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- service.Run(ctx, Spec(), []string{
			"-kafka.brokers", strings.Join(e.broker.Seeds(), ","), "-registry.url", e.registry,
			"-db.url", "sqlite:" + dbPath, "-http.addr", apiAddr, "-metrics.addr", metricsAddr, "-log.level", "error",
		})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := httpGet(t, "http://"+apiAddr+"/healthz", ""); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the api did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get("http://" + apiAddr + "/v1//tenants/RXX/people/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c, err := net.Dial("tcp", apiAddr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n"))
	}()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	big, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	big.Body.Close()
	c.Close()
	if resp.StatusCode/100 != 3 || big.StatusCode != 431 {
		t.Fatalf("answers: %d, %d; want a redirect and 431", resp.StatusCode, big.StatusCode)
	}
	cancel()
	if err := <-done; err != nil && err != context.Canceled {
		t.Fatalf("service.Run: %v", err)
	}
	db := storetest.Open(t, "sqlite:"+dbPath).DB()
	for _, c := range []struct {
		path   string
		status int
	}{{"/v1//tenants/RXX/people/1", resp.StatusCode}, {"", 431}} {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM access_log WHERE path = ? AND status = ?`, c.path, c.status).Scan(&n); err != nil || n != 1 {
			t.Errorf("rows for %q %d: %d (%v), want 1", c.path, c.status, n, err)
		}
	}
	var probes int
	if err := db.QueryRow(`SELECT COUNT(*) FROM access_log WHERE path = '/healthz' AND status = 200`).Scan(&probes); err != nil || probes < 1 {
		t.Errorf("probe rows: %d (%v), want at least 1", probes, err)
	}
}

// A handler that panics is still logged, as a 500.
func TestAccessLogHandlerPanic(t *testing.T) {
	st := storetest.Open(t, "sqlite:"+filepath.Join(t.TempDir(), "api.db"))
	w, err := accesslog.New(accesslog.Config{}, st.LogAccess, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{store: st, access: w}
	srv := httptest.NewServer(s.LogRequests(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })))
	if resp, err := http.Get(srv.URL + "/v1/boom"); err == nil {
		resp.Body.Close()
		t.Fatalf("a panicking handler answered %d", resp.StatusCode)
	}
	srv.Close()
	w.Close()
	var n int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM access_log WHERE path = '/v1/boom' AND status = 500`).Scan(&n); err != nil || n != 1 {
		t.Errorf("rows for the panicking request: %d (%v), want 1", n, err)
	}
}

// --access-log.retention deletes rows older than it (at start, then
// hourly) and keeps the recent ones; zero keeps everything.
func TestAccessLogRetention(t *testing.T) {
	e := newEnv(t)
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "api.db")
	_, _, stop := e.run(Config{DBURL: dbURL}) // creates the schema
	stop()
	st := storetest.Open(t, dbURL)
	db := st.DB()
	for id, age := range map[string]time.Duration{"old": 48 * time.Hour, "recent": time.Hour} {
		if _, err := db.Exec(st.Rebind(`INSERT INTO access_log (request_id, at, client, method, path, tenant, status, duration_us)
			VALUES (?, ?, 'anonymous', 'GET', '/x', NULL, 404, 1)`), id, time.Now().Add(-age).UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	count := func(id string) int {
		var n int
		if err := db.QueryRow(st.Rebind(`SELECT COUNT(*) FROM access_log WHERE request_id = ?`), id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	_, _, stop = e.run(Config{DBURL: dbURL, AccessLogRetention: 0})
	time.Sleep(200 * time.Millisecond)
	stop()
	if count("old") != 1 {
		t.Fatal("retention 0 deleted a row")
	}
	e.run(Config{DBURL: dbURL, AccessLogRetention: 24 * time.Hour})
	eventually(t, "the old row deleted", func() bool { return count("old") == 0 })
	if count("recent") != 1 {
		t.Error("the recent row was deleted")
	}
}
