package api

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	esrtenant "github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// overviewNow is the pinned clock of the overview tests: 11:00 BST, so
// today in Europe/London began at 23:00 UTC the day before.
var overviewNow = time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC)

// countsReport is an ACCEPTED or REJECTED report with its row counts.
func countsReport(tenant, name, sha string, status internalv1.FileStatus, at time.Time, rows, quarantined int64) *internalv1.FileReport {
	r := &internalv1.FileReport{Tenant: tenant, Vpd: "412", File: *fileInfo(name, sha, 1), Status: status, RowsRead: rows,
		Quarantined: quarantined, EventsEmitted: map[string]int64{}, ReportedAt: at, TopRules: []internalv1.RuleCount{}}
	if status == internalv1.FileStatusRejected {
		reason := "ESR-F001 bad trailer"
		r.Reason = &reason
	}
	return r
}

// overview fetches GET /v1/tenants and returns its tenants by code, and
// the whole answer.
func overview(t *testing.T, body string) (map[string]string, regionOverview) {
	t.Helper()
	var out regionOverview
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("GET /v1/tenants: %v: %s", err, body)
	}
	var raw struct {
		Tenants []json.RawMessage `json:"tenants"`
	}
	_ = json.Unmarshal([]byte(body), &raw)
	byCode := map[string]string{}
	for i, tv := range out.Tenants {
		byCode[tv.Tenant] = string(raw.Tenants[i])
	}
	return byCode, out
}

func TestTenantsOverview(t *testing.T) {
	dbtest.ForEach(t, testTenantsOverview)
}

