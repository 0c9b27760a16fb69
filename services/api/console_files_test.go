package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// The files screen's own files, beside consoleEnv's (RXX GO_412_RXX.DAT,
// accepted now; RYY GO_413_RYY.DAT): an accepted file with quarantined rows,
// rules and events, a rejected one, a held one; RYY a held one.
const (
	shaRich     = "8888888888888888888888888888888888888888888888888888888888888888"
	richName    = "GO_412_EXP_GOC_20240312_00000348.DAT"
	rejName     = "GO_412_EXP_GOC_20240313_00000349.DAT"
	heldName    = "GO_412_EXP_GOC_20240314_00000350.DAT"
	heldRYYName = "GO_413_EXP_GOC_20240313_00000009.DAT"
	// rejReasonText is the rejected file's reason, as validate writes it.
	rejReasonText = "ESR-F025 error-budget: 5 of 20 rows quarantined (25.0 %) > max_percent 10"
)

// cells returns, for every row sel matches, its cells' texts joined by " | ".
func cells(doc *goquery.Document, sel string) []string {
	var out []string
	doc.Find(sel).Each(func(_ int, row *goquery.Selection) {
		var cs []string
		row.Find("th, td").Each(func(_ int, c *goquery.Selection) {
			cs = append(cs, strings.Join(strings.Fields(c.Text()), " "))
		})
		out = append(out, strings.Join(cs, " | "))
	})
	return out
}

// hrefs returns the href of every link sel matches.
func hrefs(doc *goquery.Document, sel string) []string {
	var out []string
	doc.Find(sel).Each(func(_ int, a *goquery.Selection) {
		h, _ := a.Attr("href")
		out = append(out, h)
	})
	return out
}

// filesEnv is consoleEnv with the files screen's files, quarantined rows
// and events.
func filesEnv(t *testing.T, dbURL string) (*env, *httptest.Server) {
	t.Helper()
	e, _, srv := consoleEnv(t, dbURL)
	tRich := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	rich := &internalv1.FileReport{Tenant: "RXX", Vpd: "412", File: *fileInfo(richName, shaRich, 348), Status: internalv1.FileStatusAccepted,
		RowsRead: 8, EntitiesAccepted: 5, Quarantined: 2, Corrections: 1, Ignored: 0, Warnings: 1, RuleSetVersion: "rs-0a1b2c3d",
		EventsEmitted: map[string]int64{"starter-created": 2, "leaver-confirmed": 0, "position-updated": 0, "leaver-reversed": 0},
		TopRules:      []internalv1.RuleCount{{Rule: "ESR-V010", Count: 1}, {Rule: "ESR-X001", Count: 1}}, ReportedAt: tRich}
	rejReason := rejReasonText
	rej := &internalv1.FileReport{Tenant: "RXX", Vpd: "412", File: *fileInfo(rejName, shaHeld2, 349), Status: internalv1.FileStatusRejected,
		Reason: &rejReason, RowsRead: 20, Quarantined: 5, Ignored: 2, EventsEmitted: map[string]int64{},
		TopRules: []internalv1.RuleCount{{Rule: "ESR-X002", Count: 5}}, ReportedAt: tRich.Add(-time.Hour)}
	lastFile := richName
	held := heldReport("RXX", heldName, shaHeld1, 350, tRich.Add(-2*time.Hour), internalv1.FileHold{
		Feed: "412/EXP", LastSequence: 348, LastFile: &lastFile, LastRunDate: store.Ptr(day(2024, 3, 12)), AwaitingSequences: []int64{349}})
	heldRYY := heldReport("RYY", heldRYYName, shaRYY, 9, tRich, internalv1.FileHold{Feed: "413/EXP", AwaitingSequences: []int64{8}})
	// Two starters from the rich file's lines 4 and 7; rows 3 and 6
	// quarantined.
	st1, st2 := starter(), starter()
	st1.EventID, st1.PersonID, st1.Source = "ev-file-starter-1", "20990501", eventsv1.Source{FileName: richName, FileSha256: shaRich, Line: 4}
	st2.EventID, st2.PersonID, st2.Source = "ev-file-starter-2", "20990502", eventsv1.Source{FileName: richName, FileSha256: shaRich, Line: 7}
	q3 := qrec("RXX", richName, shaRich, 3, internalv1.StageNormalise, "PRA", "person", praFields(), violation("ESR-V010", "date_of_birth", internalv1.SeverityError))
	q6 := qrec("RXX", richName, shaRich, 6, internalv1.StageValidate, "ASA", "assignment", asaFields(),
		violation("ESR-X001", "person_id", internalv1.SeverityError), violation("ESR-V020", "fte", internalv1.SeverityWarning))
	e.produce(true, e.reportV4(rich), e.reportV4(rej), e.reportV4(held), e.reportV4(heldRYY),
		e.event("RXX", schemas.EventStarterCreated, 1, st1.PersonID, st1), e.event("RXX", schemas.EventStarterCreated, 1, st2.PersonID, st2),
		e.quarantine(q3, 2), e.quarantine(q6, 2))
	waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/quarantine/"+store.QuarantineID("RXX", shaRich, 6), http.StatusOK, `"status":"open"`)
	waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/files/"+shaRich+"/events", http.StatusOK, "ev-file-starter-2")
	waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/files/"+shaHeld1, http.StatusOK, `"status":"HELD"`)
	waitKey(t, srv, consoleRYYKey, "/v1/tenants/RYY/files/"+shaRYY, http.StatusOK, `"status":"HELD"`)
	return e, srv
}

