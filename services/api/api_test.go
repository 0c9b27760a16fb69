package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/kafka/kafkax"
	"github.com/esrflow/esrflow/platform/obs"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
	"github.com/esrflow/esrflow/services/api/store/storetest"
	"github.com/esrflow/esrflow/services/registry/registrytest"
)

var tenantTopics = func() []embedded.TopicSpec {
	var out []embedded.TopicSpec
	for _, tenant := range []string{"RXX", "RYY"} {
		for _, ev := range []string{schemas.EventStarterCreated, schemas.EventLeaverConfirmed, schemas.EventPositionUpdated, schemas.EventLeaverReversed} {
			out = append(out, embedded.TopicSpec{Name: schemas.EventTopic(tenant, ev), Partitions: 1})
		}
	}
	return append(out, embedded.TopicSpec{Name: schemas.TopicFileReports, Partitions: 1},
		embedded.TopicSpec{Name: schemas.TopicHeldBatches, Partitions: 1},
		embedded.TopicSpec{Name: schemas.TopicLineage, Partitions: 1},
		embedded.TopicSpec{Name: schemas.TopicCommands, Partitions: 1},
		embedded.TopicSpec{Name: schemas.TopicQuarantine, Partitions: 1},
		embedded.TopicSpec{Name: schemas.TopicReplays, Partitions: 1},
		embedded.TopicSpec{Name: schemas.TopicIntake, Partitions: 1})
}()

// env is a broker, a registry and a producer of real framed values.
type env struct {
	t        *testing.T
	broker   *embedded.Broker
	registry string
	cl       *kgo.Client
	serde    *avrox.Serde
	writers  map[string]avrox.Writer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	k := testkit.Kafka(t, tenantTopics...)
	url := registrytest.Start(t, k.Seeds())
	srCl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		t: t, broker: k, registry: url,
		cl:      testkit.Client(t, k.Seeds(), kgo.TransactionalID("api-test-producer")),
		serde:   avrox.New(srCl, internalv1.NewAPI()),
		writers: map[string]avrox.Writer{},
	}
}

// encode frames v with the given version of topic's schema, registering it
// under the topic's subject (every earlier version first, as the registrar
// does, so the subject's history is the real one).
func (e *env) encode(topic string, version int, v any) []byte {
	e.t.Helper()
	b, err := schemas.SchemaForTopic(topic)
	if err != nil {
		e.t.Fatal(err)
	}
	key := fmt.Sprintf("%s@%d", topic, version)
	w, ok := e.writers[key]
	if !ok {
		for ver := 1; ver <= version; ver++ {
			_, text, err := schemas.Version(b.Schema, ver)
			if err != nil {
				e.t.Fatal(err)
			}
			if w, err = e.serde.Register(context.Background(), schemas.Subject(topic), text); err != nil {
				e.t.Fatal(err)
			}
		}
		e.writers[key] = w
	}
	out, err := w.Encode(nil, v)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// produce writes records in one committed transaction (or an aborted one)
// and returns their offsets.
func (e *env) produce(commit bool, recs ...*kgo.Record) []int64 {
	e.t.Helper()
	ctx := context.Background()
	if err := e.cl.BeginTransaction(); err != nil {
		e.t.Fatal(err)
	}
	res := e.cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		e.t.Fatal(err)
	}
	if err := e.cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		e.t.Fatal(err)
	}
	var offsets []int64
	for _, r := range res {
		offsets = append(offsets, r.Record.Offset)
	}
	return offsets
}

func (e *env) event(tenant, event string, version int, key string, v any) *kgo.Record {
	topic := schemas.EventTopic(tenant, event)
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: e.encode(topic, version, v)}
}

func (e *env) report(r *internalv1.FileReport) *kgo.Record {
	return &kgo.Record{Topic: schemas.TopicFileReports, Key: []byte(r.Tenant), Value: e.encode(schemas.TopicFileReports, 1, r)}
}

