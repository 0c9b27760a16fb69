package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
	"github.com/esrflow/esrflow/services/api/store/storetest"
)

// Reading hard never makes the materialiser wait: with more concurrent
// readers than the read pool has connections, every batch is applied, no
// read or write fails (no "database is locked"), and the writers' pool
// never waited for a connection (the reads have their own on SQLite, and
// PostgreSQL's pool has room for both).
func TestReadsDoNotBlockMaterialiser(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		s := storetest.Open(t, dbURL)
		ctx := context.Background()
		const people = 500
		base := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
		var seed store.Batch
		for i := range people {
			seed.Events = append(seed.Events, storetest.BenchEvent(i, base.Add(time.Duration(i)*time.Second), ""))
		}
		if _, err := s.Apply(ctx, seed); err != nil {
			t.Fatal(err)
		}
		readers := 2 * store.SQLiteReaderConns()
		if s.Dialect() == store.Postgres {
			readers = store.PostgresConns / 2
		}
		var (
			stop           atomic.Bool
			reads, readErr atomic.Int64
			firstErr       atomic.Value
			wg             sync.WaitGroup
		)
		for r := range readers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := r; !stop.Load(); i += readers {
					var err error
					if i%4 == 0 {
						_, err = s.Events(ctx, store.EventQuery{Tenant: "RXX", Since: base.Add(time.Duration(i%people) * time.Second), Limit: 50})
					} else {
						_, err = s.PersonByID(ctx, "RXX", storetest.PersonID(i%people))
					}
					reads.Add(1)
					if err != nil {
						readErr.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
				}
			}()
		}
		const batches = 20
		for n := range batches {
			var b store.Batch
			for j := range 25 {
				i := (n*25 + j) % people
				b.Events = append(b.Events, storetest.BenchEvent(i, base.Add(time.Hour+time.Duration(n*25+j)*time.Second), fmt.Sprint(n)))
			}
			if _, err := s.Apply(ctx, b); err != nil {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("batch %d while reading: %v", n, err)
			}
		}
		stop.Store(true)
		wg.Wait()
		if n := readErr.Load(); n > 0 {
			t.Errorf("%d of %d reads failed, first: %v", n, reads.Load(), firstErr.Load())
		}
		if w := s.DB().Stats().WaitCount; w != 0 {
			t.Errorf("the writers' pool waited %d times for a connection: the reads took the materialiser's connections", w)
		}
		// Every write landed: the last batch's people carry its events.
		p, err := s.PersonByID(ctx, "RXX", storetest.PersonID((batches-1)*25%people))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("ev-pos-%d-%d", batches-1, (batches-1)*25%people); p.LastEventID != want {
			t.Errorf("last event = %s, want %s", p.LastEventID, want)
		}
		if reads.Load() == 0 {
			t.Error("no reads ran")
		}
		var n int
		if err := s.DB().QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n); err != nil || n != people+batches*25 {
			t.Errorf("events = %d (%v), want %d", n, err, people+batches*25)
		}
	})
}

// A query prepared once is served from the cache; the cache is bounded.
func TestStatementCache(t *testing.T) {
	s := storetest.Open(t, "sqlite:"+t.TempDir()+"/api.db")
	ctx := context.Background()
	for range 3 {
		if _, err := s.PersonByID(ctx, "RXX", "1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("person = %v, want not found", err)
		}
	}
	if n := s.CachedStatements(); n != 1 {
		t.Errorf("%d statements cached after one query text, want 1", n)
	}
	for i := range store.StmtCacheSize + 5 {
		rows, err := s.QueryRead(ctx, fmt.Sprintf("SELECT %d", i))
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	if n := s.CachedStatements(); n != store.StmtCacheSize {
		t.Errorf("%d statements cached, want the bound %d", n, store.StmtCacheSize)
	}
}
