package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/kafka/kafkax"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
	"github.com/esrflow/esrflow/services/api/store/storetest"
	"github.com/esrflow/esrflow/services/registry/registrytest"
)

const (
	fileA = "GO_412_EXP_GOC_20240311_00000347.DAT" // sha1
	fileB = "GO_412_EXP_GOC_20240312_00000348.DAT" // sha2
	// The personal values of the PRA row below: none may appear in a
	// response to a caller without personal:read.
	lastName, niNumber, birthDate, email = "Okafor", "QQ123456C", "19850214", "a.okafor@nhs.example"
)

var quarantinedAt = time.Date(2024, 3, 11, 2, 17, 4, 0, time.UTC)

var fileInfo = storetest.FileInfo

// praFields is a gov2 PRA row (the columns after the record type).
func praFields() []string {
	f := make([]string, 43)
	f[0], f[1], f[3] = "20990417", "20240311", "31004581" // person_id, effective_start, employee_number
	f[4], f[5], f[6] = "Mrs", lastName, "Adaeze"          // title, last_name, first_name
	f[12], f[13], f[15] = birthDate, niNumber, "20240311" // date_of_birth, ni_number, hire_date
	f[34] = email                                         // office_email
	return f
}

// asaFields is a gov2 ASA row with no personal columns.
func asaFields() []string {
	f := make([]string, 49)
	f[0], f[1], f[6] = "20990417", "41000001", "31004581-2" // person_id, assignment_id, assignment_number
	return f
}

func violation(rule, field string, sev internalv1.Severity) internalv1.Violation {
	return internalv1.Violation{Rule: rule, Field: field, Message: field + ": " + rule + " broken (value not shown)", Severity: sev}
}

func qrec(tenant, name, sha string, line int64, stage internalv1.Stage, recordType, kind string, fields []string, vs ...internalv1.Violation) *internalv1.QuarantineRecord {
	seq := int64(347)
	if sha == sha2 {
		seq = 348
	}
	q := &internalv1.QuarantineRecord{
		Stage: stage, Lineage: internalv1.Lineage{Tenant: tenant, FileName: name, FileSha256: sha, Line: line}, Vpd: "412",
		Raw: internalv1.RawRow{RecordType: recordType, Fields: fields}, Violations: vs, QuarantinedAt: quarantinedAt,
		RuleSetVersion: "rs-0a1b2c3d", EntityKind: kind, File: fileInfo(name, sha, seq),
	}
	if kind != "" {
		c := `{"person_id":"20990417","last_name":"` + lastName + `"}`
		q.Canonical = &c
	}
	return q
}

