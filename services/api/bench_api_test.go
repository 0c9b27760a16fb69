//go:build bench

// The api under load (`make bench-api`): a trust of BENCH_API_PEOPLE people
// (default 20,000) loaded into a fresh database through the materialiser's
// own store code (store.Store.Apply, the transaction a polled Kafka batch is
// written in; the decoding from Kafka is left out, it is not what the reads
// cost), the api started on 127.0.0.1 as the binary serves it (a keyed
// client, the access log on), and a Go load generator driving it with
// BENCH_API_CLIENTS concurrent keep-alive clients for BENCH_API_DURATION
// per scenario:
//
//   - static: a handler that writes a fixed body, on the same server (the
//     baseline: what HTTP, the load generator and the machine cost);
//   - person: GET /v1/tenants/RXX/people/{random id};
//   - feed:   GET /v1/tenants/RXX/events?after={random cursor}&limit=50, and
//     ?since={random}&limit=50;
//   - person while the materialiser writes: the person scenario while
//     batches of position changes are applied, one after another, the
//     write latency reported (reads must not block the materialiser).
//
// It is a test behind the bench build tag so that it reaches the store, and
// stays out of `make test`: it asserts no timing, it reports.
package api

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/esrflow/esrflow/platform/kafka/kafkax"
	"github.com/esrflow/esrflow/platform/obs"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/feed"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
	"github.com/esrflow/esrflow/services/api/store/storetest"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// result is one scenario's figures.
