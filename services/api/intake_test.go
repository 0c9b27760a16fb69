package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/platform/kafka/kafkax"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
	"github.com/esrflow/esrflow/services/registry/registrytest"
)

func (e *env) reportV4(r *internalv1.FileReport) *kgo.Record {
	return &kgo.Record{Topic: schemas.TopicFileReports, Key: []byte(r.Tenant), Value: e.encode(schemas.TopicFileReports, 4, r)}
}

// intakeDecisions reads every record on esr.ops.intake.v1, up to its end
// offset, decoded through the registry (so each is Confluent-framed with a
// registered schema id).
func (e *env) intakeDecisions() ([]*kgo.Record, []internalv1.IntakeDecision) {
	return readOpsTopic[internalv1.IntakeDecision](e, schemas.TopicIntake, schemas.IntakeDecision)
}

const (
	shaHeld1  = "3333333333333333333333333333333333333333333333333333333333333333"
	shaHeld2  = "4444444444444444444444444444444444444444444444444444444444444444"
	shaHeld3  = "6666666666666666666666666666666666666666666666666666666666666666"
	shaRYY    = "5555555555555555555555555555555555555555555555555555555555555555"
	shaNobody = "7777777777777777777777777777777777777777777777777777777777777777"
)

// heldReport is a HELD report as ingest writes it (file-report v4).
func heldReport(tenant, name, sha string, seq int64, at time.Time, hold internalv1.FileHold) *internalv1.FileReport {
	reason := fmt.Sprintf("ESR-F020 %s: held: sequence %d arrived after %d", name, seq, hold.LastSequence)
	return &internalv1.FileReport{Tenant: tenant, Vpd: "412", File: *fileInfo(name, sha, seq), Status: internalv1.FileStatusHeld,
		Reason: &reason, EventsEmitted: map[string]int64{}, ReportedAt: at, TopRules: []internalv1.RuleCount{}, Hold: &hold}
}

// carriedOut is ingest's report of having carried a decision out.
func carriedOut(held *internalv1.FileReport, status internalv1.FileStatus, d internalv1.IntakeDecision, at time.Time) *internalv1.FileReport {
	r := *held
	reason := strings.ToLower(string(status)) + " by " + d.Actor + ": " + d.Reason
	r.Status, r.Reason, r.ReportedAt = status, &reason, at
	r.Decision = &internalv1.IntakeDecisionRef{DecisionID: d.DecisionID, Actor: d.Actor, Reason: d.Reason, DecidedAt: d.RequestedAt}
	return &r
}

// readOutcomeReport is publish's report of a file read (ACCEPTED).
func readOutcomeReport(held *internalv1.FileReport, at time.Time) *internalv1.FileReport {
	return &internalv1.FileReport{Tenant: held.Tenant, Vpd: held.Vpd, File: held.File, Status: internalv1.FileStatusAccepted,
		RowsRead: 4, EntitiesAccepted: 4, EventsEmitted: map[string]int64{"starter-created": 1}, ReportedAt: at, TopRules: []internalv1.RuleCount{}}
}

func TestHeldFiles(t *testing.T) {
	dbtest.ForEach(t, testHeldFiles)
}