// batchSHA is the SHA-256 ingest gives a replay's (first) batch.
func batchSHA(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

func (e *env) quarantine(q *internalv1.QuarantineRecord, version int) *kgo.Record {
	return &kgo.Record{Topic: schemas.TopicQuarantine, Key: []byte(q.Lineage.Tenant), Value: e.encode(schemas.TopicQuarantine, version, q)}
}

func (e *env) reportV2(r *internalv1.FileReport) *kgo.Record {
	return &kgo.Record{Topic: schemas.TopicFileReports, Key: []byte(r.Tenant), Value: e.encode(schemas.TopicFileReports, 2, r)}
}

// replayRequests reads every record on esr.ops.replays.v1, decoded through
// the registry.
func (e *env) replayRequests() ([]*kgo.Record, []internalv1.ReplayRequest) {
	return readOpsTopic[internalv1.ReplayRequest](e, schemas.TopicReplays, schemas.ReplayRequest)
}

// listIDs fetches a listing and returns its ids and next cursor.
func listIDs(t *testing.T, srv *httptest.Server, key, path string) ([]string, string) {
	t.Helper()
	code, body := do(t, srv, "GET", path, key, "")
	if code != 200 {
		t.Fatalf("GET %s = %d %s", path, code, body)
	}
	var l struct {
		Quarantine []store.QuarantineItem `json:"quarantine"`
		NextCursor string                 `json:"next_cursor"`
	}
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, q := range l.Quarantine {
		ids = append(ids, q.ID)
	}
	return ids, l.NextCursor
}

func getItem(t *testing.T, srv *httptest.Server, key, id string) (store.QuarantineItem, string) {
	t.Helper()
	code, body := do(t, srv, "GET", "/v1/tenants/RXX/quarantine/"+id, key, "")
	if code != 200 {
		t.Fatalf("GET quarantine %s = %d %s", id, code, body)
	}
	var it store.QuarantineItem
	if err := json.Unmarshal([]byte(body), &it); err != nil {
		t.Fatal(err)
	}
	return it, body
}

func getReplayDetail(t *testing.T, srv *httptest.Server, key, id string) store.ReplayDetail {
	t.Helper()
	code, body := do(t, srv, "GET", "/v1/tenants/RXX/replays/"+id, key, "")
	if code != 200 {
		t.Fatalf("GET replay %s = %d %s", id, code, body)
	}
	var d store.ReplayDetail
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestQuarantine(t *testing.T) {
	dbtest.ForEach(t, testQuarantine)
}

func testQuarantine(t *testing.T, dbURL string) {
	e := newEnv(t)
	readKey, personalKey, opsKey, ryyKey, eventsKey := newKey(t), newKey(t), newKey(t), newKey(t), newKey(t)
	clients := []auth.Client{
		{Name: "triage", KeySHA256: auth.HashKey(readKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeQuarantineRead}},
		{Name: "data-quality", KeySHA256: auth.HashKey(personalKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeQuarantineRead, auth.ScopePersonalRead}},
		{Name: "ops-rxx", KeySHA256: auth.HashKey(opsKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeOperate, auth.ScopeQuarantineRead}},
		{Name: "ops-ryy", KeySHA256: auth.HashKey(ryyKey), Tenants: []string{"RYY"}, Scopes: []string{auth.ScopeOperate, auth.ScopeQuarantineRead, auth.ScopePersonalRead}},
		{Name: "vendor", KeySHA256: auth.HashKey(eventsKey), Tenants: []string{"*"}, Scopes: []string{auth.ScopeReadEvents, auth.ScopePersonalRead}},
	}
	// RXX: file A lines 3 (PRA, normalise), 5 (ASA, validate: an error and
	// a warning), 7 (PRA, ingest); file B line 2 (POA, validate) and line 4
	// written with quarantine v1 (no file details). RYY: file A line 3.
	a3 := qrec("RXX", fileA, sha1, 3, internalv1.StageNormalise, "PRA", "person", praFields(), violation("ESR-V010", "date_of_birth", internalv1.SeverityError))
	a5 := qrec("RXX", fileA, sha1, 5, internalv1.StageValidate, "ASA", "assignment", asaFields(),
		violation("ESR-X001", "person_id", internalv1.SeverityError), violation("ESR-V020", "fte", internalv1.SeverityWarning))
	a7 := qrec("RXX", fileA, sha1, 7, internalv1.StageIngest, "PRA", "", praFields(), violation("ESR-R002", "", internalv1.SeverityError))
	b2 := qrec("RXX", fileB, sha2, 2, internalv1.StageValidate, "POA", "position", []string{"5102277"}, violation("ESR-X005", "organisation_id", internalv1.SeverityError))
	b4 := qrec("RXX", fileB, sha2, 4, internalv1.StageValidate, "PRA", "person", praFields(), violation("ESR-X001", "person_id", internalv1.SeverityError))
	y3 := qrec("RYY", fileA, sha1, 3, internalv1.StageNormalise, "PRA", "person", praFields(), violation("ESR-V010", "date_of_birth", internalv1.SeverityError))
	// A3 is quarantine v3: its row's raw hash goes back out with a replay.
	a3.RawSha256 = store.Ptr(strings.Repeat("a3", 32))
	e.produce(true, e.quarantine(a3, 3), e.quarantine(a5, 2), e.quarantine(a7, 2), e.quarantine(b2, 2), e.quarantine(b4, 1), e.quarantine(y3, 2))
	// The same row quarantined again (e.g. a producer retry after a lost
	// acknowledgement): no second row, no second violation. Another record
	// about B2 adds its violation to B2's.
	b2more := *b2
	b2more.Violations = []internalv1.Violation{violation("ESR-X006", "location_id", internalv1.SeverityError)}
	e.produce(true, e.quarantine(a3, 3), e.quarantine(&b2more, 2))
	_, srv := e.startWith(Config{DBURL: dbURL, Clients: clients}, zaptest.NewLogger(t))

	idA3, idA5, idA7 := store.QuarantineID("RXX", sha1, 3), store.QuarantineID("RXX", sha1, 5), store.QuarantineID("RXX", sha1, 7)
	idB2, idB4, idY3 := store.QuarantineID("RXX", sha2, 2), store.QuarantineID("RXX", sha2, 4), store.QuarantineID("RYY", sha1, 3)
	if idA3 == idY3 {
		t.Fatal("two tenants' rows share an id")
	}
	base := "/v1/tenants/RXX/quarantine"
	waitKey(t, srv, readKey, base+"/"+idB4, 200, `"status":"open"`)
	waitKey(t, srv, ryyKey, "/v1/tenants/RYY/quarantine/"+idY3, 200, `"status":"open"`)
	waitKey(t, srv, readKey, base+"/"+idB2, 200, `"rule":"ESR-X006"`) // the second transaction

	// Listing and every filter.
	all := []string{idA3, idA5, idA7, idB2, idB4}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", all},
		{"?file=" + fileA, []string{idA3, idA5, idA7}},
		{"?file=" + strings.ToUpper(sha2), []string{idB2, idB4}},
		{"?rule=ESR-X001", []string{idA5, idB4}},
		{"?rule=ESR-V020", []string{idA5}}, // a warning on a quarantined row is indexed too
		{"?rule=ESR-V999", []string{}},
		{"?rule=ESR-X006", []string{idB2}},
		{"?rule=ESR-X005", []string{idB2}},
		{"?record_type=pra", []string{idA3, idA7, idB4}},
		{"?entity_kind=assignment", []string{idA5}},
		{"?stage=ingest", []string{idA7}},
		{"?stage=VALIDATE&file=" + fileB, []string{idB2, idB4}},
		{"?status=open", all},
		{"?status=resolved", []string{}},
	} {
		got, cursor := listIDs(t, srv, readKey, base+c.query)
		if !slices.Equal(got, c.want) || cursor != "" {
			t.Errorf("GET %s = %v (cursor %q), want %v", c.query, got, cursor, c.want)
		}
	}
	// Pagination: pages of two, in order, then no cursor.
	var paged []string
	path := base + "?limit=2"
	for pages := 0; ; pages++ {
		ids, cursor := listIDs(t, srv, readKey, path)
		paged = append(paged, ids...)
		if cursor == "" || pages > 5 {
			break
		}
		path = base + "?limit=2&cursor=" + url.QueryEscape(cursor)
	}
	if !slices.Equal(paged, all) {
		t.Errorf("paged listing = %v, want %v", paged, all)
	}
	check := func(method, path, key, body string, status int, want string) {
		t.Helper()
		code, got := do(t, srv, method, path, key, body)
		if code != status || !strings.Contains(got, want) {
			t.Errorf("%s %s\n got %d %s\nwant %d containing %s", method, path, code, got, status, want)
		}
	}
	check("GET", base+"?status=closed", readKey, "", 400, `status must be open, replaying, resolved or failed_again`)
	check("GET", base+"?stage=LOAD", readKey, "", 400, `stage must be INGEST, NORMALISE, VALIDATE or PUBLISH`)
	check("GET", base+"?cursor=not-a-cursor", readKey, "", 400, `bad cursor`)
	check("GET", base+"?limit=1001", readKey, "", 400, `limit must be 1 to 1000`)

	// auth.Scopes and tenants.
	check("GET", base, "", "", 401, `an API key is required`)
	check("GET", base, newKey(t), "", 401, `invalid API key`)
	check("GET", base, eventsKey, "", 403, `lacks the quarantine:read scope`)
	check("GET", base+"/"+idA3, eventsKey, "", 403, `lacks the quarantine:read scope`)
	check("GET", base, ryyKey, "", 403, `not allowed tenant RXX`)
	check("GET", base+"/"+idA3, ryyKey, "", 403, `not allowed tenant RXX`)
	check("GET", "/v1/tenants/RXX/replays", eventsKey, "", 403, `lacks the quarantine:read or operate scope`)
	// Another tenant's record under this tenant's path is unknown.
	check("GET", base+"/"+idY3, readKey, "", 404, `quarantined record not found`)
	check("GET", base+"/q-00000000000000000000", readKey, "", 404, `quarantined record not found`)
	ryy, _ := listIDs(t, srv, ryyKey, "/v1/tenants/RYY/quarantine")
	if !slices.Equal(ryy, []string{idY3}) {
		t.Errorf("RYY listing = %v, want only its own record", ryy)
	}

	// Redaction: without personal:read the personal columns are null and
	// flagged, the canonical entity is absent, and no personal value is
	// anywhere in the response.
	it, body := getItem(t, srv, readKey, idA3)
	for _, v := range []string{lastName, niNumber, birthDate, email, "Adaeze"} {
		if strings.Contains(body, v) {
			t.Errorf("a personal value is in the redacted record: %s", body)
		}
	}
	fields := map[string]store.RawField{}
	for _, f := range it.Raw.Fields {
		fields[f.Name] = f
	}
	if f := fields["last_name"]; !f.Redacted || f.Value != nil {
		t.Errorf("last_name = %+v, want redacted", f)
	}
	if f := fields["person_id"]; f.Redacted || f.Value == nil || *f.Value != "20990417" {
		t.Errorf("person_id = %+v, want shown", f)
	}
	if f := fields["middle_names"]; f.Redacted || f.Value == nil || *f.Value != "" {
		t.Errorf("an empty personal column = %+v, want shown empty", f)
	}
	if it.Canonical != nil || strings.Contains(body, `"canonical"`) {
		t.Errorf("canonical shown without personal:read: %s", body)
	}
	wantItem := store.QuarantineItem{ID: idA3, Tenant: "RXX", Stage: "NORMALISE", VPD: "412",
		Lineage:    store.QuarantineLineage{FileName: fileA, FileSHA256: sha1, Line: 3},
		RecordType: "PRA", EntityKind: "person", Violations: a3.Violations, Errors: 1, RuleSetVersion: "rs-0a1b2c3d",
		Status: "open", QuarantinedAt: "2024-03-11T02:17:04Z"}
	it.Raw = store.RawView{}
	if !reflect.DeepEqual(it, wantItem) {
		t.Errorf("record = %+v\nwant %+v", it, wantItem)
	}
	// With personal:read: every value, and the canonical entity.
	it, _ = getItem(t, srv, personalKey, idA3)
	if len(it.Raw.Fields) != 43 || it.Raw.Fields[5].Name != "last_name" || *it.Raw.Fields[5].Value != lastName ||
		it.Raw.Fields[13].Name != "ni_number" || *it.Raw.Fields[13].Value != niNumber {
		t.Errorf("personal view raw = %+v", it.Raw)
	}
	if string(it.Canonical) != *a3.Canonical {
		t.Errorf("canonical = %s, want %s", it.Canonical, *a3.Canonical)
	}
	// personal:read alone grants no endpoint.
	check("GET", "/v1/tenants/RXX/quarantine/"+idA3, eventsKey, "", 403, `lacks the quarantine:read scope`)
	// A quarantine v1 record reads too; its dialect is unknown, so every
	// non-empty column is treated as personal.
	it, body = getItem(t, srv, readKey, idB4)
	if it.RuleSetVersion != "" || it.Status != "open" || strings.Contains(body, "20990417") || strings.Contains(body, lastName) {
		t.Errorf("v1 record = %s", body)
	}
	if it, _ := getItem(t, srv, readKey, idB2); it.Errors != 2 || len(it.Violations) != 2 {
		t.Errorf("B2 = %+v, want both records' violations", it)
	}
	if it, _ := getItem(t, srv, readKey, idA3); len(it.Violations) != 1 {
		t.Errorf("A3 = %+v, want its one violation once", it)
	}
	// The warning counts apart from the error.
	if it, _ := getItem(t, srv, readKey, idA5); it.Errors != 1 || it.Warnings != 1 {
		t.Errorf("A5 errors/warnings = %d/%d, want 1/1", it.Errors, it.Warnings)
	}

	// Replay: bad requests change nothing.
	replay := base + "/replay"
	check("POST", replay, readKey, `{"ids":["`+idA3+`"],"reason":"x"}`, 403, `lacks the operate scope`)
	check("POST", replay, opsKey, `{"ids":["`+idA3+`"]}`, 400, `reason is required`)
	check("POST", replay, opsKey, `{"reason":"x"}`, 400, `give either \"ids\" or \"filter\"`)
	check("POST", replay, opsKey, `{"ids":["`+idA3+`"],"filter":{},"reason":"x"}`, 400, `give either \"ids\" or \"filter\"`)
	check("POST", replay, opsKey, `{"ids":[],"reason":"x"}`, 400, `ids must list 1 to 500 records`)
	check("POST", replay, opsKey, `{"ids":["`+idA3+`"],"reason":"x","force":true}`, 400, `body must be JSON`)
	check("POST", replay, opsKey, `{"filter":{"status":"resolved"},"reason":"x"}`, 400, `filter status must be open or failed_again`)
	check("POST", replay, opsKey, `{"ids":["`+idA7+`"],"reason":"x"}`, 409, `record `+idA7+` was quarantined by INGEST: only rows quarantined by NORMALISE or VALIDATE can be replayed`)
	check("POST", replay, opsKey, `{"ids":["`+idB4+`"],"reason":"x"}`, 409, `its file's details are unknown`)
	check("POST", replay, opsKey, `{"ids":["`+idY3+`"],"reason":"x"}`, 404, `quarantined record `+idY3+` not found`)
	check("POST", replay, opsKey, `{"filter":{"rule":"ESR-V999"},"reason":"x"}`, 409, `no quarantined record that can be replayed matches the filter`)
	if recs, _ := e.replayRequests(); len(recs) != 0 {
		t.Fatalf("refused requests wrote %d replay requests", len(recs))
	}

	// Replay file A after a mapping fix: the filter picks the rows that can
	// be replayed (not the ingest one), in file order.
	reason := "Mapping fixed: date_of_birth format for the 2024 extract"
	reqBody := `{"filter":{"file":"` + fileA + `"},"reason":"` + reason + `","idempotency_key":"ticket-4711"}`
	before := time.Now().Add(-time.Second)
	code, body := do(t, srv, "POST", replay, opsKey, reqBody)
	var resp replayResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != 202 {
		t.Fatalf("replay = %d %s (%v)", code, body, err)
	}
	if !strings.HasPrefix(resp.ReplayID, "rp-") || resp.Status != "REQUESTED" || resp.Rows != 2 {
		t.Errorf("replay response = %s", body)
	}
	rpID := resp.ReplayID
	// The same request again: the same replay, nothing sent twice.
	code, body = do(t, srv, "POST", replay, opsKey, reqBody)
	if code != 200 || !strings.Contains(body, `"replay_id":"`+rpID+`"`) {
		t.Errorf("repeated replay = %d %s, want 200 naming %s", code, body, rpID)
	}
	recs, reqs := e.replayRequests()
	if len(reqs) != 1 {
		t.Fatalf("replay requests = %d, want 1", len(reqs))
	}
	got := reqs[0]
	if string(recs[0].Key) != "RXX" {
		t.Errorf("replay key = %q, want RXX", recs[0].Key)
	}
	if got.RequestedAt.Before(before) || got.RequestedAt.After(time.Now()) {
		t.Errorf("requested_at = %v", got.RequestedAt)
	}
	want := internalv1.ReplayRequest{ReplayID: rpID, Tenant: "RXX", RequestedBy: "ops-rxx", Reason: reason, RequestedAt: got.RequestedAt,
		Rows: []internalv1.ReplayRow{
			{Lineage: a3.Lineage, Vpd: "412", File: *a3.File, Raw: a3.Raw, RawSha256: a3.RawSha256},
			{Lineage: a5.Lineage, Vpd: "412", File: *a5.File, Raw: a5.Raw},
		}}
	for i := range got.Rows {
		got.Rows[i].File.RunDate = got.Rows[i].File.RunDate.UTC()
	}
	got.RequestedAt = got.RequestedAt.UTC()
	want.RequestedAt = got.RequestedAt
	if !reflect.DeepEqual(got, want) {
		t.Errorf("replay request =\n%+v\nwant\n%+v", got, want)
	}
	for _, id := range []string{idA3, idA5} {
		if it, _ := getItem(t, srv, readKey, id); it.Status != "replaying" || it.ReplayID == nil || *it.ReplayID != rpID {
			t.Errorf("%s status %s replay %v, want replaying %s", id, it.Status, it.ReplayID, rpID)
		}
	}
	check("POST", replay, opsKey, `{"ids":["`+idA3+`"],"reason":"again"}`, 409, `record `+idA3+` is replaying`)
	// Audited like a guard decision.
	requestedAt := got.RequestedAt.Format(time.RFC3339Nano)
	auditRow := func(status, decidedAt, emitted string) string {
		return compact(t, fmt.Sprintf(`{"command_id":"%s","tenant":"RXX","batch_id":"","action":"REPLAY","actor":"ops-rxx","reason":"%s",
			"requested_at":"%s","status":"%s","decided_at":%s,"emitted":%s,"replay_id":"%s"}`, rpID, reason, requestedAt, status, decidedAt, emitted, rpID))
	}
	check("GET", "/v1/tenants/RXX/audit", opsKey, "", 200, auditRow("REQUESTED", "null", "null"))
	d := getReplayDetail(t, srv, readKey, rpID)
	if d.Status != "REQUESTED" || d.Rows != 2 || d.Outcomes["pending"] != 2 || d.RequestedBy != "ops-rxx" || len(d.Batches) != 1 ||
		!reflect.DeepEqual(d.Batches[0], store.ReplayBatch{Batch: 1, FileName: "REPLAY_" + rpID, FileSHA256: batchSHA(rpID), Report: json.RawMessage("null")}) {
		t.Errorf("replay before its report = %+v", d.Replay)
	}

	// The pipeline (simulated): the replay batch's report arrives first,
	// counting one row quarantined again, so the replay waits for it.
	replaySHA := batchSHA(rpID)
	rep := &internalv1.FileReport{Tenant: "RXX", Vpd: "412", File: *fileInfo("REPLAY_"+rpID, replaySHA, 0), Status: internalv1.FileStatusAccepted,
		RowsRead: 2, EntitiesAccepted: 1, Quarantined: 1, EventsEmitted: map[string]int64{"starter-created": 1},
		ReportedAt: quarantinedAt.Add(time.Hour), RuleSetVersion: "rs-0a1b2c3d", TopRules: []internalv1.RuleCount{{Rule: "ESR-X002", Count: 1}},
		ReplayID: &rpID}
	st := starter()
	st.EventID, st.Source = "ev-replayed-a3", src(3)
	e.produce(true, e.reportV2(rep), e.event("RXX", schemas.EventStarterCreated, 1, st.PersonID, st))
	waitKey(t, srv, readKey, "/v1/tenants/RXX/replays/"+rpID, 200, `"rows_read":2`)
	if d := getReplayDetail(t, srv, readKey, rpID); d.Status != "REQUESTED" || d.Outcomes["pending"] != 2 {
		t.Errorf("replay settled before its re-quarantined row arrived: %+v", d.Replay)
	}
	// Then A5's new quarantine record: the replay completes.
	a5again := qrec("RXX", fileA, sha1, 5, internalv1.StageValidate, "ASA", "assignment", asaFields(), violation("ESR-X002", "position_id", internalv1.SeverityError))
	a5again.File, a5again.ReplayID, a5again.RuleSetVersion = fileInfo("REPLAY_"+rpID, replaySHA, 0), &rpID, "rs-99ffee00"
	e.produce(true, e.quarantine(a5again, 2))
	waitKey(t, srv, readKey, "/v1/tenants/RXX/replays/"+rpID, 200, `"status":"COMPLETED"`)
	// (the event is read from its own topic, maybe after the report)
	waitKey(t, srv, readKey, "/v1/tenants/RXX/replays/"+rpID, 200, `"event_id":"ev-replayed-a3"`)
	d = getReplayDetail(t, srv, readKey, rpID)
	if len(d.RowOutcomes) != 2 || d.Outcomes["accepted"] != 1 || d.Outcomes["failed_again"] != 1 || d.CompletedAt == nil {
		t.Fatalf("completed replay = %+v", d)
	}
	r0, r1 := d.RowOutcomes[0], d.RowOutcomes[1]
	if r0.QuarantineID != idA3 || r0.Outcome != "accepted" || len(r0.Events) != 1 || r0.Events[0].EventID != "ev-replayed-a3" ||
		r0.Lineage != (store.QuarantineLineage{FileName: fileA, FileSHA256: sha1, Line: 3}) {
		t.Errorf("A3 outcome = %+v", r0)
	}
	if r1.QuarantineID != idA5 || r1.Outcome != "failed_again" || len(r1.Events) != 0 || !reflect.DeepEqual(r1.Violations, a5again.Violations) {
		t.Errorf("A5 outcome = %+v", r1)
	}
	if it, _ := getItem(t, srv, readKey, idA3); it.Status != "resolved" {
		t.Errorf("A3 status = %s, want resolved", it.Status)
	}
	it, _ = getItem(t, srv, readKey, idA5)
	if it.Status != "failed_again" || it.RuleSetVersion != "rs-99ffee00" || !reflect.DeepEqual(it.Violations, a5again.Violations) ||
		it.Lineage.Line != 5 || it.ReplayID == nil || *it.ReplayID != rpID {
		t.Errorf("A5 after the replay = %+v", it)
	}
	if ids, _ := listIDs(t, srv, readKey, base+"?rule=ESR-X002"); !slices.Equal(ids, []string{idA5}) {
		t.Errorf("rule index after the replay: ESR-X002 = %v", ids)
	}
	if ids, _ := listIDs(t, srv, readKey, base+"?rule=ESR-X001"); !slices.Equal(ids, []string{idB4}) {
		t.Errorf("rule index after the replay: ESR-X001 = %v", ids)
	}
	check("GET", "/v1/tenants/RXX/audit", opsKey, "", 200, `"status":"COMPLETED","decided_at":"`)
	check("GET", "/v1/tenants/RXX/audit", opsKey, "", 200, `"emitted":1,"replay_id":"`+rpID+`"`)

	// Delivered again, the replay's records change nothing.
	sentinel := qrec("RXX", fileB, sha2, 9, internalv1.StageValidate, "POA", "position", []string{"1"}, violation("ESR-X005", "organisation_id", internalv1.SeverityError))
	e.produce(true, e.quarantine(a5again, 2), e.reportV2(rep), e.quarantine(sentinel, 2))
	waitKey(t, srv, readKey, base+"/"+store.QuarantineID("RXX", sha2, 9), 200, `"status":"open"`)
	if again := getReplayDetail(t, srv, readKey, rpID); !reflect.DeepEqual(again, d) {
		t.Errorf("re-delivery changed the replay:\n%+v\nwas\n%+v", again, d)
	}

	// A second replay of the row that failed again, by id; its batch is
	// rejected whole: the row is open again, nothing accepted.
	code, body = do(t, srv, "POST", replay, opsKey, `{"ids":["`+idA5+`"],"reason":"Position 5102277 added to the establishment"}`)
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != 202 || resp.Rows != 1 {
		t.Fatalf("second replay = %d %s", code, body)
	}
	rp2 := resp.ReplayID
	if rp2 == rpID {
		t.Fatal("a new request reused the replay id")
	}
	rejected := *rep
	rejected.Status, rejected.Reason, rejected.Quarantined, rejected.EventsEmitted, rejected.ReplayID = internalv1.FileStatusRejected, store.Ptr("over the error budget"), 0, map[string]int64{}, &rp2
	rejected.File.Sha256, rejected.File.Name = batchSHA(rp2), "REPLAY_"+rp2
	e.produce(true, e.reportV2(&rejected))
	waitKey(t, srv, readKey, "/v1/tenants/RXX/replays/"+rp2, 200, `"status":"REJECTED"`)
	if d := getReplayDetail(t, srv, readKey, rp2); len(d.RowOutcomes) != 1 || d.RowOutcomes[0].Outcome != "rejected" {
		t.Errorf("rejected replay = %+v", d)
	}
	if it, _ := getItem(t, srv, readKey, idA5); it.Status != "open" {
		t.Errorf("A5 after a rejected replay = %s, want open", it.Status)
	}
	// Listing replays: newest first, with outcome counts.
	code, body = do(t, srv, "GET", "/v1/tenants/RXX/replays", opsKey, "")
	if code != 200 || strings.Index(body, rp2) > strings.Index(body, rpID) || strings.Index(body, rp2) < 0 {
		t.Errorf("replays = %d %s", code, body)
	}
	check("GET", "/v1/tenants/RXX/replays/rp-00000000000000000000", opsKey, "", 404, `replay not found`)
	check("GET", "/v1/tenants/RYY/replays/"+rpID, ryyKey, "", 404, `replay not found`)
	if recs, _ := e.replayRequests(); len(recs) != 2 {
		t.Errorf("replay requests = %d, want 2", len(recs))
	}

	// A whole second read of the topics (a new consumer group on the same
	// database, as after lost offset commits) changes nothing.
	_, listBefore := do(t, srv, "GET", base, personalKey, "")
	replaysBefore := []store.ReplayDetail{getReplayDetail(t, srv, readKey, rpID), getReplayDetail(t, srv, readKey, rp2)}
	s2, _ := e.startWith(Config{DBURL: dbURL, Group: "esrflow-api-again", Clients: clients}, zaptest.NewLogger(t))
	read := func() (float64, float64) {
		n := 0.0
		for _, stage := range []string{"INGEST", "NORMALISE", "VALIDATE"} {
			n += testutil.ToFloat64(s2.mat.Metrics().Quarantined.WithLabelValues(stage))
		}
		return n, testutil.ToFloat64(s2.mat.Metrics().Reports)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if q, r := read(); q == 11 && r == 3 {
			break
		}
	}
	if q, r := read(); q != 11 || r != 3 {
		t.Fatalf("second read: %v quarantine records, %v reports; want 11, 3", q, r)
	}
	if _, after := do(t, srv, "GET", base, personalKey, ""); after != listBefore {
		t.Errorf("a second read changed the listing:\n%s\n%s", listBefore, after)
	}
	for i, id := range []string{rpID, rp2} {
		if after := getReplayDetail(t, srv, readKey, id); !reflect.DeepEqual(after, replaysBefore[i]) {
			t.Errorf("a second read changed replay %s:\n%+v\n%+v", id, replaysBefore[i], after)
		}
	}
}

// If Kafka does not take a replay request, the call answers 503, the replay
// and its audit row say FAILED, and its rows are back to their earlier
// status, so a new request can take them.
func TestReplayKafkaUnavailable(t *testing.T) {
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
		Clients: []auth.Client{{Name: "ops", KeySHA256: auth.HashKey(key), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeOperate, auth.ScopeQuarantineRead}}},
	}, Deps{Log: testLogger(t), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a3 := qrec("RXX", fileA, sha1, 3, internalv1.StageNormalise, "PRA", "person", praFields(), violation("ESR-V010", "date_of_birth", internalv1.SeverityError))
	a5 := qrec("RXX", fileA, sha1, 5, internalv1.StageValidate, "ASA", "assignment", asaFields(), violation("ESR-X001", "person_id", internalv1.SeverityError))
	if _, err := s.store.Apply(context.Background(), store.Batch{Quarantine: []store.Quarantined{{Rec: a3, Seq: 1}, {Rec: a5, Seq: 2}}}); err != nil {
		t.Fatal(err)
	}
	// A5 has failed once already: after the failed request it is
	// failed_again again, not open.
	if _, err := s.store.DB().Exec(`UPDATE quarantine SET status = 'failed_again' WHERE id = ?`, store.QuarantineID("RXX", sha1, 5)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	code, body := do(t, srv, "POST", "/v1/tenants/RXX/quarantine/replay", key, `{"filter":{"file":"`+fileA+`"},"reason":"mapping fixed"}`)
	if code != 503 || !strings.Contains(body, "Kafka did not confirm the replay request") {
		t.Errorf("replay = %d %s, want 503", code, body)
	}
	_, body = do(t, srv, "GET", "/v1/tenants/RXX/audit", key, "")
	if !strings.Contains(body, `"action":"REPLAY"`) || !strings.Contains(body, `"status":"FAILED"`) {
		t.Errorf("audit = %s, want a FAILED replay", body)
	}
	_, body = do(t, srv, "GET", "/v1/tenants/RXX/replays", key, "")
	if !strings.Contains(body, `"status":"FAILED"`) {
		t.Errorf("replays = %s, want one FAILED", body)
	}
	for id, want := range map[string]string{store.QuarantineID("RXX", sha1, 3): "open", store.QuarantineID("RXX", sha1, 5): "failed_again"} {
		if it, _ := getItem(t, srv, key, id); it.Status != want {
			t.Errorf("%s after the failed replay = %s, want %s", id, it.Status, want)
		}
	}
	if got := testutil.ToFloat64(s.m.replays.WithLabelValues("kafka_unavailable")); got != 1 {
		t.Errorf("kafka_unavailable = %v, want 1", got)
	}
}

// A replay whose rows change VPD (or dialect) is sent by ingest as several
// batches, each with its own file report: each batch settles its own rows,
// and the replay is settled when every batch is.
func TestReplayBatches(t *testing.T) {
	dbtest.ForEach(t, testReplayBatches)
}

func testReplayBatches(t *testing.T, dbURL string) {
	e := newEnv(t)
	key := newKey(t)
	_, srv := e.startWith(Config{DBURL: dbURL, Clients: []auth.Client{{Name: "ops", KeySHA256: auth.HashKey(key), Tenants: []string{"RXX"},
		Scopes: []string{auth.ScopeOperate, auth.ScopeQuarantineRead}}}}, zaptest.NewLogger(t))
	const fileC, sha3 = "GO_413_EXP_GOC_20240311_00000090.DAT", "3333333333333333333333333333333333333333333333333333333333333333"
	a3 := qrec("RXX", fileA, sha1, 3, internalv1.StageNormalise, "PRA", "person", praFields(), violation("ESR-V010", "date_of_birth", internalv1.SeverityError))
	a5 := qrec("RXX", fileA, sha1, 5, internalv1.StageValidate, "ASA", "assignment", asaFields(), violation("ESR-X001", "person_id", internalv1.SeverityError))
	c2 := qrec("RXX", fileC, sha3, 2, internalv1.StageValidate, "ASA", "assignment", asaFields(), violation("ESR-X001", "person_id", internalv1.SeverityError))
	c2.Vpd, c2.File = "413", fileInfo(fileC, sha3, 90)
	e.produce(true, e.quarantine(a3, 2), e.quarantine(a5, 2), e.quarantine(c2, 2))
	idA3, idA5, idC2 := store.QuarantineID("RXX", sha1, 3), store.QuarantineID("RXX", sha1, 5), store.QuarantineID("RXX", sha3, 2)
	waitKey(t, srv, key, "/v1/tenants/RXX/quarantine/"+idC2, 200, `"status":"open"`)

	code, body := do(t, srv, "POST", "/v1/tenants/RXX/quarantine/replay", key, `{"ids":["`+idC2+`","`+idA3+`","`+idA5+`"],"reason":"VPD 413 mapped"}`)
	var resp replayResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != 202 || resp.Rows != 3 {
		t.Fatalf("replay = %d %s", code, body)
	}
	id := resp.ReplayID
	_, reqs := e.replayRequests()
	if len(reqs) != 1 || len(reqs[0].Rows) != 3 || reqs[0].Rows[0].Lineage.Line != 3 || reqs[0].Rows[1].Lineage.Line != 5 ||
		reqs[0].Rows[2].Lineage.FileSha256 != sha3 || reqs[0].Rows[2].Vpd != "413" {
		t.Fatalf("replay request rows (want A3, A5, then C2) = %+v", reqs)
	}
	d := getReplayDetail(t, srv, key, id)
	if len(d.Batches) != 2 || d.Batches[0].FileName != "REPLAY_"+id || d.Batches[0].FileSHA256 != batchSHA(id) ||
		d.Batches[1].FileName != "REPLAY_"+id+"_2" || d.Batches[1].FileSHA256 != batchSHA(id+"_2") {
		t.Fatalf("batches = %+v", d.Batches)
	}
	if b := []int{d.RowOutcomes[0].Batch, d.RowOutcomes[1].Batch, d.RowOutcomes[2].Batch}; !slices.Equal(b, []int{1, 1, 2}) {
		t.Errorf("row batches = %v, want 1 1 2", b)
	}
	report := func(n int, status internalv1.FileStatus) *kgo.Record {
		name, sha := "REPLAY_"+id, batchSHA(id)
		if n > 1 {
			name, sha = fmt.Sprintf("REPLAY_%s_%d", id, n), batchSHA(fmt.Sprintf("%s_%d", id, n))
		}
		return e.reportV2(&internalv1.FileReport{Tenant: "RXX", Vpd: "412", File: *fileInfo(name, sha, 0), Status: status,
			EventsEmitted: map[string]int64{}, ReportedAt: quarantinedAt, TopRules: []internalv1.RuleCount{}, ReplayID: &id})
	}
	// The second batch reports first: only its row is settled.
	e.produce(true, report(2, internalv1.FileStatusAccepted))
	waitKey(t, srv, key, "/v1/tenants/RXX/replays/"+id, 200, `"settled":true`)
	d = getReplayDetail(t, srv, key, id)
	if d.Status != "REQUESTED" || d.Outcomes["accepted"] != 1 || d.Outcomes["pending"] != 2 || d.RowOutcomes[2].Outcome != "accepted" {
		t.Errorf("after batch 2 = %+v", d)
	}
	// The first batch is rejected whole: the replay is partly rejected.
	e.produce(true, report(1, internalv1.FileStatusRejected))
	waitKey(t, srv, key, "/v1/tenants/RXX/replays/"+id, 200, `"status":"PARTIAL"`)
	d = getReplayDetail(t, srv, key, id)
	if d.Outcomes["rejected"] != 2 || d.Outcomes["accepted"] != 1 || !d.Batches[0].Settled || !d.Batches[1].Settled {
		t.Errorf("after batch 1 = %+v", d)
	}
	for qid, want := range map[string]string{idA3: "open", idA5: "open", idC2: "resolved"} {
		if it, _ := getItem(t, srv, key, qid); it.Status != want {
			t.Errorf("%s = %s, want %s", qid, it.Status, want)
		}
	}
}

// Concurrent replays of one record: exactly one takes it, the others are
// refused, and one request reaches Kafka.
func TestConcurrentReplays(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		key := newKey(t)
		_, srv := e.startWith(Config{DBURL: dbURL, Clients: []auth.Client{{Name: "ops", KeySHA256: auth.HashKey(key), Tenants: []string{"RXX"},
			Scopes: []string{auth.ScopeOperate, auth.ScopeQuarantineRead}}}}, zaptest.NewLogger(t))
		a3 := qrec("RXX", fileA, sha1, 3, internalv1.StageNormalise, "PRA", "person", praFields(), violation("ESR-V010", "date_of_birth", internalv1.SeverityError))
		e.produce(true, e.quarantine(a3, 2))
		id := store.QuarantineID("RXX", sha1, 3)
		waitKey(t, srv, key, "/v1/tenants/RXX/quarantine/"+id, 200, `"status":"open"`)
		const n = 6
		codes := make(chan int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, body, err := send(t, "POST", srv.URL+"/v1/tenants/RXX/quarantine/replay", key,
					fmt.Sprintf(`{"ids":["%s"],"reason":"r","idempotency_key":"k%d"}`, id, i))
				if err != nil {
					t.Error(err)
					return
				}
				if resp.StatusCode != 202 && !strings.Contains(string(body), "is replaying") {
					t.Errorf("replay = %d %s", resp.StatusCode, body)
				}
				codes <- resp.StatusCode
			}()
		}
		wg.Wait()
		close(codes)
		accepted := 0
		for c := range codes {
			if c == 202 {
				accepted++
			}
		}
		if recs, _ := e.replayRequests(); accepted != 1 || len(recs) != 1 {
			t.Errorf("%d replays accepted, %d requests on Kafka; want 1, 1", accepted, len(recs))
		}
	})
}
