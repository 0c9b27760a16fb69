package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/kafka/kafkax"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/feed"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// run starts an api service on dbURL and returns it with a stop function
// that shuts it down as a restart would (Run ends, the database closes).
func (e *env) run(cfg Config) (*Service, *httptest.Server, func()) {
	e.t.Helper()
	cfg.Kafka = kafkax.Config{Brokers: e.broker.Seeds(), ClientID: "api-test"}
	cfg.RegistryURL, cfg.InstanceID, cfg.TopicRefresh = e.registry, "t", 200*time.Millisecond
	s, err := New(cfg, Deps{Log: zaptest.NewLogger(e.t), Metrics: prometheus.NewRegistry()})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	srv := httptest.NewServer(s.Handler())
	var once sync.Once
	stop := func() {
		once.Do(func() {
			srv.Close()
			cancel()
			if err := <-done; err != nil && err != context.Canceled {
				e.t.Errorf("Run: %v", err)
			}
			s.Close()
		})
	}
	e.t.Cleanup(stop)
	return s, srv, stop
}

// feedPage is one page of GET /v1/tenants/{t}/events.
type feedPage struct {
	Events []struct {
		EventID string `json:"event_id"`
		Type    string `json:"type"`
		Seq     int64  `json:"seq"`
		Kafka   struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
			Offset    int64  `json:"offset"`
		} `json:"kafka"`
	} `json:"events"`
	Cursor     string `json:"cursor"`
	NextCursor string `json:"next_cursor"`
}

// The feed is a total order per tenant: events materialised from three
// topics at once, while the api restarts twice, are read in small
// long-polled pages with every event exactly once, numbered 1..N with no
// gap, and each topic's events in their Kafka order.
func TestFeedNoGapAcrossTopicsAndRestarts(t *testing.T) {
	dbtest.ForEach(t, testFeedNoGap)
}

