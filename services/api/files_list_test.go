package api

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// The file-report listing pages with an opaque cursor through every report
// exactly once, newest first with ties in a fixed order, and filters by
// status on every database.
func TestFilesListingPagesAndFilters(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		s, srv := e.start(dbURL, "")
		sha := func(c string) string { return strings.Repeat(c, 64) }
		rep := func(id string) string { return `{"id":"` + id + `"}` }
		// id, table, sha256, file name, status, reported_at. a2 and d2 share
		// every ordering column but their table; r1, a3 and d1 share a
		// millisecond.
		type row struct {
			id, sha, name, status string
			at                    int64
		}
		reports := []row{
			{"a1", sha("1"), "A1.DAT", "ACCEPTED", 1000},
			{"r1", sha("2"), "R1.DAT", "REJECTED", 3000},
			{"a3", sha("3"), "A3.DAT", "ACCEPTED", 3000},
			{"a2", sha("4"), "B.DAT", "ACCEPTED", 2000},
			{"r2", sha("5"), "R2:x.DAT", "REJECTED", 500},
		}
		dups := []row{
			{"d1", sha("1"), "A1.DAT", "DUPLICATE", 3000},
			{"d2", sha("4"), "B.DAT", "DUPLICATE", 2000},
			{"d3", sha("4"), "C.DAT", "DUPLICATE", 4000},
		}
		for _, r := range reports {
			if _, err := s.store.DB().Exec(s.store.Rebind(`INSERT INTO file_reports (tenant, sha256, file_name, status, reported_at, report) VALUES ('RXX', ?, ?, ?, ?, ?)`),
				r.sha, r.name, r.status, r.at, rep(r.id)); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range dups {
			if _, err := s.store.DB().Exec(s.store.Rebind(`INSERT INTO file_duplicates (tenant, sha256, file_name, reported_at, report) VALUES ('RXX', ?, ?, ?, ?)`),
				r.sha, r.name, r.at, rep(r.id)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.store.DB().Exec(s.store.Rebind(`INSERT INTO file_reports (tenant, sha256, file_name, status, reported_at, report) VALUES ('RYY', ?, 'Y.DAT', 'ACCEPTED', 9000, ?)`),
			sha("9"), rep("other-tenant")); err != nil {
			t.Fatal(err)
		}
		list := func(query string) []string {
			t.Helper()
			var ids []string
			path := "/v1/tenants/RXX/files?" + query
			for range 20 {
				code, body := get(t, srv, path)
				if code != 200 {
					t.Fatalf("GET %s = %d %s", path, code, body)
				}
				var l struct {
					Files []struct {
						ID string `json:"id"`
					} `json:"files"`
					NextCursor string `json:"next_cursor"`
				}
				if err := json.Unmarshal([]byte(body), &l); err != nil {
					t.Fatal(err)
				}
				for _, f := range l.Files {
					ids = append(ids, f.ID)
				}
				if l.NextCursor == "" {
					return ids
				}
				path = "/v1/tenants/RXX/files?" + query + "&cursor=" + url.QueryEscape(l.NextCursor)
			}
			t.Fatalf("listing %s did not end", query)
			return nil
		}
		all := "d3,d1,r1,a3,a2,d2,a1,r2"
		for _, c := range []struct{ query, want string }{
			{"limit=1000", all},
			{"limit=1", all},
			{"limit=2", all},
			{"limit=3", all},
			{"limit=2&status=accepted", "a3,a2,a1"},
			{"limit=1&status=REJECTED", "r1,r2"},
			{"limit=2&status=Duplicate", "d3,d1,d2"},
		} {
			if got := strings.Join(list(c.query), ","); got != c.want {
				t.Errorf("files?%s = %s, want %s", c.query, got, c.want)
			}
		}
		assertGet(t, srv, "/v1/tenants/RXX/files?status=WAITING", 400, `{"error":"status must be ACCEPTED, REJECTED, DUPLICATE, HELD, RELEASED or DISCARDED"}`)
		assertGet(t, srv, "/v1/tenants/RXX/files?limit=1001", 400, `{"error":"limit must be 1 to 1000"}`)
		enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		for _, c := range []string{"!!", enc("x:0:" + sha("1") + ":A"), enc("3000:2:" + sha("1") + ":A"),
			enc("3000:" + sha("1")), enc("3000:0:" + sha("1") + ":A\x00"), enc("3000")} {
			assertGet(t, srv, "/v1/tenants/RXX/files?cursor="+url.QueryEscape(c), 400, `{"error":"bad cursor"}`)
		}
		// A cursor past the end is an empty page.
		if got := list("cursor=" + enc("0:0:"+sha("0")+":A")); len(got) != 0 {
			t.Errorf("past the end = %v", got)
		}
	})
}
