package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// stateStarter is a starter for person in org (position pos), caused by
// line of sha1's file.
func stateStarter(tenant, person, emp, pos, org string, line int64) *eventsv1.StarterCreated {
	st := starter()
	st.EventID, st.Tenant, st.PersonID, st.EmployeeNumber, st.AssignmentNumber = "ev-st-"+person, tenant, person, emp, emp
	st.PositionNumber, st.Organisation, st.PositionTitle, st.Source = pos, org, "Title "+pos, src(line)
	return st
}

// stateMoved is a position-updated that gives person's assignment emp a full
// snapshot.
func stateMoved(person, emp, pos, org, staffGroup, location string, at time.Time, line int64) *eventsv1.PositionUpdated {
	after := snapshot("Title "+pos, "XR06")
	after.PositionNumber, after.Organisation, after.StaffGroup, after.Location = pos, org, staffGroup, location
	return &eventsv1.PositionUpdated{
		EventID: "ev-pos-" + person + "-" + at.Format("0102"), Tenant: "RXX", Vpd: "412", PersonID: person, EmployeeNumber: emp,
		EffectiveDate: day(2024, 4, 1), RecordedAt: at, Source: src(line),
		AssignmentNumber: emp, Change: eventsv1.PositionChangeAttributesChanged, After: after,
	}
}

// listKeys pages through a listing whose items are under field, returning
// each item's key member and the next cursor.
func listKeys(t *testing.T, srv string, path, field, key string) ([]string, string) {
	t.Helper()
	resp, b, err := send(t, "GET", srv+path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", path, resp.StatusCode, b)
	}
	var l map[string]json.RawMessage
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	if err := json.Unmarshal(l[field], &items); err != nil {
		t.Fatalf("GET %s: %s: %v", path, b, err)
	}
	keys := []string{}
	for _, it := range items {
		keys = append(keys, it[key].(string))
	}
	var next string
	if c, ok := l["next_cursor"]; ok {
		_ = json.Unmarshal(c, &next)
	}
	return keys, next
}

func TestCurrentState(t *testing.T) {
	dbtest.ForEach(t, testCurrentState)
}

