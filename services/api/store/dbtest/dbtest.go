// Package dbtest gives the api's tests their databases: a fresh SQLite file
// and a fresh PostgreSQL schema, so that every test suite of the store runs
// on both engines the api supports.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver
)

// PostgresURL is the local PostgreSQL the suites run on (trust auth,
// database "test"); ESRFLOW_TEST_POSTGRES_URL overrides it.
func PostgresURL() string {
	if u := os.Getenv("ESRFLOW_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// SQLiteURL is a fresh SQLite file in the test's temporary directory.
func SQLiteURL(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "api.db")
}

// ForEach runs fn on a fresh SQLite file and on a fresh PostgreSQL schema,
// as subtests named sqlite and postgres.
func ForEach(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, FreshPostgresSchema(t)) })
}

// FreshPostgresSchema creates a schema for this test only, dropped when it
// ends, and returns a URL whose search_path selects it. When PostgreSQL does
// not answer the test is skipped, unless ESRFLOW_REQUIRE_POSTGRES is set (CI
// sets it, so a database that failed to start fails the run instead of
// quietly skipping half of it).
func FreshPostgresSchema(t testing.TB) string {
	t.Helper()
	base := PostgresURL()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		if os.Getenv("ESRFLOW_REQUIRE_POSTGRES") != "" {
			t.Fatalf("PostgreSQL not reachable at %s: %v", redacted(base), err)
		}
		t.Skipf("PostgreSQL not reachable at %s (%v): skipping the PostgreSQL run", redacted(base), err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "api_test_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// redacted hides a password in a database URL for messages.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
