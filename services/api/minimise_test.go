package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/minimise"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// memberPaths lists every member of a JSON document as a path
// ("assignments[].grade"), sorted and without repeats.
func memberPaths(t *testing.T, body string) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	set := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, sub := range x {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				set[p] = true
				walk(p, sub)
			}
		case []any:
			for _, sub := range x {
				walk(prefix+"[]", sub)
			}
		}
	}
	walk("", v)
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, p := range a {
		if !slices.Contains(b, p) {
			out = append(out, p)
		}
	}
	return out
}

// listed returns the members of paths that minimise.Fields names.
func listed(paths []string) []string {
	var out []string
	for _, p := range paths {
		parts := strings.Split(strings.ReplaceAll(p, "[]", ""), ".")
		if slices.Contains(minimise.Fields, parts[len(parts)-1]) {
			out = append(out, p)
		}
	}
	return out
}

func TestFieldMinimisationPerEndpoint(t *testing.T) {
	dbtest.ForEach(t, testFieldMinimisation)
}

// Every endpoint that carries person data, read with and without
// people:sensitive: the exact member sets, and which personal values show.
func testFieldMinimisation(t *testing.T, dbURL string) {
	e := newEnv(t)
	basic, sensitive, admin, alias := newKey(t), newKey(t), newKey(t), newKey(t)
	reads := []string{auth.ScopeReadPeople, auth.ScopeReadEvents, auth.ScopeReadFiles, auth.ScopeQuarantineRead}
	clients := []auth.Client{
		{Name: "vendor", KeySHA256: auth.HashKey(basic), Tenants: []string{"RXX"}, Scopes: reads},
		{Name: "hr", KeySHA256: auth.HashKey(sensitive), Tenants: []string{"RXX"}, Scopes: append([]string{auth.ScopePeopleSensitive}, reads...)},
		{Name: "platform", KeySHA256: auth.HashKey(admin), Tenants: []string{"*"}, Scopes: []string{auth.ScopeAdmin}},
		{Name: "old-hr", KeySHA256: auth.HashKey(alias), Tenants: []string{"RXX"}, Scopes: []string{"read:people", "read:events", "read:files", "quarantine:read", "personal:read"}},
	}
	q := qrec("RXX", fileA, sha1, 3, internalv1.StageNormalise, "PRA", "person", praFields(), violation("ESR-V010", "date_of_birth", internalv1.SeverityError))
	rep := &internalv1.FileReport{Tenant: "RXX", Vpd: "412", File: *fileInfo(fileA, sha1, 347), Status: internalv1.FileStatusAccepted,
		RowsRead: 4, EntitiesAccepted: 3, EventsEmitted: map[string]int64{"starter-created": 1}, ReportedAt: recorded1, TopRules: []internalv1.RuleCount{}}
	e.produce(true, e.event("RXX", schemas.StarterCreated, 1, "20990417", starter()), e.report(rep), e.quarantine(q, 2))
	_, srv := e.startWith(Config{DBURL: dbURL, Group: "g-min", Clients: clients}, testLogger(t))
	waitForKey(t, srv.URL, basic, "/v1/tenants/RXX/files/"+sha1, 200)
	waitForKey(t, srv.URL, basic, "/v1/tenants/RXX/people/20990417", 200)
	var ql struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"quarantine"`
	}
	for deadline := time.Now().Add(30 * time.Second); len(ql.Items) == 0; time.Sleep(20 * time.Millisecond) {
		_, list := do(t, srv, "GET", "/v1/tenants/RXX/quarantine", basic, "")
		_ = json.Unmarshal([]byte(list), &ql)
		if time.Now().After(deadline) {
			t.Fatalf("quarantine = %s", list)
		}
	}

	person := []string{"assignments", "assignments[].assignment_number", "assignments[].grade", "assignments[].job_role",
		"assignments[].location", "assignments[].occupation_code", "assignments[].organisation", "assignments[].position_number",
		"assignments[].position_title", "assignments[].staff_group", "employee_number", "employment_status", "last_event_id",
		"last_working_day", "leaving_date", "leaving_reason", "person_id", "rehire", "scheduled", "start_date", "tenant",
		"updated_at", "vpd"}
	personal := []string{niNumber, birthDate, lastName, email}
	for _, c := range []struct {
		path string
		// exact member set for both (nil: the same for both, unchecked)
		want []string
		// members only the sensitive reader gets, and only the other
		onlySensitive, onlyBasic []string
		// whether the sensitive reader sees the row's personal values
		values bool
	}{
		{path: "/v1/tenants/RXX/people/20990417", want: person},
		{path: "/v1/tenants/RXX/people/20990417/events"},
		{path: "/v1/tenants/RXX/events"},
		{path: "/v1/tenants/RXX/files"},
		{path: "/v1/tenants/RXX/files/" + sha1},
		{path: "/v1/tenants/RXX/quarantine", onlySensitive: []string{"quarantine[].canonical", "quarantine[].canonical.last_name", "quarantine[].canonical.person_id"},
			onlyBasic: []string{"quarantine[].raw.fields[].redacted"}, values: true},
		{path: "/v1/tenants/RXX/quarantine/" + ql.Items[0].ID, onlySensitive: []string{"canonical", "canonical.last_name", "canonical.person_id"},
			onlyBasic: []string{"raw.fields[].redacted"}, values: true},
		// Current state and lineage: the same writer minimises them.
		{path: "/v1/tenants/RXX/people"},
		{path: "/v1/tenants/RXX/people?employee_number=31004581"},
		{path: "/v1/tenants/RXX/people/20990417/assignments"},
		{path: "/v1/tenants/RXX/positions"},
		{path: "/v1/tenants/RXX/positions/5102277"},
		{path: "/v1/tenants/RXX/organisations"},
		{path: "/v1/tenants/RXX/locations"},
		{path: "/v1/tenants/RXX/events/ev-starter-1/lineage"},
		{path: "/v1/tenants/RXX/files/" + sha1 + "/events"},
		{path: "/v1/tenants/RXX/files/" + sha1 + "/quarantine", onlySensitive: []string{"quarantine[].canonical", "quarantine[].canonical.last_name", "quarantine[].canonical.person_id"},
			onlyBasic: []string{"quarantine[].raw.fields[].redacted"}, values: true},
	} {
		code, b := do(t, srv, "GET", c.path, basic, "")
		if code != 200 {
			t.Fatalf("GET %s = %d %s", c.path, code, b)
		}
		pb := memberPaths(t, b)
		if l := listed(pb); len(l) > 0 {
			t.Errorf("GET %s without people:sensitive has %v", c.path, l)
		}
		for _, v := range personal {
			if strings.Contains(b, v) {
				t.Errorf("GET %s without people:sensitive shows a personal value: %s", c.path, b)
			}
		}
		for _, key := range []string{sensitive, admin, alias} {
			code, s := do(t, srv, "GET", c.path, key, "")
			if code != 200 {
				t.Fatalf("GET %s = %d %s", c.path, code, s)
			}
			ps := memberPaths(t, s)
			if got := minus(ps, pb); !slices.Equal(got, c.onlySensitive) {
				t.Errorf("GET %s: members only with people:sensitive %v, want %v", c.path, got, c.onlySensitive)
			}
			if got := minus(pb, ps); !slices.Equal(got, c.onlyBasic) {
				t.Errorf("GET %s: members only without people:sensitive %v, want %v", c.path, got, c.onlyBasic)
			}
			if c.onlySensitive == nil && c.onlyBasic == nil && s != b {
				t.Errorf("GET %s differs with people:sensitive:\n%s\n%s", c.path, s, b)
			}
			for _, v := range personal {
				if strings.Contains(s, v) != c.values {
					t.Errorf("GET %s with people:sensitive: %q shown %v, want %v", c.path, v, !c.values, c.values)
				}
			}
		}
		if c.want != nil && !slices.Equal(pb, c.want) {
			t.Errorf("GET %s members\n%v\nwant\n%v", c.path, pb, c.want)
		}
	}
}

// The minimisation is decided once, in guard and writeJSON, for whatever a
// handler answers: a payload with personal members at any depth loses them
// for a key without people:sensitive and for the open mode, and keeps them
// for people:sensitive and admin.
func TestFieldMinimisationAppliesToEveryHandler(t *testing.T) {
	e := newEnv(t)
	basic, sensitive, admin := newKey(t), newKey(t), newKey(t)
	s, _ := e.startWith(Config{DBURL: "sqlite:" + t.TempDir() + "/api.db", Group: "g-min2", Clients: []auth.Client{
		{Name: "vendor", KeySHA256: auth.HashKey(basic), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeReadPeople}},
		{Name: "hr", KeySHA256: auth.HashKey(sensitive), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeReadPeople, auth.ScopePeopleSensitive}},
		{Name: "platform", KeySHA256: auth.HashKey(admin), Tenants: []string{"*"}, Scopes: []string{auth.ScopeAdmin}},
	}}, testLogger(t))
	payload := map[string]any{
		"person_id": "20990417", "date_of_birth": "1985-02-14",
		"contact": map[string]any{"office_email": "w@nhs.example", "personal_email": "p@example.org", "home_postcode": "LS1 1AA"},
		"items":   []any{map[string]any{"ni_number": "QQ123456C", "ethnic_origin": "X", "grade": "5"}},
	}
	h := func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, payload) }
	srv := httptest.NewServer(s.guard(h, auth.ScopeReadPeople))
	defer srv.Close()
	full := `{"contact":{"home_postcode":"LS1 1AA","office_email":"w@nhs.example","personal_email":"p@example.org"},"date_of_birth":"1985-02-14","items":[{"ethnic_origin":"X","grade":"5","ni_number":"QQ123456C"}],"person_id":"20990417"}`
	minimal := `{"contact":{"office_email":"w@nhs.example"},"items":[{"grade":"5"}],"person_id":"20990417"}`
	for key, want := range map[string]string{basic: minimal, sensitive: full, admin: full} {
		if code, body := do(t, srv, "GET", "/x", key, ""); code != 200 || body != want {
			t.Errorf("GET = %d %s, want %s", code, body, want)
		}
	}
	// An entity answer (writeEntity, with an ETag) is minimised before its
	// tag is taken: the two views have different tags.
	entity := httptest.NewServer(s.guard(func(w http.ResponseWriter, r *http.Request) { writeEntity(w, r, payload) }, auth.ScopeReadPeople))
	defer entity.Close()
	tags := map[string]bool{}
	for key, want := range map[string]string{basic: minimal, sensitive: full} {
		resp, b, err := send(t, "GET", entity.URL+"/x", key, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(b)); resp.StatusCode != 200 || got != want {
			t.Errorf("entity GET = %d %s, want %s", resp.StatusCode, got, want)
		}
		tags[resp.Header.Get("ETag")] = true
	}
	if len(tags) != 2 {
		t.Errorf("ETags %v: want one per view", tags)
	}
	// The open mode (no clients): nobody holds people:sensitive.
	open, _ := e.startWith(Config{DBURL: "sqlite:" + t.TempDir() + "/open.db", Group: "g-min3"}, testLogger(t))
	srvOpen := httptest.NewServer(open.guard(h, auth.ScopeReadPeople))
	defer srvOpen.Close()
	if code, body := do(t, srvOpen, "GET", "/x", "", ""); code != 200 || body != minimal {
		t.Errorf("open mode GET = %d %s, want %s", code, body, minimal)
	}
}
