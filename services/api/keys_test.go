package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
	"github.com/esrflow/esrflow/services/api/store/storetest"
)

// createKey posts a key request as key and returns the status and answer.
func createKey(t *testing.T, srvURL, key, body string) (int, store.APIKey, string) {
	t.Helper()
	resp, b, err := send(t, "POST", srvURL+"/v1/keys", key, body)
	if err != nil {
		t.Fatal(err)
	}
	var k store.APIKey
	if resp.StatusCode == 201 {
		if err := json.Unmarshal(b, &k); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, k, strings.TrimSpace(string(b))
}

func TestKeys(t *testing.T) {
	dbtest.ForEach(t, testKeys)
}

func testKeys(t *testing.T, dbURL string) {
	e := newEnv(t)
	platform, rxxAdmin, reader, legacy := newKey(t), newKey(t), newKey(t), newKey(t)
	clients := []auth.Client{
		{Name: "platform", KeySHA256: auth.HashKey(platform), Tenants: []string{"*"}, Scopes: []string{auth.ScopeAdmin}},
		{Name: "rxx-admin", KeySHA256: auth.HashKey(rxxAdmin), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeAdmin}},
		{Name: "reader", KeySHA256: auth.HashKey(reader), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeReadPeople, auth.ScopeReadEvents}},
		// Today's names stay accepted: they mean the new scopes.
		{Name: "legacy", KeySHA256: auth.HashKey(legacy), Tenants: []string{"RXX"}, Scopes: []string{"read:events", "read:files", "read:batches", "personal:read"}},
	}
	e.produce(true, e.event("RXX", schemas.StarterCreated, 1, "20990417", starter()))
	svc, srv := e.startWith(Config{DBURL: dbURL, Group: "g-keys", Clients: clients}, testLogger(t))
	waitForKey(t, srv.URL, platform, "/v1/tenants/RXX/people/20990417", 200)

	// Aliases: the legacy client reads events, files and batches, and not
	// people (read:people was not among its names).
	for path, want := range map[string]int{
		"/v1/tenants/RXX/events": 200, "/v1/tenants/RXX/files": 200, "/v1/tenants/RXX/held-batches": 200,
		"/v1/tenants/RXX/people/20990417": 403, "/v1/keys": 403,
	} {
		if code, body := do(t, srv, "GET", path, legacy, ""); code != want {
			t.Errorf("legacy GET %s = %d %s, want %d", path, code, body, want)
		}
	}
	// admin implies every scope, on any endpoint of its tenants.
	if code, body := do(t, srv, "GET", "/v1/tenants/RXX/quarantine", rxxAdmin, ""); code != 200 {
		t.Errorf("admin quarantine = %d %s", code, body)
	}
	if code, body := do(t, srv, "GET", "/v1/tenants/RYY/events", rxxAdmin, ""); code != 403 || body != `{"error":"this API key is not allowed tenant RYY"}` {
		t.Errorf("RXX admin on RYY = %d %s", code, body)
	}

	// Create: scopes by any accepted name, stored by their new names.
	code, k, body := createKey(t, srv.URL, platform, `{"name":"rostering","tenants":["rxx"],"scopes":["read:people","events:read"]}`)
	if code != 201 {
		t.Fatalf("create = %d %s", code, body)
	}
	if !strings.HasPrefix(k.Key, auth.KeyPrefix) || len(k.Key) != len(auth.KeyPrefix)+43 || k.Name != "rostering" || k.CreatedBy != "platform" ||
		strings.Join(k.Tenants, ",") != "RXX" || strings.Join(k.Scopes, ",") != "people:read,events:read" || k.ExpiresAt != nil || k.RevokedAt != nil {
		t.Errorf("created %+v", k)
	}
	// In use at once, no restart: its tenant and scopes, nothing more.
	for path, want := range map[string]int{
		"/v1/tenants/RXX/people/20990417": 200, "/v1/tenants/rxx/events": 200,
		"/v1/tenants/RXX/files": 403, "/v1/tenants/RYY/events": 403, "/v1/keys": 403,
	} {
		if code, body := do(t, srv, "GET", path, k.Key, ""); code != want {
			t.Errorf("new key GET %s = %d %s, want %d", path, code, body, want)
		}
	}
	// The access log names it.
	resp, _, err := send(t, "GET", srv.URL+"/v1/tenants/RXX/events", k.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	flushAccessLog(t, svc) // the access log is written asynchronously, in batches
	st := storetest.Open(t, dbURL)
	db := st.DB()
	var client string
	if err := db.QueryRow(st.Rebind(`SELECT client FROM access_log WHERE request_id = ?`), resp.Header.Get("X-Request-Id")).Scan(&client); err != nil || client != "rostering" {
		t.Errorf("access log client = %q (%v), want rostering", client, err)
	}
	// Only the hash is stored: no column holds the key.
	var hash, all string
	if err := db.QueryRow(st.Rebind(`SELECT key_sha256, id || name || tenants || scopes || created_by FROM api_keys WHERE id = ?`), k.ID).Scan(&hash, &all); err != nil {
		t.Fatal(err)
	}
	if hash != auth.HashKey(k.Key) || strings.Contains(all, k.Key) || strings.Contains(all, k.Key[len(auth.KeyPrefix):]) {
		t.Errorf("stored %s %s", hash, all)
	}

	// Refusals.
	for _, c := range []struct {
		key, body string
		code      int
		err       string
	}{
		{reader, `{"tenants":["RXX"],"scopes":["people:read"]}`, 403, "this API key lacks the admin scope"},
		{rxxAdmin, `{"tenants":["*"],"scopes":["people:read"]}`, 403, `this API key is not allowed every tenant, so cannot grant \"*\"`},
		{rxxAdmin, `{"tenants":["RXX","RYY"],"scopes":["people:read"]}`, 403, "this API key is not allowed tenant RYY"},
		{platform, `{"name":"rostering","tenants":["RXX"],"scopes":["people:read"]}`, 409, "a key is already named rostering (names are never reused, also after a revocation): choose another name"},
		{platform, `{"name":"reader","tenants":["RXX"],"scopes":["people:read"]}`, 409, "name reader is a client of the clients file"},
		{platform, `{"tenants":["RXX"],"scopes":["people:write"]}`, 400, `unknown scope \"people:write\"`},
		{platform, `{"tenants":["RXX"],"scopes":[]}`, 400, "scopes is required"},
		{platform, `{"tenants":[],"scopes":["admin"]}`, 400, "tenants is required"},
		{platform, `{"tenants":["RXX"],"scopes":["admin"],"expires_at":"2001-01-01T00:00:00Z"}`, 400, "expires_at must be an RFC 3339 time in the future"},
		{platform, `{"tenants":["RXX"],"scopes":["admin"],"colour":"red"}`, 400, "body must be"},
		{platform, `{"name":"a b","tenants":["RXX"],"scopes":["admin"]}`, 400, "name must be"},
	} {
		code, _, body := createKey(t, srv.URL, c.key, c.body)
		if code != c.code || !strings.Contains(body, c.err) {
			t.Errorf("create %s = %d %s, want %d %s", c.body, code, body, c.code, c.err)
		}
	}

	// A tenant's admin mints keys for its tenant only, and lists only them.
	code, own, body := createKey(t, srv.URL, rxxAdmin, `{"tenants":["RXX"],"scopes":["files:read"],"expires_at":"2099-01-01T00:00:00Z"}`)
	if code != 201 || own.Name != "key-"+own.ID || own.ExpiresAt == nil || *own.ExpiresAt != "2099-01-01T00:00:00Z" {
		t.Fatalf("RXX admin create = %d %s", code, body)
	}
	code, wide, body := createKey(t, srv.URL, platform, `{"name":"ops-all","tenants":["*"],"scopes":["operate"]}`)
	if code != 201 {
		t.Fatalf("create * = %d %s", code, body)
	}
	if got := listKeyIDs(t, srv.URL, platform); got != sortedIDs(k.ID, own.ID, wide.ID) {
		t.Errorf("platform lists %s", got)
	}
	if got := listKeyIDs(t, srv.URL, rxxAdmin); got != sortedIDs(k.ID, own.ID) {
		t.Errorf("RXX admin lists %s", got)
	}
	if _, body := do(t, srv, "GET", "/v1/keys", platform, ""); strings.Contains(body, `"key"`) || strings.Contains(body, auth.KeyPrefix) {
		t.Errorf("a listing shows a key: %s", body)
	}
	if code, body := do(t, srv, "DELETE", "/v1/keys/"+wide.ID, rxxAdmin, ""); code != 404 {
		t.Errorf("RXX admin revoking a * key = %d %s", code, body)
	}

	// A second instance on the same database, re-reading keys often: it
	// takes keys created and revoked through the first, without a restart.
	_, srv2 := e.startWith(Config{DBURL: dbURL, Group: "g-keys-2", Clients: clients, KeysRefresh: 50 * time.Millisecond}, testLogger(t))
	waitForKey(t, srv2.URL, k.Key, "/v1/tenants/RXX/events", 200)

	// Revoke: refused at once by the instance that revoked it (which has
	// just cached the key as valid).
	if code, body := do(t, srv, "GET", "/v1/tenants/RXX/events", k.Key, ""); code != 200 {
		t.Fatalf("before revoke = %d %s", code, body)
	}
	code, body = do(t, srv, "DELETE", "/v1/keys/"+k.ID, rxxAdmin, "")
	var revoked store.APIKey
	_ = json.Unmarshal([]byte(body), &revoked)
	if code != 200 || revoked.RevokedBy == nil || *revoked.RevokedBy != "rxx-admin" || revoked.RevokedAt == nil {
		t.Fatalf("revoke = %d %s", code, body)
	}
	if code, body := do(t, srv, "GET", "/v1/tenants/RXX/events", k.Key, ""); code != 401 || body != `{"error":"invalid API key"}` {
		t.Errorf("revoked key = %d %s", code, body)
	}
	waitForKey(t, srv2.URL, k.Key, "/v1/tenants/RXX/events", 401)
	if code, body := do(t, srv, "DELETE", "/v1/keys/"+k.ID, platform, ""); code != 409 || body != `{"error":"key `+k.ID+` is already revoked"}` {
		t.Errorf("revoke again = %d %s", code, body)
	}
	if code, _ := do(t, srv, "DELETE", "/v1/keys/knope", platform, ""); code != 404 {
		t.Errorf("revoke unknown = %d", code)
	}
	// The revoked key stays listed, with who revoked it: its audit.
	_, body = do(t, srv, "GET", "/v1/keys", platform, "")
	if !strings.Contains(body, `"revoked_by":"rxx-admin"`) || !strings.Contains(body, `"created_by":"platform"`) {
		t.Errorf("listing after revoke: %s", body)
	}
	// Its name is never free again: the access log, the audit and webhook
	// subscriptions name keys, so a name must not pass to a new key.
	if code, _, body := createKey(t, srv.URL, platform, `{"name":"rostering","tenants":["RXX"],"scopes":["people:read"]}`); code != 409 ||
		!strings.Contains(body, "names are never reused") {
		t.Errorf("re-create rostering = %d %s, want 409", code, body)
	}
	if code, _, body := createKey(t, srv.URL, platform, `{"name":"Anonymous","tenants":["RXX"],"scopes":["people:read"]}`); code != 409 {
		t.Errorf("a key named Anonymous = %d %s, want 409", code, body)
	}
	// A key made by an expiring key expires with it, whatever it asked for.
	code, parent, body := createKey(t, srv.URL, platform, `{"name":"short-admin","tenants":["RXX"],"scopes":["admin"],"expires_at":"2099-01-01T00:00:00Z"}`)
	if code != 201 {
		t.Fatalf("short-admin = %d %s", code, body)
	}
	code, child, body := createKey(t, srv.URL, parent.Key, `{"name":"child","tenants":["RXX"],"scopes":["files:read"]}`)
	if code != 201 || child.ExpiresAt == nil || *child.ExpiresAt != "2099-01-01T00:00:00Z" {
		t.Errorf("key made by a key expiring 2099-01-01 = %d %s, want the same expiry", code, body)
	}

	// An expired key is refused (expiry set in the past directly: the api
	// takes only future times).
	if _, err := db.Exec(st.Rebind(`UPDATE api_keys SET expires_at = ? WHERE id = ?`), time.Now().Add(-time.Minute).UnixMilli(), own.ID); err != nil {
		t.Fatal(err)
	}
	waitForKey(t, srv2.URL, own.Key, "/v1/tenants/RXX/files", 401)

	// Without a clients file an api with active database keys is not in the
	// open mode: reads need a key, and a database key works.
	_, srv3 := e.startWith(Config{DBURL: dbURL, Group: "g-keys-3"}, testLogger(t))
	if code, body := do(t, srv3, "GET", "/v1/tenants/RXX/events", "", ""); code != 401 {
		t.Errorf("no key, database keys present = %d %s", code, body)
	}
	if code, body := do(t, srv3, "GET", "/v1/tenants/RXX/events", own.Key, ""); code != 401 {
		t.Errorf("expired key = %d %s", code, body)
	}
	code, _, body = createKey(t, srv.URL, platform, `{"name":"late","tenants":["RXX"],"scopes":["events:read"]}`)
	if code != 201 {
		t.Fatal(body)
	}
	var late store.APIKey
	_ = json.Unmarshal([]byte(body), &late)
	waitForKey(t, srv3.URL, late.Key, "/v1/tenants/RXX/events", 200)

	// When the last database key goes, the api does not fall open: it has
	// run on keys, and stays closed.
	if _, err := db.Exec(st.Rebind(`UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE revoked_at IS NULL`), time.Now().UnixMilli(), "test"); err != nil {
		t.Fatal(err)
	}
	waitForKey(t, srv3.URL, late.Key, "/v1/tenants/RXX/events", 401)
	if code, body := do(t, srv3, "GET", "/v1/tenants/RXX/events", "", ""); code != 401 {
		t.Errorf("no key, every database key revoked = %d %s, want 401 (never open again)", code, body)
	}
}