// Exact counts for two tenants (a HELD file, held batches, accepted files
// yesterday and today in Europe/London, a rejected one, quarantined rows),
// a tenant known only by a quarantined row, the stale flag both ways, and
// who sees what: a key for every tenant, for one, for a tenant nothing is
// known of yet; files:read needed.
func testTenantsOverview(t *testing.T, dbURL string) {
	e := newEnv(t)
	keys := map[string]string{}
	var clients []auth.Client
	add := func(name string, tenants, scopes []string) {
		keys[name] = newKey(t)
		clients = append(clients, auth.Client{Name: name, KeySHA256: auth.HashKey(keys[name]), Tenants: tenants, Scopes: scopes})
	}
	add("region", []string{"*"}, []string{auth.ScopeReadFiles, auth.ScopeReadBatches, auth.ScopeQuarantineRead})
	add("rxx-files", []string{"RXX"}, []string{auth.ScopeReadFiles})
	add("rqq-files", []string{"RQQ"}, []string{auth.ScopeReadFiles})
	add("rxx-admin", []string{"RXX"}, []string{auth.ScopeAdmin})
	add("no-files", []string{"*"}, []string{auth.ScopeReadPeople, auth.ScopeReadBatches, auth.ScopeOperate})

	yesterday := time.Date(2026, 6, 14, 22, 30, 0, 0, time.UTC) // 23:30 BST on the 14th
	today := time.Date(2026, 6, 14, 23, 30, 0, 0, time.UTC)     // 00:30 BST on the 15th
	hold := internalv1.FileHold{Feed: "412/EXP", LastSequence: 347, AwaitingSequences: []int64{348}}
	heldFile := heldReport("RXX", "GO_412_EXP_GOC_20240313_00000349.DAT", shaHeld1, 349, today.Add(2*time.Hour), hold)
	batchHeld := heldRecord("RXX", "hb-9f2c4e1a7b3d5f6e", sha1, heldAt1, 3)
	batchDone := decided(heldRecord("RXX", "hb-3333333333333333", shaHeld2, heldAt2, 3), internalv1.HeldBatchStatusReleased, "ops", "ok", "cmd-1", 3)
	batchRYY := heldRecord("RYY", "hb-2222222222222222", sha2, heldAt1, 3)
	q := qrec("RXX", "A.DAT", sha1, 3, internalv1.StageValidate, "ASA", "assignment", asaFields(), violation("ESR-X002", "position_id", internalv1.SeverityError))
	qRZZ := qrec("RZZ", "Z.DAT", shaRYY, 3, internalv1.StageValidate, "ASA", "assignment", asaFields(), violation("ESR-X002", "position_id", internalv1.SeverityError))
	e.produce(true,
		e.reportV4(countsReport("RXX", "A.DAT", sha1, internalv1.FileStatusAccepted, yesterday, 100, 1)),
		e.reportV4(countsReport("RXX", "B.DAT", shaHeld2, internalv1.FileStatusAccepted, today, 200, 10)),
		e.reportV4(countsReport("RXX", "C.DAT", shaHeld3, internalv1.FileStatusRejected, today.Add(time.Hour), 7, 0)),
		e.reportV4(heldFile),
		e.reportV4(countsReport("RYY", "Y.DAT", sha2, internalv1.FileStatusAccepted, overviewNow.Add(-72*time.Hour), 50, 0)),
		e.heldBatch(batchHeld), e.heldBatch(batchDone), e.heldBatch(batchRYY),
		e.quarantine(q, 2), e.quarantine(qRZZ, 2))
	_, srv := e.startWith(Config{DBURL: dbURL, Clients: clients, Now: func() time.Time { return overviewNow }}, testLogger(t))
	region := keys["region"]
	waitKey(t, srv, region, "/v1/tenants/RXX/files?status=HELD", 200, shaHeld1)
	waitKey(t, srv, region, "/v1/tenants/RXX/files?status=REJECTED", 200, shaHeld3)
	waitKey(t, srv, region, "/v1/tenants/RYY/files", 200, sha2)
	waitKey(t, srv, region, "/v1/tenants/RXX/held-batches?status=RELEASED", 200, batchDone.BatchID)
	waitKey(t, srv, region, "/v1/tenants/RYY/held-batches", 200, batchRYY.BatchID)
	waitKey(t, srv, region, "/v1/tenants/RZZ/quarantine", 200, `"q-`)
	waitKey(t, srv, region, "/v1/tenants/RXX/quarantine", 200, `"q-`)

	const (
		rxx = `{"tenant":"RXX","last_accepted_file":{"name":"B.DAT","sha256":"` + shaHeld2 + `","run_date":"2024-03-11","reported_at":"2026-06-14T23:30:00Z"},` +
			`"last_accepted_age_seconds":37800,"stale":false,"files_held":1,"held_batches":1,` +
			`"today":{"date":"2026-06-15","files":3,"rejected":1,"rows_read":207,"quarantined":10,"quarantine_rate":0.04830917874396135}}`
		ryy = `{"tenant":"RYY","last_accepted_file":{"name":"Y.DAT","sha256":"` + sha2 + `","run_date":"2024-03-11","reported_at":"2026-06-12T10:00:00Z"},` +
			`"last_accepted_age_seconds":259200,"stale":true,"files_held":0,"held_batches":1,` +
			`"today":{"date":"2026-06-15","files":0,"rejected":0,"rows_read":0,"quarantined":0,"quarantine_rate":0}}`
		nothing = `"last_accepted_file":null,"last_accepted_age_seconds":null,"stale":true,"files_held":0,"held_batches":0,` +
			`"today":{"date":"2026-06-15","files":0,"rejected":0,"rows_read":0,"quarantined":0,"quarantine_rate":0}}`
	)
	code, body := do(t, srv, "GET", "/v1/tenants", region, "")
	if code != 200 {
		t.Fatalf("GET /v1/tenants as region = %d %s", code, body)
	}
	got, all := overview(t, body)
	want := map[string]string{"RXX": rxx, "RYY": ryy, "RZZ": `{"tenant":"RZZ",` + nothing}
	if len(got) != len(want) || len(all.Tenants) != 3 || all.Tenants[0].Tenant != "RXX" || all.Tenants[2].Tenant != "RZZ" {
		t.Errorf("region sees %v, want RXX, RYY, RZZ in order", got)
	}
	for code, w := range want {
		if got[code] != w {
			t.Errorf("%s:\n got %s\nwant %s", code, got[code], w)
		}
	}
	if all.FreshnessSeconds != 26*3600 {
		t.Errorf("freshness_seconds %d, want 26h", all.FreshnessSeconds)
	}
	if !all.Consumer.Ready || all.Consumer.StalledSeconds != 0 || all.Consumer.Lag < 0 {
		t.Errorf("consumer %+v, want ready, not stalled", all.Consumer)
	}
	if !strings.Contains(body, `"consumer":{"lag":`) {
		t.Errorf("no consumer object: %s", body)
	}

	// A key for one tenant sees exactly it; admin implies files:read.
	for _, name := range []string{"rxx-files", "rxx-admin"} {
		code, body := do(t, srv, "GET", "/v1/tenants", keys[name], "")
		got, _ := overview(t, body)
		if code != 200 || len(got) != 1 || got["RXX"] != rxx {
			t.Errorf("%s: %d %s, want RXX only", name, code, body)
		}
	}
	// A tenant nothing is known of yet is still listed for its key.
	code, body = do(t, srv, "GET", "/v1/tenants", keys["rqq-files"], "")
	if want := `{"tenants":[{"tenant":"RQQ",` + nothing + `]`; code != 200 || !strings.HasPrefix(body, want) {
		t.Errorf("rqq-files: %d %s, want %s…", code, body, want)
	}
	// files:read is needed, and a key is.
	code, body = do(t, srv, "GET", "/v1/tenants", keys["no-files"], "")
	if code != 403 || body != `{"error":"this API key lacks the files:read scope"}` {
		t.Errorf("no-files: %d %s", code, body)
	}
	if code, _ := do(t, srv, "GET", "/v1/tenants", "", ""); code != 401 {
		t.Errorf("no key: %d, want 401", code)
	}
}

