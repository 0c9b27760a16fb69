package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
)

// openServiceStore opens a store as New does: the writers' pool, the
// schema, then the read pool.
func openServiceStore(t *testing.T, dbURL string) *store {
	t.Helper()
	db, d, err := openDB(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(context.Background(), db, d); err != nil {
		t.Fatal(err)
	}
	read, err := openReader(dbURL, d, db)
	if err != nil {
		t.Fatal(err)
	}
	s := &store{db: db, d: d, read: read}
	t.Cleanup(s.close)
	return s
}

// Reading hard never makes the materialiser wait: with more concurrent
// readers than the read pool has connections, every batch is applied, no
// read or write fails (no "database is locked"), and the writers' pool
// never waited for a connection (the reads have their own on SQLite, and
// PostgreSQL's pool has room for both).
func TestReadsDoNotBlockMaterialiser(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		s := openServiceStore(t, dbURL)
		ctx := context.Background()
		const people = 500
		base := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
		var seed batch
		for i := range people {
			seed.Events = append(seed.Events, benchEvent(i, base.Add(time.Duration(i)*time.Second), ""))
		}
		if _, err := s.apply(ctx, seed); err != nil {
			t.Fatal(err)
		}
		readers := 2 * sqliteReaderConns()
		if s.d == postgres {
			readers = postgresConns / 2
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
						_, err = s.events(ctx, eventQuery{Tenant: "RXX", Since: base.Add(time.Duration(i%people) * time.Second), Limit: 50})
					} else {
						_, err = s.person(ctx, "RXX", personID(i%people))
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
			var b batch
			for j := range 25 {
				i := (n*25 + j) % people
				b.Events = append(b.Events, benchEvent(i, base.Add(time.Hour+time.Duration(n*25+j)*time.Second), fmt.Sprint(n)))
			}
			if _, err := s.apply(ctx, b); err != nil {
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
		if w := s.db.Stats().WaitCount; w != 0 {
			t.Errorf("the writers' pool waited %d times for a connection: the reads took the materialiser's connections", w)
		}
		// Every write landed: the last batch's people carry its events.
		p, err := s.person(ctx, "RXX", personID((batches-1)*25%people))
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
		if err := s.db.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n); err != nil || n != people+batches*25 {
			t.Errorf("events = %d (%v), want %d", n, err, people+batches*25)
		}
	})
}

// A query prepared once is served from the cache; the cache is bounded.
func TestStatementCache(t *testing.T) {
	s := openServiceStore(t, "sqlite:"+t.TempDir()+"/api.db")
	ctx := context.Background()
	for range 3 {
		if _, err := s.person(ctx, "RXX", "1"); !errors.Is(err, errNotFound) {
			t.Fatalf("person = %v, want not found", err)
		}
	}
	if n := len(s.stmts.m); n != 1 {
		t.Errorf("%d statements cached after one query text, want 1", n)
	}
	for i := range stmtCacheSize + 5 {
		rows, err := s.queryRead(ctx, fmt.Sprintf("SELECT %d", i))
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	if n := len(s.stmts.m); n != stmtCacheSize {
		t.Errorf("%d statements cached, want the bound %d", n, stmtCacheSize)
	}
}

// benchEvent is person i's starter (tag empty) or a position change tagged
// tag, recorded at rec: what the load tests and make bench-api write.
func benchEvent(i int, rec time.Time, tag string) event {
	if tag == "" {
		return benchStarter(i, rec)
	}
	return benchPosition(i, rec, tag)
}

func personID(i int) string { return strconv.Itoa(20_000_000 + i) }

func benchStarter(i int, rec time.Time) event {
	x := &eventsv1.StarterCreated{
		EventID: fmt.Sprintf("ev-st-%d", i), Tenant: "RXX", Vpd: "412", PersonID: personID(i),
		EmployeeNumber: strconv.Itoa(30_000_000 + i), EffectiveDate: rec.Truncate(24 * time.Hour), RecordedAt: rec,
		AssignmentNumber: strconv.Itoa(30_000_000 + i), PositionNumber: "5102277", PositionTitle: "Staff Nurse",
		Organisation: "412 Cardiology Outpatients", StartDate: rec.Truncate(24 * time.Hour),
		Source: eventsv1.Source{FileName: "GO_412_EXP_GOC_20240311_00000347.DAT", FileSha256: sha1, Line: int64(i + 2)},
	}
	payload, _ := json.Marshal(x)
	return event{ID: x.EventID, Tenant: x.Tenant, Type: schemas.StarterCreated, PersonID: x.PersonID, RecordedAt: rec,
		EffectiveDate: x.EffectiveDate, Topic: "esr.rxx.starter-created.v1", Offset: int64(i), SchemaID: 1,
		Payload: payload, Source: x.Source, Starter: x}
}

func benchPosition(i int, rec time.Time, tag string) event {
	x := &eventsv1.PositionUpdated{
		EventID: fmt.Sprintf("ev-pos-%s-%d", tag, i), Tenant: "RXX", Vpd: "412", PersonID: personID(i),
		EmployeeNumber: strconv.Itoa(30_000_000 + i), EffectiveDate: rec.Truncate(24 * time.Hour), RecordedAt: rec,
		AssignmentNumber: strconv.Itoa(30_000_000 + i), Change: eventsv1.PositionChangeAttributesChanged,
		Before: snapshot("Staff Nurse", "XR05"), After: snapshot("Senior Staff Nurse", "XR06"),
	}
	payload, _ := json.Marshal(x)
	return event{ID: x.EventID, Tenant: x.Tenant, Type: schemas.PositionUpdated, PersonID: x.PersonID, RecordedAt: rec,
		EffectiveDate: x.EffectiveDate, Topic: "esr.rxx.position-updated.v1", Offset: int64(i), SchemaID: 1,
		Payload: payload, Position: x}
}
