package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
	"github.com/esrflow/esrflow/services/api/store/storetest"
)

// Several writers committing one tenant's events at once (several api
// instances on one PostgreSQL): a reader following the feed sees each
// page continue exactly where the last ended, so it can never pass an
// event that commits later with a lower seq.
func TestFeedSeqContiguousUnderConcurrentWriters(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		s := storetest.Open(t, dbURL)
		const writers, batches, per = 4, 25, 3
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				for b := range batches {
					var bt store.Batch
					for i := range per {
						st := storetest.Starter()
						st.EventID, st.PersonID = fmt.Sprintf("ev-%d-%d-%d", w, b, i), fmt.Sprintf("P%d%d", w, i)
						bt.Events = append(bt.Events, storetest.Event(st))
					}
					if _, err := s.Apply(ctx, bt); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		writing := make(chan struct{})
		go func() { wg.Wait(); close(writing) }()
		var after int64
		total := int64(writers * batches * per)
		deadline := time.Now().Add(time.Minute)
		for after < total && time.Now().Before(deadline) {
			done := false
			select {
			case <-writing:
				done = true // the writers ended: read what is left, then stop
			default:
			}
			evs, err := s.Events(ctx, store.EventQuery{Tenant: "RXX", After: after, Limit: 7})
			if err != nil {
				t.Fatal(err)
			}
			if done && len(evs) == 0 {
				break
			}
			for _, e := range evs {
				if e.Seq != after+1 {
					t.Fatalf("read seq %d after %d: the feed skipped", e.Seq, after)
				}
				after = e.Seq
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if after != total {
			t.Errorf("read up to seq %d, want %d", after, total)
		}
	})
}

// Events stored before the feed existed are numbered in their old listing
// order (recorded_at, event_id) by the feed's migration, and new ones follow.
func TestMigrationNumbersExistingEvents(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		db, d := store.OpenAt(t, dbURL, 6)
		ctx := context.Background()
		for i, ev := range []struct {
			id, tenant string
			at         int64
		}{{"ev-b", "RXX", 200}, {"ev-a", "RXX", 200}, {"ev-c", "RXX", 100}, {"ev-y", "RYY", 50}} {
			if _, err := db.ExecContext(ctx, d.Rebind(`INSERT INTO events (event_id, tenant, type, person_id, effective_date, recorded_at,
				topic, kafka_partition, kafka_offset, schema_id, payload, stored_at) VALUES (?, ?, 'starter-created', 'P1', '2024-03-11', ?, 't', 0, ?, 1, '{}', 0)`),
				ev.id, ev.tenant, ev.at, i); err != nil {
				t.Fatal(err)
			}
		}
		if err := store.Migrate(ctx, db, d); err != nil {
			t.Fatal(err)
		}
		s := store.Wrap(db, d)
		st := storetest.Starter()
		st.EventID = "ev-new"
		if _, err := s.Apply(ctx, store.Batch{Events: []store.PublicEvent{storetest.Event(st)}}); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, tenant := range []string{"RXX", "RYY"} {
			evs, err := s.Events(ctx, store.EventQuery{Tenant: tenant, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				got = append(got, fmt.Sprintf("%s:%s=%d", tenant, e.EventID, e.Seq))
			}
		}
		if want := "RXX:ev-c=1 RXX:ev-a=2 RXX:ev-b=3 RXX:ev-new=4 RYY:ev-y=1"; strings.Join(got, " ") != want {
			t.Errorf("feed = %s, want %s", strings.Join(got, " "), want)
		}
	})
}