func testCurrentState(t *testing.T, dbURL string) {
	e := newEnv(t)
	const (
		cardio = "412 Cardiology Outpatients"
		renal  = "412 Renal Ward"
	)
	// Four RXX people: two in cardiology (one moved to a full snapshot with
	// a staff group and location), one in renal, one leaver; one in RYY.
	p1 := stateStarter("RXX", "20000001", "31000001", "5100001", cardio, 3)
	p2 := stateStarter("RXX", "20000002", "31000002", "5100002", renal, 4)
	p4 := stateStarter("RXX", "20000004", "31000004", "5100001", cardio, 6)
	moved := stateMoved("20000001", "31000001", "5100001", cardio, "Nursing and Midwifery Registered", "Ward 7", recorded2, 7)
	leaver := &eventsv1.LeaverConfirmed{
		EventID: "ev-lv-20000003", Tenant: "RXX", Vpd: "412", PersonID: "20000003", EmployeeNumber: "31000003",
		EffectiveDate: day(2024, 3, 29), RecordedAt: recorded1, Source: src(5), LeavingDate: day(2024, 3, 29), LeavingReason: "Retirement Age",
	}
	ryy := stateStarter("RYY", "49000001", "49000001", "5900001", "413 Elsewhere", 3)
	e.produce(true,
		e.event("RXX", schemas.EventStarterCreated, 1, p1.PersonID, p1),
		e.event("RXX", schemas.EventStarterCreated, 1, p2.PersonID, p2),
		e.event("RXX", schemas.EventStarterCreated, 1, p4.PersonID, p4),
		e.event("RXX", schemas.EventPositionUpdated, 1, moved.PersonID, moved),
		e.event("RXX", schemas.EventLeaverConfirmed, 2, leaver.PersonID, leaver),
		e.event("RYY", schemas.EventStarterCreated, 1, ryy.PersonID, ryy))
	_, srv := e.start(dbURL, "")
	waitFor(t, srv, "/v1/tenants/RXX/people/20000001", 200, `"staff_group":"Nursing and Midwifery Registered"`)
	waitFor(t, srv, "/v1/tenants/RXX/people/20000003", 200, `"employment_status":"LEFT"`)
	for _, id := range []string{"20000002", "20000004"} {
		waitFor(t, srv, "/v1/tenants/RXX/people/"+id, 200, `"employment_status":"EMPLOYED"`)
	}
	waitFor(t, srv, "/v1/tenants/RYY/people/49000001", 200, `"employment_status":"EMPLOYED"`)

	people := func(query string) []string {
		t.Helper()
		ids, next := listKeys(t, srv.URL, "/v1/tenants/RXX/people"+query, "people", "person_id")
		if next != "" {
			t.Errorf("people%s: next_cursor %q on a short list", query, next)
		}
		return ids
	}
	for query, want := range map[string][]string{
		"":                 {"20000001", "20000002", "20000003", "20000004"},
		"?status=LEFT":     {"20000003"},
		"?status=employed": {"20000001", "20000002", "20000004"},
		"?organisation=" + url.QueryEscape(cardio):      {"20000001", "20000004"},
		"?organisation=" + url.QueryEscape(renal):       {"20000002"},
		"?staff_group=Nursing+and+Midwifery+Registered": {"20000001"},
		"?employee_number=31000004":                     {"20000004"},
		"?employee_number=49000001":                     {}, // RYY's
		"?changed_since=2020-01-01":                     {"20000001", "20000002", "20000003", "20000004"},
		"?status=EMPLOYED&organisation=" + url.QueryEscape(cardio) + "&staff_group=Nursing+and+Midwifery+Registered": {"20000001"},
	} {
		if got := people(query); !slices.Equal(got, want) {
			t.Errorf("people%s = %v, want %v", query, got, want)
		}
	}
	if got, _ := listKeys(t, srv.URL, "/v1/tenants/ryy/people", "people", "person_id"); !slices.Equal(got, []string{"49000001"}) {
		t.Errorf("RYY people = %v", got)
	}

	// Positions, organisations and locations the current assignments name.
	assertGet(t, srv, "/v1/tenants/RXX/positions", 200, `{"positions":[
		{"position_number":"5100001","position_title":"Title 5100001","organisation":"412 Cardiology Outpatients","grade":"XR06",
		 "staff_group":"Nursing and Midwifery Registered","job_role":"Staff Nurse","occupation_code":"N6A","location":"Ward 7","assignments":2},
		{"position_number":"5100002","position_title":"Title 5100002","organisation":"412 Renal Ward","grade":"",
		 "staff_group":"","job_role":"","occupation_code":"","location":"","assignments":1}]}`)
	assertGet(t, srv, "/v1/tenants/RXX/positions/5100002", 200, `{"position_number":"5100002","position_title":"Title 5100002",
		"organisation":"412 Renal Ward","grade":"","staff_group":"","job_role":"","occupation_code":"","location":"","assignments":1}`)
	assertGet(t, srv, "/v1/tenants/RXX/positions/5900001", 404, `{"error":"position not found"}`)
	assertGet(t, srv, "/v1/tenants/RXX/organisations", 200, `{"organisations":[
		{"name":"412 Cardiology Outpatients","people":2,"assignments":2},{"name":"412 Renal Ward","people":1,"assignments":1}]}`)
	assertGet(t, srv, "/v1/tenants/RXX/organisations/"+url.PathEscape(renal), 200, `{"name":"412 Renal Ward","people":1,"assignments":1}`)
	assertGet(t, srv, "/v1/tenants/RYY/organisations/"+url.PathEscape(renal), 404, `{"error":"organisation not found"}`)
	assertGet(t, srv, "/v1/tenants/RXX/locations", 200, `{"locations":[{"name":"Ward 7","people":1,"assignments":1}]}`)
	assertGet(t, srv, "/v1/tenants/RXX/locations/Ward%207", 200, `{"name":"Ward 7","people":1,"assignments":1}`)
	assertGet(t, srv, "/v1/tenants/RXX/locations/Ward%208", 404, `{"error":"location not found"}`)
	assertGet(t, srv, "/v1/tenants/RXX/people/20000002/assignments", 200, `{"assignments":[{"assignment_number":"31000002",
		"position_number":"5100002","position_title":"Title 5100002","organisation":"412 Renal Ward","grade":"","staff_group":"",
		"job_role":"","occupation_code":"","location":""}]}`)
	assertGet(t, srv, "/v1/tenants/RXX/people/20000003/assignments", 200, `{"assignments":[]}`)
	assertGet(t, srv, "/v1/tenants/RXX/people/49000001/assignments", 404, `{"error":"person not found"}`)

	// Paging is keyset on person id: people written between two pages
	// appear only if they sort after the cursor, and no one repeats or is
	// skipped.
	page1, next := listKeys(t, srv.URL, "/v1/tenants/RXX/people?limit=2", "people", "person_id")
	if !slices.Equal(page1, []string{"20000001", "20000002"}) || next == "" {
		t.Fatalf("page 1 = %v (next %q)", page1, next)
	}
	before := time.Now()
	time.Sleep(5 * time.Millisecond) // changed_at is in ms: keep the first writes strictly before
	early := stateStarter("RXX", "10000000", "30000000", "5100003", renal, 8)
	between := stateStarter("RXX", "200000025", "31000025", "5100003", renal, 9)
	e.produce(true, e.event("RXX", schemas.EventStarterCreated, 1, early.PersonID, early),
		e.event("RXX", schemas.EventStarterCreated, 1, between.PersonID, between))
	waitFor(t, srv, "/v1/tenants/RXX/people/200000025", 200, `"last_event_id":"ev-st-200000025"`)
	page2, next := listKeys(t, srv.URL, "/v1/tenants/RXX/people?limit=2&cursor="+next, "people", "person_id")
	page3, end := listKeys(t, srv.URL, "/v1/tenants/RXX/people?limit=2&cursor="+next, "people", "person_id")
	if !slices.Equal(page2, []string{"200000025", "20000003"}) || !slices.Equal(page3, []string{"20000004"}) || end != "" {
		t.Errorf("pages 2 and 3 = %v %v (end %q), want [200000025 20000003] [20000004]", page2, page3, end)
	}
	if got := people("?changed_since=" + url.QueryEscape(before.UTC().Format(time.RFC3339Nano))); !slices.Equal(got, []string{"10000000", "200000025"}) {
		t.Errorf("people changed since the new starters = %v", got)
	}
	// Positions page the same way.
	pos1, pnext := listKeys(t, srv.URL, "/v1/tenants/RXX/positions?limit=2", "positions", "position_number")
	pos2, pend := listKeys(t, srv.URL, "/v1/tenants/RXX/positions?limit=2&cursor="+pnext, "positions", "position_number")
	if !slices.Equal(pos1, []string{"5100001", "5100002"}) || !slices.Equal(pos2, []string{"5100003"}) || pend != "" {
		t.Errorf("position pages = %v %v (%q)", pos1, pos2, pend)
	}
	org1, onext := listKeys(t, srv.URL, "/v1/tenants/RXX/organisations?limit=1", "organisations", "name")
	org2, oend := listKeys(t, srv.URL, "/v1/tenants/RXX/organisations?limit=1&cursor="+onext, "organisations", "name")
	if !slices.Equal(org1, []string{cardio}) || !slices.Equal(org2, []string{renal}) || oend != "" {
		t.Errorf("organisation pages = %v %v (%q)", org1, org2, oend)
	}

	// Bad input is a 400 problem.
	assertGet(t, srv, "/v1/tenants/RXX/people?status=GONE", 400, `{"error":"status must be EMPLOYED or LEFT"}`)
	assertGet(t, srv, "/v1/tenants/RXX/people?changed_since=soon", 400, `{"error":"changed_since must be an RFC 3339 timestamp or a YYYY-MM-DD date"}`)
	assertGet(t, srv, "/v1/tenants/RXX/people?cursor=%25%25", 400, `{"error":"bad cursor"}`)
	assertGet(t, srv, "/v1/tenants/RXX/positions?cursor="+makeCursor(5, "x"), 400, `{"error":"bad cursor"}`)
	assertGet(t, srv, "/v1/tenants/RXX/people?limit=1001", 400, `{"error":"limit must be 1 to 1000"}`)
}

