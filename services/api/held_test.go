package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/esrflow/esrflow/platform/config"
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

// newKey returns a fresh random API key, as docs/api.md tells operators to
// make one: 32 random bytes in hex.
func newKey(t *testing.T) string {
	t.Helper()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// logBuffer is a zap logger whose output the test can search.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) Sync() error { return nil }

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *zap.Logger {
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), b, zapcore.DebugLevel))
}

// do sends a request with an optional key and body and returns the status
// and compacted JSON body.
// send makes one request to url, with key as a bearer token when set.
func send(t *testing.T, method, url, key, body string) (*http.Response, []byte, error) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func do(t *testing.T, srv *httptest.Server, method, path, key, body string) (int, string) {
	t.Helper()
	resp, b, err := send(t, method, srv.URL+path, key, body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode >= 400 {
		return resp.StatusCode, checkProblem(t, method+" "+path, resp, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("%s %s: not JSON: %q", method, path, b)
	}
	return resp.StatusCode, buf.String()
}

// checkProblem requires an error response to be RFC 9457 problem details
// (its media type; type, title and status matching the response; detail,
// and the "error" extension member saying the same; instance naming the
// request id) and returns it as {"error":...}: the body tests compare.
func checkProblem(t *testing.T, what string, resp *http.Response, b []byte) string {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: error Content-Type %q, want application/problem+json", what, ct)
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s: not JSON: %q", what, b)
	}
	if p["type"] != "about:blank" || p["title"] != http.StatusText(resp.StatusCode) || p["status"] != float64(resp.StatusCode) {
		t.Errorf("%s: problem %s does not match status %d", what, b, resp.StatusCode)
	}
	if d, ok := p["detail"].(string); !ok || d == "" || p["error"] != d {
		t.Errorf("%s: problem %s: detail and error must be the same text", what, b)
	}
	if id := resp.Header.Get("X-Request-Id"); p["instance"] != "urn:uuid:"+id {
		t.Errorf("%s: problem instance %v, want urn:uuid:%s", what, p["instance"], id)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // as the api writes it
	_ = enc.Encode(map[string]any{"error": p["error"]})
	return strings.TrimSpace(out.String())
}

// waitKey polls path with key until it answers status with a body
// containing want.
func waitKey(t *testing.T, srv *httptest.Server, key, path string, status int, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := do(t, srv, "GET", path, key, "")
		if code == status && strings.Contains(body, want) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %d %s; want %d containing %s", path, code, body, status, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) heldBatch(h *internalv1.HeldBatch) *kgo.Record {
	return &kgo.Record{Topic: schemas.TopicHeldBatches, Key: []byte(h.Tenant), Value: e.encode(schemas.TopicHeldBatches, 1, h)}
}

var (
	heldAt1 = time.Date(2024, 3, 12, 2, 30, 0, 0, time.UTC)
	heldAt2 = time.Date(2024, 3, 13, 2, 30, 0, 0, time.UTC)
)

// heldRecord is a HELD batch as publish writes it.
func heldRecord(tenant, id, sha string, at time.Time, leavers int) *internalv1.HeldBatch {
	h := &internalv1.HeldBatch{
		BatchID: id, Tenant: tenant, Vpd: "412", FileName: "GO_412_EXP_GOC_20240312_00000348.DAT", FileSha256: sha,
		RunDate: day(2024, 3, 12), Status: internalv1.HeldBatchStatusHeld, Leavers: int64(leavers), ActivePopulation: 40,
		MaxLeavers: 2, MaxPercent: 5, Tripped: fmt.Sprintf("count %d > 2", leavers), HeldAt: at, Held: []internalv1.HeldLeaverRef{},
	}
	for i := range leavers {
		h.Held = append(h.Held, internalv1.HeldLeaverRef{
			PersonID: fmt.Sprintf("2000%04d", i), EmployeeNumber: fmt.Sprintf("3000%04d", i),
			LeavingDate: day(2024, 3, 10+i), EventID: fmt.Sprintf("ev-held-%s-%d", id, i), Line: int64(5 + i),
		})
	}
	return h
}

// decided is publish's record of having applied a command.
func decided(h *internalv1.HeldBatch, status internalv1.HeldBatchStatus, by, reason, commandID string, emitted int64) *internalv1.HeldBatch {
	d := *h
	at := h.HeldAt.Add(6 * time.Hour)
	d.Status, d.DecidedAt, d.DecidedBy, d.Reason, d.CommandID, d.Emitted = status, &at, by, reason, commandID, emitted
	return &d
}

// commands reads every record on esr.ops.commands.v1, up to its end offset,
// decoded.
func (e *env) commands() ([]*kgo.Record, []internalv1.OperatorCommand) {
	return readOpsTopic[internalv1.OperatorCommand](e, schemas.TopicCommands, schemas.OperatorCommand)
}

// readOpsTopic reads every record of a one-partition ops topic, up to its
// end offset, each decoded through the registry as schema's latest version
// (so each is Confluent-framed with a registered schema id).
func readOpsTopic[T any](e *env, topic, schema string) ([]*kgo.Record, []T) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(e.cl).ListEndOffsets(ctx, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	if end.Offset == 0 {
		return nil, nil
	}
	cl := testkit.Client(e.t, e.broker.Seeds(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()}}), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	reader, _, err := schemas.Latest(schema)
	if err != nil {
		e.t.Fatal(err)
	}
	var recs []*kgo.Record
	var out []T
	for int64(len(recs)) < end.Offset {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			e.t.Fatal(err)
		}
		for _, r := range fs.Records() {
			var v T
			if _, err := e.serde.Decode(ctx, r.Value, reader, &v); err != nil {
				e.t.Fatalf("%s at offset %d: %v", topic, r.Offset, err)
			}
			recs, out = append(recs, r), append(out, v)
		}
	}
	return recs, out
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestHeldBatches(t *testing.T) {
	dbtest.ForEach(t, testHeldBatches)
}

func testHeldBatches(t *testing.T, dbURL string) {
	e := newEnv(t)
	opsKey, ryyKey := newKey(t), newKey(t)
	clients := []auth.Client{
		{Name: "ops-rxx", KeySHA256: auth.HashKey(opsKey), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeOperate, auth.ScopeReadBatches}},
		{Name: "ops-ryy", KeySHA256: auth.HashKey(ryyKey), Tenants: []string{"RYY"}, Scopes: []string{auth.ScopeOperate, auth.ScopeReadBatches}},
	}
	a := heldRecord("RXX", "hb-9f2c4e1a7b3d5f6e", sha1, heldAt1, 3)
	b := heldRecord("RXX", "hb-1111111111111111", sha2, heldAt2, 4)
	c := heldRecord("RYY", "hb-2222222222222222", sha2, heldAt1, 3)
	e.produce(true, e.heldBatch(a), e.heldBatch(b), e.heldBatch(c))
	var logs logBuffer
	s, srv := e.startWith(Config{DBURL: dbURL, Clients: clients}, logs.logger())

	base := "/v1/tenants/RXX/held-batches"
	waitKey(t, srv, opsKey, base+"/"+b.BatchID, 200, `"status":"HELD"`)
	waitKey(t, srv, ryyKey, "/v1/tenants/RYY/held-batches/"+c.BatchID, 200, `"status":"HELD"`)

	summaryA := `{"batch_id":"hb-9f2c4e1a7b3d5f6e","tenant":"RXX","vpd":"412","file_name":"GO_412_EXP_GOC_20240312_00000348.DAT",
		"file_sha256":"` + sha1 + `","run_date":"2024-03-12","status":"HELD","leavers":3,"active_population":40,"max_leavers":2,
		"max_percent":5,"tripped":"count 3 > 2","held_at":"2024-03-12T02:30:00Z","decided_at":null,"decided_by":null,"reason":null,
		"command_id":null,"emitted":0`
	summaryB := `{"batch_id":"hb-1111111111111111","tenant":"RXX","vpd":"412","file_name":"GO_412_EXP_GOC_20240312_00000348.DAT",
		"file_sha256":"` + sha2 + `","run_date":"2024-03-12","status":"HELD","leavers":4,"active_population":40,"max_leavers":2,
		"max_percent":5,"tripped":"count 4 > 2","held_at":"2024-03-13T02:30:00Z","decided_at":null,"decided_by":null,"reason":null,
		"command_id":null,"emitted":0`
	check := func(method, path, key, body string, status int, want string) {
		t.Helper()
		code, got := do(t, srv, method, path, key, body)
		if code != status || got != compact(t, want) {
			t.Errorf("%s %s\n got %d %s\nwant %d %s", method, path, code, got, status, compact(t, want))
		}
	}
	// Newest first; filtered by status; the held leavers only on the batch.
	check("GET", base, opsKey, "", 200, `{"held_batches":[`+summaryB+`},`+summaryA+`}]}`)
	check("GET", "/v1/tenants/rxx/held-batches?status=HELD", opsKey, "", 200, `{"held_batches":[`+summaryB+`},`+summaryA+`}]}`)
	check("GET", base+"?status=RELEASED", opsKey, "", 200, `{"held_batches":[]}`)
	check("GET", base+"?status=held", opsKey, "", 400, `{"error":"status must be HELD, RELEASED or REJECTED"}`)
	check("GET", base+"?limit=1", opsKey, "", 200, `{"held_batches":[`+summaryB+`}]}`)
	check("GET", base+"/"+a.BatchID, opsKey, "", 200, summaryA+`,"held":[
		{"person_id":"20000000","employee_number":"30000000","leaving_date":"2024-03-10","event_id":"ev-held-hb-9f2c4e1a7b3d5f6e-0","line":5},
		{"person_id":"20000001","employee_number":"30000001","leaving_date":"2024-03-11","event_id":"ev-held-hb-9f2c4e1a7b3d5f6e-1","line":6},
		{"person_id":"20000002","employee_number":"30000002","leaving_date":"2024-03-12","event_id":"ev-held-hb-9f2c4e1a7b3d5f6e-2","line":7}]}`)
	check("GET", base+"/hb-0000000000000000", opsKey, "", 404, `{"error":"held batch not found"}`)
	// Another tenant's batch id under this tenant's path is unknown.
	check("GET", base+"/"+c.BatchID, opsKey, "", 404, `{"error":"held batch not found"}`)
	_, ryyList := do(t, srv, "GET", "/v1/tenants/RYY/held-batches", ryyKey, "")
	if !strings.HasPrefix(ryyList, `{"held_batches":[{"batch_id":"hb-2222222222222222","tenant":"RYY",`) || strings.Count(ryyList, `"batch_id"`) != 1 {
		t.Errorf("RYY batches = %s", ryyList)
	}

	// Bad decisions change nothing.
	release := base + "/" + a.BatchID + "/release"
	reason := "Confirmed with HR: restructure of Ward 7, all three leavers are genuine"
	check("POST", release, opsKey, "", 400, `{"error":"body must be JSON {\"reason\": \"...\"}"}`)
	check("POST", release, opsKey, `{"reason":""}`, 400, `{"error":"reason is required"}`)
	check("POST", release, opsKey, `{"reason":"   "}`, 400, `{"error":"reason is required"}`)
	check("POST", release, opsKey, `{}`, 400, `{"error":"reason is required"}`)
	check("POST", release, opsKey, `{"reason":"ok","force":true}`, 400, `{"error":"body must be JSON {\"reason\": \"...\"}"}`)
	// Trailing data after the object is refused: the body is one JSON value.
	check("POST", release, opsKey, `{"reason":"a"}{"reason":"b"}`, 400, `{"error":"body must be JSON {\"reason\": \"...\"}"}`)
	check("POST", release, opsKey, `{"reason":"a"} x`, 400, `{"error":"body must be JSON {\"reason\": \"...\"}"}`)
	check("POST", release, opsKey, `{"reason":"`+strings.Repeat("x", 501)+`"}`, 400, `{"error":"reason must be at most 500 characters"}`)
	check("POST", base+"/hb-0000000000000000/release", opsKey, `{"reason":"x"}`, 404, `{"error":"held batch not found"}`)
	check("POST", "/v1/tenants/RXX/held-batches/"+c.BatchID+"/reject", opsKey, `{"reason":"x"}`, 404, `{"error":"held batch not found"}`)
	if recs, _ := e.commands(); len(recs) != 0 {
		t.Fatalf("refused requests wrote %d commands", len(recs))
	}

	// Release: 202, exactly one command with the right fields.
	before := time.Now().Add(-time.Second)
	code, body := do(t, srv, "POST", release, opsKey, `{"reason":"`+reason+`"}`)
	var resp decisionResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != 202 {
		t.Fatalf("release = %d %s (%v)", code, body, err)
	}
	if !uuidRE.MatchString(resp.CommandID) || resp != (decisionResponse{CommandID: resp.CommandID, BatchID: a.BatchID, Action: "RELEASE", Status: "REQUESTED"}) {
		t.Errorf("release response = %s", body)
	}
	// A second decision while the first is on its way is refused.
	check("POST", release, opsKey, `{"reason":"again"}`, 409, `{"error":"batch hb-9f2c4e1a7b3d5f6e cannot be decided: a decision is pending: command `+resp.CommandID+`"}`)
	check("POST", base+"/"+a.BatchID+"/reject", opsKey, `{"reason":"no"}`, 409, `{"error":"batch hb-9f2c4e1a7b3d5f6e cannot be decided: a decision is pending: command `+resp.CommandID+`"}`)
	recs, cmds := e.commands()
	if len(cmds) != 1 {
		t.Fatalf("commands = %d, want 1: %+v", len(cmds), cmds)
	}
	cmd := cmds[0]
	if string(recs[0].Key) != "RXX" {
		t.Errorf("command key = %q, want RXX", recs[0].Key)
	}
	if cmd.CommandID != resp.CommandID || cmd.Tenant != "RXX" || cmd.Action != internalv1.OperatorActionRelease ||
		cmd.BatchID != a.BatchID || cmd.Actor != "ops-rxx" || cmd.Reason != reason ||
		cmd.RequestedAt.Before(before) || cmd.RequestedAt.After(time.Now()) {
		t.Errorf("command = %+v", cmd)
	}
	requestedAt := cmd.RequestedAt.UTC().Format(time.RFC3339Nano)
	auditA := func(status, decidedAt, emitted string) string {
		return fmt.Sprintf(`{"command_id":"%s","tenant":"RXX","batch_id":"%s","action":"RELEASE","actor":"ops-rxx","reason":"%s",
			"requested_at":"%s","status":"%s","decided_at":%s,"emitted":%s}`, cmd.CommandID, a.BatchID, reason, requestedAt, status, decidedAt, emitted)
	}
	check("GET", "/v1/tenants/RXX/audit", opsKey, "", 200, `{"audit":[`+auditA("REQUESTED", "null", "null")+`]}`)
	// Still HELD until publish reports the outcome.
	check("GET", base+"?status=HELD", opsKey, "", 200, `{"held_batches":[`+summaryB+`},`+summaryA+`}]}`)

	// Publish applies it: RELEASED completes the audit row; then a
	// re-delivered HELD record must not bring the batch back.
	releasedA := decided(a, internalv1.HeldBatchStatusReleased, "ops-rxx", reason, cmd.CommandID, 3)
	e.produce(true, e.heldBatch(releasedA))
	waitKey(t, srv, opsKey, base+"/"+a.BatchID, 200, `"status":"RELEASED"`)
	check("GET", "/v1/tenants/RXX/audit", opsKey, "", 200, `{"audit":[`+auditA("RELEASED", `"2024-03-12T08:30:00Z"`, "3")+`]}`)
	check("POST", release, opsKey, `{"reason":"again"}`, 409, `{"error":"batch hb-9f2c4e1a7b3d5f6e cannot be decided: batch is not HELD: it is RELEASED"}`)
	sentinel := heldRecord("RXX", "hb-3333333333333333", sha2, heldAt1.Add(-time.Hour), 3)
	e.produce(true, e.heldBatch(a), e.heldBatch(sentinel))
	waitKey(t, srv, opsKey, base+"/"+sentinel.BatchID, 200, `"status":"HELD"`)
	releasedJSON := strings.Replace(compact(t, summaryA+"}"), `"status":"HELD"`, `"status":"RELEASED"`, 1)
	releasedJSON = strings.Replace(releasedJSON, `"decided_at":null,"decided_by":null,"reason":null,"command_id":null,"emitted":0`,
		`"decided_at":"2024-03-12T08:30:00Z","decided_by":"ops-rxx","reason":"`+reason+`","command_id":"`+cmd.CommandID+`","emitted":3`, 1)
	check("GET", base+"?status=RELEASED", opsKey, "", 200, `{"held_batches":[`+releasedJSON+`]}`)

	// Reject likewise.
	code, body = do(t, srv, "POST", base+"/"+b.BatchID+"/reject", opsKey, `{"reason":"Truncated file; ESR resending"}`)
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != 202 || resp.Action != "REJECT" || resp.BatchID != b.BatchID || resp.Status != "REQUESTED" {
		t.Fatalf("reject = %d %s (%v)", code, body, err)
	}
	recs, cmds = e.commands()
	if len(cmds) != 2 {
		t.Fatalf("commands = %d, want 2", len(cmds))
	}
	rej := cmds[1]
	if rej.CommandID != resp.CommandID || rej.Tenant != "RXX" || rej.Action != internalv1.OperatorActionReject || rej.BatchID != b.BatchID ||
		rej.Actor != "ops-rxx" || rej.Reason != "Truncated file; ESR resending" || string(recs[1].Key) != "RXX" {
		t.Errorf("reject command = %+v", rej)
	}
	e.produce(true, e.heldBatch(decided(b, internalv1.HeldBatchStatusRejected, "ops-rxx", rej.Reason, rej.CommandID, 0)))
	waitKey(t, srv, opsKey, base+"/"+b.BatchID, 200, `"status":"REJECTED"`)
	check("POST", base+"/"+b.BatchID+"/release", opsKey, `{"reason":"changed my mind"}`, 409,
		`{"error":"batch hb-1111111111111111 cannot be decided: batch is not HELD: it is REJECTED"}`)
	_, audit := do(t, srv, "GET", "/v1/tenants/RXX/audit", opsKey, "")
	wantRej := fmt.Sprintf(`{"command_id":"%s","tenant":"RXX","batch_id":"%s","action":"REJECT","actor":"ops-rxx","reason":"Truncated file; ESR resending","requested_at":"%s","status":"REJECTED","decided_at":"2024-03-13T08:30:00Z","emitted":0}`,
		rej.CommandID, b.BatchID, rej.RequestedAt.UTC().Format(time.RFC3339Nano))
	if audit != `{"audit":[`+wantRej+`,`+compact(t, auditA("RELEASED", `"2024-03-12T08:30:00Z"`, "3"))+`]}` {
		t.Errorf("audit = %s", audit)
	}
	check("GET", "/v1/tenants/RXX/audit?batch_id="+b.BatchID, opsKey, "", 200, `{"audit":[`+wantRej+`]}`)
	check("GET", "/v1/tenants/RYY/audit", ryyKey, "", 200, `{"audit":[]}`)
	if recs, _ := e.commands(); len(recs) != 2 {
		t.Errorf("commands = %d after the refused requests, want 2", len(recs))
	}
	if got := testutil.ToFloat64(s.m.commands.WithLabelValues("RELEASE", "requested")); got != 1 {
		t.Errorf("release commands = %v", got)
	}
	if got := testutil.ToFloat64(s.m.commands.WithLabelValues("REJECT", "requested")); got != 1 {
		t.Errorf("reject commands = %v", got)
	}
	// Logs name the command, never the key or the operator's words.
	out := logs.String()
	if !strings.Contains(out, cmd.CommandID) {
		t.Errorf("logs do not mention command %s", cmd.CommandID)
	}
	for _, secret := range []string{opsKey, ryyKey, reason, "Truncated file"} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

// authFixture is a running api with RXX and RYY data and a set of clients.
type authFixture struct {
	e        *env
	s        *Service
	srv      *httptest.Server
	dbPath   string
	keys     map[string]string // client name → key
	rxxBatch string
	ryyBatch string
}

func newAuthFixture(t *testing.T, withClients bool) *authFixture {
	t.Helper()
	e := newEnv(t)
	f := &authFixture{e: e, dbPath: filepath.Join(t.TempDir(), "api.db"), keys: map[string]string{}}
	all := []string{auth.ScopeReadPeople, auth.ScopeReadEvents, auth.ScopeReadFiles, auth.ScopeReadBatches, auth.ScopeQuarantineRead}
	var clients []auth.Client
	if withClients {
		for _, c := range []auth.Client{
			{Name: "rxx-reader", Tenants: []string{"RXX"}, Scopes: all},
			{Name: "rxx-operator", Tenants: []string{"rxx"}, Scopes: []string{auth.ScopeOperate}},
			{Name: "ryy-all", Tenants: []string{"RYY"}, Scopes: append([]string{auth.ScopeOperate}, all...)},
			{Name: "any-people", Tenants: []string{"*"}, Scopes: []string{auth.ScopeReadPeople}},
			{Name: "any-batches", Tenants: []string{"*"}, Scopes: []string{auth.ScopeReadBatches}},
			{Name: "rxx-admin", Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeAdmin}},
		} {
			f.keys[c.Name] = newKey(t)
			c.KeySHA256 = auth.HashKey(f.keys[c.Name])
			clients = append(clients, c)
		}
	}
	st := starter()
	other := starter()
	// RYY's ids share nothing with RXX's, so a leak is visible in a body.
	other.EventID, other.Tenant, other.PersonID, other.EmployeeNumber = "ev-starter-ryy", "RYY", "49990001", "49990002"
	other.Source.FileSha256 = sha2
	a, c := heldRecord("RXX", "hb-9f2c4e1a7b3d5f6e", sha1, heldAt1, 3), heldRecord("RYY", "hb-2222222222222222", sha2, heldAt1, 3)
	for i := range c.Held {
		c.Held[i].PersonID, c.Held[i].EmployeeNumber = fmt.Sprintf("4999100%d", i), fmt.Sprintf("4999200%d", i)
	}
	f.rxxBatch, f.ryyBatch = a.BatchID, c.BatchID
	rep := &internalv1.FileReport{Tenant: "RXX", Vpd: "412", File: internalv1.FileInfo{Name: "F1", Sha256: sha1, Dialect: "go-v2",
		Kind: internalv1.FileKindChange, RunDate: day(2024, 3, 11)}, Status: internalv1.FileStatusAccepted,
		EventsEmitted: map[string]int64{}, ReportedAt: recorded1}
	repRYY := *rep
	repRYY.Tenant, repRYY.File.Sha256 = "RYY", sha2
	// One record each tenant's api cannot decode: a dead letter per tenant.
	notAvro := func(tenant string) *kgo.Record {
		return &kgo.Record{Topic: schemas.EventTopic(tenant, schemas.EventPositionUpdated), Key: []byte("x"), Value: []byte("not avro")}
	}
	e.produce(true,
		e.event("RXX", schemas.EventStarterCreated, 1, st.PersonID, st),
		e.event("RYY", schemas.EventStarterCreated, 1, other.PersonID, other),
		e.report(rep), e.report(&repRYY), e.heldBatch(a), e.heldBatch(c), notAvro("RXX"), notAvro("RYY"))
	f.s, f.srv = e.startWith(Config{DBURL: "sqlite:" + f.dbPath, Clients: clients}, testLogger(t))
	// Wait until everything is stored, reading the database directly so the
	// access log holds only the requests the test makes.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := f.s.store.DB().QueryRow(`SELECT (SELECT COUNT(*) FROM people) + (SELECT COUNT(*) FROM file_reports) + (SELECT COUNT(*) FROM held_batches)
			+ (SELECT COUNT(*) FROM dead_letters)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored %d rows, want 8", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return f
}