func testFeedNoGap(t *testing.T, dbURL string) {
	e := newEnv(t)
	const perTopic = 60
	topics := []string{schemas.EventStarterCreated, schemas.EventLeaverConfirmed, schemas.EventPositionUpdated}
	// Encode every record first: the encoder's writer cache is not shared
	// across goroutines.
	recs := map[string][]*kgo.Record{}
	for i := range perTopic {
		person := fmt.Sprintf("3%07d", i%17)
		at := recorded1.Add(time.Duration(i) * time.Minute)
		st := starter()
		st.EventID, st.PersonID, st.RecordedAt = fmt.Sprintf("ev-st-%03d", i), person, at
		lv := &eventsv1.LeaverConfirmed{EventID: fmt.Sprintf("ev-lv-%03d", i), Tenant: "RXX", Vpd: "412", PersonID: person,
			EmployeeNumber: "31004581", EffectiveDate: day(2024, 5, 1), RecordedAt: at, Source: src(6), LeavingDate: day(2024, 5, 1),
			LeavingReason: "Retirement Age"}
		pu := &eventsv1.PositionUpdated{EventID: fmt.Sprintf("ev-pu-%03d", i), Tenant: "RXX", Vpd: "412", PersonID: person,
			EmployeeNumber: "31004581", EffectiveDate: day(2024, 4, 1), RecordedAt: at, Source: src(9), AssignmentNumber: "31004581",
			Change: eventsv1.PositionChangeAttributesChanged, Before: snapshot("Staff Nurse", "XR05"), After: snapshot("Senior Staff Nurse", "XR06")}
		for j, v := range []any{st, lv, pu} {
			recs[topics[j]] = append(recs[topics[j]], e.event("RXX", topics[j], 1, person, v))
		}
	}
	_, srv, stop := e.run(Config{DBURL: dbURL, MaxPollRecords: 7})

	// Three producers, one per topic, in small chunks so the api
	// materialises the topics interleaved.
	var wg sync.WaitGroup
	errs := make(chan error, len(topics))
	for _, topic := range topics {
		cl := testkit.Client(t, e.broker.Seeds())
		wg.Go(func() {
			for chunk := range slices.Chunk(recs[topic], 4) {
				if err := cl.ProduceSync(context.Background(), chunk...).FirstErr(); err != nil {
					errs <- err
					return
				}
			}
		})
	}

	total := perTopic * len(topics)
	seen := map[string]int64{}
	lastOffset := map[string]int64{}
	var order []int64
	cursor := ""
	restarts := 0
	deadline := time.Now().Add(2 * time.Minute) // a hang fails instead of blocking the suite
	for len(order) < total {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d events before giving up", len(order), total)
		}
		// Restart the api after a third and after two thirds: the reader
		// keeps its cursor, the new instance resumes the consumer group.
		if restarts < 2 && len(order) >= (restarts+1)*total/3 {
			stop()
			_, srv, stop = e.run(Config{DBURL: dbURL, MaxPollRecords: 7})
			restarts++
		}
		path := "/v1/tenants/RXX/events?limit=5&wait=5s&after=" + url.QueryEscape(cursor)
		code, body := get(t, srv, path)
		if code != 200 {
			t.Fatalf("GET %s = %d %s", path, code, body)
		}
		var p feedPage
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Events) == 0 && p.Cursor != cursor && cursor != "" {
			t.Fatalf("empty page moved the cursor from %q to %q", cursor, p.Cursor)
		}
		for _, ev := range p.Events {
			if prev, dup := seen[ev.EventID]; dup {
				t.Fatalf("event %s read twice (seq %d and %d)", ev.EventID, prev, ev.Seq)
			}
			seen[ev.EventID] = ev.Seq
			if want := int64(len(order) + 1); ev.Seq != want {
				t.Fatalf("event %s has seq %d, want %d: a gap or a reordering", ev.EventID, ev.Seq, want)
			}
			order = append(order, ev.Seq)
			if last, ok := lastOffset[ev.Kafka.Topic]; ok && ev.Kafka.Offset <= last {
				t.Fatalf("topic %s: offset %d after %d", ev.Kafka.Topic, ev.Kafka.Offset, last)
			}
			lastOffset[ev.Kafka.Topic] = ev.Kafka.Offset
		}
		if len(p.Events) > 0 {
			cursor = p.Cursor
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if restarts != 2 {
		t.Errorf("restarts = %d, want 2", restarts)
	}
	// Caught up: a long poll with a short wait ends empty, at the same cursor.
	code, body := get(t, srv, "/v1/tenants/RXX/events?wait=200ms&after="+url.QueryEscape(cursor))
	var p feedPage
	if err := json.Unmarshal([]byte(body), &p); code != 200 || err != nil || len(p.Events) != 0 || p.Cursor != cursor {
		t.Errorf("caught-up poll = %d %s (cursor %q)", code, body, cursor)
	}
	if len(seen) != total {
		t.Errorf("read %d distinct events, want %d", len(seen), total)
	}
	checkNewest(t, srv, seen)
}

// checkNewest reads ?order=newest after the feed was read whole (seen: event
// id → seq): the last four leavers by feed order, newest first, and the
// cursor after the newest; a position is refused with it.
func checkNewest(t *testing.T, srv *httptest.Server, seen map[string]int64) {
	t.Helper()
	var leavers []int64
	for id, seq := range seen {
		if strings.HasPrefix(id, "ev-lv-") {
			leavers = append(leavers, seq)
		}
	}
	slices.Sort(leavers)
	slices.Reverse(leavers)
	code, body := get(t, srv, "/v1/tenants/RXX/events?order=newest&limit=4&type=leaver-confirmed")
	var p feedPage
	if err := json.Unmarshal([]byte(body), &p); code != 200 || err != nil {
		t.Fatalf("order=newest = %d %s", code, body)
	}
	var got []int64
	for _, ev := range p.Events {
		if ev.Type != "leaver-confirmed" {
			t.Errorf("order=newest&type=leaver-confirmed listed a %s", ev.Type)
		}
		got = append(got, ev.Seq)
	}
	if !slices.Equal(got, leavers[:4]) {
		t.Errorf("order=newest seqs %v, want the last four leavers newest first %v", got, leavers[:4])
	}
	if want := feed.Cursor(leavers[0]); p.Cursor != want || p.NextCursor != "" {
		t.Errorf("order=newest cursor %q next %q, want %q and none", p.Cursor, p.NextCursor, want)
	}
	for _, q := range []string{"order=newest&after=" + url.QueryEscape(p.Cursor), "order=newest&wait=1s", "order=oldest"} {
		if code, body := get(t, srv, "/v1/tenants/RXX/events?"+q); code != http.StatusBadRequest {
			t.Errorf("events?%s = %d %s, want 400", q, code, body)
		}
	}
}