// getETag fetches path with an optional If-None-Match and returns the
// status, ETag and body.
func getETag(t *testing.T, srv, path, ifNoneMatch string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", srv+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("ETag"), string(b)
}

func TestETags(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		st := starter()
		e.produce(true, e.event("RXX", schemas.EventStarterCreated, 1, st.PersonID, st))
		_, srv := e.start(dbURL, "")
		waitFor(t, srv, "/v1/tenants/RXX/people/20990417", 200, `"last_event_id":"ev-starter-1"`)
		for _, path := range []string{"/v1/tenants/RXX/people/20990417", "/v1/tenants/RXX/positions/5102277",
			"/v1/tenants/RXX/organisations/412%20Cardiology%20Outpatients", "/v1/tenants/RXX/events/ev-starter-1/lineage"} {
			code, tag, body := getETag(t, srv.URL, path, "")
			if code != 200 || len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
				t.Fatalf("GET %s = %d, ETag %q", path, code, tag)
			}
			for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
				if code, tag2, b := getETag(t, srv.URL, path, inm); code != 304 || tag2 != tag || b != "" {
					t.Errorf("GET %s If-None-Match %s = %d %q %q, want 304 with the tag and no body", path, inm, code, tag2, b)
				}
			}
			if code, tag2, b := getETag(t, srv.URL, path, `"other"`); code != 200 || tag2 != tag || b != body {
				t.Errorf("GET %s with another tag = %d %q, want 200 and the same body", path, code, tag2)
			}
		}
		// A change to the person changes the tag: the old one gets 200.
		_, old, _ := getETag(t, srv.URL, "/v1/tenants/RXX/people/20990417", "")
		pos := stateMoved("20990417", "31004581", "5102277", "412 Cardiology Outpatients", "Nursing", "Ward 9", recorded2, 9)
		e.produce(true, e.event("RXX", schemas.EventPositionUpdated, 1, pos.PersonID, pos))
		waitFor(t, srv, "/v1/tenants/RXX/people/20990417", 200, `"location":"Ward 9"`)
		code, tag, body := getETag(t, srv.URL, "/v1/tenants/RXX/people/20990417", old)
		if code != 200 || tag == old || !strings.Contains(body, `"Ward 9"`) {
			t.Errorf("after a change: %d %q (old %q) %s", code, tag, old, body)
		}
	})
}

