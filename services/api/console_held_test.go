package api

import (
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// TestConsoleHeldBatches: the held leaver batches of RXX, filtered by
// status; one batch's threshold, people, decision and audit trail; the
// operator releases it with a reason (the api records the decision and
// sends the command), a blank reason and a second decision are the api's
// 400 and 409; a reader is offered nothing and refused if it posts; RXX's
// reader sees nothing of RYY's batch.
func TestConsoleHeldBatches(t *testing.T) {
	dbtest.ForEach(t, testConsoleHeldBatches)
}

func testConsoleHeldBatches(t *testing.T, dbURL string) {
	e, _, srv := consoleEnv(t, dbURL)
	const held, done, ryyBatch = "hb-9f2c4e1a7b3d5f6e", "hb-1111111111111111", "hb-2222222222222222"
	const fileName = "GO_412_EXP_GOC_20240312_00000348.DAT"
	// An older RXX batch, already released by publish.
	old := heldRecord("RXX", done, sha2, heldAt1.Add(-24*time.Hour), 4)
	e.produce(true, e.heldBatch(old), e.heldBatch(decided(old, internalv1.HeldBatchStatusReleased, "hr-lead", "Confirmed with HR", "c0ffee00-0000-4000-8000-000000000001", 4)))
	waitKey(t, srv, consoleOpsKey, "/v1/tenants/RXX/held-batches/"+done, http.StatusOK, `"status":"RELEASED"`)

	ops := newBrowser(t, srv)
	ops.signIn(consoleOpsKey)
	reader := newBrowser(t, srv)
	reader.signIn(consoleReaderKey)

	// The list, newest first, and filtered.
	code, doc := ops.get("/console/t/RXX/held-batches")
	if code != http.StatusOK {
		t.Fatalf("held batches: %d %q", code, texts(doc, "main"))
	}
	heldRow := []string{held, fileName, "2024-03-12", "HELD", "3", "count 3 > 2", "12 Mar 2024 02:30:00 GMT", "—"}
	doneRow := []string{done, fileName, "2024-03-12", "RELEASED", "4", "count 4 > 2", "11 Mar 2024 02:30:00 GMT", "hr-lead"}
	if got := rows(doc, "table.held-batches"); !reflect.DeepEqual(got, [][]string{heldRow, doneRow}) {
		t.Errorf("batches =\n%q\nwant\n%q", got, [][]string{heldRow, doneRow})
	}
	if got := hrefs(doc, "table.held-batches tbody tr:first-child a"); !slices.Equal(got, []string{"/console/t/RXX/held-batches/" + held, "/console/t/RXX/files/" + sha1}) {
		t.Errorf("links = %q", got)
	}
	for status, want := range map[string][][]string{"HELD": {heldRow}, "RELEASED": {doneRow}, "REJECTED": {{"No REJECTED batch."}}} {
		_, doc := ops.get("/console/t/RXX/held-batches?status=" + status)
		if got := rows(doc, "table.held-batches"); !reflect.DeepEqual(got, want) {
			t.Errorf("status %s: %q, want %q", status, got, want)
		}
		if got := texts(doc, "#f-status option[selected]"); !slices.Equal(got, []string{status}) {
			t.Errorf("status %s: the filter shows %q", status, got)
		}
	}

	// One batch: the threshold, the people, no decision yet.
	batch := "/console/t/RXX/held-batches/" + held
	code, doc = ops.get(batch)
	if code != http.StatusOK {
		t.Fatalf("batch: %d %q", code, texts(doc, "main"))
	}
	factsIn := func(doc *goquery.Document, sel string) map[string]string {
		m := map[string]string{}
		doc.Find(sel + " dt").Each(func(_ int, s *goquery.Selection) {
			m[s.Text()] = strings.Join(strings.Fields(s.Next().Text()), " ")
		})
		return m
	}
	wantThreshold := map[string]string{"Tripped": "count 3 > 2", "Leavers": "3 (the guard allows 2)", "Active population": "40",
		"Maximum share": "5 %", "File": fileName + ", run date 2024-03-12", "Held at": "12 Mar 2024 02:30:00 GMT"}
	if got := factsIn(doc, "dl.threshold"); !reflect.DeepEqual(got, wantThreshold) {
		t.Errorf("threshold = %v\nwant %v", got, wantThreshold)
	}
	wantDecision := map[string]string{"Status": "HELD", "Decided by": "—", "Decided at": "—", "Reason": "—", "Emitted": "0 leavers"}
	if got := factsIn(doc, "dl.decision"); !reflect.DeepEqual(got, wantDecision) {
		t.Errorf("decision = %v", got)
	}
	wantPeople := [][]string{
		{"20000000", "30000000", "2024-03-10", "5", "ev-held-" + held + "-0"},
		{"20000001", "30000001", "2024-03-11", "6", "ev-held-" + held + "-1"},
		{"20000002", "30000002", "2024-03-12", "7", "ev-held-" + held + "-2"},
	}
	if got := rows(doc, "table.people"); !reflect.DeepEqual(got, wantPeople) {
		t.Errorf("people =\n%q\nwant\n%q", got, wantPeople)
	}
	if got := hrefs(doc, "table.people tbody tr:first-child a"); !slices.Equal(got, []string{"/console/t/RXX/people/20000000", "/console/t/RXX/files/" + sha1 + "/lines?line=5"}) {
		t.Errorf("person links = %q", got)
	}
	if got := rows(doc, "table.audit"); !reflect.DeepEqual(got, [][]string{{"No decision requested yet."}}) {
		t.Errorf("audit before = %q", got)
	}
	if got := attrs(doc, "form[method=post]:has(textarea[name=reason][required][maxlength='500'])", "action"); !slices.Equal(got, []string{batch + "/release", batch + "/reject"}) {
		t.Errorf("decision forms = %q", got)
	}
	// A decided batch is offered no decision.
	if _, doc := ops.get("/console/t/RXX/held-batches/" + done); doc.Find("textarea[name=reason]").Length() != 0 ||
		factsIn(doc, "dl.decision")["Decided by"] != "hr-lead" || factsIn(doc, "dl.decision")["Reason"] != "Confirmed with HR" {
		t.Errorf("decided batch: %v, forms %d", factsIn(doc, "dl.decision"), doc.Find("textarea[name=reason]").Length())
	}

	// The reader sees the batch (and its audit) but is offered no decision,
	// and the api refuses one posted anyway.
	code, doc = reader.get(batch)
	if code != http.StatusOK || doc.Find("textarea[name=reason]").Length() != 0 || len(rows(doc, "table.people")) != 3 {
		t.Errorf("reader's batch page: %d, %d reason fields", code, doc.Find("textarea[name=reason]").Length())
	}
	code, doc = reader.post(batch+"/release", url.Values{"reason": {"reader tries"}})
	if code != http.StatusForbidden || !slices.Equal(texts(doc, ".error"), []string{"403 this API key lacks the operate scope"}) {
		t.Errorf("reader's release: %d %q", code, texts(doc, ".error"))
	}
	// A blank reason: the api's 400.
	code, doc = ops.post(batch+"/release", url.Values{"reason": {"   "}})
	if code != http.StatusBadRequest || !slices.Equal(texts(doc, ".error"), []string{"400 reason is required"}) {
		t.Errorf("blank reason: %d %q", code, texts(doc, ".error"))
	}
	if code, body := do(t, srv, "GET", "/v1/tenants/RXX/audit", consoleOpsKey, ""); code != http.StatusOK || body != `{"audit":[]}` {
		t.Fatalf("audit after refused decisions: %d %s", code, body)
	}
	if recs, _ := e.commands(); len(recs) != 0 {
		t.Fatalf("refused decisions sent %d commands", len(recs))
	}

	// The operator releases it: back on the batch, the decision requested,
	// in the api's audit and on the command topic.
	reason := "Confirmed with HR: Ward 7 restructure"
	code, doc = ops.post(batch+"/release", url.Values{"reason": {reason}})
	if code != http.StatusOK || !slices.Equal(texts(doc, "h1"), []string{"Held leaver batch " + held}) {
		t.Fatalf("release: %d %q", code, texts(doc, "main"))
	}
	if !strings.HasPrefix(doc.Find(".notice").Text(), "Release requested") {
		t.Errorf("notice = %q", doc.Find(".notice").Text())
	}
	audit := rows(doc, "table.audit")
	if len(audit) != 1 || !slices.Equal(audit[0][1:], []string{"RELEASE", "ops", reason, "REQUESTED", "—", "—"}) {
		t.Errorf("audit on the page = %q", audit)
	}
	code, body := do(t, srv, "GET", "/v1/tenants/RXX/audit?batch_id="+held, consoleOpsKey, "")
	if code != http.StatusOK || !strings.Contains(body, `"batch_id":"`+held+`","action":"RELEASE","actor":"ops","reason":"`+reason+`"`) ||
		!strings.Contains(body, `"status":"REQUESTED"`) {
		t.Errorf("the api's audit = %d %s", code, body)
	}
	if _, cmds := e.commands(); len(cmds) != 1 || cmds[0].BatchID != held || cmds[0].Action != internalv1.OperatorActionRelease ||
		cmds[0].Actor != "ops" || cmds[0].Reason != reason || cmds[0].Tenant != "RXX" {
		t.Errorf("commands = %+v", cmds)
	}
	// A second decision while the first is on its way is not offered, and
	// posted anyway is the api's 409.
	if got := texts(doc, "#decision-h ~ p.notice"); len(got) != 1 || !strings.HasPrefix(got[0], "A decision is on its way: RELEASE requested by ops at ") {
		t.Errorf("pending decision = %q", got)
	}
	if n := doc.Find("textarea[name=reason]").Length(); n != 0 {
		t.Errorf("%d decision forms offered while one is on its way", n)
	}
	if code, doc := ops.post(batch+"/reject", url.Values{"reason": {"changed my mind"}}); code != http.StatusConflict ||
		!strings.Contains(doc.Find(".error").Text(), "409") {
		t.Errorf("second decision: %d %q", code, texts(doc, ".error"))
	}

	// RXX's reader and RYY's batch: 404 under RXX, the api's 403 under RYY,
	// nothing of it either way.
	code, doc = reader.get("/console/t/RXX/held-batches/" + ryyBatch)
	if code != http.StatusNotFound || doc.Find("table").Length() != 0 {
		t.Errorf("RYY's batch under RXX: %d %q", code, texts(doc, ".error"))
	}
	for _, path := range []string{"/console/t/RYY/held-batches", "/console/t/RYY/held-batches/" + ryyBatch} {
		code, doc := reader.get(path)
		if code != http.StatusForbidden || !slices.Equal(texts(doc, ".error"), []string{"403 this API key is not allowed tenant RYY"}) {
			t.Errorf("reader GET %s: %d %q", path, code, texts(doc, ".error"))
		}
		if strings.Contains(doc.Text(), "GO_413") || strings.Contains(doc.Find(".error").Text()+doc.Find("table").Text(), ryyBatch) || doc.Find("table").Length() != 0 {
			t.Errorf("reader GET %s shows RYY's batch", path)
		}
	}
	if code, _ := reader.post("/console/t/RYY/held-batches/"+ryyBatch+"/release", url.Values{"reason": {"x"}}); code != http.StatusForbidden {
		t.Errorf("reader's release in RYY: %d", code)
	}
	if code, body := do(t, srv, "GET", "/v1/tenants/RYY/audit", consoleOpsKey, ""); code != http.StatusOK || body != `{"audit":[]}` {
		t.Errorf("RYY's audit: %d %s", code, body)
	}
}