// start runs an api service on dbURL until the test ends.
func (e *env) start(dbURL, group string) (*Service, *httptest.Server) {
	e.t.Helper()
	return e.startWith(Config{DBURL: dbURL, Group: group}, zaptest.NewLogger(e.t))
}

// startWith runs an api service with cfg, its Kafka, registry and instance
// filled in, until the test ends.
func (e *env) startWith(cfg Config, log *zap.Logger) (*Service, *httptest.Server) {
	e.t.Helper()
	cfg.Kafka = kafkax.Config{Brokers: e.broker.Seeds(), ClientID: "api-test"}
	cfg.RegistryURL, cfg.InstanceID, cfg.TopicRefresh = e.registry, "t", 200*time.Millisecond
	s, err := New(cfg, Deps{Log: log, Metrics: prometheus.NewRegistry()})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	// Served as the binary serves it: the probes beside the api, every
	// request logged, on a listener that logs what net/http answers itself.
	srv := httptest.NewUnstartedServer(s.LogRequests(obs.Handler(nil, &obs.Readiness{}, s.Handler())))
	srv.Listener = s.WrapListener(srv.Listener)
	srv.Start()
	e.t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil && err != context.Canceled {
			e.t.Errorf("Run: %v", err)
		}
		s.Close()
	})
	return s, srv
}

// flushAccessLog waits until every request answered so far is in the
// access log (it is written asynchronously, in batches).
func flushAccessLog(t *testing.T, s *Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.FlushAccessLog(ctx); err != nil {
		t.Fatalf("flushing the access log: %v", err)
	}
}

// The fixtures the store's tests share.
var (
	day       = storetest.Day
	src       = storetest.Src
	starter   = storetest.Starter
	snapshot  = storetest.Snapshot
	recorded1 = storetest.Recorded1
	recorded2 = storetest.Recorded2
)

const (
	sha1 = storetest.SHA1
	sha2 = "1111111111111111111111111111111111111111111111111111111111111111"
)

// get fetches a path without a key and returns the status and compacted
// body.
func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	return do(t, srv, "GET", path, "", "")
}

// waitFor polls path until it answers status with a body containing want.
func waitFor(t *testing.T, srv *httptest.Server, path string, status int, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get(t, srv, path)
		if code == status && strings.Contains(body, want) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %d %s; want %d containing %s", path, code, body, status, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func compact(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		t.Fatalf("bad expected JSON: %v\n%s", err, s)
	}
	return buf.String()
}

func assertGet(t *testing.T, srv *httptest.Server, path string, status int, want string) {
	t.Helper()
	code, body := get(t, srv, path)
	if code != status || body != compact(t, want) {
		t.Errorf("GET %s\n got %d %s\nwant %d %s", path, code, body, status, compact(t, want))
	}
}

func TestAPI(t *testing.T) {
	dbtest.ForEach(t, testAPI)
}