// TestConsoleFiles: the files list (filter, paging), a file's report (its
// counts reconciling, rules linked to the quarantine, events by type, its
// quarantined rows linked to their lines and records), a rejected and a
// held file, the events a file caused (paged, linked), and the tenants and
// scopes: the RXX reader sees nothing of RYY.
func TestConsoleFiles(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		_, srv := filesEnv(t, dbURL)
		ops := newBrowser(t, srv)
		if code, doc := ops.signIn(consoleOpsKey); code != http.StatusOK {
			t.Fatalf("sign-in: %d %q", code, texts(doc, "main"))
		}

		// The list, newest first; the RYY file is not in RXX's.
		code, doc := ops.get("/console/t/RXX/files")
		if code != http.StatusOK {
			t.Fatalf("files: %d %q", code, texts(doc, "main"))
		}
		if got, want := texts(doc, "table tbody th[scope=row]"), []string{"GO_412_RXX.DAT", richName, rejName, heldName}; !slices.Equal(got, want) {
			t.Errorf("files = %q, want %q", got, want)
		}
		rows := cells(doc, "table tbody tr")
		wantRows := []string{
			richName + " | CHANGE | 348 | 2024-03-11 | ACCEPTED | 8 | 5 | 2 | 2 | 1 Dec 2026 06:00:00 GMT",
			rejName + " | CHANGE | 349 | 2024-03-11 | REJECTED | 20 | 0 | 5 | 0 | 1 Dec 2026 05:00:00 GMT",
			heldName + " | CHANGE | 350 | 2024-03-11 | HELD | 0 | 0 | 0 | 0 | 1 Dec 2026 04:00:00 GMT",
		}
		if len(rows) != 4 || !slices.Equal(rows[1:], wantRows) {
			t.Errorf("file rows =\n%s\nwant (after the first)\n%s", strings.Join(rows, "\n"), strings.Join(wantRows, "\n"))
		}
		if got := hrefs(doc, "table tbody th a"); len(got) != 4 || got[1] != "/console/t/RXX/files/"+shaRich {
			t.Errorf("file links = %q", got)
		}
		if strings.Contains(doc.Text(), "GO_413") {
			t.Error("RXX's file list names an RYY file")
		}
		if doc.Find(`label[for=status]`).Length() != 1 || doc.Find(`select#status option`).Length() != 7 {
			t.Error("the status filter is not a labelled select of any and the six statuses")
		}

		// Filter: status in any case; the select keeps it.
		_, doc = ops.get("/console/t/RXX/files?status=held")
		if got := texts(doc, "table tbody th[scope=row]"); !slices.Equal(got, []string{heldName}) {
			t.Errorf("?status=held = %q", got)
		}
		if got := texts(doc, "select#status option[selected]"); !slices.Equal(got, []string{"HELD"}) {
			t.Errorf("selected status = %q", got)
		}
		_, doc = ops.get("/console/t/RXX/files?status=duplicate")
		if got := texts(doc, "table tbody td"); !slices.Equal(got, []string{"No file of this tenant is DUPLICATE."}) {
			t.Errorf("?status=duplicate = %q", got)
		}
		if code, doc := ops.get("/console/t/RXX/files?status=lost"); code != http.StatusBadRequest || !strings.Contains(doc.Find(".error").Text(), "status must be") {
			t.Errorf("bad status: %d %q, want the api's 400", code, texts(doc, ".error"))
		}

		// Paging: three, then the last one through the Next page link.
		_, doc = ops.get("/console/t/RXX/files?limit=3")
		next := hrefs(doc, "a[rel=next]")
		if got := texts(doc, "table tbody th[scope=row]"); len(got) != 3 || got[2] != rejName || len(next) != 1 {
			t.Fatalf("first page = %q, next %q", got, next)
		}
		if !strings.HasPrefix(next[0], "/console/t/RXX/files?cursor=") || !strings.HasSuffix(next[0], "&limit=3") {
			t.Errorf("next page link %q", next[0])
		}
		_, doc = ops.get(next[0])
		if got := texts(doc, "table tbody th[scope=row]"); !slices.Equal(got, []string{heldName}) || doc.Find("a[rel=next]").Length() != 0 {
			t.Errorf("second page = %q (next link %d)", got, doc.Find("a[rel=next]").Length())
		}

		// The rich file's report.
		code, doc = ops.get("/console/t/RXX/files/" + shaRich)
		if code != http.StatusOK || doc.Find("h1").Text() != "File "+richName {
			t.Fatalf("file: %d %q", code, texts(doc, "h1, .error"))
		}
		if got, want := cells(doc, "#counts tr"), []string{"Rows read | 8", "Accepted entities | 5", "Corrections | 1", "Ignored | 0",
			"Quarantined | 2", "Accepted with warnings | 1", "Leavers held | 0"}; !slices.Equal(got, want) {
			t.Errorf("counts = %q, want %q", got, want)
		}
		if got := strings.Join(texts(doc, "#reconcile"), "/"); got != "Rows read 8; accepted 5 + corrections 1 + ignored 0 + quarantined 2 = 8. The counts reconcile." {
			t.Errorf("reconciliation = %q", got)
		}
		if got := cells(doc, "#rules tbody tr"); !slices.Equal(got, []string{"ESR-V010 | 1", "ESR-X001 | 1"}) {
			t.Errorf("rules = %q", got)
		}
		if got := hrefs(doc, "#rules a"); !slices.Equal(got, []string{
			"/console/t/RXX/quarantine?file=" + shaRich + "&rule=ESR-V010", "/console/t/RXX/quarantine?file=" + shaRich + "&rule=ESR-X001"}) {
			t.Errorf("rule links = %q", got)
		}
		if got := cells(doc, "#events tr"); !slices.Equal(got, []string{"Event type | Events", "leaver-confirmed | 0", "leaver-reversed | 0",
			"position-updated | 0", "starter-created | 2", "Total | 2"}) {
			t.Errorf("events by type = %q", got)
		}
		if doc.Find(`a[href="/console/t/RXX/files/`+shaRich+`/events"]`).Length() != 1 {
			t.Error("no link to the file's events")
		}
		id3, id6 := store.QuarantineID("RXX", shaRich, 3), store.QuarantineID("RXX", shaRich, 6)
		if got := cells(doc, "#quarantined tbody tr"); !slices.Equal(got, []string{
			"3 | PRA | NORMALISE | ESR-V010 | open | " + id3, "6 | ASA | VALIDATE | ESR-X001, ESR-V020 | open | " + id6}) {
			t.Errorf("quarantined rows = %q", got)
		}
		if got := hrefs(doc, "#quarantined a"); !slices.Equal(got, []string{
			"/console/t/RXX/files/" + shaRich + "/lines?line=3", "/console/t/RXX/quarantine/" + id3,
			"/console/t/RXX/files/" + shaRich + "/lines?line=6", "/console/t/RXX/quarantine/" + id6}) {
			t.Errorf("quarantined row links = %q", got)
		}
		if doc.Find("textarea").Length() != 0 || doc.Find("#hold").Length() != 0 {
			t.Error("an accepted file offers a decision or shows a hold")
		}

		// A rejected file: its reason, and its counts as a rejection's.
		_, doc = ops.get("/console/t/RXX/files/" + shaHeld2)
		if got := texts(doc, "#reason"); !slices.Equal(got, []string{rejReasonText}) {
			t.Errorf("rejected reason = %q", got)
		}
		if got := strings.Join(texts(doc, "#reconcile"), "/"); got != "Rejected, nothing published: rows read 20 = ignored 2 + quarantined 5 + withheld 13 "+
			"(good rows not published because the file was rejected). The counts reconcile." {
			t.Errorf("rejected reconciliation = %q", got)
		}

		// A held file: what it awaits, and the decision forms for operate.
		_, doc = ops.get("/console/t/RXX/files/" + shaHeld1)
		if got, want := texts(doc, "#hold dt, #hold dd"), []string{"Feed", "412/EXP", "Awaiting sequences", "349", "Awaiting previous run date", "—",
			"Last accepted file", richName + " (sequence 348, run date 2024-03-12)", "Refresh request", "none"}; !slices.Equal(got, want) {
			t.Errorf("hold = %q, want %q", got, want)
		}
		if got := texts(doc, "#reconcile"); !slices.Equal(got, []string{"No rows read: the file has not been read."}) {
			t.Errorf("held counts = %q", got)
		}
		for _, f := range []string{"release", "discard"} {
			form := doc.Find(`form[action="/console/t/RXX/files/` + shaHeld1 + `/` + f + `"]`)
			ta := form.Find(`textarea[name=reason][required][maxlength="500"]`)
			id, _ := ta.Attr("id")
			if form.Length() != 1 || ta.Length() != 1 || form.Find(`label[for="`+id+`"]`).Length() != 1 || form.Find(`input[name=csrf]`).Length() != 1 {
				t.Errorf("the held file's %s form is missing or incomplete", f)
			}
		}

		// The events the file caused, one a page, linked to the line, the
		// person and the event.
		code, doc = ops.get("/console/t/RXX/files/" + shaRich + "/events?limit=1")
		if code != http.StatusOK || doc.Find("h1").Text() != "Events of file "+richName {
			t.Fatalf("file events: %d %q", code, texts(doc, "h1, .error"))
		}
		if got := cells(doc, "#file-events tbody tr"); !slices.Equal(got, []string{"4 | starter-created | 20990501 | ev-file-starter-1 | 2024-03-11"}) {
			t.Errorf("events page 1 = %q", got)
		}
		if got := hrefs(doc, "#file-events tbody a"); !slices.Equal(got, []string{"/console/t/RXX/files/" + shaRich + "/lines?line=4",
			"/console/t/RXX/people/20990501", "/console/t/RXX/events/ev-file-starter-1"}) {
			t.Errorf("event links = %q", got)
		}
		next = hrefs(doc, "a[rel=next]")
		if len(next) != 1 {
			t.Fatal("no next page of events")
		}
		_, doc = ops.get(next[0])
		if got := cells(doc, "#file-events tbody tr"); !slices.Equal(got, []string{"7 | starter-created | 20990502 | ev-file-starter-2 | 2024-03-11"}) {
			t.Errorf("events page 2 = %q", got)
		}

		// Without an archive the raw lines are the api's 501, on the page.
		code, doc = ops.get("/console/t/RXX/files/" + shaRich + "/lines?line=3")
		if code != http.StatusNotImplemented || !strings.Contains(doc.Find(".error").Text(), "no archive folder is configured") ||
			doc.Find(`a[href="/console/t/RXX/files/`+shaRich+`"]`).Length() != 1 {
			t.Errorf("lines without an archive: %d %q, want the api's 501 and a way back to the file", code, texts(doc, ".error"))
		}

		// The RXX reader: RXX's files, nothing of RYY, no decision forms.
		reader := newBrowser(t, srv)
		reader.signIn(consoleReaderKey)
		if _, doc := reader.get("/console/t/RXX/files/" + shaHeld1); doc.Find("textarea, form[action$=release], form[action$=discard]").Length() != 0 ||
			doc.Find("#hold").Length() != 1 {
			t.Error("the reader is offered a decision, or does not see the hold")
		}
		for _, path := range []string{"/console/t/RYY/files", "/console/t/RYY/files/" + sha2, "/console/t/ryy/files/" + shaRYY,
			"/console/t/RYY/files/" + sha2 + "/events", "/console/t/RYY/files/" + sha2 + "/lines?line=1"} {
			code, doc := reader.get(path)
			if code != http.StatusForbidden || !strings.Contains(doc.Text(), "not allowed tenant RYY") {
				t.Errorf("reader GET %s: %d %q, want the api's 403", path, code, texts(doc, ".error"))
			}
			if s := doc.Find("main").Text(); strings.Contains(s, "GO_413") {
				t.Errorf("reader GET %s shows an RYY file", path)
			}
		}
		for _, path := range []string{"/console/t/RXX/files/" + sha2, "/console/t/RXX/files/" + shaRYY} {
			if code, doc := reader.get(path); code != http.StatusNotFound || !strings.Contains(doc.Text(), "file not found") || strings.Contains(doc.Text(), "GO_413") {
				t.Errorf("reader GET %s: %d %q, want 404 and nothing of RYY", path, code, texts(doc, ".error"))
			}
		}
	})
}