// Every class of error is a problem+json body (do checks the members):
// 400, 401, 403, 404 and 500.
func TestProblemDetails(t *testing.T) {
	f := newAuthFixture(t, true)
	reader, people := f.keys["rxx-reader"], f.keys["any-people"]
	for _, c := range []struct {
		path, key string
		status    int
		want      string
	}{
		{"/v1/tenants/RXX/people?status=x", reader, 400, `{"error":"status must be EMPLOYED or LEFT"}`},
		{"/v1/tenants/R-X/people", people, 400, `{"error":"tenant must be an ODS code (letters and digits)"}`},
		{"/v1/tenants/RXX/files/abc/events", reader, 400, `{"error":"file must be a SHA-256 (64 hex digits)"}`},
		{"/v1/tenants/RXX/people", "", 401, `{"error":"an API key is required: send Authorization: Bearer <key>"}`},
		{"/v1/tenants/RXX/people", newKey(t), 401, `{"error":"invalid API key"}`},
		{"/v1/tenants/RYY/people", reader, 403, `{"error":"this API key is not allowed tenant RYY"}`},
		{"/v1/tenants/RYY/events/ev-starter-ryy/lineage", reader, 403, `{"error":"this API key is not allowed tenant RYY"}`},
		{"/v1/tenants/RXX/events/ev-starter-1/lineage", people, 403, `{"error":"this API key lacks the events:read scope"}`},
		{"/v1/tenants/RXX/files/" + sha1 + "/quarantine", people, 403, `{"error":"this API key lacks the quarantine:read scope"}`},
		{"/v1/tenants/RXX/people/nobody", reader, 404, `{"error":"person not found"}`},
		{"/v1/tenants/RXX/events/ev-starter-ryy/lineage", reader, 404, `{"error":"event not found"}`},
		{"/v1/nowhere", reader, 404, `{"error":"no such endpoint"}`},
	} {
		if code, body := do(t, f.srv, "GET", c.path, c.key, ""); code != c.status || body != c.want {
			t.Errorf("GET %s = %d %s, want %d %s", c.path, code, body, c.status, c.want)
		}
	}
	// Every endpoint this adds: another tenant's key and a key without the
	// scope are refused with no data; the tenant's own key gets its data.
	for _, ep := range []struct{ path, scope string }{
		{"/people", auth.ScopeReadPeople}, {"/people?employee_number=49990002", auth.ScopeReadPeople},
		{"/people/49990001/assignments", auth.ScopeReadPeople}, {"/positions", auth.ScopeReadPeople}, {"/positions/5102277", auth.ScopeReadPeople},
		{"/organisations", auth.ScopeReadPeople}, {"/organisations/412%20Cardiology%20Outpatients", auth.ScopeReadPeople},
		{"/locations", auth.ScopeReadPeople}, {"/locations/x", auth.ScopeReadPeople},
		{"/events/ev-starter-ryy/lineage", auth.ScopeReadEvents}, {"/files/" + sha2 + "/events", auth.ScopeReadEvents},
		{"/files/" + sha2 + "/quarantine", auth.ScopeQuarantineRead},
	} {
		path := "/v1/tenants/RYY" + ep.path
		if code, body := do(t, f.srv, "GET", path, reader, ""); code != 403 || body != `{"error":"this API key is not allowed tenant RYY"}` {
			t.Errorf("RXX key on %s: %d %s", path, code, body)
		}
		if code, body := do(t, f.srv, "GET", path, f.keys["any-batches"], ""); code != 403 || body != `{"error":"this API key lacks the `+ep.scope+` scope"}` {
			t.Errorf("key without %s on %s: %d %s", ep.scope, path, code, body)
		}
		if code, body := do(t, f.srv, "GET", path, f.keys["ryy-all"], ""); (code != 200 && code != 404) || strings.Contains(body, "20990417") {
			t.Errorf("RYY key on %s: %d %s", path, code, body)
		}
	}
	// The right key sees its own tenant's state, never another's.
	ids, _ := listKeysKey(t, f.srv.URL, "/v1/tenants/RYY/people", f.keys["ryy-all"])
	if !slices.Equal(ids, []string{"49990001"}) {
		t.Errorf("RYY people = %v", ids)
	}
	// A database that has gone away is a 500 problem, saying no more.
	f.s.store.Close() // both pools (SQLite has a read pool of its own)
	if code, body := do(t, f.srv, "GET", "/v1/tenants/RXX/people", reader, ""); code != 500 || body != `{"error":"internal error"}` {
		t.Errorf("closed database: %d %s", code, body)
	}
}