func testAPI(t *testing.T, dbURL string) {
	e := newEnv(t)
	// Tenant RXX: a starter, then a position change and an added assignment.
	st := starter()
	before, after := snapshot("Staff Nurse", "XR05"), snapshot("Senior Staff Nurse", "XR06")
	pos := &eventsv1.PositionUpdated{
		EventID: "ev-pos-1", Tenant: "RXX", Vpd: "412", PersonID: "20990417", EmployeeNumber: "31004581",
		EffectiveDate: day(2024, 4, 1), RecordedAt: recorded2, Source: src(9),
		AssignmentNumber: "31004581", Change: eventsv1.PositionChangeAttributesChanged, Before: before, After: after,
	}
	added := *pos
	added.EventID, added.AssignmentNumber, added.Change, added.Before = "ev-pos-2", "31004581-2", eventsv1.PositionChangeAssignmentAdded, nil
	added.After = snapshot("Bank Nurse", "XR05")
	// Two leavers: one written with leaver-confirmed v1, one with v2.
	lwd := day(2024, 3, 28)
	leaverV1 := &eventsv1.LeaverConfirmed{
		EventID: "ev-leaver-1", Tenant: "RXX", Vpd: "412", PersonID: "20110032", EmployeeNumber: "30977120",
		EffectiveDate: day(2024, 3, 29), RecordedAt: recorded1, Source: src(6),
		LeavingDate: day(2024, 3, 29), LeavingReason: "Voluntary Resignation - Relocation", LastWorkingDay: &lwd, DaysLate: -18,
	}
	fae := day(2024, 3, 31)
	leaverV2 := &eventsv1.LeaverConfirmed{
		EventID: "ev-leaver-2", Tenant: "RXX", Vpd: "412", PersonID: "20220055", EmployeeNumber: "30800001",
		EffectiveDate: day(2024, 3, 29), RecordedAt: recorded1, Source: src(7),
		LeavingDate: day(2024, 3, 29), LeavingReason: "Retirement Age", DaysLate: 0, FinalAssignmentEndDate: &fae,
	}
	// Tenant RYY: another person, never visible under RXX.
	other := starter()
	other.EventID, other.Tenant, other.Vpd, other.PersonID, other.EmployeeNumber = "ev-starter-ryy", "RYY", "413", "30000001", "40000001"

	stOff := e.produce(true, e.event("RXX", schemas.EventStarterCreated, 1, st.PersonID, st))
	posOff := e.produce(true,
		e.event("RXX", schemas.EventPositionUpdated, 1, pos.PersonID, pos),
		e.event("RXX", schemas.EventPositionUpdated, 1, added.PersonID, &added))
	l1Off := e.produce(true, e.event("RXX", schemas.EventLeaverConfirmed, 1, leaverV1.PersonID, leaverV1))
	e.produce(true, e.event("RXX", schemas.EventLeaverConfirmed, 2, leaverV2.PersonID, leaverV2))
	e.produce(true, e.event("RYY", schemas.EventStarterCreated, 1, other.PersonID, other))
	// An aborted transaction: read committed never sees this leaver.
	aborted := &eventsv1.LeaverConfirmed{
		EventID: "ev-aborted", Tenant: "RXX", Vpd: "412", PersonID: "20990417", EmployeeNumber: "31004581",
		EffectiveDate: day(2024, 5, 1), RecordedAt: recorded2.Add(time.Hour), Source: src(8), LeavingDate: day(2024, 5, 1),
	}
	e.produce(false, e.event("RXX", schemas.EventLeaverConfirmed, 2, aborted.PersonID, aborted))

	// File reports: an accepted file, its duplicate re-delivery (rejected,
	// same SHA-256), and another rejected file.
	accepted := &internalv1.FileReport{
		Tenant: "RXX", Vpd: "412",
		File: internalv1.FileInfo{Name: "GO_412_EXP_GOC_20240311_00000347.DAT", Sha256: sha1, Dialect: "go-v2",
			Kind: internalv1.FileKindChange, Sequence: 347, RunDate: day(2024, 3, 11), Size: 2417},
		Status: internalv1.FileStatusAccepted, RowsRead: 8, EntitiesAccepted: 5, Corrections: 1, Ignored: 2,
		EventsEmitted: map[string]int64{"starter-created": 1}, ReportedAt: recorded1,
	}
	dup := *accepted
	dupReason := "duplicate: file already accepted"
	dup.Status, dup.Reason, dup.EventsEmitted, dup.RowsRead, dup.EntitiesAccepted, dup.Corrections, dup.Ignored =
		internalv1.FileStatusRejected, &dupReason, map[string]int64{}, 0, 0, 0, 0
	dup.ReportedAt = recorded2
	rejected := &internalv1.FileReport{
		Tenant: "RXX", Vpd: "412",
		File: internalv1.FileInfo{Name: "GO_412_EXP_GOC_20240312_00000348.DAT", Sha256: sha2, Dialect: "go-v2",
			Kind: internalv1.FileKindChange, Sequence: 348, RunDate: day(2024, 3, 12), Size: 100},
		Status: internalv1.FileStatusRejected, Reason: store.Ptr("trailer count 7 does not match 8 data rows"),
		EventsEmitted: map[string]int64{}, ReportedAt: recorded1.Add(24 * time.Hour),
	}
	e.produce(true, e.report(accepted), e.report(&dup), e.report(rejected))

	s, srv := e.start(dbURL, "")

	// The v2 leaver is the last event produced on RXX's leaver topic.
	waitFor(t, srv, "/v1/tenants/RXX/people/20220055", 200, `"last_event_id":"ev-leaver-2"`)
	waitFor(t, srv, "/v1/tenants/ryy/people/30000001", 200, `"last_event_id":"ev-starter-ryy"`)
	waitFor(t, srv, "/v1/tenants/RXX/files/"+sha2, 200, `"status":"REJECTED"`)

	assertGet(t, srv, "/v1/tenants/rxx/people/20990417", 200, `{
		"tenant":"RXX","person_id":"20990417","vpd":"412","employee_number":"31004581","employment_status":"EMPLOYED",
		"start_date":"2024-03-11","scheduled":false,"rehire":false,"leaving_date":null,"leaving_reason":null,"last_working_day":null,
		"assignments":[
			{"assignment_number":"31004581","position_number":"5102277","position_title":"Senior Staff Nurse","organisation":"412 Cardiology Outpatients",
			 "grade":"XR06","staff_group":"Nursing and Midwifery Registered","job_role":"Staff Nurse","occupation_code":"N6A","location":"Ward 7 Admin"},
			{"assignment_number":"31004581-2","position_number":"5102277","position_title":"Bank Nurse","organisation":"412 Cardiology Outpatients",
			 "grade":"XR05","staff_group":"Nursing and Midwifery Registered","job_role":"Staff Nurse","occupation_code":"N6A","location":"Ward 7 Admin"}],
		"last_event_id":"ev-pos-2","updated_at":"2024-04-01T02:00:00Z"}`)
	assertGet(t, srv, "/v1/tenants/RXX/people/20110032", 200, `{
		"tenant":"RXX","person_id":"20110032","vpd":"412","employee_number":"30977120","employment_status":"LEFT",
		"start_date":null,"scheduled":false,"rehire":false,"leaving_date":"2024-03-29","leaving_reason":"Voluntary Resignation - Relocation",
		"last_working_day":"2024-03-28","assignments":[],"last_event_id":"ev-leaver-1","updated_at":"2024-03-11T02:17:03.25Z"}`)
	// Tenants are isolated; unknown people are 404.
	assertGet(t, srv, "/v1/tenants/RXX/people/30000001", 404, `{"error":"person not found"}`)
	assertGet(t, srv, "/v1/tenants/RYY/people/20990417", 404, `{"error":"person not found"}`)
	assertGet(t, srv, "/v1/tenants/RXX/people/99999999/events", 404, `{"error":"person not found"}`)
	assertGet(t, srv, "/v1/tenants/R-X/people/1", 400, `{"error":"tenant must be an ODS code (letters and digits)"}`)

	// Each event's place in the tenant's feed, which follows the order the
	// topics were materialised in (the order between topics may vary).
	seqOf := map[string]int64{}
	{
		_, body := get(t, srv, "/v1/tenants/RXX/events")
		var l struct {
			Events []struct {
				EventID string `json:"event_id"`
				Seq     int64  `json:"seq"`
			} `json:"events"`
		}
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatal(err)
		}
		for i, ev := range l.Events {
			if ev.Seq != int64(i+1) {
				t.Errorf("feed item %d (%s) has seq %d, want %d", i, ev.EventID, ev.Seq, i+1)
			}
			seqOf[ev.EventID] = ev.Seq
		}
	}
	// The v1 leaver reads through the latest schema: v2's field is null.
	stID, l1ID := e.writers[schemas.EventTopic("RXX", schemas.EventStarterCreated)+"@1"].ID, e.writers[schemas.EventTopic("RXX", schemas.EventLeaverConfirmed)+"@1"].ID
	assertGet(t, srv, "/v1/tenants/RXX/people/20110032/events", 200, fmt.Sprintf(`{"events":[{
		"event_id":"ev-leaver-1","type":"leaver-confirmed","tenant":"RXX","person_id":"20110032","effective_date":"2024-03-29",
		"recorded_at":"2024-03-11T02:17:03.25Z","kafka":{"topic":"esr.rxx.leaver-confirmed.v1","partition":0,"offset":%d,"schema_id":%d},
		"data":{"event_id":"ev-leaver-1","tenant":"RXX","vpd":"412","person_id":"20110032","employee_number":"30977120",
			"effective_date":"2024-03-29","recorded_at":"2024-03-11T02:17:03.25Z",
			"source":{"file_name":"GO_412_EXP_GOC_20240311_00000347.DAT","file_sha256":"%s","line":6},
			"leaving_date":"2024-03-29","leaving_reason":"Voluntary Resignation - Relocation","last_working_day":"2024-03-28",
			"days_late":-18,"transfer_to_tenant":null,"final_assignment_end_date":null},"seq":%d}]}`, l1Off[0], l1ID, sha1, seqOf["ev-leaver-1"]))
	_, v2body := get(t, srv, "/v1/tenants/RXX/people/20220055/events")
	if !strings.Contains(v2body, `"final_assignment_end_date":"2024-03-31"`) {
		t.Errorf("v2 leaver lost final_assignment_end_date: %s", v2body)
	}

	// The tenant's event listing, filtered and paged.
	listIDs := func(path string) ([]string, string) {
		t.Helper()
		code, body := get(t, srv, path)
		if code != 200 {
			t.Fatalf("GET %s = %d %s", path, code, body)
		}
		var l struct {
			Events []struct {
				EventID string `json:"event_id"`
				Kafka   struct{ Offset int64 }
			} `json:"events"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, ev := range l.Events {
			ids = append(ids, ev.EventID)
		}
		return ids, l.NextCursor
	}
	// The feed: every event once, in seq order, each topic's events in
	// their Kafka order.
	ids, next := listIDs("/v1/tenants/rxx/events")
	feedOrder := strings.Join(ids, ",")
	if sorted := slices.Sorted(slices.Values(ids)); strings.Join(sorted, ",") != "ev-leaver-1,ev-leaver-2,ev-pos-1,ev-pos-2,ev-starter-1" || next != "" {
		t.Errorf("events = %s (next %q), want each of ev-leaver-1,ev-leaver-2,ev-pos-1,ev-pos-2,ev-starter-1 once", feedOrder, next)
	}
	if seqOf["ev-leaver-1"] > seqOf["ev-leaver-2"] || seqOf["ev-pos-1"] > seqOf["ev-pos-2"] {
		t.Errorf("feed %s breaks a topic's Kafka order", feedOrder)
	}
	for i, id := range ids {
		if seqOf[id] != int64(i+1) {
			t.Errorf("feed %s: %s at %d has seq %d", feedOrder, id, i, seqOf[id])
		}
	}
	ids, _ = listIDs("/v1/tenants/RXX/events?type=position-updated")
	if got := strings.Join(ids, ","); got != "ev-pos-1,ev-pos-2" {
		t.Errorf("position-updated events = %s", got)
	}
	ids, _ = listIDs("/v1/tenants/RXX/events?since=2024-03-12")
	if got := strings.Join(ids, ","); got != "ev-pos-1,ev-pos-2" {
		t.Errorf("events since 2024-03-12 = %s", got)
	}
	ids, _ = listIDs("/v1/tenants/RXX/events?since=2024-03-11T02:17:03.25Z&type=starter-created")
	if got := strings.Join(ids, ","); got != "ev-starter-1" {
		t.Errorf("starters since = %s", got)
	}
	ids, _ = listIDs("/v1/tenants/RXX/events?since=2030-01-01")
	if len(ids) != 0 {
		t.Errorf("events since 2030 = %v, want none", ids)
	}
	var paged []string
	path := "/v1/tenants/RXX/events?limit=2"
	for range 5 {
		ids, next := listIDs(path)
		paged = append(paged, ids...)
		if next == "" {
			break
		}
		path = "/v1/tenants/RXX/events?limit=2&cursor=" + next
	}
	if got := strings.Join(paged, ","); got != feedOrder {
		t.Errorf("paged events = %s", got)
	}
	assertGet(t, srv, "/v1/tenants/RXX/events?type=leaver", 400, `{"error":"type must be starter-created, leaver-confirmed, position-updated or leaver-reversed"}`)
	assertGet(t, srv, "/v1/tenants/RXX/events?since=yesterday", 400, `{"error":"since must be an RFC 3339 timestamp or a YYYY-MM-DD date"}`)
	assertGet(t, srv, "/v1/tenants/RXX/events?limit=0", 400, `{"error":"limit must be 1 to 1000"}`)

	// File reports: the accepted report survives its duplicate rejection.
	acceptedJSON := fmt.Sprintf(`{"tenant":"RXX","vpd":"412","file":{"name":"GO_412_EXP_GOC_20240311_00000347.DAT","sha256":"%s",
		"dialect":"go-v2","kind":"CHANGE","sequence":347,"run_date":"2024-03-11","size":2417},"status":"ACCEPTED","reason":null,
		"rows_read":8,"entities_accepted":5,"quarantined":0,"corrections":1,"ignored":2,"events_emitted":{"starter-created":1},
		"leavers_held":0,"reported_at":"2024-03-11T02:17:03.25Z","rule_set_version":"","warnings":0,"top_rules":[],"replay_id":null,"duplicate_of":null,
		"hold":null,"decision":null}`, sha1)
	// By SHA-256 the file's history follows: both its reports, newest read first.
	dupJSON := fmt.Sprintf(`{"tenant":"RXX","vpd":"412","file":{"name":"GO_412_EXP_GOC_20240311_00000347.DAT","sha256":"%s",
		"dialect":"go-v2","kind":"CHANGE","sequence":347,"run_date":"2024-03-11","size":2417},"status":"REJECTED","reason":"duplicate: file already accepted",
		"rows_read":0,"entities_accepted":0,"quarantined":0,"corrections":0,"ignored":0,"events_emitted":{},
		"leavers_held":0,"reported_at":"2024-04-01T02:00:00Z","rule_set_version":"","warnings":0,"top_rules":[],"replay_id":null,"duplicate_of":null,
		"hold":null,"decision":null}`, sha1)
	withHistory := strings.TrimSuffix(acceptedJSON, "}") + `,"history":[` + dupJSON + `,` + acceptedJSON + `]}`
	assertGet(t, srv, "/v1/tenants/rxx/files/"+sha1, 200, withHistory)
	assertGet(t, srv, "/v1/tenants/RXX/files/"+strings.ToUpper(sha1), 200, withHistory)
	assertGet(t, srv, "/v1/tenants/RXX/files/GO_412_EXP_GOC_20240311_00000347.DAT", 200, acceptedJSON)
	assertGet(t, srv, "/v1/tenants/RYY/files/"+sha1, 404, `{"error":"file not found"}`)
	_, files := get(t, srv, "/v1/tenants/RXX/files")
	if !strings.HasPrefix(files, `{"files":[{"tenant":"RXX","vpd":"412","file":{"name":"GO_412_EXP_GOC_20240312_00000348.DAT"`) ||
		!strings.HasSuffix(files, compact(t, acceptedJSON)+`]}`) {
		t.Errorf("files (newest first) = %s", files)
	}

	// Re-delivery: the same starter again on a new offset, then a sentinel.
	// The duplicate changes nothing and is not stored twice.
	sentinel := starter()
	sentinel.EventID, sentinel.PersonID, sentinel.EmployeeNumber, sentinel.AssignmentNumber = "ev-starter-2", "20990418", "31004582", "31004582"
	again := e.produce(true,
		e.event("RXX", schemas.EventStarterCreated, 1, st.PersonID, st),
		e.event("RXX", schemas.EventStarterCreated, 1, sentinel.PersonID, sentinel))
	if again[0] == stOff[0] || posOff[0] == posOff[1] {
		t.Fatalf("offsets did not advance: %v %v", again, stOff)
	}
	waitFor(t, srv, "/v1/tenants/RXX/people/20990418", 200, `"last_event_id":"ev-starter-2"`)
	_, evs := get(t, srv, "/v1/tenants/RXX/people/20990417/events")
	if n := strings.Count(evs, `"event_id":"ev-starter-1","type"`); n != 1 {
		t.Errorf("starter stored %d times: %s", n, evs)
	}
	if !strings.Contains(evs, fmt.Sprintf(`"offset":%d,"schema_id":%d`, stOff[0], stID)) {
		t.Errorf("starter should keep its first delivery's position (offset %d): %s", stOff[0], evs)
	}
	if got := testutil.ToFloat64(s.mat.Metrics().Stored.WithLabelValues("RXX", "starter-created")); got != 2 {
		t.Errorf("esrflow_api_events_stored_total{RXX,starter-created} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(s.mat.Metrics().Duplicates); got != 1 {
		t.Errorf("duplicates = %v, want 1", got)
	}
	if got := testutil.ToFloat64(s.mat.Metrics().Stored.WithLabelValues("RYY", "starter-created")); got != 1 {
		t.Errorf("esrflow_api_events_stored_total{RYY,starter-created} = %v, want 1", got)
	}

	// A whole second read of every topic (a new consumer group on the same
	// database, as after a lost offset commit) stores nothing new.
	personBefore := waitFor(t, srv, "/v1/tenants/RXX/people/20990417", 200, "")
	s2, _ := e.start(dbURL, "esrflow-api-replay")
	deadline := time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(s2.mat.Metrics().Duplicates) < 8 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := testutil.ToFloat64(s2.mat.Metrics().Duplicates); got != 8 {
		t.Errorf("replay duplicates = %v, want 8 (every committed event)", got)
	}
	if n, err := testutil.GatherAndCount(prometheusGatherer(s2), "esrflow_api_events_stored_total"); err != nil || n != 0 {
		t.Errorf("replay stored %d series (%v), want none", n, err)
	}
	if _, after := get(t, srv, "/v1/tenants/RXX/people/20990417"); after != personBefore {
		t.Errorf("replay changed the person:\n%s\n%s", personBefore, after)
	}
}

func prometheusGatherer(s *Service) prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.mat.Metrics().Stored)
	return reg
}

// A tenant onboarded while the api runs is picked up without a restart.
func TestNewTenantTopicDiscovered(t *testing.T) {
	e := newEnv(t)
	_, srv := e.start("sqlite:"+filepath.Join(t.TempDir(), "api.db"), "")
	time.Sleep(300 * time.Millisecond)
	topic := schemas.EventTopic("RZZ", schemas.EventStarterCreated)
	if err := e.broker.EnsureTopics(context.Background(), embedded.TopicSpec{Name: topic, Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	st := starter()
	st.Tenant, st.EventID = "RZZ", "ev-rzz"
	e.produce(true, e.event("RZZ", schemas.EventStarterCreated, 1, st.PersonID, st))
	waitFor(t, srv, "/v1/tenants/rzz/people/20990417", 200, `"last_event_id":"ev-rzz"`)
}

// Records that are not Avro-framed are skipped and counted, and do not stop
// the events after them.
func TestUndecodableRecordSkipped(t *testing.T) {
	e := newEnv(t)
	topic := schemas.EventTopic("RXX", schemas.EventStarterCreated)
	st := starter()
	e.produce(true,
		&kgo.Record{Topic: topic, Key: []byte("x"), Value: []byte(`{"not":"avro"}`)},
		e.event("RXX", schemas.EventStarterCreated, 1, st.PersonID, st))
	s, srv := e.start("sqlite:"+filepath.Join(t.TempDir(), "api.db"), "")
	waitFor(t, srv, "/v1/tenants/RXX/people/20990417", 200, `"last_event_id":"ev-starter-1"`)
	if got := testutil.ToFloat64(s.mat.Metrics().Skipped.WithLabelValues(topic)); got != 1 {
		t.Errorf("skipped = %v, want 1", got)
	}
}
