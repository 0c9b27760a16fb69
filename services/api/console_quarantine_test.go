package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// attrs returns attribute attr of every node sel matches.
func attrs(doc *goquery.Document, sel, attr string) []string {
	var out []string
	doc.Find(sel).Each(func(_ int, s *goquery.Selection) {
		v, _ := s.Attr(attr)
		out = append(out, v)
	})
	return out
}

// consoleReplays lists RXX's replay ids through the api, newest first.
func consoleReplays(t *testing.T, srv *httptest.Server) []string {
	t.Helper()
	code, body := do(t, srv, "GET", "/v1/tenants/RXX/replays", consoleOpsKey, "")
	if code != http.StatusOK {
		t.Fatalf("replays: %d %s", code, body)
	}
	var l struct {
		Replays []store.Replay `json:"replays"`
	}
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, r := range l.Replays {
		ids = append(ids, r.ReplayID)
	}
	return ids
}

// TestConsoleQuarantine: the triage page lists RXX's quarantined records
// with their rules, files and statuses, sums them by rule, filters and
// pages them; a record shows its violations and raw fields (redacted for a
// key without people:sensitive); the operator replays checked records and
// every record a filter matches, and sees each row's outcome; a reader
// cannot replay; RXX's reader sees nothing of RYY.
func TestConsoleQuarantine(t *testing.T) {
	dbtest.ForEach(t, testConsoleQuarantine)
}

