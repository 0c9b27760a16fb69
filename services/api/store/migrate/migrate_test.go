package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/esrflow/esrflow/services/api/store/dbtest"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver
	"github.com/pressly/goose/v3/database"
	_ "modernc.org/sqlite" // "sqlite" driver
)

// target is one database to migrate; open returns a new pool on it (two
// pools stand for two api instances).
type target struct {
	dialect string
	open    func(t *testing.T) *sql.DB
}

func forEachDB(t *testing.T, fn func(t *testing.T, tg target)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "api.db")
		fn(t, target{dialect: "sqlite", open: func(t *testing.T) *sql.DB {
			// As the api opens it: immediate transactions, waiting for the lock.
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return db
		}})
	})
	t.Run("postgres", func(t *testing.T) {
		url := dbtest.FreshPostgresSchema(t)
		fn(t, target{dialect: "postgres", open: func(t *testing.T) *sql.DB {
			db, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return db
		}})
	})
}

// countingHook is a version 7 hook that counts its runs and checks that it
// sees the version's tables (it runs after the SQL, in its transaction).
func countingHook(n *atomic.Int32) Option {
	return WithHook(7, func(ctx context.Context, tx *sql.Tx) error {
		var rows int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM person_assignments`).Scan(&rows); err != nil {
			return err
		}
		n.Add(1)
		return nil
	})
}

// recorded is goose's record: how many rows each version has.
func recorded(t *testing.T, db *sql.DB) map[int64]int {
	t.Helper()
	rows, err := db.Query(`SELECT version_id, COUNT(*) FROM ` + Table + ` GROUP BY version_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var v int64
		var n int
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		out[v] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantRecorded checks that versions 0 to upTo are each recorded once and
// nothing else is.
func wantRecorded(t *testing.T, db *sql.DB, upTo int64) {
	t.Helper()
	got := recorded(t, db)
	for v := int64(0); v <= upTo; v++ {
		if got[v] != 1 {
			t.Errorf("version %d recorded %d times, want once (all: %v)", v, got[v], got)
		}
	}
	if len(got) != int(upTo+1) {
		t.Errorf("recorded versions %v, want 0 to %d", got, upTo)
	}
}

func hasTable(t *testing.T, db *sql.DB, dialect, table string) bool {
	t.Helper()
	ok, err := tableExists(context.Background(), db, dialect, table)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// legacyDB builds a database as the pre-goose runner left it at version n:
// the statements of files 1 to n (version 7 without its backfill, which
// has nothing to fill on an empty database) and schema_migrations.
func legacyDB(t *testing.T, db *sql.DB, n int64) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	for v := int64(1); v <= n; v++ {
		if v <= Latest() {
			stmts, err := statements(v)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range stmts {
				if _, err := tx.ExecContext(ctx, s); err != nil {
					t.Fatalf("version %d: %v", v, err)
				}
			}
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO schema_migrations (version) VALUES (%d)`, v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestLatest(t *testing.T) {
	if Latest() != 12 {
		t.Errorf("Latest() = %d, want 12", Latest())
	}
	for v := int64(1); v <= Latest(); v++ {
		stmts, err := statements(v)
		if err != nil || len(stmts) == 0 {
			t.Errorf("version %d: %d statements (%v)", v, len(stmts), err)
		}
	}
	// 10's UPDATE ... FROM spans three lines and is one statement.
	stmts, _ := statements(10)
	if len(stmts) != 11 || !strings.Contains(stmts[1], "WHERE events.event_id = r.event_id;") {
		t.Errorf("version 10 split into %d statements: %q", len(stmts), stmts)
	}
}

func TestUpToRejectsUnknownVersionsAndDialects(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, v := range []int64{0, Latest() + 1} {
		if err := UpTo(ctx, db, "sqlite", v); err == nil {
			t.Errorf("UpTo(%d) succeeded", v)
		}
	}
	if err := Up(ctx, db, "mysql"); err == nil {
		t.Error("Up with dialect mysql succeeded")
	}
	if err := Up(ctx, db, "sqlite", WithHook(Latest()+1, func(context.Context, *sql.Tx) error { return nil })); err == nil {
		t.Error("Up with a hook for an unknown version succeeded")
	}
}

// Up on an empty database applies every version once, runs the hook once,
// and a second Up changes nothing.
func TestUpIsIdempotent(t *testing.T) {
	forEachDB(t, func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := context.Background()
		var hooks atomic.Int32
		for range 2 {
			if err := Up(ctx, db, tg.dialect, countingHook(&hooks)); err != nil {
				t.Fatal(err)
			}
		}
		if n := hooks.Load(); n != 1 {
			t.Errorf("version 7 hook ran %d times, want 1", n)
		}
		wantRecorded(t, db, Latest())
		if v, err := Current(ctx, db, tg.dialect); err != nil || v != Latest() {
			t.Errorf("Current = %d (%v), want %d", v, err, Latest())
		}
		for _, table := range []string{"events", "person_assignments", "event_lineage"} {
			if !hasTable(t, db, tg.dialect, table) {
				t.Errorf("no table %s", table)
			}
		}
		if hasTable(t, db, tg.dialect, legacyTable) {
			t.Errorf("a fresh database has %s", legacyTable)
		}
	})
}

// UpTo stops at its version; a later Up goes on from there.
func TestUpToThenUp(t *testing.T) {
	forEachDB(t, func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := context.Background()
		var hooks atomic.Int32
		if err := UpTo(ctx, db, tg.dialect, 6, countingHook(&hooks)); err != nil {
			t.Fatal(err)
		}
		wantRecorded(t, db, 6)
		if hooks.Load() != 0 || hasTable(t, db, tg.dialect, "person_assignments") {
			t.Errorf("UpTo(6) ran version 7 (hook runs %d)", hooks.Load())
		}
		if err := Up(ctx, db, tg.dialect, countingHook(&hooks)); err != nil {
			t.Fatal(err)
		}
		wantRecorded(t, db, Latest())
		if hooks.Load() != 1 {
			t.Errorf("hook ran %d times, want 1", hooks.Load())
		}
	})
}

// The hook runs in its version's transaction: when it fails, the version's
// tables and record are rolled back with it.
func TestHookFailureRollsBackItsVersion(t *testing.T) {
	forEachDB(t, func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := context.Background()
		boom := errors.New("boom")
		err := Up(ctx, db, tg.dialect, WithHook(7, func(context.Context, *sql.Tx) error { return boom }))
		if !errors.Is(err, boom) {
			t.Fatalf("Up = %v, want the hook's error", err)
		}
		wantRecorded(t, db, 6)
		if hasTable(t, db, tg.dialect, "person_assignments") {
			t.Error("person_assignments survived the failed hook")
		}
		var hooks atomic.Int32
		if err := Up(ctx, db, tg.dialect, countingHook(&hooks)); err != nil {
			t.Fatal(err)
		}
		wantRecorded(t, db, Latest())
		if hooks.Load() != 1 {
			t.Errorf("hook ran %d times on the retry, want 1", hooks.Load())
		}
	})
}

// A database the pre-goose runner migrated to version n is adopted: goose
// records 1 to n without running them, applies only n+1 onwards (the hook
// only when n < 7), keeps the data, and schema_migrations is dropped.
func TestAdoptsLegacyDatabase(t *testing.T) {
	for _, n := range []int64{0, 1, 6, 7, 12} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			forEachDB(t, func(t *testing.T, tg target) {
				db := tg.open(t)
				ctx := context.Background()
				legacyDB(t, db, n)
				if n >= 1 {
					if _, err := db.Exec(`INSERT INTO people (tenant, person_id, vpd, employee_number, employment_status, status_at, scheduled, rehire,
						assignments, last_event_id, updated_at) VALUES ('RXX', '20000001', '412', '31000001', 'EMPLOYED', 1, 0, 0, '[]', 'ev-1', 5)`); err != nil {
						t.Fatal(err)
					}
				}
				var hooks atomic.Int32
				// Were 1 to n run again, their CREATE TABLEs would fail.
				if err := Up(ctx, db, tg.dialect, countingHook(&hooks)); err != nil {
					t.Fatal(err)
				}
				wantRecorded(t, db, Latest())
				want := int32(0)
				if n < 7 {
					want = 1
				}
				if hooks.Load() != want {
					t.Errorf("hook ran %d times, want %d", hooks.Load(), want)
				}
				if hasTable(t, db, tg.dialect, legacyTable) {
					t.Errorf("%s is still there", legacyTable)
				}
				if n >= 1 {
					var changed int64
					if err := db.QueryRow(`SELECT changed_at FROM people WHERE person_id = '20000001'`).Scan(&changed); err != nil || (n < 7 && changed != 5) {
						t.Errorf("person after adoption: changed_at = %d (%v)", changed, err)
					}
				}
				if err := Up(ctx, db, tg.dialect, countingHook(&hooks)); err != nil {
					t.Fatal(err)
				}
				if hooks.Load() != want {
					t.Errorf("second Up ran the hook again")
				}
			})
		})
	}
}

// A database migrated by a newer binary, recorded by goose or (before
// adoption) in schema_migrations, is refused and left as it is.
func TestRefusesNewerDatabase(t *testing.T) {
	forEachDB(t, func(t *testing.T, tg target) {
		ctx := context.Background()
		t.Run("goose", func(t *testing.T) {
			db := tg.open(t)
			if err := Up(ctx, db, tg.dialect); err != nil {
				t.Fatal(err)
			}
			gd, _ := gooseDialect(tg.dialect)
			store, err := database.NewStore(gd, Table)
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Insert(ctx, db, database.InsertRequest{Version: Latest() + 1}); err != nil {
				t.Fatal(err)
			}
			err = Up(ctx, db, tg.dialect)
			if !errors.Is(err, ErrNewer) || !strings.Contains(err.Error(), fmt.Sprintf("at version %d, this binary knows %d", Latest()+1, Latest())) {
				t.Errorf("Up on a newer database = %v", err)
			}
			if err := UpTo(ctx, db, tg.dialect, 3); !errors.Is(err, ErrNewer) {
				t.Errorf("UpTo(3) on a newer database = %v", err)
			}
			// Drop the newer version again: the schema is back to one this
			// binary knows (and the test's schema can be dropped cleanly).
			if err := store.Delete(ctx, db, Latest()+1); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("legacy", func(t *testing.T) {
			if tg.dialect == "sqlite" {
				// A new file; the goose subtest's database already has a schema.
				path := filepath.Join(t.TempDir(), "legacy.db")
				tg.open = func(t *testing.T) *sql.DB {
					db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = db.Close() })
					return db
				}
			} else {
				url := dbtest.FreshPostgresSchema(t)
				tg.open = func(t *testing.T) *sql.DB {
					db, err := sql.Open("pgx", url)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = db.Close() })
					return db
				}
			}
			db := tg.open(t)
			legacyDB(t, db, Latest()+1)
			if err := Up(ctx, db, tg.dialect); !errors.Is(err, ErrNewer) {
				t.Errorf("Up on a newer legacy database = %v", err)
			}
			if hasTable(t, db, tg.dialect, Table) || !hasTable(t, db, tg.dialect, legacyTable) {
				t.Error("the refused legacy database was changed")
			}
		})
	})
}

// Instances starting together on one PostgreSQL database serialise: every
// Up succeeds, each version is applied and recorded once, the hook runs
// once.
func TestConcurrentUpPostgres(t *testing.T) {
	for _, legacy := range []int64{0, 6} {
		t.Run(fmt.Sprintf("legacy at %d", legacy), func(t *testing.T) {
			url := dbtest.FreshPostgresSchema(t)
			open := func() *sql.DB {
				db, err := sql.Open("pgx", url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = db.Close() })
				return db
			}
			if legacy > 0 {
				legacyDB(t, open(), legacy)
			}
			ctx := context.Background()
			var hooks atomic.Int32
			const instances = 3
			errs := make([]error, instances)
			var wg sync.WaitGroup
			for i := range instances {
				db := open()
				wg.Go(func() { errs[i] = Up(ctx, db, "postgres", countingHook(&hooks)) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("instance %d: %v", i, err)
				}
			}
			db := open()
			wantRecorded(t, db, Latest())
			if hooks.Load() != 1 {
				t.Errorf("hook ran %d times, want 1", hooks.Load())
			}
			var tables int
			if err := db.QueryRow(`SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'person_assignments'`).Scan(&tables); err != nil || tables != 1 {
				t.Errorf("person_assignments tables = %d (%v)", tables, err)
			}
			if hasTable(t, db, "postgres", legacyTable) {
				t.Errorf("%s is still there", legacyTable)
			}
		})
	}
}
