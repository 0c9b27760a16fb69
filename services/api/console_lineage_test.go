package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// facts maps each <dt> of the page's definition lists to its <dd>'s text.
func facts(doc *goquery.Document) map[string]string {
	out := map[string]string{}
	doc.Find("dl.facts dt").Each(func(_ int, dt *goquery.Selection) {
		out[strings.Join(strings.Fields(dt.Text()), " ")] = strings.Join(strings.Fields(dt.Next().Text()), " ")
	})
	return out
}

// rows returns the cells' text of every row of the page's table bodies.
func rows(doc *goquery.Document, sel string) [][]string {
	var out [][]string
	doc.Find(sel + " tbody tr").Each(func(_ int, tr *goquery.Selection) {
		var row []string
		tr.Find("th, td").Each(func(_ int, c *goquery.Selection) {
			row = append(row, strings.Join(strings.Fields(c.Text()), " "))
		})
		out = append(out, row)
	})
	return out
}

// londonTime is how the console shows an RFC 3339 time.
func londonTime(t *testing.T, rfc3339 string) string {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, rfc3339)
	if err != nil {
		t.Fatalf("time %q: %v", rfc3339, err)
	}
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	return at.In(loc).Format("2 Jan 2006 15:04:05 MST")
}

// TestConsoleLineage: the lineage screens over the api's events. An event
// whose lineage publish recorded shows its file, line, raw record hash,
// versions, schema, Kafka position and every stage; one published before
// lineage was recorded lists what is not recorded. The search form takes
// an id to its page; the feed lists the tenant's events; a person's page
// shows their state and timeline, oldest first, with its links. The RXX
// reader gets the api's 403 for RYY and 404 for a RYY event under RXX.
func TestConsoleLineage(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e, _, srv := consoleEnv(t, dbURL)
		// testLineage's events: a starter published before lineage was
		// recorded, another whose lineage publish recorded, and the first
		// person's move a month later; and a RYY starter.
		st := starter() // ev-starter-1, person 20990417, sha1 line 5
		second := stateStarter("RXX", "20000002", "31000002", "5100002", "412 Renal Ward", 5)
		moved := stateMoved("20990417", "31004581", "5102277", "412 Cardiology Outpatients", "Nursing", "Ward 9", recorded2, 9)
		ryy := stateStarter("RYY", "49000001", "49000001", "5900001", "413 Elsewhere", 3)
		rawHash := strings.Repeat("ab", 32)
		ingested := recorded1.Add(-3 * time.Second)
		normalised, validated := ingested.Add(time.Second), ingested.Add(2*time.Second)
		lin := &internalv1.EventLineage{EventID: second.EventID, Tenant: "RXX", Topic: schemas.EventTopic("RXX", schemas.EventStarterCreated),
			RawSha256: store.Ptr(rawHash), MappingVersion: store.Ptr("mp-0123456789ab"), RuleSetVersion: store.Ptr("rs-99887766"),
			IngestedAt: &ingested, NormalisedAt: &normalised, ValidatedAt: &validated, PublishedAt: recorded1}
		// Produced in steps, so the feed's order (the api's commit order
		// across topics) is known.
		e.produce(true,
			e.event("RXX", schemas.EventStarterCreated, 1, st.PersonID, st),
			e.event("RXX", schemas.EventStarterCreated, 1, second.PersonID, second),
			&kgo.Record{Topic: schemas.TopicLineage, Key: []byte("RXX"), Value: e.encode(schemas.TopicLineage, 1, lin)},
			e.event("RYY", schemas.EventStarterCreated, 1, ryy.PersonID, ryy))
		waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/events/"+second.EventID+"/lineage", 200, `"not_recorded":[]`)
		waitKey(t, srv, consoleOpsKey, "/v1/tenants/RYY/people/49000001", 200, `"employment_status":"EMPLOYED"`)
		e.produce(true, e.event("RXX", schemas.EventPositionUpdated, 1, moved.PersonID, moved))
		waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/people/20990417", 200, `"location":"Ward 9"`)

		reader := newBrowser(t, srv)
		if code, doc := reader.signIn(consoleReaderKey); code != http.StatusOK {
			t.Fatalf("reader sign-in: %d %q", code, texts(doc, "main"))
		}

		// The recorded lineage, exactly.
		_, body := do(t, srv, "GET", "/v1/tenants/RXX/events/"+second.EventID+"/lineage", consoleOpsKey, "")
		var l store.Lineage
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatal(err)
		}
		code, doc := reader.get("/console/t/RXX/events/" + second.EventID)
		if code != http.StatusOK {
			t.Fatalf("event page: %d %q", code, texts(doc, "main"))
		}
		stID := e.writers[schemas.EventTopic("RXX", schemas.EventStarterCreated)+"@1"].ID
		want := map[string]string{
			"Event id": second.EventID,
			"Type":     "starter-created",
			"Person":   "20000002",
			"Schema":   "esr.rxx.starter-created.v1-value, id " + strconv.Itoa(stID),
			// The topic's second record: the env's first records on it.
			"Kafka":              "esr.rxx.starter-created.v1, partition 0, offset 1",
			"Source file":        "GO_412_EXP_GOC_20240311_00000347.DAT",
			"File SHA-256":       sha1,
			"Line":               "line 5",
			"Raw record SHA-256": rawHash,
			"Status":             "ACCEPTED",
			"Dialect":            "go-v2",
			"Kind":               "CHANGE",
			"Rule set version":   "rs-99887766",
			"Mapping version":    "mp-0123456789ab",
			"Reported at":        londonTime(t, l.File.ReportedAt),
		}
		if got := facts(doc); !mapsEqual(got, want) {
			t.Errorf("event page facts\n got %q\nwant %q", got, want)
		}
		if got, want := texts(doc, "ol.history li"), []string{"ACCEPTED " + londonTime(t, l.File.ReportedAt)}; !slices.Equal(got, want) {
			t.Errorf("file history = %q, want %q", got, want)
		}
		wantStages := []string{"ingest: 11 Mar 2024 02:17:00 GMT", "normalise: 11 Mar 2024 02:17:01 GMT", "validate: 11 Mar 2024 02:17:02 GMT",
			"publish: 11 Mar 2024 02:17:03 GMT", "api: " + londonTime(t, *l.Stages[4].At)}
		if got := texts(doc, "ol.stages li"); !slices.Equal(got, wantStages) {
			t.Errorf("stages = %q, want %q", got, wantStages)
		}
		if got := texts(doc, "ul.not-recorded li"); got != nil || !strings.Contains(doc.Text(), "Every part of this event's lineage is recorded") {
			t.Errorf("not recorded = %q, want none", got)
		}
		wantLinks := []string{"/console/t/RXX/people/20000002", "/console/t/RXX/files/" + sha1, "/console/t/RXX/files/" + sha1 + "/lines?line=5"}
		if got := hrefs(doc, "dl.facts a"); !slices.Equal(got, wantLinks) {
			t.Errorf("event page links = %q, want %q", got, wantLinks)
		}

		// An event from before lineage was recorded says what is missing.
		code, doc = reader.get("/console/t/RXX/events/ev-starter-1")
		if code != http.StatusOK {
			t.Fatalf("old event page: %d", code)
		}
		if f := facts(doc); f["Raw record SHA-256"] != "not recorded" || f["Mapping version"] != "not recorded" || f["Person"] != "20990417" {
			t.Errorf("old event facts = %q", f)
		}
		wantMissing := []string{"source.raw_record_sha256", "file.mapping_version", "stages.ingest.at", "stages.normalise.at", "stages.validate.at"}
		if got := texts(doc, "ul.not-recorded li"); !slices.Equal(got, wantMissing) {
			t.Errorf("not recorded = %q, want %q", got, wantMissing)
		}
		if got := texts(doc, "ol.stages li")[:3]; !slices.Equal(got, []string{"ingest: not recorded", "normalise: not recorded", "validate: not recorded"}) {
			t.Errorf("old event stages = %q", got)
		}

		// The search form takes an id to its page.
		if _, doc := reader.get("/console/t/RXX/lineage?event=" + url.QueryEscape(" ev-starter-1 ")); facts(doc)["Event id"] != "ev-starter-1" {
			t.Errorf("search by event id landed on %q", texts(doc, "h1"))
		}
		if _, doc := reader.get("/console/t/RXX/lineage?person=20000002"); !slices.Equal(texts(doc, "h1"), []string{"Person 20000002"}) {
			t.Errorf("search by person id landed on %q", texts(doc, "h1"))
		}
		// The feed, in its order, with the person and lineage links.
		code, doc = reader.get("/console/t/RXX/lineage")
		if code != http.StatusOK || doc.Find("label[for=event]").Length() != 1 || doc.Find("label[for=person]").Length() != 1 {
			t.Fatalf("lineage page: %d %q", code, texts(doc, "main"))
		}
		// The latest events, newest first (the order the api stored them,
		// reversed).
		wantFeed := [][]string{
			{"1 Apr 2024 03:00:00 BST", "position-updated", "20990417", "2024-04-01", moved.EventID},
			{"11 Mar 2024 02:17:03 GMT", "starter-created", "20000002", "2024-03-11", second.EventID},
			{"11 Mar 2024 02:17:03 GMT", "starter-created", "20990417", "2024-03-11", "ev-starter-1"},
		}
		if got := rows(doc, "table"); !slices.EqualFunc(got, wantFeed, slices.Equal) {
			t.Errorf("feed\n got %q\nwant %q", got, wantFeed)
		}
		if got := hrefs(doc, "table tbody tr:last-child a"); !slices.Equal(got, []string{"/console/t/RXX/people/20990417", "/console/t/RXX/events/ev-starter-1"}) {
			t.Errorf("feed row links = %q", got)
		}
		if _, doc := reader.get("/console/t/RXX/lineage?type=position-updated"); len(rows(doc, "table")) != 1 || rows(doc, "table")[0][4] != moved.EventID {
			t.Errorf("feed of position updates = %q", rows(doc, "table"))
		}
		if _, doc := reader.get("/console/t/RXX/lineage?since=2024-04-01"); len(rows(doc, "table")) != 1 || rows(doc, "table")[0][4] != moved.EventID {
			t.Errorf("feed since 1 April = %q", rows(doc, "table"))
		}

		// A person: their state, and their timeline oldest first.
		code, doc = reader.get("/console/t/RXX/people/20990417")
		if code != http.StatusOK {
			t.Fatalf("person page: %d %q", code, texts(doc, "main"))
		}
		if f := facts(doc); f["Person id"] != "20990417" || f["Employee number"] != "31004581" || f["Status"] != "EMPLOYED" ||
			f["Start date"] != "2024-03-11" || f["Last event"] != moved.EventID {
			t.Errorf("person facts = %q", f)
		}
		wantAsg := [][]string{{"31004581", "5102277", "Title 5102277", "412 Cardiology Outpatients", "XR06", "Nursing", "Staff Nurse", "Ward 9"}}
		if got := rows(doc, "section:first-of-type table"); !slices.EqualFunc(got, wantAsg, slices.Equal) {
			t.Errorf("assignments\n got %q\nwant %q", got, wantAsg)
		}
		wantTimeline := [][]string{
			{"11 Mar 2024 02:17:03 GMT", "starter-created", "2024-03-11", "GO_412_EXP_GOC_20240311_00000347.DAT", "5", "ev-starter-1"},
			{"1 Apr 2024 03:00:00 BST", "position-updated", "2024-04-01", "GO_412_EXP_GOC_20240311_00000347.DAT", "9", moved.EventID},
		}
		if got := rows(doc, "table.timeline"); !slices.EqualFunc(got, wantTimeline, slices.Equal) {
			t.Errorf("timeline\n got %q\nwant %q", got, wantTimeline)
		}
		wantTLLinks := []string{"/console/t/RXX/files/" + sha1, "/console/t/RXX/files/" + sha1 + "/lines?line=5", "/console/t/RXX/events/ev-starter-1"}
		if got := hrefs(doc, "table.timeline tbody tr:first-child a"); !slices.Equal(got, wantTLLinks) {
			t.Errorf("timeline links = %q, want %q", got, wantTLLinks)
		}

		// Isolation: RYY under its own path is the api's 403, naming none
		// of its data; a RYY id under RXX is not found.
		for _, path := range []string{"/console/t/RYY/events/" + ryy.EventID, "/console/t/RYY/people/49000001", "/console/t/RYY/lineage", "/console/t/ryy/lineage?type=starter-created"} {
			code, doc := reader.get(path)
			if code != http.StatusForbidden || !strings.Contains(texts(doc, ".error")[0], "this API key is not allowed tenant RYY") {
				t.Errorf("%s as the RXX reader: %d %q, want the api's 403", path, code, texts(doc, ".error"))
			}
			if txt := doc.Text(); strings.Contains(txt, "49000001") || strings.Contains(txt, "413 Elsewhere") || strings.Contains(txt, "esr.ryy") {
				t.Errorf("%s as the RXX reader names RYY data: %q", path, texts(doc, "main"))
			}
		}
		for _, path := range []string{"/console/t/RXX/events/" + ryy.EventID, "/console/t/RXX/people/49000001"} {
			code, doc := reader.get(path)
			if code != http.StatusNotFound || len(doc.Find("dl.facts").Nodes) != 0 {
				t.Errorf("%s: %d %q, want the api's 404", path, code, texts(doc, ".error"))
			}
		}
		// The RYY event exists: the 404 above is the tenant filter's.
		ops := newBrowser(t, srv)
		ops.signIn(consoleOpsKey)
		if code, doc := ops.get("/console/t/RYY/events/" + ryy.EventID); code != http.StatusOK || facts(doc)["Person"] != "49000001" {
			t.Errorf("the RYY event as ops: %d %q", code, facts(doc))
		}
	})
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestConsoleAudit: after decisions through the api (a held batch released,
// a held file discarded), the audit page lists them newest first with
// their actor, reason, status and links, and filters by batch; the RXX
// reader (batches:read) reads RXX's and gets the api's 403 for RYY's.
func TestConsoleAudit(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e, _, srv := consoleEnv(t, dbURL)
		held := heldReport("RXX", "GO_412_EXP_GOC_20240313_00000349.DAT", shaHeld1, 349, recorded2, internalv1.FileHold{
			Feed: "412/EXP", LastSequence: 347, AwaitingSequences: []int64{348}})
		e.produce(true, e.reportV4(held))
		waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/files/"+shaHeld1, 200, `"status":"HELD"`)

		reader := newBrowser(t, srv)
		reader.signIn(consoleReaderKey)
		if code, doc := reader.get("/console/t/RXX/audit"); code != http.StatusOK || !slices.Equal(texts(doc, "table tbody td"), []string{"No decisions."}) {
			t.Fatalf("audit before any decision: %d %q", code, texts(doc, "main"))
		}

		if code, body := do(t, srv, "POST", "/v1/tenants/RXX/held-batches/hb-9f2c4e1a7b3d5f6e/release", consoleOpsKey, `{"reason":"Confirmed with HR: Ward 7 restructure"}`); code != http.StatusAccepted && code != http.StatusOK {
			t.Fatalf("release: %d %s", code, body)
		}
		if code, body := do(t, srv, "POST", "/v1/tenants/RXX/files/"+shaHeld1+"/discard", consoleOpsKey, `{"reason":"sent twice by mistake"}`); code >= 300 {
			t.Fatalf("discard: %d %s", code, body)
		}
		if code, body := do(t, srv, "POST", "/v1/tenants/RYY/held-batches/hb-2222222222222222/reject", consoleRYYKey, `{"reason":"RYY's own decision"}`); code >= 300 {
			t.Fatalf("RYY reject: %d %s", code, body)
		}
		_, body := do(t, srv, "GET", "/v1/tenants/RXX/audit", consoleOpsKey, "")
		var audit auditList
		if err := json.Unmarshal([]byte(body), &audit); err != nil || len(audit.Audit) != 2 {
			t.Fatalf("api audit: %s", body)
		}

		code, doc := reader.get("/console/t/RXX/audit")
		if code != http.StatusOK {
			t.Fatalf("audit page: %d %q", code, texts(doc, "main"))
		}
		want := [][]string{
			{londonTime(t, audit.Audit[0].RequestedAt), "FILE_DISCARD", "file " + shaHeld1[:12] + "…", "ops", "sent twice by mistake", "REQUESTED", "—", "—"},
			{londonTime(t, audit.Audit[1].RequestedAt), "RELEASE", "batch hb-9f2c4e1a7b3d5f6e", "ops", "Confirmed with HR: Ward 7 restructure", "REQUESTED", "—", "—"},
		}
		if got := rows(doc, "table"); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("audit rows\n got %q\nwant %q", got, want)
		}
		if got := hrefs(doc, "table tbody a"); !slices.Equal(got, []string{"/console/t/RXX/files/" + shaHeld1, "/console/t/RXX/held-batches/hb-9f2c4e1a7b3d5f6e"}) {
			t.Errorf("audit links = %q", got)
		}
		if strings.Contains(doc.Text(), "RYY's own decision") {
			t.Error("RXX's audit shows RYY's decision")
		}
		_, doc = reader.get("/console/t/RXX/audit?batch_id=hb-9f2c4e1a7b3d5f6e")
		if got := rows(doc, "table"); len(got) != 1 || got[0][1] != "RELEASE" {
			t.Errorf("audit of one batch = %q", got)
		}
		if v, _ := doc.Find("input#batch_id").Attr("value"); v != "hb-9f2c4e1a7b3d5f6e" {
			t.Errorf("the batch filter is not kept: %q", v)
		}
		code, doc = reader.get("/console/t/RYY/audit")
		if code != http.StatusForbidden || strings.Contains(doc.Text(), "RYY's own decision") || doc.Find("table").Length() != 0 {
			t.Errorf("RYY's audit as the RXX reader: %d %q, want the api's 403 and nothing of it", code, texts(doc, "main"))
		}
	})
}