func testConsoleQuarantine(t *testing.T, dbURL string) {
	e, _, srv := consoleEnv(t, dbURL)
	const fileX, fileY = "GO_412_RXX.DAT", "GO_413_RYY.DAT"
	// RXX, file sha1: line 3 (PRA, normalise), 5 (ASA, validate: an error
	// and a warning), 7 (PRA, ingest: cannot be replayed), 9 (PRA,
	// validate). RYY, file sha2: line 3.
	a3 := qrec("RXX", fileX, sha1, 3, internalv1.StageNormalise, "PRA", "person", praFields(), violation("ESR-V010", "date_of_birth", internalv1.SeverityError))
	a5 := qrec("RXX", fileX, sha1, 5, internalv1.StageValidate, "ASA", "assignment", asaFields(),
		violation("ESR-X001", "person_id", internalv1.SeverityError), violation("ESR-V020", "fte", internalv1.SeverityWarning))
	a7 := qrec("RXX", fileX, sha1, 7, internalv1.StageIngest, "PRA", "", praFields(), violation("ESR-R002", "", internalv1.SeverityError))
	a9 := qrec("RXX", fileX, sha1, 9, internalv1.StageValidate, "PRA", "person", praFields(), violation("ESR-X001", "person_id", internalv1.SeverityError))
	y3 := qrec("RYY", fileY, sha2, 3, internalv1.StageNormalise, "PRA", "person", praFields(), violation("ESR-V010", "date_of_birth", internalv1.SeverityError))
	e.produce(true, e.quarantine(a3, 2), e.quarantine(a5, 2), e.quarantine(a7, 2), e.quarantine(a9, 2), e.quarantine(y3, 2))
	idA3, idA5, idA7, idA9 := store.QuarantineID("RXX", sha1, 3), store.QuarantineID("RXX", sha1, 5), store.QuarantineID("RXX", sha1, 7), store.QuarantineID("RXX", sha1, 9)
	idY3 := store.QuarantineID("RYY", sha2, 3)
	waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/quarantine/"+idA9, http.StatusOK, `"status":"open"`)
	waitKey(t, srv, consoleOpsKey, "/v1/tenants/RYY/quarantine/"+idY3, http.StatusOK, `"status":"open"`)

	ops := newBrowser(t, srv)
	ops.signIn(consoleOpsKey)
	reader := newBrowser(t, srv)
	reader.signIn(consoleReaderKey)

	// The listing: every record, a checkbox for each one that can be
	// replayed, and the page's records by rule.
	at := "11 Mar 2024 02:17:04 GMT"
	code, doc := ops.get("/console/t/RXX/quarantine")
	if code != http.StatusOK {
		t.Fatalf("quarantine page: %d %q", code, texts(doc, "main"))
	}
	wantRows := [][]string{
		{"Replay line 3 of " + fileX, "3", fileX, "PRA", "ESR-V010", "open", "NORMALISE", at, idA3},
		{"Replay line 5 of " + fileX, "5", fileX, "ASA", "ESR-X001, ESR-V020", "open", "VALIDATE", at, idA5},
		{"cannot", "7", fileX, "PRA", "ESR-R002", "open", "INGEST", at, idA7},
		{"Replay line 9 of " + fileX, "9", fileX, "PRA", "ESR-X001", "open", "VALIDATE", at, idA9},
	}
	if got := rows(doc, "table.records"); !reflect.DeepEqual(got, wantRows) {
		t.Errorf("records =\n%q\nwant\n%q", got, wantRows)
	}
	if got := attrs(doc, `table.records input[type=checkbox][name=id]`, "value"); !slices.Equal(got, []string{idA3, idA5, idA9}) {
		t.Errorf("checkboxes = %q, want the replayable records", got)
	}
	if got := hrefs(doc, `table.records tbody td:nth-child(3) a`); !slices.Equal(got, slices.Repeat([]string{"/console/t/RXX/files/" + sha1}, 4)) {
		t.Errorf("file links = %q", got)
	}
	if got := hrefs(doc, `table.records tbody td:last-child a`)[0]; got != "/console/t/RXX/quarantine/"+idA3 {
		t.Errorf("record link = %q", got)
	}
	wantRules := [][]string{{"ESR-X001", "2"}, {"ESR-R002", "1"}, {"ESR-V010", "1"}, {"ESR-V020", "1"}}
	if got := rows(doc, "table.by-rule"); !reflect.DeepEqual(got, wantRules) {
		t.Errorf("by rule = %q, want %q", got, wantRules)
	}
	if got := hrefs(doc, "table.by-rule tbody a")[0]; got != "/console/t/RXX/quarantine?rule=ESR-X001" {
		t.Errorf("rule link = %q", got)
	}
	if doc.Find(`textarea[name=reason][required][maxlength="500"]`).Length() != 1 {
		t.Error("the replay form has no mandatory reason")
	}
	if doc.Find(`input[name=select][value=filter]`).Length() != 0 {
		t.Error("replaying every record is offered without a filter")
	}
	// Every input has a label.
	doc.Find("main input:not([type=hidden]), main select, main textarea").Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("id")
		if id == "" || doc.Find(`label[for="`+id+`"]`).Length() != 1 {
			t.Errorf("input %q has no label", id)
		}
	})

	// A filter, its rule summary, and the offer to replay what it matches.
	_, doc = ops.get("/console/t/RXX/quarantine?rule=ESR-X001&stage=VALIDATE")
	if got := texts(doc, "table.records tbody td:last-child"); !slices.Equal(got, []string{idA5, idA9}) {
		t.Errorf("filtered records = %q", got)
	}
	if got := rows(doc, "table.by-rule"); !reflect.DeepEqual(got, [][]string{{"ESR-X001", "2"}, {"ESR-V020", "1"}}) {
		t.Errorf("filtered by rule = %q", got)
	}
	if got := hrefs(doc, "table.by-rule tbody a")[1]; got != "/console/t/RXX/quarantine?rule=ESR-V020&stage=VALIDATE" {
		t.Errorf("rule link keeps the other filters: %q", got)
	}
	if got := texts(doc, `#f-stage option[selected]`); !slices.Equal(got, []string{"VALIDATE"}) {
		t.Errorf("stage filter in the form = %q, want VALIDATE kept", got)
	}
	filterForm := doc.Find(`form:has(input[name=select][value=filter])`)
	hidden := map[string]string{}
	filterForm.Find("input[type=hidden]").Each(func(_ int, s *goquery.Selection) {
		n, _ := s.Attr("name")
		v, _ := s.Attr("value")
		hidden[n] = v
	})
	if hidden["rule"] != "ESR-X001" || hidden["stage"] != "VALIDATE" || hidden["csrf"] == "" || hidden["idempotency_key"] == "" || len(hidden) != 5 {
		t.Errorf("filter replay form fields = %v", hidden)
	}

	// Pages of two, then none.
	_, doc = ops.get("/console/t/RXX/quarantine?limit=2")
	if got := texts(doc, "table.records tbody td:last-child"); !slices.Equal(got, []string{idA3, idA5}) {
		t.Errorf("page 1 = %q", got)
	}
	next, ok := doc.Find(`a[rel=next]`).Attr("href")
	if !ok || !strings.HasPrefix(next, "/console/t/RXX/quarantine?cursor=") || !strings.Contains(next, "limit=2") {
		t.Fatalf("next page link = %q", next)
	}
	_, doc = ops.get(next)
	if got := texts(doc, "table.records tbody td:last-child"); !slices.Equal(got, []string{idA7, idA9}) {
		t.Errorf("page 2 = %q", got)
	}

	// One record: violations, lineage, raw fields. The operator (with
	// people:sensitive) sees the values and the canonical entity.
	code, doc = ops.get("/console/t/RXX/quarantine/" + idA5)
	if code != http.StatusOK {
		t.Fatalf("record page: %d %q", code, texts(doc, "main"))
	}
	wantV := [][]string{
		{"ESR-X001", "person_id", "ERROR", "person_id: ESR-X001 broken (value not shown)"},
		{"ESR-V020", "fte", "WARNING", "fte: ESR-V020 broken (value not shown)"},
	}
	if got := rows(doc, "table.violations"); !reflect.DeepEqual(got, wantV) {
		t.Errorf("violations = %q", got)
	}
	if got := hrefs(doc, "dl.record a"); !slices.Equal(got, []string{"/console/t/RXX/files/" + sha1, "/console/t/RXX/files/" + sha1 + "/lines?line=5"}) {
		t.Errorf("lineage links = %q", got)
	}
	_, doc = ops.get("/console/t/RXX/quarantine/" + idA3)
	raw := map[string]string{}
	for _, r := range rows(doc, "table.raw") {
		raw[r[0]] = r[1]
	}
	if raw["person_id"] != "20990417" || raw["last_name"] != lastName || raw["ni_number"] != niNumber {
		t.Errorf("raw fields for people:sensitive = %v", raw)
	}
	if !strings.Contains(doc.Find("pre.json").Text(), `"last_name": "`+lastName+`"`) {
		t.Errorf("canonical entity = %q", doc.Find("pre.json").Text())
	}
	if got := texts(doc, `dl.record dt:contains("Status") + dd`); !slices.Equal(got, []string{"open"}) {
		t.Errorf("status = %q", got)
	}
	if doc.Find(`form input[name=id][value="`+idA3+`"]`).Length() != 1 {
		t.Error("no replay form for a replayable record")
	}
	// The reader: personal columns redacted, no canonical entity, no form.
	_, doc = reader.get("/console/t/RXX/quarantine/" + idA3)
	raw = map[string]string{}
	doc.Find("table.raw tbody tr").Each(func(_ int, s *goquery.Selection) {
		name := s.Find("th").Text()
		if s.Find("td span.redacted").Length() == 1 {
			raw[name] = "<redacted>"
		} else {
			raw[name] = s.Find("td").Text()
		}
	})
	if raw["person_id"] != "20990417" || raw["last_name"] != "<redacted>" || raw["ni_number"] != "<redacted>" || raw["date_of_birth"] != "<redacted>" {
		t.Errorf("raw fields for the reader = %v", raw)
	}
	for _, v := range []string{lastName, niNumber, birthDate, "Adaeze"} {
		if strings.Contains(doc.Text(), v) {
			t.Errorf("the reader's page shows a personal value %q", v)
		}
	}
	if doc.Find("pre.json").Length() != 0 || doc.Find(`form[action$="/quarantine/replay"]`).Length() != 0 {
		t.Error("the reader is shown the canonical entity or a replay form")
	}
	_, doc = reader.get("/console/t/RXX/quarantine")
	if doc.Find(`input[name=id]`).Length() != 0 || doc.Find(`form[method=post][action$="/quarantine/replay"]`).Length() != 0 {
		t.Error("the reader's listing offers a replay")
	}
	// The ingest-quarantined record cannot be replayed: no form.
	if _, doc = ops.get("/console/t/RXX/quarantine/" + idA7); doc.Find(`form[action$="/quarantine/replay"]`).Length() != 0 {
		t.Error("a record quarantined by INGEST is offered a replay")
	}

	listReplays := func() []string { return consoleReplays(t, srv) }
	// The reader posts the replay form anyway: the api refuses it.
	code, doc = reader.post("/console/t/RXX/quarantine/replay", url.Values{"id": {idA3}, "reason": {"reader tries"}, "idempotency_key": {"k1"}})
	if code != http.StatusForbidden || !slices.Equal(texts(doc, ".error"), []string{"403 this API key lacks the operate scope"}) {
		t.Errorf("reader's replay: %d %q", code, texts(doc, ".error"))
	}
	// No reason, no record checked: the api's 400.
	_, doc = ops.get("/console/t/RXX/quarantine")
	key, _ := doc.Find(`input[name=idempotency_key]`).First().Attr("value")
	if code, doc := ops.post("/console/t/RXX/quarantine/replay", url.Values{"id": {idA3}, "reason": {""}, "idempotency_key": {key}}); code != http.StatusBadRequest ||
		!slices.Equal(texts(doc, ".error"), []string{"400 reason is required"}) {
		t.Errorf("replay without a reason: %d %q", code, texts(doc, ".error"))
	}
	if code, doc := ops.post("/console/t/RXX/quarantine/replay", url.Values{"reason": {"nothing checked"}, "idempotency_key": {key}}); code != http.StatusBadRequest ||
		!strings.Contains(doc.Find(".error").Text(), "ids must list 1 to 500 records") {
		t.Errorf("replay of nothing: %d %q", code, texts(doc, ".error"))
	}
	if got := listReplays(); len(got) != 0 {
		t.Fatalf("refused replays recorded %v", got)
	}
	if recs, _ := e.replayRequests(); len(recs) != 0 {
		t.Fatalf("refused replays sent %d requests", len(recs))
	}

	// The operator replays A3 and A5: the replay's page, REQUESTED, its
	// rows pending. Posting the same form again is the same replay.
	reason := "Mapping fixed: date_of_birth format"
	form := url.Values{"id": {idA3, idA5}, "reason": {reason}, "idempotency_key": {key}}
	code, doc = ops.post("/console/t/RXX/quarantine/replay", form)
	if code != http.StatusOK {
		t.Fatalf("replay: %d %q", code, texts(doc, "main"))
	}
	ids := listReplays()
	if len(ids) != 1 {
		t.Fatalf("replays after the replay = %v, want one", ids)
	}
	rpID := ids[0]
	if got := texts(doc, "h1"); !slices.Equal(got, []string{"Replay " + rpID}) {
		t.Errorf("landed on %q, want the replay's page", got)
	}
	if !strings.Contains(doc.Find(".notice").Text(), "Replay requested") {
		t.Errorf("notice = %q", doc.Find(".notice").Text())
	}
	factsIn := func(doc *goquery.Document, sel string) map[string]string {
		m := map[string]string{}
		doc.Find(sel + " dt").Each(func(_ int, s *goquery.Selection) {
			m[s.Text()] = strings.Join(strings.Fields(s.Next().Text()), " ")
		})
		return m
	}
	f := factsIn(doc, "dl.replay")
	if f["Status"] != "REQUESTED" || f["Requested by"] != "ops" || f["Reason"] != reason || f["Rows"] != "2" ||
		f["Outcomes"] != "2 pending, 0 accepted, 0 failed_again, 0 rejected" || f["Completed at"] != "—" {
		t.Errorf("replay facts = %v", f)
	}
	wantPending := [][]string{
		{idA3, fileX, "3", "1", "pending", "—", "—"},
		{idA5, fileX, "5", "1", "pending", "—", "—"},
	}
	if got := rows(doc, "table.rows"); !reflect.DeepEqual(got, wantPending) {
		t.Errorf("replay rows =\n%q\nwant\n%q", got, wantPending)
	}
	if got := rows(doc, "table.batches"); !reflect.DeepEqual(got, [][]string{{"1", "REPLAY_" + rpID, "not yet arrived", "no"}}) {
		t.Errorf("batches = %q", got)
	}
	if d := getReplayDetail(t, srv, consoleOpsKey, rpID); d.RequestedBy != "ops" || d.Reason != reason || d.Status != "REQUESTED" || d.Rows != 2 {
		t.Errorf("the api's replay = %+v", d.Replay)
	}
	if code, _ := ops.post("/console/t/RXX/quarantine/replay", form); code != http.StatusOK {
		t.Errorf("the same form again: %d", code)
	}
	if got := listReplays(); !slices.Equal(got, []string{rpID}) {
		t.Errorf("a double submit made another replay: %v", got)
	}
	if recs, _ := e.replayRequests(); len(recs) != 1 {
		t.Errorf("replay requests on the topic = %d, want 1", len(recs))
	}
	// The listing shows them replaying, with no checkbox any more.
	_, doc = ops.get("/console/t/RXX/quarantine")
	if got := attrs(doc, `table.records input[name=id]`, "value"); !slices.Equal(got, []string{idA9}) {
		t.Errorf("checkboxes while replaying = %q", got)
	}
	if got := texts(doc, "table.records tbody td:nth-child(6)"); !slices.Equal(got, []string{"replaying", "replaying", "open", "open"}) {
		t.Errorf("statuses while replaying = %q", got)
	}
	_, doc = ops.get("/console/t/RXX/quarantine/" + idA3)
	if got := hrefs(doc, `dl.record a[href*="/replays/"]`); !slices.Equal(got, []string{"/console/t/RXX/replays/" + rpID}) {
		t.Errorf("record's replay link = %q", got)
	}

	// Every record matching a filter: only A9 of ESR-X001 can be replayed
	// now (A5 is replaying).
	_, doc = ops.get("/console/t/RXX/quarantine?rule=ESR-X001")
	fkey, _ := doc.Find(`form:has(input[name=select]) input[name=idempotency_key]`).Attr("value")
	code, doc = ops.post("/console/t/RXX/quarantine/replay", url.Values{"select": {"filter"}, "rule": {"ESR-X001"}, "reason": {"rule ESR-X001 relaxed"}, "idempotency_key": {fkey}})
	if code != http.StatusOK || doc.Find(".notice").Length() != 1 {
		t.Fatalf("filtered replay: %d %q", code, texts(doc, "main"))
	}
	if got := texts(doc, "table.rows tbody th"); !slices.Equal(got, []string{idA9}) {
		t.Errorf("filtered replay rows = %q, want A9", got)
	}

	// The first replay's outcome arrives: A3 accepted with its event, A5
	// quarantined again.
	replaySHA := batchSHA(rpID)
	rep := &internalv1.FileReport{Tenant: "RXX", Vpd: "412", File: *fileInfo("REPLAY_"+rpID, replaySHA, 0), Status: internalv1.FileStatusAccepted,
		RowsRead: 2, EntitiesAccepted: 1, Quarantined: 1, EventsEmitted: map[string]int64{"starter-created": 1},
		ReportedAt: quarantinedAt.Add(time.Hour), RuleSetVersion: "rs-0a1b2c3d", ReplayID: &rpID}
	st := starter()
	st.EventID, st.Source = "ev-replayed-a3", src(3)
	a5again := qrec("RXX", fileX, sha1, 5, internalv1.StageValidate, "ASA", "assignment", asaFields(), violation("ESR-X002", "position_id", internalv1.SeverityError))
	a5again.File, a5again.ReplayID = fileInfo("REPLAY_"+rpID, replaySHA, 0), &rpID
	e.produce(true, e.reportV2(rep), e.event("RXX", schemas.EventStarterCreated, 1, st.PersonID, st), e.quarantine(a5again, 2))
	waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/replays/"+rpID, http.StatusOK, `"status":"COMPLETED"`)
	waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/replays/"+rpID, http.StatusOK, `"event_id":"ev-replayed-a3"`)
	_, doc = reader.get("/console/t/RXX/replays/" + rpID)
	if f := factsIn(doc, "dl.replay"); f["Status"] != "COMPLETED" || f["Outcomes"] != "0 pending, 1 accepted, 1 failed_again, 0 rejected" || f["Completed at"] == "—" {
		t.Errorf("completed replay facts = %v", f)
	}
	wantDone := [][]string{
		{idA3, fileX, "3", "1", "accepted", "—", "ev-replayed-a3 starter-created"},
		{idA5, fileX, "5", "1", "failed_again", "ESR-X002 (position_id)", "—"},
	}
	if got := rows(doc, "table.rows"); !reflect.DeepEqual(got, wantDone) {
		t.Errorf("outcomes =\n%q\nwant\n%q", got, wantDone)
	}
	if got := hrefs(doc, "table.rows tbody td a.mono"); !slices.Equal(got, []string{"/console/t/RXX/events/ev-replayed-a3"}) {
		t.Errorf("event links = %q", got)
	}
	if got := rows(doc, "table.batches"); !reflect.DeepEqual(got, [][]string{{"1", "REPLAY_" + rpID, "ACCEPTED", "yes"}}) {
		t.Errorf("settled batches = %q", got)
	}
	// The replays, newest first.
	_, doc = reader.get("/console/t/RXX/replays")
	got := rows(doc, "table.replays")
	if len(got) != 2 || got[1][0] != rpID || !slices.Equal(got[1][1:4], []string{"COMPLETED", "2", "0 pending, 1 accepted, 1 failed_again, 0 rejected"}) ||
		got[1][4] != "ops" || got[1][6] != reason || got[0][1] != "REQUESTED" || got[0][6] != "rule ESR-X001 relaxed" {
		t.Errorf("replays = %q", got)
	}

	// RXX's reader and RYY: the api's 403 for RYY's pages, nothing of RYY
	// in them; RYY's record under RXX is unknown.
	for _, path := range []string{"/console/t/RYY/quarantine", "/console/t/RYY/quarantine/" + idY3, "/console/t/RYY/replays"} {
		code, doc := reader.get(path)
		if code != http.StatusForbidden || !slices.Equal(texts(doc, ".error"), []string{"403 this API key is not allowed tenant RYY"}) {
			t.Errorf("reader GET %s: %d %q", path, code, texts(doc, ".error"))
		}
		if s := doc.Text(); strings.Contains(s, fileY) || strings.Contains(s, idY3) || doc.Find("table").Length() != 0 {
			t.Errorf("reader GET %s shows RYY's data", path)
		}
	}
	if code, doc := reader.get("/console/t/RXX/quarantine/" + idY3); code != http.StatusNotFound || strings.Contains(doc.Text(), fileY) {
		t.Errorf("RYY's record under RXX: %d %q", code, texts(doc, ".error"))
	}
	if code, _ := reader.post("/console/t/RYY/quarantine/replay", url.Values{"id": {idY3}, "reason": {"x"}}); code != http.StatusForbidden {
		t.Errorf("reader's replay in RYY: %d", code)
	}
	// The api's audit has the operator's replays and nothing of the reader.
	code, body := do(t, srv, "GET", "/v1/tenants/RXX/audit", consoleOpsKey, "")
	if code != http.StatusOK || strings.Count(body, `"action":"REPLAY"`) != 2 || !strings.Contains(body, `"actor":"ops","reason":"`+reason+`"`) || strings.Contains(body, "rxx-reader") {
		t.Errorf("audit = %d %s", code, body)
	}
}
