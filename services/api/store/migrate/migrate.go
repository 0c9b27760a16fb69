// Package migrate brings the api's database schema up to date with
// github.com/pressly/goose/v3. The migrations are the SQL files in sql/,
// numbered 00001, 00002, ..., the same SQL for SQLite and PostgreSQL; goose
// records the applied versions in goose_db_version.
//
// A migration that needs Go code beside its SQL (data moves SQL alone
// cannot do on both engines) takes a hook from the caller (WithHook): the
// hook runs in the migration's transaction right after its statements, so
// this package does not depend on the code that knows the data.
//
// Databases migrated before goose (the api's own runner, which recorded
// versions in schema_migrations) are adopted on the first run: see adopt.
package migrate

import (
	"bufio"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

//go:embed sql/*.sql
var embedded embed.FS

// Table is where goose records the applied versions (goose's default name).
const Table = goose.DefaultTablename

// legacyTable is where the api recorded versions before goose.
const legacyTable = "schema_migrations"

// lockID is the PostgreSQL advisory lock that serialises instances
// migrating one database. It is the key the api's pre-goose runner took
// (pg_advisory_xact_lock), so a new binary and an old one starting together
// during an upgrade also wait for each other.
const lockID = 7262017

// Hook is Go code a migration runs in its transaction after its SQL.
type Hook func(ctx context.Context, tx *sql.Tx) error

// Option configures Up and UpTo.
type Option func(*config)

type config struct {
	hooks map[int64]Hook
}

// WithHook runs fn in version's transaction right after its statements.
// Version 7 (current state) expects the api's assignments backfill here;
// without it the version's tables are created but left empty.
func WithHook(version int64, fn Hook) Option {
	return func(c *config) {
		if c.hooks == nil {
			c.hooks = map[int64]Hook{}
		}
		c.hooks[version] = fn
	}
}

// source is one migration file.
type source struct {
	version int64
	name    string
}

var sources = sync.OnceValues(func() ([]source, error) {
	names, err := fs.Glob(embedded, "sql/*.sql")
	if err != nil {
		return nil, err
	}
	var out []source
	for _, n := range names {
		v, err := goose.NumericComponent(n)
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", n, err)
		}
		out = append(out, source{version: v, name: path.Base(n)})
	}
	slices.SortFunc(out, func(a, b source) int { return int(a.version - b.version) })
	for i, s := range out {
		if s.version != int64(i+1) {
			return nil, fmt.Errorf("migration %s: versions must run 1, 2, 3, ... without gaps", s.name)
		}
	}
	return out, nil
})

// Latest is the newest version this binary knows.
func Latest() int64 {
	s, err := sources()
	if err != nil {
		panic(err) // the embedded files are fixed at build time; TestLatest catches this
	}
	return int64(len(s))
}

// Up applies every migration the database has not had. dialect is "sqlite"
// (modernc.org/sqlite) or "postgres" (any PostgreSQL database/sql driver).
func Up(ctx context.Context, db *sql.DB, dialect string, opts ...Option) error {
	return UpTo(ctx, db, dialect, Latest(), opts...)
}

// UpTo applies the migrations up to and including version, which tests use
// to build a database as an older release left it.
//
// On PostgreSQL a session advisory lock serialises instances starting
// together; on SQLite, one writer at a time, none is taken. Each version is
// applied in its own transaction with its record in goose_db_version, so a
// failure leaves the database at the last version that succeeded.
//
// A database that has a version this binary does not know was migrated by
// a newer release: UpTo refuses it rather than run an older api on a newer
// schema.
func UpTo(ctx context.Context, db *sql.DB, dialect string, version int64, opts ...Option) error {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if version < 1 || version > Latest() {
		return fmt.Errorf("migrate: version %d: this binary knows 1 to %d", version, Latest())
	}
	gd, err := gooseDialect(dialect)
	if err != nil {
		return err
	}
	if err := adopt(ctx, db, dialect, gd); err != nil {
		return err
	}
	p, err := newProvider(db, dialect, gd, cfg)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// A newer release may have migrated the database between adopt's check
	// and goose's lock; goose ignores versions it does not know, so look
	// again.
	if err := refuseUnknown(ctx, db); err != nil {
		return err
	}
	return nil
}

// Current is the newest version applied to the database (0 for an empty
// one, or one migrated only by the pre-goose runner).
func Current(ctx context.Context, db *sql.DB, dialect string) (int64, error) {
	ok, err := tableExists(ctx, db, dialect, Table)
	if err != nil || !ok {
		return 0, err
	}
	var v int64
	err = db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM `+Table).Scan(&v)
	return v, err
}

func gooseDialect(dialect string) (database.Dialect, error) {
	switch dialect {
	case "sqlite":
		return database.DialectSQLite3, nil
	case "postgres":
		return database.DialectPostgres, nil
	}
	return "", fmt.Errorf("migrate: dialect %q: want sqlite or postgres", dialect)
}

func newProvider(db *sql.DB, dialect string, gd database.Dialect, cfg config) (*goose.Provider, error) {
	fsys, err := fs.Sub(embedded, "sql")
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	}
	if dialect == "postgres" {
		// Try every second for up to 5 minutes (goose's default tries
		// every 5 seconds, which would make a waiting instance start late).
		l, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(l))
	}
	// A hooked version runs as a Go migration: its file's statements, then
	// the hook, in one transaction.
	var hooked []int64
	var gos []*goose.Migration
	for v, hook := range cfg.hooks {
		stmts, err := statements(v)
		if err != nil {
			return nil, err
		}
		run := func(ctx context.Context, tx *sql.Tx) error {
			for _, s := range stmts {
				if _, err := tx.ExecContext(ctx, s); err != nil {
					return err
				}
			}
			if err := hook(ctx, tx); err != nil {
				return fmt.Errorf("version %d hook: %w", v, err)
			}
			return nil
		}
		hooked = append(hooked, v)
		gos = append(gos, goose.NewGoMigration(v, &goose.GoFunc{RunTx: run}, nil))
	}
	if len(hooked) > 0 {
		opts = append(opts, goose.WithExcludeVersions(hooked), goose.WithGoMigrations(gos...))
	}
	return goose.NewProvider(gd, db, fsys, opts...)
}

// statements are the Up statements of version's file, split as goose
// splits them (a statement ends with a line ending in a semicolon). Only
// plain files are supported: a hooked version cannot use StatementBegin,
// NO TRANSACTION or ENVSUB.
func statements(version int64) ([]string, error) {
	all, err := sources()
	if err != nil {
		return nil, err
	}
	if version < 1 || version > int64(len(all)) {
		return nil, fmt.Errorf("hook for version %d: this binary knows 1 to %d", version, len(all))
	}
	name := all[version-1].name
	b, err := embedded.ReadFile("sql/" + name)
	if err != nil {
		return nil, err
	}
	var out []string
	var cur strings.Builder
	up := false
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") {
			switch {
			case strings.HasPrefix(t, "-- +goose Up"):
				up = true
			case strings.HasPrefix(t, "-- +goose Down"):
				up = false
			case strings.Contains(t, "+goose"):
				return nil, fmt.Errorf("hooked migration %s: annotation %q is not supported", name, t)
			}
			continue
		}
		if !up || (t == "" && cur.Len() == 0) {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		return nil, fmt.Errorf("hooked migration %s: last statement has no semicolon", name)
	}
	return out, sc.Err()
}

// adopt takes over a database the pre-goose runner migrated: it has
// schema_migrations at version N and no goose table. In one transaction it
// creates goose's table recording versions 1 to N as applied, so goose
// applies only N+1 onwards, and drops schema_migrations. Dropping it leaves
// one record of the schema's version; an older api started on the database
// afterwards finds no schema_migrations, tries version 1, fails on the
// existing tables and rolls back, so it refuses to run as it does on a
// database goose created.
//
// It then refuses a database with a version this binary does not know.
// On PostgreSQL the transaction takes the advisory lock first, so instances
// starting together adopt once.
func adopt(ctx context.Context, db *sql.DB, dialect string, gd database.Dialect) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if dialect == "postgres" {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockID); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
	}
	hasGoose, err := tableExists(ctx, tx, dialect, Table)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	hasLegacy, err := tableExists(ctx, tx, dialect, legacyTable)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if !hasGoose && hasLegacy {
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+legacyTable).Scan(&n); err != nil {
			return fmt.Errorf("migrate: reading %s: %w", legacyTable, err)
		}
		if n > Latest() {
			return newerError(n)
		}
		store, err := database.NewStore(gd, Table)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if err := store.CreateVersionTable(ctx, tx); err != nil {
			return fmt.Errorf("migrate: adopting %s: %w", legacyTable, err)
		}
		for v := int64(0); v <= n; v++ { // goose's table starts with version 0
			if err := store.Insert(ctx, tx, database.InsertRequest{Version: v}); err != nil {
				return fmt.Errorf("migrate: adopting %s: %w", legacyTable, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DROP TABLE `+legacyTable); err != nil {
			return fmt.Errorf("migrate: adopting %s: %w", legacyTable, err)
		}
		hasGoose = true
	}
	if hasGoose {
		if err := refuseUnknown(ctx, tx); err != nil {
			return err
		}
	}
	return tx.Commit()
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// refuseUnknown returns an error when goose's table records a version this
// binary has no migration for (the versions run 1, 2, 3, ... so that is one
// above Latest).
func refuseUnknown(ctx context.Context, q querier) error {
	var newest int64
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM `+Table).Scan(&newest); err != nil {
		return fmt.Errorf("migrate: reading %s: %w", Table, err)
	}
	if newest > Latest() {
		return newerError(newest)
	}
	return nil
}

// ErrNewer is wrapped by the error for a database a newer release migrated.
var ErrNewer = errors.New("database schema is newer than this binary")

func newerError(v int64) error {
	return fmt.Errorf("migrate: database is at version %d, this binary knows %d: refusing to run an older api on a newer schema: %w", v, Latest(), ErrNewer)
}

func tableExists(ctx context.Context, q querier, dialect, table string) (bool, error) {
	var n int
	var err error
	if dialect == "postgres" {
		err = q.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1`, table).Scan(&n)
	} else {
		err = q.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n)
	}
	return n > 0, err
}