// waitForKey polls path with key until it answers status: another
// instance sees a key change within its refresh time.
func waitForKey(t *testing.T, base, key, path string, status int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, b, err := send(t, "GET", base+path, key, "")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %d %s; want %d", path, resp.StatusCode, b, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func listKeyIDs(t *testing.T, base, key string) string {
	t.Helper()
	resp, b, err := send(t, "GET", base+"/v1/keys", key, "")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("list = %v %s", err, b)
	}
	var l keyList
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range l.Keys {
		ids = append(ids, k.ID)
	}
	return sortedIDs(ids...)
}

// sortedIDs joins ids in order: keys created in one millisecond list in id
// order, which is random.
func sortedIDs(ids ...string) string {
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// Without clients (the open mode) keys cannot be managed: nobody could be
// named as their creator, and an open port must not mint keys.
func TestKeysRefusedInOpenMode(t *testing.T) {
	f := newAuthFixture(t, false)
	const want = `{"error":"an API key with the admin scope is required: this api has no API clients configured (--auth.clients)"}`
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/keys", ""}, {"POST", "/v1/keys", `{"tenants":["*"],"scopes":["admin"]}`}, {"DELETE", "/v1/keys/k1", ""},
	} {
		if code, body := do(t, f.srv, c.method, c.path, "", c.body); code != 401 || body != want {
			t.Errorf("%s %s = %d %s", c.method, c.path, code, body)
		}
	}
	var n int
	if err := f.s.store.DB().QueryRow(`SELECT COUNT(*) FROM api_keys`).Scan(&n); err != nil || n != 0 {
		t.Errorf("api_keys rows = %d (%v)", n, err)
	}
}