// A long poll returns as soon as the tenant's next event commits: the
// materialiser wakes it (polling is off here, so only the wake-up can
// answer before the minute's wait ends).
func TestFeedLongPollWokenByCommit(t *testing.T) {
	e := newEnv(t)
	s, srv, _ := e.run(Config{DBURL: "sqlite:" + t.TempDir() + "/api.db", FeedPoll: time.Hour})
	e.produce(true, e.event("RXX", schemas.EventStarterCreated, 1, "20990417", starter()))
	body := waitFor(t, srv, "/v1/tenants/RXX/events", 200, `"ev-starter-1"`)
	var first feedPage
	if err := json.Unmarshal([]byte(body), &first); err != nil {
		t.Fatal(err)
	}
	done := longPoll(t, srv, first.Cursor)
	// Another tenant's event does not answer the poll; RXX's next one does.
	eventually(t, "the long poll to park", func() bool { return s.feed.Waiting("RXX") })
	other := starter()
	other.EventID, other.Tenant = "ev-ryy", "RYY"
	e.produce(true, e.event("RYY", schemas.EventStarterCreated, 1, other.PersonID, other))
	waitFor(t, srv, "/v1/tenants/RYY/events", 200, `"ev-ryy"`)
	next := starter()
	next.EventID, next.PersonID = "ev-starter-2", "20990418"
	e.produce(true, e.event("RXX", schemas.EventStarterCreated, 1, next.PersonID, next))
	r := <-done
	var p feedPage
	if err := json.Unmarshal([]byte(r.body), &p); err != nil || r.code != 200 || len(p.Events) != 1 || p.Events[0].EventID != "ev-starter-2" || p.Events[0].Seq != 2 {
		t.Fatalf("long poll = %d %s; want ev-starter-2 at seq 2", r.code, r.body)
	}
	assertGet(t, srv, "/v1/tenants/RXX/events?wait=61s", 400, `{"error":"wait must be a duration from 0s to 60s (e.g. 30s) or a number of seconds"}`)
	assertGet(t, srv, "/v1/tenants/RXX/events?after=bm90LWEtY3Vyc29y", 400, `{"error":"bad cursor"}`)
}