// TestConsoleAccessLog: the access log is for admin keys. Ops (every
// tenant) reads it, and finds the console's own page requests under its
// name; it pages with the api's cursor. The RXX reader gets the api's 403
// and no link to it; an admin key for RXX only must name a tenant: the
// page shows the api's reason and offers RXX alone.
func TestConsoleAccessLog(t *testing.T) {
	e := newEnv(t)
	const rxxAdminKey = "console-rxx-admin-key"
	clients := append(slices.Clone(consoleClients),
		auth.Client{Name: "rxx-admin", KeySHA256: auth.HashKey(rxxAdminKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeAdmin}})
	s, srv := e.startWith(Config{DBURL: "sqlite:" + t.TempDir() + "/api.db", Group: "console-access", Clients: clients}, zaptest.NewLogger(t))

	ops := newBrowser(t, srv)
	if code, doc := ops.signIn(consoleOpsKey); code != http.StatusOK || !slices.Contains(texts(doc, "nav a"), "Access log") {
		t.Fatalf("ops sign-in: %d, nav %q", code, texts(doc, "nav a"))
	}
	ops.get("/console/t/RXX/audit")
	ops.get("/console/t/RXX/events/ev-none")
	flushAccessLog(t, s)

	code, doc := ops.get("/console/access-log?client=ops")
	if code != http.StatusOK {
		t.Fatalf("access log as ops: %d %q", code, texts(doc, "main"))
	}
	got := rows(doc, "table")
	// Each row: at, client, method, path, tenant, status, duration. The
	// console's pages are rows under the key's name, with the tenant of
	// the api calls they made; the calls are not rows of their own. (Rows
	// of one millisecond are in request id order, so only the set is
	// checked here; the order is the api's, checked by its own tests.)
	var listed [][]string
	for _, r := range got {
		listed = append(listed, []string{r[1], r[2], r[3], r[4], r[5]})
		if strings.HasPrefix(r[3], "/v1/") {
			t.Errorf("a console page's api call is its own row: %q", r)
		}
	}
	for _, w := range [][]string{
		{"ops", "GET", "/console/t/RXX/events/ev-none", "RXX", "404"},
		{"ops", "GET", "/console/t/RXX/audit", "RXX", "200"},
		{"ops", "GET", "/console/overview", "—", "200"},
		{"ops", "POST", "/console/sign-in", "—", "303"},
	} {
		if !slices.ContainsFunc(listed, func(r []string) bool { return slices.Equal(r, w) }) {
			t.Errorf("access log for ops lacks %q:\n%q", w, got)
		}
	}
	// Paging two rows at a time with the api's cursor walks the same rows
	// in the same order, after the newest: the listing just read.
	flushAccessLog(t, s)
	var walked [][]string
	next := "/console/access-log?client=ops&limit=2"
	for pages := 0; next != ""; pages++ {
		if pages > len(got) {
			t.Fatalf("paging did not end: %q", walked)
		}
		_, doc = ops.get(next)
		page := rows(doc, "table")
		if len(page) == 1 && len(page[0]) == 1 { // "No requests match.": a full page was the last
			page = nil
		}
		if len(page) > 2 {
			t.Fatalf("a page of %d rows with limit=2", len(page))
		}
		walked = append(walked, page...)
		next = ""
		if l := hrefs(doc, `main p a[href^="/console/access-log?"]`); len(l) == 1 {
			if !strings.Contains(l[0], "client=ops") || !strings.Contains(l[0], "limit=2") || !strings.Contains(l[0], "cursor=") {
				t.Errorf("next page link %q drops the filters", l[0])
			}
			next = l[0]
		}
	}
	if len(walked) != len(got)+1 || walked[0][3] != "/console/access-log" || !slices.EqualFunc(walked[1:], got, slices.Equal) {
		t.Errorf("paged rows\n got %q\nwant the access log page, then %q", walked, got)
	}

	reader := newBrowser(t, srv)
	_, doc = reader.signIn(consoleReaderKey)
	if slices.Contains(texts(doc, "nav a"), "Access log") {
		t.Error("the nav offers the access log to a key without admin")
	}
	code, doc = reader.get("/console/access-log")
	if code != http.StatusForbidden || !slices.Equal(texts(doc, ".error"), []string{"403 this API key lacks the admin scope"}) || doc.Find("table").Length() != 0 {
		t.Errorf("access log as the RXX reader: %d %q, want the api's 403", code, texts(doc, ".error"))
	}

	admin := newBrowser(t, srv)
	admin.signIn(rxxAdminKey)
	code, doc = admin.get("/console/access-log")
	if code != http.StatusForbidden || !strings.Contains(strings.Join(texts(doc, ".error"), ""), "pass ?tenant=") || doc.Find("table").Length() != 0 {
		t.Errorf("access log without a tenant for an RXX admin: %d %q", code, texts(doc, ".error"))
	}
	if got := texts(doc, "select#tenant option"); !slices.Equal(got, []string{"RXX"}) {
		t.Errorf("tenant choices = %q, want RXX only", got)
	}
	flushAccessLog(t, s)
	code, doc = admin.get("/console/access-log?tenant=RXX")
	if code != http.StatusOK || len(rows(doc, "table")) == 0 {
		t.Fatalf("access log of RXX for its admin: %d %q", code, texts(doc, "main"))
	}
	for _, r := range rows(doc, "table") {
		if r[4] != "RXX" {
			t.Errorf("RXX admin sees a row of another tenant: %q", r)
		}
	}
	if code, doc := admin.get("/console/access-log?tenant=RYY"); code != http.StatusForbidden || doc.Find("table").Length() != 0 {
		t.Errorf("access log of RYY for RXX's admin: %d %q", code, texts(doc, ".error"))
	}
}