// The freshness window decides stale: the same file is fresh under 26h
// and stale under a window shorter than its age.
func TestTenantsOverviewFreshness(t *testing.T) {
	e := newEnv(t)
	e.produce(true, e.reportV4(countsReport("RXX", "A.DAT", sha1, internalv1.FileStatusAccepted, overviewNow.Add(-2*time.Hour), 10, 0)))
	_, fresh := e.startWith(Config{DBURL: dbtest.SQLiteURL(t), Group: "fresh", Now: func() time.Time { return overviewNow }}, testLogger(t))
	_, short := e.startWith(Config{DBURL: dbtest.SQLiteURL(t), Group: "short", Freshness: time.Hour, Now: func() time.Time { return overviewNow }}, testLogger(t))
	body := waitKey(t, fresh, "", "/v1/tenants", 200, `"A.DAT"`)
	if !strings.Contains(body, `"last_accepted_age_seconds":7200,"stale":false`) {
		t.Errorf("26h window: %s, want fresh", body)
	}
	body = waitKey(t, short, "", "/v1/tenants", 200, `"A.DAT"`)
	if !strings.Contains(body, `"last_accepted_age_seconds":7200,"stale":true`) || !strings.Contains(body, `"freshness_seconds":3600`) {
		t.Errorf("1h window: %s, want stale", body)
	}
}

// The open mode, on the wall clock: the anonymous caller sees every known
// tenant and every tenant of --tenants.file, and a report dated now is
// today's; whoami answers the anonymous caller.
func TestTenantsOverviewOpenMode(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	e.produce(true, e.reportV4(countsReport("RXX", "NOW.DAT", sha1, internalv1.FileStatusAccepted, now, 40, 2)))
	set, err := esrtenant.Parse("RXX=412,RNEW=999")
	if err != nil {
		t.Fatal(err)
	}
	_, srv := e.startWith(Config{DBURL: dbtest.SQLiteURL(t), Tenants: set}, testLogger(t))
	body := waitKey(t, srv, "", "/v1/tenants", 200, `"NOW.DAT"`)
	got, all := overview(t, body)
	if len(all.Tenants) != 2 || all.Tenants[0].Tenant != "RNEW" || all.Tenants[1].Tenant != "RXX" {
		t.Fatalf("open mode sees %v, want RNEW, RXX", got)
	}
	x := all.Tenants[1]
	// The report was stamped a moment ago, and is today's in London
	// (unless the test straddles midnight there: then it is yesterday's).
	if x.Stale || x.LastAcceptedAgeSeconds == nil || *x.LastAcceptedAgeSeconds > 60 {
		t.Errorf("RXX: %s, want fresh", got["RXX"])
	}
	if day := time.Now().In(london).Format(time.DateOnly); day == now.In(london).Format(time.DateOnly) {
		if want := (dayTotals{Date: day, Files: 1, RowsRead: 40, Quarantined: 2, QuarantineRate: 0.05}); x.Today != want {
			t.Errorf("RXX today %+v, want %+v", x.Today, want)
		}
	}
	if !all.Tenants[0].Stale || all.Tenants[0].LastAcceptedFile != nil {
		t.Errorf("RNEW: %s, want stale with no file", got["RNEW"])
	}
	code, who := do(t, srv, "GET", "/v1/whoami", "", "")
	if want := `{"name":"anonymous","tenants":["*"],"scopes":[],"effective_scopes":["people:read","events:read","files:read","batches:read","quarantine:read"],"expires_at":null,"open":true}`; code != 200 || who != want {
		t.Errorf("whoami in the open mode: %d %s\nwant %s", code, who, want)
	}
}

