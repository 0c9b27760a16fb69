package api

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// A caller without a key cannot make the access log store what it likes:
// the path kept is capped, and made storable on every database.
func TestAccessLogPathCapped(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		key := newKey(t)
		s, srv := e.startWith(Config{DBURL: dbURL, Clients: []auth.Client{{Name: "rxx", KeySHA256: auth.HashKey(key),
			Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeReadPeople}}}}, testLogger(t))
		long := "/v1/tenants/RXX/people/" + strings.Repeat("a", 512<<10)
		if code, _ := do(t, srv, "GET", long, "", ""); code != 401 {
			t.Fatalf("GET <512 KB path> = %d, want 401", code)
		}
		if code, _ := do(t, srv, "GET", "/v1/tenants/RXX/people/x%00y", key, ""); code != 404 {
			t.Fatalf("GET <path with NUL> = %d, want 404", code)
		}
		flushAccessLog(t, s)
		rows, err := s.store.DB().Query(`SELECT path FROM access_log ORDER BY at, request_id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var paths []string
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
		if len(paths) != 2 {
			t.Fatalf("access_log has %d rows, want 2", len(paths))
		}
		var long0, nul string
		for _, p := range paths {
			if strings.HasPrefix(p, "/v1/tenants/RXX/people/aaa") {
				long0 = p
			} else {
				nul = p
			}
		}
		if want := long[:MaxLoggedPath] + fmt.Sprintf("…(%d bytes)", len(long)); long0 != want {
			t.Errorf("stored path of %d bytes = %.80q… (%d bytes), want %d bytes", len(long), long0, len(long0), len(want))
		}
		if nul != "/v1/tenants/RXX/people/x\ufffdy" {
			t.Errorf("stored path with NUL = %q", nul)
		}
	})
}

// Callers that present no valid key are rate-limited per address: past the
// burst they get 429 (logged like every request: a 429 costs one queued
// row, written in a batch); a keyed caller from the same address is not
// limited.
func TestUnauthenticatedCallersRateLimited(t *testing.T) {
	e := newEnv(t)
	key := newKey(t)
	s, srv := e.startWith(Config{DBURL: "sqlite::memory:", UnauthenticatedRate: 0.001, UnauthenticatedBurst: 3,
		Clients: []auth.Client{{Name: "rxx", KeySHA256: auth.HashKey(key), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeReadPeople}}}},
		testLogger(t))
	var codes []string
	for i := range 8 {
		k := ""
		if i%2 == 1 {
			k = newKey(t) // a wrong key is no key
		}
		code, _ := do(t, srv, "GET", "/v1/tenants/RXX/people/1", k, "")
		codes = append(codes, fmt.Sprint(code))
	}
	if got, want := strings.Join(codes, " "), "401 401 401 429 429 429 429 429"; got != want {
		t.Errorf("unauthenticated answers = %s, want %s", got, want)
	}
	if code, _ := do(t, srv, "GET", "/v1/tenants/RXX/people/1", key, ""); code != 404 {
		t.Errorf("keyed caller after the limit = %d, want 404", code)
	}
	flushAccessLog(t, s)
	var n int
	if err := s.store.DB().QueryRow(`SELECT COUNT(*) FROM access_log`).Scan(&n); err != nil || n != 9 {
		t.Errorf("access_log rows = %d (%v), want 9 (3 refused, 5 limited, 1 keyed)", n, err)
	}
}

// A NUL byte in a request value (path or query) is a 404 or 400 on every
// database, never a 500 from PostgreSQL refusing to compare it.
func TestNULInRequestValues(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		key := newKey(t)
		_, srv := e.startWith(Config{DBURL: dbURL, Clients: []auth.Client{{Name: "all", KeySHA256: auth.HashKey(key),
			Tenants: []string{"*"}, Scopes: auth.Scopes}}}, testLogger(t))
		cursor := base64.RawURLEncoding.EncodeToString([]byte("1:a\x00b"))
		for _, c := range []struct {
			method, path, body string
			want               int
		}{
			{"GET", "/v1/tenants/RXX/people/1%002", "", 404},
			{"GET", "/v1/tenants/RXX/people/1%002/events", "", 404},
			{"GET", "/v1/tenants/RXX/files/f%00", "", 404},
			{"GET", "/v1/tenants/RXX/held-batches/hb-%00", "", 404},
			{"POST", "/v1/tenants/RXX/held-batches/hb-%00/release", `{"reason":"x"}`, 404},
			{"GET", "/v1/tenants/RXX/audit?batch_id=%00", "", 200},
			{"GET", "/v1/tenants/RXX/events?cursor=" + cursor, "", 400},
			{"GET", "/v1/tenants/RXX/quarantine/q-%00", "", 404},
			{"GET", "/v1/tenants/RXX/quarantine?rule=%00", "", 400},
			{"GET", "/v1/tenants/RXX/quarantine?file=%00", "", 400},
			{"GET", "/v1/tenants/RXX/quarantine?cursor=" + cursor, "", 400},
			{"POST", "/v1/tenants/RXX/quarantine/replay", `{"ids":["q-\u0000"],"reason":"x"}`, 400},
			{"POST", "/v1/tenants/RXX/quarantine/replay", `{"filter":{"rule":"\u0000"},"reason":"x"}`, 400},
			{"GET", "/v1/tenants/RXX/replays/rp-%00", "", 404},
		} {
			if code, body := do(t, srv, c.method, c.path, key, c.body); code != c.want {
				t.Errorf("%s %s = %d %s, want %d", c.method, c.path, code, body, c.want)
			}
		}
	})
}