type result struct {
	name      string
	requests  int
	errors    int
	took      time.Duration
	p50, p99  time.Duration
	perSecond float64
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

// drive runs clients goroutines, each sending next()'s requests back to
// back for d, and returns the figures.
func drive(name string, cl *http.Client, clients int, d time.Duration, key string, next func(r *rand.Rand) string) result {
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      atomic.Int64
		wg        sync.WaitGroup
	)
	start := time.Now()
	stop := start.Add(d)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(c), 42))
			local := make([]time.Duration, 0, 1<<16)
			for time.Now().Before(stop) {
				req, _ := http.NewRequest("GET", next(r), nil)
				if key != "" {
					req.Header.Set("Authorization", "Bearer "+key)
				}
				t0 := time.Now()
				resp, err := cl.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				local = append(local, time.Since(t0))
				if err != nil || resp.StatusCode != 200 {
					errs.Add(1)
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	took := time.Since(start)
	slices.Sort(latencies)
	return result{name: name, requests: len(latencies), errors: int(errs.Load()), took: took,
		p50: percentile(latencies, 0.50), p99: percentile(latencies, 0.99),
		perSecond: float64(len(latencies)) / took.Seconds()}
}

// seed applies people starters (and one position change for every tenth)
// in batches of 1,000, the way the materialiser writes a polled batch.
func seed(t *testing.T, st *store.Store, people int, base time.Time) []time.Time {
	ctx := context.Background()
	var at []time.Time
	var b store.Batch
	flush := func() {
		if len(b.Events) == 0 {
			return
		}
		if _, err := st.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		b = store.Batch{}
	}
	for i := range people {
		rec := base.Add(time.Duration(i) * time.Second)
		ev := storetest.BenchEvent(i, rec, "")
		b.Events = append(b.Events, ev)
		at = append(at, rec)
		if i%10 == 0 {
			b.Events = append(b.Events, storetest.BenchEvent(i, rec.Add(time.Millisecond), "seed"))
		}
		if len(b.Events) >= 1000 {
			flush()
		}
	}
	flush()
	return at
}

func TestBenchAPI(t *testing.T) {
	people := envInt("BENCH_API_PEOPLE", 20_000)
	clients := envInt("BENCH_API_CLIENTS", 8)
	d := envDuration("BENCH_API_DURATION", 5*time.Second)
	dbURL := os.Getenv("BENCH_API_DB")
	switch dbURL {
	case "":
		dbURL = "sqlite:" + filepath.Join(t.TempDir(), "api.db")
	case "postgres": // a fresh schema on the tests' PostgreSQL (ESRFLOW_TEST_POSTGRES_URL)
		dbURL = dbtest.FreshPostgresSchema(t)
	}
	e := newEnv(t) // the service needs a broker and registry to start; the reads use neither
	key := newKey(t)
	s, err := New(Config{
		Kafka: kafkax.Config{Brokers: e.broker.Seeds(), ClientID: "api-bench"}, RegistryURL: e.registry, DBURL: dbURL,
		Clients: []auth.Client{{Name: "bench", KeySHA256: auth.HashKey(key), Tenants: []string{"RXX"}, Scopes: []string{auth.ScopeReadPeople, auth.ScopeReadEvents}}},
	}, Deps{Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
	t0 := time.Now()
	recorded := seed(t, s.store, people, base)
	seedTook := time.Since(t0)

	// One server, as the binary runs it: the api behind obs.Handler on a
	// wrapped listener, plus the static baseline route.
	static := []byte(`{"ok":true}` + "\n")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bench/static", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(static)
	})
	mux.Handle("/", obs.Handler(nil, &obs.Readiness{}, s.Handler()))
	srv, err := obs.Listen("127.0.0.1:0", mux, s.WrapListener)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	cl := &http.Client{Transport: &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, DisableCompression: true}}
	url := srv.URL()

	// Warm up (connections, page cache, statement cache).
	drive("warm-up", cl, clients, d/5, key, func(r *rand.Rand) string {
		return url + "/v1/tenants/RXX/people/" + storetest.PersonID(r.IntN(people))
	})
	results := []result{
		drive("static handler (baseline)", cl, clients, d, "", func(*rand.Rand) string { return url + "/bench/static" }),
		drive("GET person", cl, clients, d, key, func(r *rand.Rand) string {
			return url + "/v1/tenants/RXX/people/" + storetest.PersonID(r.IntN(people))
		}),
		drive("GET events (feed, 50 a page after a cursor)", cl, clients, d, key, func(r *rand.Rand) string {
			return url + "/v1/tenants/RXX/events?limit=50&after=" + feed.Cursor(int64(r.IntN(len(recorded))))
		}),
		drive("GET events (50 a page since a time)", cl, clients, d, key, func(r *rand.Rand) string {
			return url + "/v1/tenants/RXX/events?limit=50&since=" + recorded[r.IntN(len(recorded))].Format(time.RFC3339)
		}),
	}
	// Reads while the materialiser writes: batches of 100 position
	// changes applied back to back, each one's time kept.
	var writes []time.Duration
	writeStop := make(chan struct{})
	writeDone := make(chan struct{})
	go func() {
		defer close(writeDone)
		for n := 0; ; n++ {
			select {
			case <-writeStop:
				return
			default:
			}
			var b store.Batch
			for j := range 100 {
				i := (n*100 + j) % people
				b.Events = append(b.Events, storetest.BenchEvent(i, base.Add(time.Duration(people+n*100+j)*time.Second), "load"+strconv.Itoa(n)))
			}
			w0 := time.Now()
			if _, err := s.store.Apply(context.Background(), b); err != nil {
				t.Error(err)
				return
			}
			writes = append(writes, time.Since(w0))
		}
	}()
	results = append(results, drive("GET person, materialiser writing", cl, clients, d, key, func(r *rand.Rand) string {
		return url + "/v1/tenants/RXX/people/" + storetest.PersonID(r.IntN(people))
	}))
	close(writeStop)
	<-writeDone
	slices.Sort(writes)

	flushCtx, flushCancel := context.WithTimeout(context.Background(), time.Minute)
	defer flushCancel()
	if err := s.FlushAccessLog(flushCtx); err != nil {
		t.Fatal(err)
	}
	var logged int
	if err := s.store.DB().QueryRow(`SELECT COUNT(*) FROM access_log`).Scan(&logged); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range results[1:] {
		total += r.requests
	}

	var out strings.Builder
	kind := "sqlite"
	if strings.HasPrefix(dbURL, "postgres") {
		kind = "postgres"
	}
	fmt.Fprintf(&out, "api bench: %d people (+%d position changes) seeded in %s, %s, %d clients, %s per scenario, GOMAXPROCS %d\n\n",
		people, (people+9)/10, seedTook.Round(time.Millisecond), kind, clients, d, runtime.GOMAXPROCS(0))
	fmt.Fprintf(&out, "| scenario | requests | errors | req/s | p50 | p99 | req/s vs static |\n|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&out, "| %s | %d | %d | %.0f | %s | %s | %.2f |\n", r.name, r.requests, r.errors, r.perSecond,
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.perSecond/results[0].perSecond)
	}
	fmt.Fprintf(&out, "\nmaterialiser under that read load: %d batches of 100 events, p50 %s, p99 %s, max %s\n",
		len(writes), percentile(writes, 0.5).Round(10*time.Microsecond), percentile(writes, 0.99).Round(10*time.Microsecond),
		percentile(writes, 1).Round(10*time.Microsecond))
	fmt.Fprintf(&out, "access log: %d rows for the %d api requests measured (plus the warm-up)\n", logged, total)
	fmt.Print(out.String())
	if p := os.Getenv("BENCH_API_OUT"); p != "" {
		if err := os.WriteFile(p, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range results {
		if r.errors > 0 {
			t.Errorf("%s: %d requests failed", r.name, r.errors)
		}
	}
}