// TestConsoleFileRelease: releasing a held file needs operate (the reader
// is refused by the api and nothing is recorded) and a reason (a blank one
// is the api's 400); an operator's release is audited and sent to ingest,
// the file then shows it pending and offers no second decision.
func TestConsoleFileRelease(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e, srv := filesEnv(t, dbURL)
		release := "/console/t/RXX/files/" + shaHeld1 + "/release"
		audit := "/v1/tenants/RXX/audit?file_sha256=" + shaHeld1
		noDecision := func(what string) {
			t.Helper()
			if code, body := do(t, srv, "GET", audit, consoleOpsKey, ""); code != http.StatusOK || body != `{"audit":[]}` {
				t.Errorf("%s: audit %d %s, want none", what, code, body)
			}
			if recs, _ := e.intakeDecisions(); len(recs) != 0 {
				t.Errorf("%s: %d intake decisions sent, want none", what, len(recs))
			}
		}

		reader := newBrowser(t, srv)
		reader.signIn(consoleReaderKey)
		reader.get("/console/t/RXX/files/" + shaHeld1)
		if code, doc := reader.post(release, url.Values{"reason": {"the reader tries"}}); code != http.StatusForbidden ||
			!strings.Contains(doc.Text(), "lacks the operate scope") {
			t.Errorf("reader release: %d %q, want the api's 403", code, texts(doc, ".error"))
		}
		if code, doc := reader.post("/console/t/RYY/files/"+shaRYY+"/release", url.Values{"reason": {"another tenant"}}); code != http.StatusForbidden ||
			!strings.Contains(doc.Text(), "not allowed tenant RYY") {
			t.Errorf("reader release of an RYY file: %d %q, want the api's 403", code, texts(doc, ".error"))
		}
		noDecision("refused for the reader")

		ops := newBrowser(t, srv)
		ops.signIn(consoleOpsKey)
		ops.get("/console/t/RXX/files/" + shaHeld1)
		if code, doc := ops.post(release, url.Values{"reason": {"   "}}); code != http.StatusBadRequest || !strings.Contains(doc.Text(), "reason is required") {
			t.Errorf("blank reason: %d %q, want the api's 400", code, texts(doc, ".error"))
		}
		noDecision("blank reason")

		reason := "349 was never produced: ESR ticket 4411"
		code, doc := ops.post(release, url.Values{"reason": {reason}})
		if code != http.StatusOK || doc.Find("h1").Text() != "File "+heldName {
			t.Fatalf("release: %d %q", code, texts(doc, "h1, .error"))
		}
		if got := texts(doc, ".notice[role=status]"); len(got) != 1 || !strings.HasPrefix(got[0], "Release requested") {
			t.Errorf("notice after release = %q", got)
		}
		if got := texts(doc, "#pending"); len(got) != 1 || !strings.HasPrefix(got[0], "Release requested by ops ") {
			t.Errorf("pending decision = %q", got)
		}
		if doc.Find("textarea").Length() != 0 {
			t.Error("a file with a decision pending still offers a decision")
		}
		if got := cells(doc, "#decisions tbody tr"); len(got) != 1 || !strings.HasPrefix(got[0], "FILE_RELEASE | REQUESTED | ops | "+reason+" | ") {
			t.Errorf("decisions = %q", got)
		}
		// The api recorded it and sent it to ingest.
		if _, body := do(t, srv, "GET", audit, consoleOpsKey, ""); !strings.Contains(body, `"action":"FILE_RELEASE","actor":"ops","reason":"`+reason+`"`) ||
			!strings.Contains(body, `"status":"REQUESTED"`) {
			t.Errorf("audit after release: %s", body)
		}
		if _, decs := e.intakeDecisions(); len(decs) != 1 || decs[0].Action != internalv1.IntakeActionRelease || decs[0].Sha256 != shaHeld1 ||
			decs[0].Reason != reason || decs[0].Actor != "ops" {
			t.Errorf("intake decisions = %+v, want the one release", decs)
		}
		// The list shows it on its way; a second decision is the api's 409.
		_, doc = ops.get("/console/t/RXX/files?status=HELD")
		if got := cells(doc, "table tbody tr"); len(got) != 1 || !strings.Contains(got[0], "HELD release requested") {
			t.Errorf("held list after release = %q", got)
		}
		if code, doc := ops.post("/console/t/RXX/files/"+shaHeld1+"/discard", url.Values{"reason": {"changed my mind"}}); code != http.StatusConflict ||
			!strings.Contains(doc.Text(), "a decision is pending") {
			t.Errorf("second decision: %d %q, want the api's 409", code, texts(doc, ".error"))
		}
		if _, decs := e.intakeDecisions(); len(decs) != 1 {
			t.Errorf("%d intake decisions after the refused discard, want 1", len(decs))
		}
	})
}