// A HELD report is listed with its hold; an operator releases or discards
// it through the api (exactly one IntakeDecision on esr.ops.intake.v1,
// audited); ingest's RELEASED / DISCARDED report and then the file's read
// outcome make its state, with its history and decisions kept.
func testHeldFiles(t *testing.T, dbURL string) {
	e := newEnv(t)
	opsKey, ryyKey, readerKey := newKey(t), newKey(t), newKey(t)
	clients := []auth.Client{
		{Name: "ops-rxx", KeySHA256: auth.HashKey(opsKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeOperate, auth.ScopeReadFiles}},
		{Name: "ops-ryy", KeySHA256: auth.HashKey(ryyKey), Tenants: []string{"RYY"}, Scopes: []string{auth.ScopeOperate, auth.ScopeReadFiles}},
		{Name: "files-reader", KeySHA256: auth.HashKey(readerKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeReadFiles}},
	}
	// Ingest's clock (wall) runs ahead of publish's (pinned to 2024 here).
	t0 := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	lastFile := "GO_412_EXP_GOC_20240311_00000347.DAT"
	refresh := "REFRESH_RXX_412_EXP_00000348-00000348.json"
	held1 := heldReport("RXX", "GO_412_EXP_GOC_20240313_00000349.DAT", shaHeld1, 349, t0, internalv1.FileHold{
		Feed: "412/EXP", LastSequence: 347, LastFile: &lastFile, LastRunDate: store.Ptr(day(2024, 3, 11)),
		AwaitingSequences: []int64{348}, RefreshRequest: &refresh})
	held2 := heldReport("RXX", "GO_412_EXP_GOC_20240315_00000350.DAT", shaHeld2, 350, t0.Add(time.Minute), internalv1.FileHold{
		Feed: "412/EXP", LastSequence: 347, LastFile: &lastFile, LastRunDate: store.Ptr(day(2024, 3, 11)),
		AwaitingSequences: []int64{}, AwaitingPreviousRunDate: store.Ptr(day(2024, 3, 14))})
	heldRYY := heldReport("RYY", "GO_413_EXP_GOC_20240313_00000009.DAT", shaRYY, 9, t0, internalv1.FileHold{
		Feed: "413/EXP", AwaitingSequences: []int64{8}})
	accepted := readOutcomeReport(heldReport("RXX", lastFile, sha1, 347, recorded1, internalv1.FileHold{}), recorded1)
	e.produce(true, e.reportV4(accepted), e.reportV4(held1), e.reportV4(held2), e.reportV4(heldRYY))
	var logs logBuffer
	s, srv := e.startWith(Config{DBURL: dbURL, Clients: clients}, logs.logger())
	files := "/v1/tenants/RXX/files"
	waitKey(t, srv, opsKey, files+"/"+shaHeld2, 200, `"status":"HELD"`)
	waitKey(t, srv, ryyKey, "/v1/tenants/RYY/files/"+shaRYY, 200, `"status":"HELD"`)

	check := func(method, path, key, body string, status int, want string) {
		t.Helper()
		code, got := do(t, srv, method, path, key, body)
		if code != status || got != compact(t, want) {
			t.Errorf("%s %s\n got %d %s\nwant %d %s", method, path, code, got, status, compact(t, want))
		}
	}
	listed := func(query string) []string {
		t.Helper()
		code, body := do(t, srv, "GET", files+"?"+query, opsKey, "")
		var l struct {
			Files []struct {
				File   struct{ Sha256 string }
				Status string
			}
		}
		if err := json.Unmarshal([]byte(body), &l); code != 200 || err != nil {
			t.Fatalf("GET files?%s = %d %s", query, code, body)
		}
		var out []string
		for _, f := range l.Files {
			out = append(out, f.Status+":"+f.File.Sha256[:4])
		}
		return out
	}

	// The held files are listed, newest first, with what each awaits.
	if got := strings.Join(listed("status=held"), ","); got != "HELD:4444,HELD:3333" {
		t.Errorf("?status=held = %s", got)
	}
	held1JSON := `{"tenant":"RXX","vpd":"412","file":{"name":"GO_412_EXP_GOC_20240313_00000349.DAT","sha256":"` + shaHeld1 + `",
		"dialect":"go-v2","kind":"CHANGE","sequence":349,"run_date":"2024-03-11","size":2417},"status":"HELD",
		"reason":"ESR-F020 GO_412_EXP_GOC_20240313_00000349.DAT: held: sequence 349 arrived after 347",
		"rows_read":0,"entities_accepted":0,"quarantined":0,"corrections":0,"ignored":0,"events_emitted":{},"leavers_held":0,
		"reported_at":"2026-12-02T06:00:00Z","rule_set_version":"","warnings":0,"top_rules":[],"replay_id":null,"duplicate_of":null,
		"hold":{"feed":"412/EXP","last_sequence":347,"last_file":"GO_412_EXP_GOC_20240311_00000347.DAT","last_run_date":"2024-03-11",
			"awaiting_sequences":[348],"awaiting_previous_run_date":null,"refresh_request":"` + refresh + `"},"decision":null}`
	check("GET", files+"/"+shaHeld1, opsKey, "", 200, held1JSON)
	_, body := do(t, srv, "GET", files+"?status=HELD&limit=1", opsKey, "")
	if !strings.Contains(body, `"awaiting_sequences":[],"awaiting_previous_run_date":"2024-03-14","refresh_request":null}`) {
		t.Errorf("newest held file's hold: %s", body)
	}

	// Refusals change nothing and write nothing.
	release := files + "/" + shaHeld1 + "/release"
	reason := "sequence 348 was never produced: ESR confirmed (ticket 4411)"
	check("POST", release, opsKey, "", 400, `{"error":"body must be JSON {\"reason\": \"...\"}"}`)
	check("POST", release, opsKey, `{}`, 400, `{"error":"reason is required"}`)
	check("POST", release, opsKey, `{"reason":"  "}`, 400, `{"error":"reason is required"}`)
	check("POST", files+"/GO_412_EXP_GOC_20240313_00000349.DAT/release", opsKey, `{"reason":"x"}`, 400,
		`{"error":"the file must be named by its SHA-256 (64 hex digits)"}`)
	check("POST", files+"/"+shaNobody+"/release", opsKey, `{"reason":"x"}`, 404, `{"error":"file not found"}`)
	check("POST", files+"/"+shaRYY+"/discard", opsKey, `{"reason":"x"}`, 404, `{"error":"file not found"}`)
	check("POST", "/v1/tenants/RYY/files/"+shaRYY+"/release", opsKey, `{"reason":"x"}`, 403, `{"error":"this API key is not allowed tenant RYY"}`)
	check("POST", release, readerKey, `{"reason":"x"}`, 403, `{"error":"this API key lacks the operate scope"}`)
	check("POST", release, "", `{"reason":"x"}`, 401, `{"error":"an API key is required: send Authorization: Bearer <key>"}`)
	check("POST", files+"/"+sha1+"/release", opsKey, `{"reason":"x"}`, 409,
		`{"error":"file `+sha1+` cannot be released: file is not HELD: it is ACCEPTED"}`)
	check("POST", files+"/"+sha1+"/discard", opsKey, `{"reason":"x"}`, 409,
		`{"error":"file `+sha1+` cannot be discarded: file is not HELD: it is ACCEPTED"}`)
	if recs, _ := e.intakeDecisions(); len(recs) != 0 {
		t.Fatalf("refused requests wrote %d decisions", len(recs))
	}

	// Release: 202, exactly one decision with the right fields, audited.
	before := time.Now().Add(-time.Second)
	resp, raw, err := send(t, "POST", srv.URL+strings.Replace(release, "/RXX/", "/rxx/", 1), opsKey, `{"reason":"`+reason+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	var rel fileDecisionResponse
	if err := json.Unmarshal(raw, &rel); err != nil || resp.StatusCode != 202 {
		t.Fatalf("release = %d %s (%v)", resp.StatusCode, raw, err)
	}
	wantRel := fileDecisionResponse{DecisionID: rel.DecisionID, SHA256: shaHeld1, Action: "RELEASE", Status: "REQUESTED", Report: files + "/" + shaHeld1}
	if !uuidRE.MatchString(rel.DecisionID) || rel != wantRel || resp.Header.Get("Location") != wantRel.Report {
		t.Errorf("release = %s (Location %q)", raw, resp.Header.Get("Location"))
	}
	recs, decs := e.intakeDecisions()
	if len(decs) != 1 {
		t.Fatalf("decisions = %d, want 1: %+v", len(decs), decs)
	}
	d := decs[0]
	if string(recs[0].Key) != "RXX" || recs[0].Value[0] != 0 {
		t.Errorf("decision key %q, magic byte %d", recs[0].Key, recs[0].Value[0])
	}
	if d.DecisionID != rel.DecisionID || d.Tenant != "RXX" || d.Sha256 != shaHeld1 || d.Action != internalv1.IntakeActionRelease ||
		d.Actor != "ops-rxx" || d.Reason != reason || d.RequestedAt.Before(before) || d.RequestedAt.After(time.Now()) {
		t.Errorf("decision = %+v", d)
	}
	// The schema is registered under the topic's subject.
	srCl, err := sr.NewClient(sr.URLs(e.registry))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srCl.SchemaByVersion(context.Background(), schemas.Subject(schemas.TopicIntake), -1); err != nil {
		t.Errorf("subject %s: %v", schemas.Subject(schemas.TopicIntake), err)
	}
	requestedAt := d.RequestedAt.UTC().Format(time.RFC3339Nano)
	auditRel := func(status, decidedAt string) string {
		return fmt.Sprintf(`{"command_id":"%s","tenant":"RXX","batch_id":"","action":"FILE_RELEASE","actor":"ops-rxx","reason":"%s",
			"requested_at":"%s","status":"%s","decided_at":%s,"emitted":null,"file_sha256":"%s"}`, d.DecisionID, reason, requestedAt, status, decidedAt, shaHeld1)
	}
	check("GET", "/v1/tenants/RXX/audit?file_sha256="+shaHeld1, opsKey, "", 200, `{"audit":[`+auditRel("REQUESTED", "null")+`]}`)

	// A retried POST (the answer was lost) gets the same decision back and
	// sends nothing; another decision while it is pending is refused.
	check("POST", release, opsKey, `{"reason":"`+reason+`"}`, 200, fmt.Sprintf(
		`{"decision_id":"%s","sha256":"%s","action":"RELEASE","status":"REQUESTED","report":"%s"}`, d.DecisionID, shaHeld1, wantRel.Report))
	pending := fmt.Sprintf(`a decision is pending: decision %s (FILE_RELEASE by ops-rxx)`, d.DecisionID)
	check("POST", files+"/"+shaHeld1+"/discard", opsKey, `{"reason":"`+reason+`"}`, 409, `{"error":"file `+shaHeld1+` cannot be discarded: `+pending+`"}`)
	check("POST", release, opsKey, `{"reason":"another reason"}`, 409, `{"error":"file `+shaHeld1+` cannot be released: `+pending+`"}`)
	if recs, _ := e.intakeDecisions(); len(recs) != 1 {
		t.Fatalf("decisions = %d after a retry and refusals, want 1", len(recs))
	}
	// Still HELD until ingest reports carrying it out.
	check("GET", files+"/"+shaHeld1, opsKey, "", 200, strings.TrimSuffix(held1JSON, "}")+`,"decisions":[`+auditRel("REQUESTED", "null")+`]}`)

	// The listing marks it as being dealt with (and only it).
	_, body = do(t, srv, "GET", files+"?status=HELD", opsKey, "")
	if !strings.Contains(body, `"refresh_request":"`+refresh+`"},"decision":null,"pending_decision":`+compact(t, auditRel("REQUESTED", "null"))+`}`) ||
		strings.Count(body, "pending_decision") != 1 {
		t.Errorf("held listing with a pending release = %s", body)
	}

	// Ingest releases it, then publish reports it read — on a clock behind
	// ingest's: the read outcome is still the file's state.
	releasedAt := t0.Add(time.Hour)
	released := carriedOut(held1, internalv1.FileStatusReleased, d, releasedAt)
	read := readOutcomeReport(held1, recorded2)
	e.produce(true, e.reportV4(released))
	e.produce(true, e.reportV4(read))
	got := waitKey(t, srv, opsKey, files+"/"+shaHeld1, 200, `"status":"ACCEPTED"`)
	var detail struct {
		Status    string
		Decision  *internalv1.IntakeDecisionRef
		History   []json.RawMessage
		Decisions []json.RawMessage
	}
	if err := json.Unmarshal([]byte(got), &detail); err != nil {
		t.Fatal(err)
	}
	var hist []string
	for _, h := range detail.History {
		var r struct {
			Status   string
			Reason   *string
			Decision *struct {
				DecisionID string `json:"decision_id"`
				Actor      string
			}
		}
		if err := json.Unmarshal(h, &r); err != nil {
			t.Fatal(err)
		}
		entry := r.Status
		if r.Decision != nil {
			entry += "(" + r.Decision.Actor + " " + r.Decision.DecisionID + ")"
		}
		hist = append(hist, entry)
	}
	if want := "ACCEPTED,RELEASED(ops-rxx " + d.DecisionID + "),HELD"; strings.Join(hist, ",") != want {
		t.Errorf("history = %s, want %s", strings.Join(hist, ","), want)
	}
	decidedAt := `"` + releasedAt.Format(time.RFC3339Nano) + `"`
	if len(detail.Decisions) != 1 || string(detail.Decisions[0]) != compact(t, auditRel("RELEASED", decidedAt)) {
		t.Errorf("decisions = %s", detail.Decisions)
	}
	check("GET", "/v1/tenants/RXX/audit?file_sha256="+shaHeld1, opsKey, "", 200, `{"audit":[`+auditRel("RELEASED", decidedAt)+`]}`)
	check("POST", release, opsKey, `{"reason":"`+reason+`"}`, 409, `{"error":"file `+shaHeld1+` cannot be released: file is not HELD: it is ACCEPTED"}`)
	if got := strings.Join(listed("status=HELD"), ","); got != "HELD:4444" {
		t.Errorf("?status=HELD after the release = %s", got)
	}
	if _, body := do(t, srv, "GET", files, opsKey, ""); strings.Contains(body, "pending_decision") {
		t.Errorf("a decision carried out is still pending in the listing: %s", body)
	}
	if got := strings.Join(listed("status=released"), ","); got != "" {
		t.Errorf("?status=released = %s (a released file that has been read is ACCEPTED)", got)
	}

	// Discard likewise.
	code, raw2 := do(t, srv, "POST", files+"/"+shaHeld2+"/discard", opsKey, `{"reason":"superseded by the full file ESR is resending"}`)
	var dis fileDecisionResponse
	if err := json.Unmarshal([]byte(raw2), &dis); err != nil || code != 202 || dis.Action != "DISCARD" || dis.SHA256 != shaHeld2 || dis.Status != "REQUESTED" {
		t.Fatalf("discard = %d %s (%v)", code, raw2, err)
	}
	recs, decs = e.intakeDecisions()
	if len(decs) != 2 {
		t.Fatalf("decisions = %d, want 2", len(decs))
	}
	dd := decs[1]
	if dd.DecisionID != dis.DecisionID || dd.Tenant != "RXX" || dd.Sha256 != shaHeld2 || dd.Action != internalv1.IntakeActionDiscard ||
		dd.Actor != "ops-rxx" || dd.Reason != "superseded by the full file ESR is resending" || string(recs[1].Key) != "RXX" {
		t.Errorf("discard decision = %+v", dd)
	}
	discardedAt := t0.Add(2 * time.Hour)
	e.produce(true, e.reportV4(carriedOut(held2, internalv1.FileStatusDiscarded, dd, discardedAt)))
	waitKey(t, srv, opsKey, files+"/"+shaHeld2, 200, `"status":"DISCARDED"`)
	if got := strings.Join(listed("status=DISCARDED"), ","); got != "DISCARDED:4444" {
		t.Errorf("?status=DISCARDED = %s", got)
	}
	_, audit := do(t, srv, "GET", "/v1/tenants/RXX/audit?file_sha256="+shaHeld2, opsKey, "")
	if !strings.Contains(audit, `"action":"FILE_DISCARD"`) || !strings.Contains(audit, `"status":"DISCARDED","decided_at":"`+discardedAt.Format(time.RFC3339Nano)+`"`) {
		t.Errorf("discard audit = %s", audit)
	}

	// A release the file outran: the missing file arrived and the held one
	// was read in order before ingest saw the decision.
	held3 := heldReport("RXX", "GO_412_EXP_GOC_20240316_00000351.DAT", shaHeld3, 351, t0.Add(3*time.Hour), internalv1.FileHold{
		Feed: "412/EXP", LastSequence: 349, AwaitingSequences: []int64{350}})
	e.produce(true, e.reportV4(held3))
	waitKey(t, srv, opsKey, files+"/"+shaHeld3, 200, `"status":"HELD"`)
	code, raw3 := do(t, srv, "POST", files+"/"+shaHeld3+"/release", opsKey, `{"reason":"cannot wait"}`)
	if code != 202 {
		t.Fatalf("release held3 = %d %s", code, raw3)
	}
	e.produce(true, e.reportV4(readOutcomeReport(held3, recorded2)))
	waitKey(t, srv, opsKey, "/v1/tenants/RXX/audit?file_sha256="+shaHeld3, 200, `"status":"SUPERSEDED"`)

	// Everything the tenant has seen is listed, by current state.
	// (Newest first by reported_at: publish's pinned clock puts the read
	// files behind the discarded one.)
	if got := strings.Join(listed(""), ","); got != "DISCARDED:4444,ACCEPTED:3333,ACCEPTED:6666,ACCEPTED:9f2c" {
		t.Errorf("listing = %s", got)
	}
	if got := strings.Join(listed("status=ACCEPTED"), ","); got != "ACCEPTED:3333,ACCEPTED:6666,ACCEPTED:9f2c" {
		t.Errorf("?status=ACCEPTED = %s", got)
	}
	check("GET", "/v1/tenants/RYY/audit", ryyKey, "", 200, `{"audit":[]}`)
	for action, want := range map[string]float64{"RELEASE": 2, "DISCARD": 1} {
		if got := testutil.ToFloat64(s.m.intake.WithLabelValues(action, "requested")); got != want {
			t.Errorf("%s requested = %v, want %v", action, got, want)
		}
	}
	if got := testutil.ToFloat64(s.m.intake.WithLabelValues("RELEASE", "retried")); got != 1 {
		t.Errorf("retried = %v, want 1", got)
	}
	// Logs name the decision, never the key or the operator's words.
	out := logs.String()
	if !strings.Contains(out, d.DecisionID) {
		t.Errorf("logs do not mention decision %s", d.DecisionID)
	}
	for _, secret := range []string{opsKey, reason, "superseded by the full file"} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

// If Kafka does not take the decision, the request fails with 503, the
// audit row says FAILED, and a retry is not blocked by it.
func TestFileDecisionKafkaUnavailable(t *testing.T) {
	k := testkit.Kafka(t)
	registry := registrytest.Start(t, k.Seeds())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	key := newKey(t)
	s, err := New(Config{
		Kafka: kafkax.Config{Brokers: []string{dead}, ClientID: "api-test"}, RegistryURL: registry,
		DBURL: "sqlite:" + filepath.Join(t.TempDir(), "api.db"), CommandTimeout: time.Second,
		Clients: []auth.Client{{Name: "ops", KeySHA256: auth.HashKey(key), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeOperate}}},
	}, Deps{Log: testLogger(t), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	held := heldReport("RXX", "GO_412_EXP_GOC_20240313_00000349.DAT", shaHeld1, 349, recorded1, internalv1.FileHold{Feed: "412/EXP", AwaitingSequences: []int64{348}})
	if _, err := s.store.Apply(context.Background(), store.Batch{Reports: []store.FileReport{{Report: held, Payload: json.RawMessage(`{}`)}}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for range 2 {
		code, body := do(t, srv, "POST", "/v1/tenants/RXX/files/"+shaHeld1+"/discard", key, `{"reason":"confirmed"}`)
		if code != http.StatusServiceUnavailable || body != `{"error":"Kafka did not confirm the decision (unavailable?); retry later"}` {
			t.Errorf("discard = %d %s, want 503", code, body)
		}
	}
	_, body := do(t, srv, "GET", "/v1/tenants/RXX/audit", key, "")
	if n := strings.Count(body, `"status":"FAILED"`); n != 2 || strings.Contains(body, "REQUESTED") || strings.Count(body, `"file_sha256":"`+shaHeld1+`"`) != 2 {
		t.Errorf("audit = %s, want two FAILED rows for the file", body)
	}
	if got := testutil.ToFloat64(s.m.intake.WithLabelValues("DISCARD", "kafka_unavailable")); got != 2 {
		t.Errorf("kafka_unavailable = %v, want 2", got)
	}
}

// Operators deciding on one held file at once: exactly one decision is
// accepted and sent, the others are refused as pending.
func TestConcurrentFileDecisions(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		key := newKey(t)
		_, srv := e.startWith(Config{DBURL: dbURL, Clients: []auth.Client{{Name: "ops", KeySHA256: auth.HashKey(key), Tenants: []string{"RXX"},
			Scopes: []string{auth.ScopeOperate, auth.ScopeReadFiles}}}}, testLogger(t))
		e.produce(true, e.reportV4(heldReport("RXX", "GO_412_EXP_GOC_20240313_00000349.DAT", shaHeld1, 349, t0Ingest,
			internalv1.FileHold{Feed: "412/EXP", AwaitingSequences: []int64{348}})))
		waitKey(t, srv, key, "/v1/tenants/RXX/files/"+shaHeld1, 200, `"status":"HELD"`)
		const n = 8
		codes := make(chan int, n)
		for i := range n {
			go func() {
				action := []string{"release", "discard"}[i%2]
				resp, _, err := send(t, "POST", srv.URL+"/v1/tenants/RXX/files/"+shaHeld1+"/"+action, key, fmt.Sprintf(`{"reason":"operator %d"}`, i))
				if err != nil {
					codes <- 0
					return
				}
				codes <- resp.StatusCode
			}()
		}
		got := map[int]int{}
		for range n {
			got[<-codes]++
		}
		if got[202] != 1 || got[409] != n-1 {
			t.Errorf("answers = %v, want one 202 and %d 409", got, n-1)
		}
		if recs, _ := e.intakeDecisions(); len(recs) != 1 {
			t.Errorf("decisions sent = %d, want 1", len(recs))
		}
	})
}

// t0Ingest is when the intake tests' files were read.
var t0Ingest = time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