// whoami names the key's client, its tenants and scopes as granted and as
// acted with, its expiry, and never the key or its hash.
func TestWhoami(t *testing.T) {
	e := newEnv(t)
	keys := map[string]string{}
	var clients []auth.Client
	add := func(name string, tenants, scopes []string) {
		keys[name] = newKey(t)
		clients = append(clients, auth.Client{Name: name, KeySHA256: auth.HashKey(keys[name]), Tenants: tenants, Scopes: scopes})
	}
	add("platform", []string{"*", "RXX"}, []string{auth.ScopeAdmin})
	add("vendor", []string{"ryy", "RXX"}, []string{"read:people", auth.ScopeReadEvents})
	_, srv := e.startWith(Config{DBURL: dbtest.SQLiteURL(t), Clients: clients}, testLogger(t))
	all := `["people:read","people:sensitive","events:read","files:read","batches:read","quarantine:read","operate","files:write","admin"]`
	for name, want := range map[string]string{
		"platform": `{"name":"platform","tenants":["*"],"scopes":["admin"],"effective_scopes":` + all + `,"expires_at":null,"open":false}`,
		"vendor":   `{"name":"vendor","tenants":["RXX","RYY"],"scopes":["people:read","events:read"],"effective_scopes":["people:read","events:read"],"expires_at":null,"open":false}`,
	} {
		code, body := do(t, srv, "GET", "/v1/whoami", keys[name], "")
		if code != 200 || body != want {
			t.Errorf("whoami as %s: %d %s\nwant %s", name, code, body, want)
		}
	}
	// A database key: its expiry, and the secret nowhere in the answer.
	code, body := do(t, srv, "POST", "/v1/keys", keys["platform"],
		`{"name":"console","tenants":["RXX"],"scopes":["files:read","batches:read"],"expires_at":"2099-01-02T03:04:05Z"}`)
	var created struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal([]byte(body), &created); code != 201 || err != nil || created.Key == "" {
		t.Fatalf("creating a key: %d %s", code, body)
	}
	code, body = do(t, srv, "GET", "/v1/whoami", created.Key, "")
	if want := `{"name":"console","tenants":["RXX"],"scopes":["files:read","batches:read"],"effective_scopes":["files:read","batches:read"],"expires_at":"2099-01-02T03:04:05Z","open":false}`; code != 200 || body != want {
		t.Errorf("whoami as a database key: %d %s\nwant %s", code, body, want)
	}
	for _, secret := range []string{created.Key, auth.HashKey(created.Key), keys["platform"], auth.HashKey(keys["platform"])} {
		if strings.Contains(body, secret) {
			t.Errorf("whoami shows a key or its hash: %s", body)
		}
	}
	// With clients, a key is needed: no key, or a wrong one, is a 401.
	for _, key := range []string{"", newKey(t)} {
		if code, body := do(t, srv, "GET", "/v1/whoami", key, ""); code != 401 {
			t.Errorf("whoami with key %q: %d %s, want 401", key, code, body)
		}
	}
}

// The default freshness is the EsrflowTenantSilent alert's window, so the
// console's stale flag and the alert agree.
func TestFreshnessIsTheSilentAlertsWindow(t *testing.T) {
	b, err := os.ReadFile("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`alert: EsrflowTenantSilent\s+expr: [^\n]*> (\d+) \* 3600\n`).FindSubmatch(b)
	if m == nil {
		t.Fatal("alerts.yml: no EsrflowTenantSilent rule of the form `> N * 3600`")
	}
	hours, _ := strconv.Atoi(string(m[1]))
	if got := time.Duration(hours) * time.Hour; got != DefaultFreshness {
		t.Errorf("EsrflowTenantSilent fires after %s, DefaultFreshness is %s: change both together", got, DefaultFreshness)
	}
}