// TestConsoleFileLines: the raw lines around a line from ingest's archive,
// the asked line marked, personal columns redacted for a key without
// people:sensitive and shown to one with it, each line's SHA-256; a file no
// longer archived is the api's 404 on the page, another tenant's its 403.
func TestConsoleFileLines(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		asa := "ASA~" + strings.Join(asaFields(), "~")
		file := goV2File("\n", praLine(), asa, "", praLine())
		sha, gone := hashOf(file), hashOf([]byte("gone"))
		root := t.TempDir()
		writeArchived(t, root, "RXX", sha, file)
		accepted := func(name, sha string) *kgo.Record {
			return e.reportV4(readOutcomeReport(heldReport("RXX", name, sha, 347, recorded1, internalv1.FileHold{}), recorded1))
		}
		e.produce(true, accepted(linesFile, sha), accepted(richName, gone))
		_, srv := e.startWith(Config{DBURL: dbURL, Group: "console-lines", Clients: consoleClients, Archive: root}, zaptest.NewLogger(t))
		waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/files/"+gone, http.StatusOK, gone)
		path := "/console/t/RXX/files/" + sha + "/lines?line=3&context=1"

		reader := newBrowser(t, srv)
		reader.signIn(consoleReaderKey)
		code, doc := reader.get(path)
		if code != http.StatusOK || doc.Find("h1").Text() != "Lines of "+linesFile {
			t.Fatalf("lines: %d %q", code, texts(doc, "h1, .error"))
		}
		if got := texts(doc, "#lines tbody th[scope=row]"); !slices.Equal(got, []string{"2", "3 (this line)", "4"}) {
			t.Errorf("lines shown = %q, want 2 to 4", got)
		}
		hit := doc.Find("#lines tbody tr.hit")
		if cur, _ := hit.Attr("aria-current"); hit.Length() != 1 || cur != "true" || hit.Find("th").Text() != "3 (this line)" {
			t.Errorf("the marked line: %d rows, aria-current %q, %q", hit.Length(), cur, hit.Find("th").Text())
		}
		raw := strings.Split(string(file), "\n")
		if got := texts(doc, "#lines tbody td.mono"); !slices.Equal(got, []string{hashOf([]byte(raw[1])), hashOf([]byte(raw[2])), hashOf([]byte(raw[3]))}) {
			t.Errorf("line hashes = %q", got)
		}
		if got := texts(doc, "#lines tbody tr:nth-child(1) li"); len(got) < 6 || got[0] != "person_id=20990417" || got[5] != "last_name=redacted" {
			t.Errorf("PRA line's columns = %q", got)
		}
		if doc.Find("#lines tbody tr:nth-child(1) li .redacted").Length() == 0 {
			t.Error("no column of the PRA line is shown redacted")
		}
		for _, v := range []string{lastName, niNumber, birthDate, email} {
			if strings.Contains(doc.Text(), v) {
				t.Errorf("the reader (no people:sensitive) sees the personal value %q", v)
			}
		}
		// ops holds people:sensitive: the api leaves the values in.
		ops := newBrowser(t, srv)
		ops.signIn(consoleOpsKey)
		if _, doc := ops.get(path); !strings.Contains(doc.Find("#lines").Text(), "last_name="+lastName) {
			t.Errorf("ops does not see the last name: %q", texts(doc, "#lines tbody tr:nth-child(1) li"))
		}

		// Reported but no longer archived: the api's 404 on the page.
		code, doc = reader.get("/console/t/RXX/files/" + gone + "/lines?line=1")
		if code != http.StatusNotFound || !strings.Contains(doc.Find(".error").Text(), "no longer kept") ||
			doc.Find(`a[href="/console/t/RXX/files/`+gone+`"]`).Length() != 1 {
			t.Errorf("a file no longer archived: %d %q", code, texts(doc, ".error"))
		}
		// No line asked: the api's 400.
		if code, doc := reader.get("/console/t/RXX/files/" + sha + "/lines"); code != http.StatusBadRequest || !strings.Contains(doc.Find(".error").Text(), "line must be") {
			t.Errorf("no line: %d %q", code, texts(doc, ".error"))
		}
		// Another tenant's file: 403 for RYY's path, 404 for RXX's file under RYY's key.
		if code, doc := reader.get("/console/t/RYY/files/" + sha + "/lines?line=1"); code != http.StatusForbidden || strings.Contains(doc.Text(), "PRA") {
			t.Errorf("reader, RYY's lines: %d %q", code, texts(doc, ".error"))
		}
		ryy := newBrowser(t, srv)
		ryy.signIn(consoleRYYKey)
		if code, doc := ryy.get("/console/t/RYY/files/" + sha + "/lines?line=1"); code != http.StatusNotFound || strings.Contains(doc.Text(), "PRA") {
			t.Errorf("RYY key, RXX's file under RYY: %d %q", code, texts(doc, ".error"))
		}
	})
}