// TestConsoleLineageWithoutEventsRead: a key that may read people but not
// events keeps the lineage page's search form, with the api's reason for
// listing no events, and an event's page is the api's 403.
func TestConsoleLineageWithoutEventsRead(t *testing.T) {
	e := newEnv(t)
	const peopleKey = "console-rxx-people-key"
	clients := append(slices.Clone(consoleClients),
		auth.Client{Name: "rxx-people", KeySHA256: auth.HashKey(peopleKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeReadPeople}})
	_, srv := e.startWith(Config{DBURL: "sqlite:" + t.TempDir() + "/api.db", Group: "console-people", Clients: clients}, zaptest.NewLogger(t))
	st := starter()
	e.produce(true, e.event("RXX", schemas.EventStarterCreated, 1, st.PersonID, st))
	waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/people/20990417", 200, `"employment_status":"EMPLOYED"`)

	b := newBrowser(t, srv)
	if code, doc := b.signIn(peopleKey); code != http.StatusOK {
		t.Fatalf("sign-in: %d %q", code, texts(doc, "main"))
	}
	code, doc := b.get("/console/t/RXX/lineage")
	if code != http.StatusOK || doc.Find("input#person").Length() != 1 || doc.Find("table").Length() != 0 ||
		!strings.Contains(doc.Find("#events-h").Parent().Text(), "this API key lacks the events:read scope") {
		t.Errorf("lineage page without events:read: %d %q", code, texts(doc, "main"))
	}
	if code, doc := b.get("/console/t/RXX/lineage?person=20990417"); code != http.StatusOK || facts(doc)["Person id"] != "20990417" {
		t.Errorf("person search without events:read: %d %q", code, texts(doc, "main"))
	}
	if code, doc := b.get("/console/t/RXX/events/ev-starter-1"); code != http.StatusForbidden ||
		!slices.Equal(texts(doc, ".error"), []string{"403 this API key lacks the events:read scope"}) || strings.Contains(doc.Text(), "GO_412") {
		t.Errorf("event page without events:read: %d %q", code, texts(doc, ".error"))
	}
}