func testLogger(t *testing.T) *zap.Logger {
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(testWriter{t}), zapcore.DebugLevel))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// endpoint is one route of the API, addressed at a tenant.
type endpoint struct {
	name, method, path, body string
}

// endpoints returns every /v1 endpoint for tenant, with the ids that exist
// there. Decisions carry an empty reason: an authorised caller gets 400 and
// nothing is decided, so the matrix has no side effects.
func endpoints(tenant, person, sha, batch string) []endpoint {
	p := "/v1/tenants/" + tenant
	return []endpoint{
		{"person", "GET", p + "/people/" + person, ""},
		{"person-events", "GET", p + "/people/" + person + "/events", ""},
		{"events", "GET", p + "/events", ""},
		{"files", "GET", p + "/files", ""},
		{"file", "GET", p + "/files/" + sha, ""},
		{"held-batches", "GET", p + "/held-batches", ""},
		{"held-batch", "GET", p + "/held-batches/" + batch, ""},
		{"release", "POST", p + "/held-batches/" + batch + "/release", `{"reason":""}`},
		{"reject", "POST", p + "/held-batches/" + batch + "/reject", `{"reason":""}`},
		{"audit", "GET", p + "/audit", ""},
		{"dead-letters", "GET", p + "/dead-letters", ""},
		{"quarantine", "GET", p + "/quarantine", ""},
		{"quarantine-record", "GET", p + "/quarantine/q-00000000000000000000", ""},
		{"replay", "POST", p + "/quarantine/replay", `{"ids":["q-00000000000000000000"],"reason":""}`},
		{"replays", "GET", p + "/replays", ""},
		{"replay-detail", "GET", p + "/replays/rp-00000000000000000000", ""},
		{"file-release", "POST", p + "/files/" + sha + "/release", `{"reason":""}`},
		{"file-discard", "POST", p + "/files/" + sha + "/discard", `{"reason":""}`},
	}
}