func listKeysKey(t *testing.T, srv, path, key string) ([]string, string) {
	t.Helper()
	resp, b, err := send(t, "GET", srv+path, key, "")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %v %s", path, err, b)
	}
	var l peopleList
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, p := range l.People {
		ids = append(ids, p.PersonID)
	}
	return ids, l.NextCursor
}

func TestLineage(t *testing.T) {
	dbtest.ForEach(t, testLineage)
}

func testLineage(t *testing.T, dbURL string) {
	e := newEnv(t)
	st := starter() // sha1 line 5
	moved := stateMoved("20990417", "31004581", "5102277", "412 Cardiology Outpatients", "Nursing", "Ward 9", recorded2, 9)
	second := stateStarter("RXX", "20000002", "31000002", "5100002", "412 Renal Ward", 5) // the same line: another person's row
	held := &internalv1.FileReport{Tenant: "RXX", Vpd: "412", File: *fileInfo("GO_412_EXP_GOC_20240311_00000347.DAT", sha1, 347),
		Status: internalv1.FileStatusHeld, Reason: store.Ptr("sequence gap"), EventsEmitted: map[string]int64{}, ReportedAt: recorded1.Add(-time.Hour)}
	accepted := *held
	accepted.Status, accepted.Reason, accepted.ReportedAt, accepted.RuleSetVersion = internalv1.FileStatusAccepted, nil, recorded1, "rs-0a1b2c3d"
	q := qrec("RXX", "GO_412_EXP_GOC_20240311_00000347.DAT", sha1, 12, internalv1.StageValidate, "ASA", "assignment", asaFields(),
		violation("ASG-001", "assignment_number", internalv1.SeverityError))
	qOther := qrec("RXX", "GO_412_EXP_GOC_20240312_00000348.DAT", sha2, 3, internalv1.StageValidate, "ASA", "assignment", asaFields(),
		violation("ASG-001", "assignment_number", internalv1.SeverityError))
	stOff := e.produce(true,
		e.event("RXX", schemas.EventStarterCreated, 1, st.PersonID, st),
		e.event("RXX", schemas.EventStarterCreated, 1, second.PersonID, second),
		e.event("RXX", schemas.EventPositionUpdated, 1, moved.PersonID, moved),
		e.quarantine(q, 2), e.quarantine(qOther, 2))
	e.produce(true, &kgo.Record{Topic: schemas.TopicFileReports, Key: []byte("RXX"), Value: e.encode(schemas.TopicFileReports, 4, held)})
	e.produce(true, &kgo.Record{Topic: schemas.TopicFileReports, Key: []byte("RXX"), Value: e.encode(schemas.TopicFileReports, 4, &accepted)})
	// What publish recorded of the second starter's lineage, delivered
	// twice (the second copy, altered, must change nothing).
	rawHash := strings.Repeat("ab", 32)
	ingested := recorded1.Add(-3 * time.Second)
	normalised, validated := ingested.Add(time.Second), ingested.Add(2*time.Second)
	lin := &internalv1.EventLineage{EventID: second.EventID, Tenant: "RXX", Topic: schemas.EventTopic("RXX", schemas.EventStarterCreated),
		RawSha256: store.Ptr(strings.ToUpper(rawHash)), MappingVersion: store.Ptr("mp-0123456789ab"), RuleSetVersion: store.Ptr("rs-99887766"),
		IngestedAt: &ingested, NormalisedAt: &normalised, ValidatedAt: &validated, PublishedAt: recorded1}
	again := *lin
	again.MappingVersion = store.Ptr("mp-ffffffffffff")
	for _, l := range []*internalv1.EventLineage{lin, &again} {
		e.produce(true, &kgo.Record{Topic: schemas.TopicLineage, Key: []byte("RXX"), Value: e.encode(schemas.TopicLineage, 1, l)})
	}
	_, srv := e.start(dbURL, "")
	waitFor(t, srv, "/v1/tenants/RXX/people/20990417", 200, `"location":"Ward 9"`)
	waitFor(t, srv, "/v1/tenants/RXX/people/20000002", 200, `"employment_status"`)
	waitFor(t, srv, "/v1/tenants/RXX/files/"+sha1, 200, `"status":"ACCEPTED"`)
	waitFor(t, srv, "/v1/tenants/RXX/quarantine?file="+sha2, 200, `"line":3`)

	code, body := get(t, srv, "/v1/tenants/RXX/events/ev-starter-1/lineage")
	if code != 200 {
		t.Fatalf("lineage = %d %s", code, body)
	}
	var l store.Lineage
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatal(err)
	}
	api := l.Stages[4].At
	if api == nil {
		t.Fatalf("no api stage time: %s", body)
	}
	if at, err := time.Parse(time.RFC3339Nano, *api); err != nil || time.Since(at) > time.Hour || time.Since(at) < 0 {
		t.Errorf("api stage at %s: want the api's clock when it stored the event", *api)
	}
	stID := e.writers[schemas.EventTopic("RXX", schemas.EventStarterCreated)+"@1"].ID
	want := compact(t, `{"event_id":"ev-starter-1","type":"starter-created","tenant":"RXX","person_id":"20990417",
		"source":{"file_name":"GO_412_EXP_GOC_20240311_00000347.DAT","file_sha256":"`+sha1+`","line":5,"raw_record_sha256":null},
		"file":{"name":"GO_412_EXP_GOC_20240311_00000347.DAT","status":"ACCEPTED","dialect":"go-v2","kind":"CHANGE",
			"rule_set_version":"rs-0a1b2c3d","mapping_version":null,"reported_at":"2024-03-11T02:17:03.25Z",
			"history":[{"status":"HELD","reported_at":"2024-03-11T01:17:03.25Z"},{"status":"ACCEPTED","reported_at":"2024-03-11T02:17:03.25Z"}]},
		"schema":{"subject":"esr.rxx.starter-created.v1-value","schema_id":`+jsonInt(stID)+`},
		"kafka":{"topic":"esr.rxx.starter-created.v1","partition":0,"offset":`+jsonInt(int(stOff[0]))+`,"schema_id":`+jsonInt(stID)+`},
		"stages":[{"stage":"ingest","at":null},{"stage":"normalise","at":null},{"stage":"validate","at":null},
			{"stage":"publish","at":"2024-03-11T02:17:03.25Z"},{"stage":"api","at":"`+*api+`"}],
		"not_recorded":["source.raw_record_sha256","file.mapping_version","stages.ingest.at","stages.normalise.at","stages.validate.at"]}`)
	if body != want {
		t.Errorf("lineage\n got %s\nwant %s", body, want)
	}
	assertGet(t, srv, "/v1/tenants/RYY/events/ev-starter-1/lineage", 404, `{"error":"event not found"}`)

	// An event publish recorded the lineage of (the starter topic's second
	// record): nothing left unrecorded.
	body = waitFor(t, srv, "/v1/tenants/RXX/events/"+second.EventID+"/lineage", 200, `"not_recorded":[]`)
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatal(err)
	}
	want = compact(t, `{"event_id":"`+second.EventID+`","type":"starter-created","tenant":"RXX","person_id":"20000002",
		"source":{"file_name":"GO_412_EXP_GOC_20240311_00000347.DAT","file_sha256":"`+sha1+`","line":5,"raw_record_sha256":"`+rawHash+`"},
		"file":{"name":"GO_412_EXP_GOC_20240311_00000347.DAT","status":"ACCEPTED","dialect":"go-v2","kind":"CHANGE",
			"rule_set_version":"rs-99887766","mapping_version":"mp-0123456789ab","reported_at":"2024-03-11T02:17:03.25Z",
			"history":[{"status":"HELD","reported_at":"2024-03-11T01:17:03.25Z"},{"status":"ACCEPTED","reported_at":"2024-03-11T02:17:03.25Z"}]},
		"schema":{"subject":"esr.rxx.starter-created.v1-value","schema_id":`+jsonInt(stID)+`},
		"kafka":{"topic":"esr.rxx.starter-created.v1","partition":0,"offset":`+jsonInt(int(stOff[0])+1)+`,"schema_id":`+jsonInt(stID)+`},
		"stages":[{"stage":"ingest","at":"2024-03-11T02:17:00.25Z"},{"stage":"normalise","at":"2024-03-11T02:17:01.25Z"},
			{"stage":"validate","at":"2024-03-11T02:17:02.25Z"},{"stage":"publish","at":"2024-03-11T02:17:03.25Z"},{"stage":"api","at":"`+*l.Stages[4].At+`"}],
		"not_recorded":[]}`)
	if body != want {
		t.Errorf("recorded lineage\n got %s\nwant %s", body, want)
	}

	// The reverse: the file's events in line order, paged, and its
	// quarantined rows only.
	var ids []string
	path := "/v1/tenants/RXX/files/" + strings.ToUpper(sha1) + "/events?limit=1"
	for range 5 {
		code, body := get(t, srv, path)
		if code != 200 {
			t.Fatalf("GET %s = %d %s", path, code, body)
		}
		var page eventList
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Events {
			ids = append(ids, ev.EventID)
		}
		if page.NextCursor == "" {
			break
		}
		path = "/v1/tenants/RXX/files/" + sha1 + "/events?limit=1&cursor=" + page.NextCursor
	}
	if want := []string{"ev-st-20000002", "ev-starter-1", moved.EventID}; !slices.Equal(ids, want) {
		t.Errorf("file events = %v, want %v (line, then event id)", ids, want)
	}
	assertGet(t, srv, "/v1/tenants/RXX/files/"+sha2+"/events", 200, `{"events":[]}`)
	qids, _ := listIDs(t, srv, "", "/v1/tenants/RXX/files/"+sha1+"/quarantine")
	if len(qids) != 1 {
		t.Fatalf("file quarantine = %v, want one row", qids)
	}
	item, _ := getItem(t, srv, "", qids[0])
	if item.Lineage.FileSHA256 != sha1 || item.Lineage.Line != 12 {
		t.Errorf("file quarantine row = %+v", item)
	}
	assertGet(t, srv, "/v1/tenants/RXX/files/"+sha1+"/quarantine?status=nope", 400, `{"error":"status must be open, replaying, resolved or failed_again"}`)
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