// Two api instances share a PostgreSQL database: a long poll on the
// instance that does not consume is woken by the other's commit through
// LISTEN/NOTIFY (polling is off, so nothing else answers within the wait).
func TestFeedLongPollWokenByAnotherInstance(t *testing.T) {
	dbURL := dbtest.FreshPostgresSchema(t)
	e := newEnv(t)
	_, writer, _ := e.run(Config{DBURL: dbURL, FeedPoll: time.Hour})
	// The reader instance serves HTTP and listens, but consumes nothing: it
	// is not Run, and its consumer group is its own so that it takes no
	// partition from the writer's.
	reader, err := New(Config{DBURL: dbURL, FeedPoll: time.Hour, RegistryURL: e.registry, Group: "feed-reader-idle",
		Kafka: kafkax.Config{Brokers: e.broker.Seeds(), ClientID: "api-test-reader"}}, Deps{Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan struct{})
	go func() { defer close(listening); reader.listenFeed(ctx) }()
	srv := httptest.NewServer(reader.Handler())
	t.Cleanup(func() { srv.Close(); cancel(); <-listening; reader.Close() })

	e.produce(true, e.event("RXX", schemas.EventStarterCreated, 1, "20990417", starter()))
	waitFor(t, writer, "/v1/tenants/RXX/events", 200, `"ev-starter-1"`)
	body := waitFor(t, srv, "/v1/tenants/RXX/events", 200, `"ev-starter-1"`)
	var first feedPage
	if err := json.Unmarshal([]byte(body), &first); err != nil {
		t.Fatal(err)
	}
	done := longPoll(t, srv, first.Cursor)
	eventually(t, "the long poll to park", func() bool { return reader.feed.Waiting("RXX") })
	next := starter()
	next.EventID, next.PersonID = "ev-starter-2", "20990418"
	e.produce(true, e.event("RXX", schemas.EventStarterCreated, 1, next.PersonID, next))
	r := <-done
	var p feedPage
	if err := json.Unmarshal([]byte(r.body), &p); err != nil || r.code != 200 || len(p.Events) != 1 || p.Events[0].EventID != "ev-starter-2" {
		t.Fatalf("long poll on the other instance = %d %s; want ev-starter-2", r.code, r.body)
	}
}

// Long polls are bounded per client: MaxWaitersPerClient may wait at once,
// the next is 429 at once (not held open), another client is not affected,
// and a waiter that answers frees its place.
func TestFeedLongPollsBoundedPerClient(t *testing.T) {
	e := newEnv(t)
	a, b := newKey(t), newKey(t)
	clients := []auth.Client{
		{Name: "reader-a", KeySHA256: auth.HashKey(a), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeReadEvents}},
		{Name: "reader-b", KeySHA256: auth.HashKey(b), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeReadEvents}},
	}
	s, srv, _ := e.run(Config{DBURL: "sqlite:" + filepath.Join(t.TempDir(), "api.db"), Clients: clients})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range MaxWaitersPerClient {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/tenants/RXX/events?wait=30s", nil)
			req.Header.Set("Authorization", "Bearer "+a)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	eventually(t, "every waiter counted", func() bool {
		s.waiters.mu.Lock()
		defer s.waiters.mu.Unlock()
		return s.waiters.n["reader-a"] == MaxWaitersPerClient
	})
	if code, body := do(t, srv, "GET", "/v1/tenants/RXX/events?wait=30s", a, ""); code != http.StatusTooManyRequests {
		t.Errorf("one long poll too many = %d %s, want 429", code, body)
	}
	if code, body := do(t, srv, "GET", "/v1/tenants/RXX/events?wait=0s", a, ""); code != 200 {
		t.Errorf("a read without wait = %d %s, want 200", code, body)
	}
	done := make(chan int, 1)
	go func() { code, _ := do(t, srv, "GET", "/v1/tenants/RXX/events?wait=1s", b, ""); done <- code }()
	if code := <-done; code != 200 {
		t.Errorf("another client's long poll = %d, want 200", code)
	}
	cancel() // the waiters' clients go away: their places are freed
	wg.Wait()
	eventually(t, "the waiters released", func() bool {
		s.waiters.mu.Lock()
		defer s.waiters.mu.Unlock()
		return s.waiters.n["reader-a"] == 0
	})
}

// pollResult is the answer to a long poll.
type pollResult struct {
	code int
	body string
}

// longPoll asks RXX's feed for what follows cursor, waiting up to 60s, in
// the background; the answer arrives on the channel.
func longPoll(t *testing.T, srv *httptest.Server, cursor string) <-chan pollResult {
	done := make(chan pollResult, 1)
	go func() {
		resp, b, err := send(t, "GET", srv.URL+"/v1/tenants/RXX/events?wait=60s&after="+url.QueryEscape(cursor), "", "")
		if err != nil {
			done <- pollResult{0, err.Error()}
			return
		}
		done <- pollResult{resp.StatusCode, string(b)}
	}()
	return done
}
