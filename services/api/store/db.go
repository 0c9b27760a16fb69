package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the pure-Go "sqlite" driver

	schemamigrate "github.com/esrflow/esrflow/services/api/store/migrate"
)

// Dialect is the SQL flavour of the database behind a URL. The schema and
// queries are written once, in the SQL both engines share; Dialect only
// rewrites placeholders and adds row locks where PostgreSQL needs them.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// openDB opens the database named by url: "sqlite:<path>" (a file, created if
// missing; "sqlite::memory:" for a throwaway one) or "postgres://..." /
// "postgresql://..." (any libpq-style URL pgx accepts, e.g. with sslmode and
// search_path parameters).
func openDB(url string) (*sql.DB, Dialect, error) {
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
		if path == "" {
			return nil, 0, errors.New("db.url: sqlite: needs a file path, e.g. sqlite:/var/lib/esrflow/api.db")
		}
		// WAL lets the HTTP readers run beside the writer; busy_timeout waits
		// for a lock instead of failing; _txlock=immediate takes the write
		// lock at BEGIN so two writers never deadlock upgrading a read lock.
		dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, 0, fmt.Errorf("opening sqlite %s: %w", path, err)
		}
		if path == ":memory:" {
			db.SetMaxOpenConns(1) // each connection would be its own empty database
			return db, SQLite, nil
		}
		// The writers (materialiser, access log, decisions) take SQLite's
		// one write lock in turn, so a few connections are enough; they are
		// all kept idle, because opening one (and running its pragmas)
		// costs more than most queries. The HTTP reads have their own pool
		// (openReader), so a burst of reads never holds every connection
		// the materialiser needs.
		db.SetMaxOpenConns(sqliteWriterConns)
		db.SetMaxIdleConns(sqliteWriterConns)
		return db, SQLite, nil
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		db, err := sql.Open("pgx", url)
		if err != nil {
			return nil, 0, fmt.Errorf("opening postgres: %w", err)
		}
		// One pool for reads and writes: PostgreSQL serves them side by
		// side. Go keeps 2 idle connections by default, so under load most
		// requests would open one (TLS and authentication included): keep
		// as many idle as may be open.
		db.SetMaxOpenConns(postgresConns)
		db.SetMaxIdleConns(postgresConns)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return db, Postgres, nil
	}
	return nil, 0, fmt.Errorf("db.url %q: want sqlite:<path> or postgres://...", redactURL(url))
}

// Connection pool sizes (docs/api.md, Performance).
const (
	// sqliteWriterConns is the SQLite writers' pool.
	sqliteWriterConns = 4
	// postgresConns is the PostgreSQL pool, reads and writes; several api
	// instances share the server's max_connections (100 by default).
	postgresConns = 32
)

// sqliteReaderConns is the SQLite readers' pool: reads are CPU-bound in
// this process, so a few per core keep every core busy while one waits on
// the disk.
func sqliteReaderConns() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

// openReader returns the pool the HTTP reads use. On a SQLite file it is a
// second pool of read-only connections (query_only): in WAL mode they read
// a snapshot beside the writer and never take its lock, and having their
// own connections they never wait for the materialiser's, nor it for
// theirs. Elsewhere it is writer itself. Open it after migrate: it expects
// the schema (and WAL mode) in place.
func openReader(url string, d Dialect, writer *sql.DB) (*sql.DB, error) {
	path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
	if d != SQLite || path == ":memory:" {
		return writer, nil
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("opening sqlite %s for reading: %w", path, err)
	}
	db.SetMaxOpenConns(sqliteReaderConns())
	db.SetMaxIdleConns(sqliteReaderConns())
	return db, nil
}

// redactURL hides a password in a URL for error messages.
func redactURL(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return url
	}
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return url
}

// stmtCacheSize bounds the prepared statements a store keeps: the hot
// queries are a handful of texts; any past this are run unprepared.
const stmtCacheSize = 64

// stmtCache keeps the read pool's prepared statements by query text, so a
// hot query (a person, a page of events) is parsed and planned once per
// connection rather than on every request. (pgx also caches statements per
// connection; SQLite's driver does not.)
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// get returns the statement for q prepared on db, or nil when the cache is
// full.
func (c *stmtCache) get(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[q]
	full := len(c.m) >= stmtCacheSize
	c.mu.Unlock()
	if ok || full {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[q]; ok { // prepared meanwhile by another request
		_ = st.Close()
		return prev, nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[q] = st
	return st, nil
}

// close releases the statements.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		_ = st.Close()
	}
	c.m = nil
}

// rebind turns the ? placeholders the queries are written with into $1, $2
// ... for PostgreSQL.
func (d Dialect) rebind(q string) string {
	if d != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// forUpdate is the row lock a read-modify-write needs on PostgreSQL, where
// several api instances may write one person's row from different topics.
// SQLite has one writer at a time, so it needs none.
func (d Dialect) forUpdate() string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// migrationState is the version of the current-state migration
// (store/migrate/sql/00007_current_state.sql), whose backfill is Go code.
const migrationState = 7

// migrate brings the schema up to date (package store/migrate, goose). The
// current-state migration's backfill runs in that version's transaction
// right after its SQL: a data move SQL alone cannot do on both engines (the
// JSON functions differ).
func migrate(ctx context.Context, db *sql.DB, d Dialect) error {
	return migrateTo(ctx, db, d, schemamigrate.Latest())
}

// migrateTo applies the migrations up to version, as an older release would
// have left the database (upgrade tests).
func migrateTo(ctx context.Context, db *sql.DB, d Dialect, version int64) error {
	backfill := func(ctx context.Context, tx *sql.Tx) error { return backfillAssignments(ctx, tx, d) }
	return schemamigrate.UpTo(ctx, db, d.String(), version, schemamigrate.WithHook(migrationState, backfill))
}

// Open opens the database named by url (see openDB), brings its schema up
// to date and opens the read pool beside it.
func Open(ctx context.Context, url string) (*Store, error) {
	db, d, err := openDB(url)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, db, d); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("database %s: %w", d, err)
	}
	read, err := openReader(url, d, db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Store{db: db, d: d, read: read}, nil
}

// DB is the writer pool: for the components that keep their own tables in
// the same database (webhooks) and for LISTEN on PostgreSQL.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect is the database's SQL flavour.
func (s *Store) Dialect() Dialect { return s.d }

// Rebind rewrites a query written with ? placeholders for the database.
func (s *Store) Rebind(q string) string { return s.d.rebind(q) }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }
