package api

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// A leaving reason with a NUL byte is valid in the file and in Avro, but
// PostgreSQL's text cannot hold it. The api must store the person (the value
// made safe), keep the exact value in the event's data, and go on with the
// records after it, for every tenant.
func TestNULInLeavingReasonDoesNotStall(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		leaver := leaverEvent("ev-nul", "RXX", "20110032")
		leaver.LeavingReason = "Voluntary Resignation\x00- Relocation"
		next := starter()
		next.EventID, next.Tenant, next.PersonID = "ev-after-nul", "RYY", "30000001"
		e.produce(true, e.event("RXX", schemas.EventLeaverConfirmed, 2, leaver.PersonID, leaver))
		e.produce(true, e.event("RYY", schemas.EventStarterCreated, 1, next.PersonID, next))
		s, srv := e.start(dbURL, "")

		waitFor(t, srv, "/v1/tenants/RYY/people/30000001", 200, `"last_event_id":"ev-after-nul"`)
		waitFor(t, srv, "/v1/tenants/RXX/people/20110032", 200,
			"\"leaving_reason\":\"Voluntary Resignation\ufffd- Relocation\"")
		// The event itself keeps the exact value (JSON escapes the NUL).
		waitFor(t, srv, "/v1/tenants/RXX/people/20110032/events", 200,
			`"leaving_reason":"Voluntary Resignation\u0000- Relocation"`)
		if got := testutil.ToFloat64(s.mat.Metrics().DeadLetters.WithLabelValues(schemas.EventTopic("RXX", schemas.EventLeaverConfirmed), store.DeadStore)); got != 0 {
			t.Errorf("dead letters = %v, want 0: the value is storable once made safe", got)
		}
	})
}

var _ = filepath.Join

func leaverEvent(id, tenant, person string) *eventsv1.LeaverConfirmed {
	return &eventsv1.LeaverConfirmed{
		EventID: id, Tenant: tenant, Vpd: "412", PersonID: person, EmployeeNumber: "30977120",
		EffectiveDate: day(2024, 3, 29), RecordedAt: recorded1, Source: src(6),
		LeavingDate: day(2024, 3, 29), LeavingReason: "Voluntary Resignation - Relocation",
	}
}

// deadLetterRows returns the dead_letters rows as "topic/partition/offset stage tenant".
func deadLetterRows(t *testing.T, s *Service) []string {
	t.Helper()
	rows, err := s.store.DB().Query(`SELECT topic, kafka_partition, kafka_offset, stage, COALESCE(tenant, ''), reason, record_value FROM dead_letters ORDER BY topic, kafka_offset`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var topic, stage, tenant, reason, value string
		var p int32
		var off int64
		if err := rows.Scan(&topic, &p, &off, &stage, &tenant, &reason, &value); err != nil {
			t.Fatal(err)
		}
		if reason == "" || value == "" {
			t.Errorf("dead letter %s/%d/%d without reason or value", topic, p, off)
		}
		out = append(out, fmt.Sprintf("%s/%d/%d %s %s", topic, p, off, stage, tenant))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// A record the api keys on a value no store can hold (a person id with a
// NUL byte) is dead-lettered with its reason, counted, and the records
// after it are applied.
func TestInvalidRecordDeadLettered(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		bad := leaverEvent("ev-bad-id", "RXX", "2011\x000032")
		good := leaverEvent("ev-good", "RXX", "20110033")
		topic := schemas.EventTopic("RXX", schemas.EventLeaverConfirmed)
		offs := e.produce(true,
			e.event("RXX", schemas.EventLeaverConfirmed, 2, "2011", bad),
			e.event("RXX", schemas.EventLeaverConfirmed, 2, good.PersonID, good))
		s, srv := e.start(dbURL, "")
		waitFor(t, srv, "/v1/tenants/RXX/people/20110033", 200, `"last_event_id":"ev-good"`)
		if got, want := strings.Join(deadLetterRows(t, s), ","), fmt.Sprintf("%s/0/%d invalid RXX", topic, offs[0]); got != want {
			t.Errorf("dead letters = %s, want %s", got, want)
		}
		if got := testutil.ToFloat64(s.mat.Metrics().DeadLetters.WithLabelValues(topic, store.DeadInvalid)); got != 1 {
			t.Errorf("esrflow_api_dead_letters_total{invalid} = %v, want 1", got)
		}
		_, body := get(t, srv, "/v1/tenants/rxx/dead-letters")
		if want := fmt.Sprintf(`{"dead_letters":[{"topic":"%s","partition":0,"offset":%d,"stage":"invalid","reason":"event: person_id is not valid text (NUL byte or invalid UTF-8)","at":"`, topic, offs[0]); !strings.HasPrefix(body, want) {
			t.Errorf("GET dead-letters = %s, want %s…", body, want)
		}
		assertGet(t, srv, "/v1/tenants/RYY/dead-letters", 200, `{"dead_letters":[]}`)
	})
}

// A record the database itself refuses (on PostgreSQL a person id too long
// for its index; SQLite takes it) neither stalls the batch nor the records
// around it: on PostgreSQL it is dead-lettered with stage "store".
func TestRecordTheStoreRefusesDeadLettered(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		e := newEnv(t)
		b := make([]byte, 64<<10)
		_, _ = rand.Read(b)
		long := hex.EncodeToString(b)
		before := leaverEvent("ev-before", "RXX", "20110031")
		huge := leaverEvent("ev-huge", "RXX", long)
		after := leaverEvent("ev-after", "RXX", "20110033")
		topic := schemas.EventTopic("RXX", schemas.EventLeaverConfirmed)
		offs := e.produce(true,
			e.event("RXX", schemas.EventLeaverConfirmed, 2, before.PersonID, before),
			e.event("RXX", schemas.EventLeaverConfirmed, 2, "huge", huge),
			e.event("RXX", schemas.EventLeaverConfirmed, 2, after.PersonID, after))
		s, srv := e.start(dbURL, "")
		waitFor(t, srv, "/v1/tenants/RXX/people/20110033", 200, `"last_event_id":"ev-after"`)
		waitFor(t, srv, "/v1/tenants/RXX/people/20110031", 200, `"last_event_id":"ev-before"`)
		var want string
		if strings.HasPrefix(dbURL, "postgres") {
			want = fmt.Sprintf("%s/0/%d store RXX", topic, offs[1])
		} else {
			waitFor(t, srv, "/v1/tenants/RXX/people/"+long, 200, `"last_event_id":"ev-huge"`)
		}
		if got := strings.Join(deadLetterRows(t, s), ","); got != want {
			t.Errorf("dead letters = %q, want %q", got, want)
		}
	})
}

// A database that refuses every record (here its people table is gone) is
// not the records' fault: nothing is dead-lettered, the batch is retried,
// and readiness and the gauges show a stuck consumer until it recovers.
func TestStuckConsumerShowsInReadinessAndLag(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "api.db")
	s, srv := e.startWith(Config{DBURL: "sqlite:" + path, StallTimeout: time.Millisecond}, zaptest.NewLogger(t))
	first := leaverEvent("ev-1", "RXX", "20110031")
	e.produce(true, e.event("RXX", schemas.EventLeaverConfirmed, 2, first.PersonID, first))
	waitFor(t, srv, "/v1/tenants/RXX/people/20110031", 200, `"last_event_id":"ev-1"`)
	if err := s.Ready(); err != nil {
		t.Fatalf("Ready while consuming: %v", err)
	}

	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec(`ALTER TABLE people RENAME TO people_away`); err != nil {
		t.Fatal(err)
	}
	second, third := leaverEvent("ev-2", "RXX", "20110032"), leaverEvent("ev-3", "RXX", "20110033")
	e.produce(true,
		e.event("RXX", schemas.EventLeaverConfirmed, 2, second.PersonID, second),
		e.event("RXX", schemas.EventLeaverConfirmed, 2, third.PersonID, third))
	deadline := time.Now().Add(30 * time.Second)
	for s.Ready() == nil {
		if time.Now().After(deadline) {
			t.Fatal("Ready still passes while every write fails")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Ready(); !strings.Contains(fmt.Sprint(err), "consumer stuck") {
		t.Errorf("Ready = %v, want consumer stuck", err)
	}
	// Lag counts offsets, as Kafka's does: the two records and the
	// transaction's commit marker.
	if lag := s.mat.Lag(); lag != 3 {
		t.Errorf("lag = %d, want 3", lag)
	}
	if s.mat.Stalled() <= 0 {
		t.Error("stalled gauge is 0 while stuck")
	}

	if _, err := other.Exec(`ALTER TABLE people_away RENAME TO people`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, "/v1/tenants/RXX/people/20110032", 200, `"last_event_id":"ev-2"`)
	deadline = time.Now().Add(30 * time.Second)
	for s.Ready() != nil || s.mat.Lag() > 1 { // at most the commit marker
		if time.Now().After(deadline) {
			t.Fatalf("after recovery: Ready = %v, lag = %d", s.Ready(), s.mat.Lag())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rows := deadLetterRows(t, s); len(rows) != 0 {
		t.Errorf("dead letters while the database was broken: %v", rows)
	}
}
