package store

import (
	"context"
	"database/sql"
	"testing"
)

// What the store's external tests reach inside for.

const (
	StmtCacheSize  = stmtCacheSize
	PostgresConns  = postgresConns
	MigrationState = migrationState
)

var (
	SQLiteReaderConns = sqliteReaderConns
	OpenDB            = openDB
	Migrate           = migrate
	MigrateTo         = migrateTo
)

// CachedStatements is how many prepared statements the store holds.
func (s *Store) CachedStatements() int {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	return len(s.stmts.m)
}

// QueryRead runs a read the way the HTTP reads do.
func (s *Store) QueryRead(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return s.queryRead(ctx, q, args...)
}

// Rebind rewrites ? placeholders for the dialect.
func (d Dialect) Rebind(q string) string { return d.rebind(q) }

// Wrap makes a store of a database a test has migrated itself.
func Wrap(db *sql.DB, d Dialect) *Store { return &Store{db: db, d: d} }

// OpenAt opens the database at url migrated only up to version, as an
// older release left it, closed when the test ends.
func OpenAt(t testing.TB, url string, version int64) (*sql.DB, Dialect) {
	t.Helper()
	db, d, err := openDB(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := migrateTo(context.Background(), db, d, version); err != nil {
		t.Fatal(err)
	}
	return db, d
}