// Every endpoint × every kind of caller: 401 without a valid key, 403 for a
// missing scope or another tenant, and the data only to the right client.
func TestAccessMatrix(t *testing.T) {
	f := newAuthFixture(t, true)
	const (
		noKey   = "401 " + `{"error":"an API key is required: send Authorization: Bearer <key>"}`
		badKey  = "401 " + `{"error":"invalid API key"}`
		forbRXX = "403 " + `{"error":"this API key is not allowed tenant RXX"}`
		forbRYY = "403 " + `{"error":"this API key is not allowed tenant RYY"}`
		ok      = "200"
		decided = "400 " + `{"error":"reason is required"}`
		qnf     = "404 " + `{"error":"quarantined record not found"}`
		rnf     = "404 " + `{"error":"replay not found"}`
		eps     = 18 // endpoints() has this many
	)
	scope := func(s ...string) string {
		return "403 " + `{"error":"this API key lacks the ` + strings.Join(s, " or ") + ` scope"}`
	}
	people, events, files, batches := scope(auth.ScopeReadPeople), scope(auth.ScopeReadEvents), scope(auth.ScopeReadFiles), scope(auth.ScopeReadBatches)
	operate, audit := scope(auth.ScopeOperate), scope(auth.ScopeOperate, auth.ScopeReadBatches)
	qread, replays := scope(auth.ScopeQuarantineRead), scope(auth.ScopeQuarantineRead, auth.ScopeOperate)
	type row struct {
		key  string
		want []string // per endpoint, in endpoints() order
	}
	rxx := endpoints("RXX", "20990417", sha1, f.rxxBatch)
	lower := endpoints("rxx", "20990417", sha1, f.rxxBatch)
	ryy := endpoints("RYY", "49990001", sha2, f.ryyBatch)
	matrix := []struct {
		eps  []endpoint
		rows map[string]row
	}{
		{rxx, map[string]row{
			"no key":       {"", rep(noKey, eps)},
			"bad key":      {newKey(t), rep(badKey, eps)},
			"rxx-reader":   {f.keys["rxx-reader"], []string{ok, ok, ok, ok, ok, ok, ok, operate, operate, ok, ok, ok, qnf, operate, ok, rnf, operate, operate}},
			"rxx-operator": {f.keys["rxx-operator"], []string{people, people, events, files, files, batches, batches, decided, decided, ok, ok, qread, qread, decided, ok, rnf, decided, decided}},
			"ryy-all":      {f.keys["ryy-all"], rep(forbRXX, eps)},
			"any-people":   {f.keys["any-people"], []string{ok, ok, events, files, files, batches, batches, operate, operate, audit, audit, qread, qread, operate, replays, replays, operate, operate}},
			"any-batches":  {f.keys["any-batches"], []string{people, people, events, files, files, ok, ok, operate, operate, ok, ok, qread, qread, operate, replays, replays, operate, operate}},
			// admin implies every scope, on its own tenants only.
			"rxx-admin": {f.keys["rxx-admin"], []string{ok, ok, ok, ok, ok, ok, ok, decided, decided, ok, ok, ok, qnf, decided, ok, rnf, decided, decided}},
		}},
		// The tenant in the path is case-insensitive; so is the check.
		{lower, map[string]row{
			"ryy-all":    {f.keys["ryy-all"], rep(forbRXX, eps)},
			"rxx-reader": {f.keys["rxx-reader"], []string{ok, ok, ok, ok, ok, ok, ok, operate, operate, ok, ok, ok, qnf, operate, ok, rnf, operate, operate}},
		}},
		{ryy, map[string]row{
			"no key":       {"", rep(noKey, eps)},
			"rxx-reader":   {f.keys["rxx-reader"], rep(forbRYY, eps)},
			"rxx-operator": {f.keys["rxx-operator"], rep(forbRYY, eps)},
			"ryy-all":      {f.keys["ryy-all"], []string{ok, ok, ok, ok, ok, ok, ok, decided, decided, ok, ok, ok, qnf, decided, ok, rnf, decided, decided}},
			"rxx-admin":    {f.keys["rxx-admin"], rep(forbRYY, eps)},
		}},
	}
	var requests int
	for _, m := range matrix {
		for name, r := range m.rows {
			for i, ep := range m.eps {
				code, body := do(t, f.srv, ep.method, ep.path, r.key, ep.body)
				requests++
				got := fmt.Sprint(code)
				if !strings.HasPrefix(r.want[i], "200") {
					got += " " + body
				}
				if got != r.want[i] {
					t.Errorf("%s %s as %s:\n got %s\nwant %s", ep.method, ep.path, name, got, r.want[i])
				}
				// Whatever the answer, it never carries the other tenant's data.
				leaks := []string{"20990417", "ev-starter-1", f.rxxBatch, sha1, "esr.rxx."} // RXX's
				if strings.Contains(strings.ToUpper(ep.path), "/RXX/") {
					leaks = []string{"4999", "ev-starter-ryy", f.ryyBatch, sha2, "esr.ryy."} // RYY's
				}
				for _, leak := range leaks {
					if strings.Contains(body, leak) {
						t.Errorf("%s %s as %s leaks the other tenant's %s: %s", ep.method, ep.path, name, leak, body)
					}
				}
			}
		}
	}
	// The RYY key reading RXX's ids under its own tenant finds nothing.
	ryyKey := f.keys["ryy-all"]
	for _, ep := range endpoints("RYY", "20990417", sha1, f.rxxBatch) {
		switch ep.name {
		case "events", "files", "held-batches", "audit", "dead-letters", "quarantine", "replay", "replays":
			continue
		}
		body := ep.body
		if body != "" {
			body = `{"reason":"probe"}`
		}
		code, got := do(t, f.srv, ep.method, ep.path, ryyKey, body)
		requests++
		if code != 404 {
			t.Errorf("%s %s as ryy-all = %d %s, want 404", ep.method, ep.path, code, got)
		}
	}
	// Unknown endpoints need a key too.
	for _, key := range []string{"", ryyKey} {
		code, _ := do(t, f.srv, "GET", "/v1/nothing", key, "")
		requests++
		if want := map[string]int{"": 401, ryyKey: 404}[key]; code != want {
			t.Errorf("GET /v1/nothing = %d, want %d", code, want)
		}
	}
	if recs, _ := f.e.commands(); len(recs) != 0 {
		t.Errorf("the matrix wrote %d commands", len(recs))
	}
	if recs, _ := f.e.intakeDecisions(); len(recs) != 0 {
		t.Errorf("the matrix wrote %d intake decisions", len(recs))
	}

	// Every request is in the access log, with who, what and the outcome.
	var n int
	flushAccessLog(t, f.s)
	if err := f.s.store.DB().QueryRow(`SELECT COUNT(*) FROM access_log`).Scan(&n); err != nil || n != requests {
		t.Errorf("access_log rows = %d (%v), want %d", n, err, requests)
	}
	rows, err := f.s.store.DB().Query(`SELECT client, method, path, COALESCE(tenant, ''), status, COUNT(*) FROM access_log
		WHERE path IN (?, ?) GROUP BY client, method, path, tenant, status ORDER BY client, path`,
		"/v1/tenants/RXX/held-batches/"+f.rxxBatch+"/release", "/v1/nothing")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var client, method, path, tenant string
		var status, count int
		if err := rows.Scan(&client, &method, &path, &tenant, &status, &count); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %s %s %d ×%d", client, method, strings.TrimPrefix(path, "/v1/tenants/RXX/held-batches/"+f.rxxBatch), tenant, status, count))
	}
	rows.Close()
	want := []string{
		"anonymous GET /v1/nothing  401 ×1",
		"anonymous POST /release RXX 401 ×2", // no key and a bad key
		"any-batches POST /release RXX 403 ×1",
		"any-people POST /release RXX 403 ×1",
		"rxx-admin POST /release RXX 400 ×1",
		"rxx-operator POST /release RXX 400 ×1",
		"rxx-reader POST /release RXX 403 ×1",
		"ryy-all GET /v1/nothing  404 ×1",
		"ryy-all POST /release RXX 403 ×1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("access log:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var badAt int
	if err := f.s.store.DB().QueryRow(`SELECT COUNT(*) FROM access_log WHERE at <= 0 OR duration_us < 0 OR request_id = ''`).Scan(&badAt); err != nil || badAt != 0 {
		t.Errorf("%d access rows without time, duration or id (%v)", badAt, err)
	}

	// No key is stored anywhere: not in the database file, nor its WAL.
	for _, p := range []string{f.dbPath, f.dbPath + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for name, key := range f.keys {
			if bytes.Contains(b, []byte(key)) || bytes.Contains(b, []byte(auth.HashKey(key))) {
				t.Errorf("%s holds %s's key or its hash", filepath.Base(p), name)
			}
		}
	}
}

func rep(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// With no clients configured (one machine), reads are open and operate is
// refused with a clear answer.
func TestOpenMode(t *testing.T) {
	f := newAuthFixture(t, false)
	for _, ep := range endpoints("RXX", "20990417", sha1, f.rxxBatch) {
		body := ""
		if ep.method == "POST" {
			body = `{"reason":"Confirmed with HR"}`
		}
		code, body := do(t, f.srv, ep.method, ep.path, "", body)
		want := 200
		if ep.name == "quarantine-record" || ep.name == "replay-detail" {
			want = 404 // read, and not there
		}
		if ep.method == "POST" {
			want = 401
			if body != `{"error":"an API key with the operate scope is required: this api has no API clients configured (--auth.clients)"}` {
				t.Errorf("%s %s = %s", ep.method, ep.path, body)
			}
		}
		if code != want {
			t.Errorf("%s %s = %d %s, want %d", ep.method, ep.path, code, body, want)
		}
	}
	// The endpoints outside a tenant that read: open too.
	for _, path := range []string{"/v1/whoami", "/v1/tenants"} {
		if code, body := do(t, f.srv, "GET", path, "", ""); code != 200 {
			t.Errorf("GET %s = %d %s, want 200", path, code, body)
		}
	}
	// A key is meaningless without clients: operate is still refused.
	if code, _ := do(t, f.srv, "POST", "/v1/tenants/RXX/held-batches/"+f.rxxBatch+"/release", newKey(t), `{"reason":"x"}`); code != 401 {
		t.Errorf("release with a key and no clients = %d, want 401", code)
	}
	if recs, _ := f.e.commands(); len(recs) != 0 {
		t.Errorf("open mode wrote %d commands", len(recs))
	}
	flushAccessLog(t, f.s)
	var anon, total int
	if err := f.s.store.DB().QueryRow(`SELECT SUM(CASE WHEN client = 'anonymous' THEN 1 ELSE 0 END), COUNT(*) FROM access_log`).Scan(&anon, &total); err != nil {
		t.Fatal(err)
	}
	if want := len(endpoints("RXX", "", "", "")) + 3; total != want || anon != want {
		t.Errorf("access log: %d rows, %d anonymous; want %d, %d", total, anon, want, want)
	}
}

// If Kafka does not take the command, the request fails with 503, the audit
// row says FAILED, and a retry is not blocked by it.
func TestDecisionKafkaUnavailable(t *testing.T) {
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
	h := heldRecord("RXX", "hb-9f2c4e1a7b3d5f6e", sha1, heldAt1, 3)
	if _, err := s.store.Apply(context.Background(), store.Batch{HeldBatches: []*internalv1.HeldBatch{h}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for range 2 {
		code, body := do(t, srv, "POST", "/v1/tenants/RXX/held-batches/"+h.BatchID+"/release", key, `{"reason":"confirmed"}`)
		if code != 503 || body != `{"error":"Kafka did not confirm the command (unavailable?); retry later"}` {
			t.Errorf("release = %d %s, want 503", code, body)
		}
	}
	_, body := do(t, srv, "GET", "/v1/tenants/RXX/audit", key, "")
	if n := strings.Count(body, `"status":"FAILED"`); n != 2 || strings.Contains(body, "REQUESTED") {
		t.Errorf("audit = %s, want two FAILED rows", body)
	}
	if got := testutil.ToFloat64(s.m.commands.WithLabelValues("RELEASE", "kafka_unavailable")); got != 2 {
		t.Errorf("kafka_unavailable = %v, want 2", got)
	}
}

// The held-batch store keeps a decision final whatever order records arrive.
func TestHeldBatchDecisionIsFinal(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		s := storetest.Open(t, dbURL)
		ctx := context.Background()
		h := heldRecord("rxx", "hb-9f2c4e1a7b3d5f6e", sha1, heldAt1, 2)
		rel := decided(h, internalv1.HeldBatchStatusReleased, "ops", "fine", "c-1", 2)
		rej := decided(h, internalv1.HeldBatchStatusRejected, "ops", "no", "c-2", 0)
		// Decision first (HELD lost from view), then HELD, then another
		// decision: the first decision stands.
		for _, r := range []*internalv1.HeldBatch{rel, h, rej, h} {
			if _, err := s.Apply(ctx, store.Batch{HeldBatches: []*internalv1.HeldBatch{r}}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.HeldBatchByID(ctx, "RXX", h.BatchID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != "RELEASED" || *got.CommandID != "c-1" || got.Emitted != 2 || len(got.Held) != 2 {
			t.Errorf("batch = %+v", got)
		}
	})
}

func TestHashKey(t *testing.T) {
	if got := auth.HashKey("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("auth.HashKey(abc) = %s", got)
	}
}

func TestLoadClients(t *testing.T) {
	hash := auth.HashKey("k1")
	write := func(s string) string {
		p := filepath.Join(t.TempDir(), "clients.yaml")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cs, err := auth.LoadClients(write(`clients:
  - name: rostering
    key_sha256: ` + hash + `
    tenants: [RXX, ryy]
    scopes: [read:people, read:events]
  - name: ops
    key_sha256: ` + strings.ToUpper(auth.HashKey("k2")) + `
    tenants: ["*"]
    scopes: [operate, read:batches]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []auth.Client{
		{Name: "rostering", KeySHA256: hash, Tenants: []string{"RXX", "ryy"}, Scopes: []string{"read:people", "read:events"}},
		{Name: "ops", KeySHA256: strings.ToUpper(auth.HashKey("k2")), Tenants: []string{"*"}, Scopes: []string{"operate", "read:batches"}},
	}
	if fmt.Sprint(cs) != fmt.Sprint(want) {
		t.Errorf("clients = %+v", cs)
	}
	for name, tc := range map[string]struct{ yaml, err string }{
		"unknown field": {"clients:\n  - name: a\n    key: k1\n    key_sha256: " + hash + "\n    tenants: [RXX]\n    scopes: [operate]\n", "field key not found"},
		"bad scope":     {"clients:\n  - name: a\n    key_sha256: " + hash + "\n    tenants: [RXX]\n    scopes: [write]\n", `unknown scope "write"`},
		"plain key":     {"clients:\n  - name: a\n    key_sha256: k1\n    tenants: [RXX]\n    scopes: [operate]\n", "key_sha256 must be 64 hex digits"},
		"no tenants":    {"clients:\n  - name: a\n    key_sha256: " + hash + "\n    scopes: [operate]\n", "tenants is empty"},
		"bad tenant":    {"clients:\n  - name: a\n    key_sha256: " + hash + "\n    tenants: [R-X]\n    scopes: [operate]\n", `tenant "R-X"`},
		"no scopes":     {"clients:\n  - name: a\n    key_sha256: " + hash + "\n    tenants: [RXX]\n", "scopes is empty"},
		"no name":       {"clients:\n  - key_sha256: " + hash + "\n    tenants: [RXX]\n    scopes: [operate]\n", "name is empty"},
		"same name":     {"clients:\n  - {name: a, key_sha256: " + hash + ", tenants: [RXX], scopes: [operate]}\n  - {name: a, key_sha256: " + auth.HashKey("k2") + ", tenants: [RXX], scopes: [operate]}\n", "defined twice"},
		"same key":      {"clients:\n  - {name: a, key_sha256: " + hash + ", tenants: [RXX], scopes: [operate]}\n  - {name: b, key_sha256: " + strings.ToUpper(hash) + ", tenants: [RXX], scopes: [operate]}\n", "used by another client"},
		"empty":         {"clients: []\n", "no clients defined"},
	} {
		_, err := auth.LoadClients(write(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.err)
		}
	}
}

// --auth.clients and ESRFLOW_API_AUTH_CLIENTS load the file into Config.
func TestAuthClientsFlag(t *testing.T) {
	p := filepath.Join(t.TempDir(), "clients.yaml")
	if err := os.WriteFile(p, []byte("clients:\n  - {name: ops, key_sha256: "+auth.HashKey("k")+", tenants: [RXX], scopes: [operate]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ESRFLOW_API_AUTH_CLIENTS", p)
	for _, args := range [][]string{{"--auth.clients", p}, nil} {
		var cfg Config
		fs := flag.NewFlagSet("api", flag.ContinueOnError)
		cfg.RegisterFlags(fs)
		if err := config.Parse(fs, args, "ESRFLOW_API"); err != nil {
			t.Fatal(err)
		}
		if len(cfg.Clients) != 1 || cfg.Clients[0].Name != "ops" {
			t.Errorf("args %v: clients = %+v", args, cfg.Clients)
		}
	}
	t.Setenv("ESRFLOW_API_AUTH_CLIENTS", filepath.Join(t.TempDir(), "missing.yaml"))
	var cfg Config
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := config.Parse(fs, nil, "ESRFLOW_API"); err == nil || !strings.Contains(err.Error(), "ESRFLOW_API_AUTH_CLIENTS") {
		t.Errorf("missing clients file: err = %v", err)
	}
}
