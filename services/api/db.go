package api

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
)

// dialect is the SQL flavour of the database behind a URL. The schema and
// queries are written once, in the SQL both engines share; dialect only
// rewrites placeholders and adds row locks where PostgreSQL needs them.
type dialect int

const (
	sqlite dialect = iota
	postgres
)

func (d dialect) String() string {
	if d == postgres {
		return "postgres"
	}
	return "sqlite"
}

// openDB opens the database named by url: "sqlite:<path>" (a file, created if
// missing; "sqlite::memory:" for a throwaway one) or "postgres://..." /
// "postgresql://..." (any libpq-style URL pgx accepts, e.g. with sslmode and
// search_path parameters).
func openDB(url string) (*sql.DB, dialect, error) {
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
			return db, sqlite, nil
		}
		// The writers (materialiser, access log, decisions) take SQLite's
		// one write lock in turn, so a few connections are enough; they are
		// all kept idle, because opening one (and running its pragmas)
		// costs more than most queries. The HTTP reads have their own pool
		// (openReader), so a burst of reads never holds every connection
		// the materialiser needs.
		db.SetMaxOpenConns(sqliteWriterConns)
		db.SetMaxIdleConns(sqliteWriterConns)
		return db, sqlite, nil
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
		return db, postgres, nil
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
func openReader(url string, d dialect, writer *sql.DB) (*sql.DB, error) {
	path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
	if d != sqlite || path == ":memory:" {
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
func (d dialect) rebind(q string) string {
	if d != postgres {
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
func (d dialect) forUpdate() string {
	if d == postgres {
		return " FOR UPDATE"
	}
	return ""
}

// migrations are applied in order, each once, recorded in schema_migrations.
// Only append: a released migration never changes.
var migrations = []string{
	// 1: events (the audit trail), people (current state), file reports.
	`CREATE TABLE events (
		event_id        TEXT PRIMARY KEY,
		tenant          TEXT NOT NULL,
		type            TEXT NOT NULL,
		person_id       TEXT NOT NULL,
		effective_date  TEXT NOT NULL,
		recorded_at     BIGINT NOT NULL,
		topic           TEXT NOT NULL,
		kafka_partition INTEGER NOT NULL,
		kafka_offset    BIGINT NOT NULL,
		schema_id       INTEGER NOT NULL,
		payload         TEXT NOT NULL,
		stored_at       BIGINT NOT NULL
	);
	CREATE INDEX events_by_tenant ON events (tenant, recorded_at, event_id);
	CREATE INDEX events_by_person ON events (tenant, person_id, recorded_at, event_id);
	CREATE TABLE people (
		tenant            TEXT NOT NULL,
		person_id         TEXT NOT NULL,
		vpd               TEXT NOT NULL,
		employee_number   TEXT NOT NULL,
		employment_status TEXT NOT NULL,
		status_at         BIGINT NOT NULL,
		start_date        TEXT,
		scheduled         INTEGER NOT NULL,
		rehire            INTEGER NOT NULL,
		leaving_date      TEXT,
		leaving_reason    TEXT,
		last_working_day  TEXT,
		assignments       TEXT NOT NULL,
		last_event_id     TEXT NOT NULL,
		updated_at        BIGINT NOT NULL,
		PRIMARY KEY (tenant, person_id)
	);
	CREATE TABLE file_reports (
		tenant      TEXT NOT NULL,
		sha256      TEXT NOT NULL,
		file_name   TEXT NOT NULL,
		status      TEXT NOT NULL,
		reported_at BIGINT NOT NULL,
		report      TEXT NOT NULL,
		PRIMARY KEY (tenant, sha256)
	);
	CREATE INDEX file_reports_by_name ON file_reports (tenant, file_name, reported_at);
	CREATE INDEX file_reports_by_time ON file_reports (tenant, reported_at)`,
	// 2: leaver-guard batches, operator decisions (audit_log), and every
	// request (access_log).
	`CREATE TABLE held_batches (
		tenant            TEXT NOT NULL,
		batch_id          TEXT NOT NULL,
		vpd               TEXT NOT NULL,
		file_name         TEXT NOT NULL,
		file_sha256       TEXT NOT NULL,
		run_date          TEXT NOT NULL,
		status            TEXT NOT NULL,
		leavers           BIGINT NOT NULL,
		active_population BIGINT NOT NULL,
		max_leavers       BIGINT NOT NULL,
		max_percent       DOUBLE PRECISION NOT NULL,
		tripped           TEXT NOT NULL,
		held              TEXT NOT NULL,
		held_at           BIGINT NOT NULL,
		decided_at        BIGINT,
		decided_by        TEXT NOT NULL,
		reason            TEXT NOT NULL,
		command_id        TEXT NOT NULL,
		emitted           BIGINT NOT NULL,
		updated_at        BIGINT NOT NULL,
		PRIMARY KEY (tenant, batch_id)
	);
	CREATE INDEX held_batches_by_time ON held_batches (tenant, held_at);
	CREATE TABLE audit_log (
		command_id   TEXT PRIMARY KEY,
		tenant       TEXT NOT NULL,
		batch_id     TEXT NOT NULL,
		action       TEXT NOT NULL,
		actor        TEXT NOT NULL,
		reason       TEXT NOT NULL,
		requested_at BIGINT NOT NULL,
		status       TEXT NOT NULL,
		decided_at   BIGINT,
		emitted      BIGINT
	);
	CREATE INDEX audit_log_by_time ON audit_log (tenant, requested_at);
	CREATE INDEX audit_log_by_batch ON audit_log (tenant, batch_id, status);
	CREATE TABLE access_log (
		request_id  TEXT PRIMARY KEY,
		at          BIGINT NOT NULL,
		client      TEXT NOT NULL,
		method      TEXT NOT NULL,
		path        TEXT NOT NULL,
		tenant      TEXT,
		status      INTEGER NOT NULL,
		duration_us BIGINT NOT NULL
	);
	CREATE INDEX access_log_by_time ON access_log (at);
	CREATE INDEX access_log_by_client ON access_log (client, at)`,
	// 3: records the api could not apply (docs/api.md, Dead letters): where
	// each is in Kafka, why, and its key and value (base64).
	`CREATE TABLE dead_letters (
		topic           TEXT NOT NULL,
		kafka_partition INTEGER NOT NULL,
		kafka_offset    BIGINT NOT NULL,
		tenant          TEXT,
		stage           TEXT NOT NULL,
		reason          TEXT NOT NULL,
		record_key      TEXT NOT NULL,
		record_value    TEXT NOT NULL,
		at              BIGINT NOT NULL,
		PRIMARY KEY (topic, kafka_partition, kafka_offset)
	);
	CREATE INDEX dead_letters_by_tenant ON dead_letters (tenant, at)`,
	// 4: quarantined rows (docs/api.md, Quarantine) with a per-rule index,
	// replays of them, their batches (as ingest splits them) and each
	// replayed row's outcome; events learn the
	// source line that caused them (so a replayed row finds its events),
	// and the audit log records replays beside batch decisions.
	`CREATE TABLE quarantine (
		id               TEXT PRIMARY KEY,
		tenant           TEXT NOT NULL,
		seq              BIGINT NOT NULL,
		stage            TEXT NOT NULL,
		vpd              TEXT NOT NULL,
		file_name        TEXT NOT NULL,
		file_sha256      TEXT NOT NULL,
		line             BIGINT NOT NULL,
		record_type      TEXT NOT NULL,
		entity_kind      TEXT NOT NULL,
		rules            TEXT NOT NULL,
		violations       TEXT NOT NULL,
		errors           INTEGER NOT NULL,
		warnings         INTEGER NOT NULL,
		raw_fields       TEXT NOT NULL,
		canonical        TEXT,
		file             TEXT,
		dialect          TEXT NOT NULL,
		rule_set_version TEXT NOT NULL,
		replay_id        TEXT,
		quarantined_at   BIGINT NOT NULL,
		status           TEXT NOT NULL,
		updated_at       BIGINT NOT NULL
	);
	CREATE UNIQUE INDEX quarantine_by_line ON quarantine (tenant, file_sha256, line);
	CREATE INDEX quarantine_by_tenant ON quarantine (tenant, seq, id);
	CREATE INDEX quarantine_by_file ON quarantine (tenant, file_name, seq);
	CREATE TABLE quarantine_rules (
		tenant TEXT NOT NULL,
		rule   TEXT NOT NULL,
		id     TEXT NOT NULL,
		PRIMARY KEY (id, rule)
	);
	CREATE INDEX quarantine_rules_by_rule ON quarantine_rules (tenant, rule, id);
	CREATE TABLE replays (
		replay_id       TEXT PRIMARY KEY,
		tenant          TEXT NOT NULL,
		actor           TEXT NOT NULL,
		reason          TEXT NOT NULL,
		requested_at    BIGINT NOT NULL,
		idempotency_key TEXT NOT NULL,
		row_count       BIGINT NOT NULL,
		batch_count     INTEGER NOT NULL,
		status          TEXT NOT NULL,
		completed_at    BIGINT
	);
	CREATE TABLE replay_batches (
		replay_id     TEXT NOT NULL,
		batch         INTEGER NOT NULL,
		file_name     TEXT NOT NULL,
		file_sha256   TEXT NOT NULL,
		report        TEXT,
		report_status TEXT,
		quarantined   BIGINT,
		emitted       BIGINT,
		settled       INTEGER NOT NULL,
		PRIMARY KEY (replay_id, batch)
	);
	CREATE INDEX replays_by_time ON replays (tenant, requested_at);
	CREATE TABLE replay_rows (
		replay_id     TEXT NOT NULL,
		seq           INTEGER NOT NULL,
		batch         INTEGER NOT NULL,
		quarantine_id TEXT NOT NULL,
		file_sha256   TEXT NOT NULL,
		line          BIGINT NOT NULL,
		outcome       TEXT NOT NULL,
		rules         TEXT NOT NULL,
		violations    TEXT NOT NULL,
		prior_status  TEXT NOT NULL,
		PRIMARY KEY (replay_id, seq)
	);
	CREATE UNIQUE INDEX replay_rows_by_record ON replay_rows (replay_id, quarantine_id);
	ALTER TABLE events ADD COLUMN source_sha256 TEXT;
	ALTER TABLE events ADD COLUMN source_line BIGINT;
	CREATE INDEX events_by_source ON events (tenant, source_sha256, source_line);
	ALTER TABLE audit_log ADD COLUMN replay_id TEXT`,
	// 5: DUPLICATE file reports (file-report v3). A duplicate has the
	// SHA-256 of the file it repeats, which keys file_reports, so each
	// delivery of the same bytes is kept here, beside the accepted file's
	// own report, rather than replacing it.
	`CREATE TABLE file_duplicates (
		tenant      TEXT NOT NULL,
		sha256      TEXT NOT NULL,
		file_name   TEXT NOT NULL,
		reported_at BIGINT NOT NULL,
		report      TEXT NOT NULL,
		PRIMARY KEY (tenant, sha256, file_name, reported_at)
	);
	CREATE INDEX file_duplicates_by_name ON file_duplicates (tenant, file_name, reported_at);
	CREATE INDEX file_duplicates_by_time ON file_duplicates (tenant, reported_at)`,
	// 6: held files (file-report v4). A file now has a life (HELD, then
	// RELEASED or DISCARDED, then ACCEPTED or REJECTED): file_reports keeps
	// its current report, file_report_history every report in the order
	// read (the reports already stored start it), and the audit log names
	// the file an operator's release or discard is about.
	`CREATE TABLE file_report_history (
		tenant          TEXT NOT NULL,
		sha256          TEXT NOT NULL,
		status          TEXT NOT NULL,
		reported_at     BIGINT NOT NULL,
		file_name       TEXT NOT NULL,
		kafka_partition INTEGER NOT NULL,
		kafka_offset    BIGINT NOT NULL,
		report          TEXT NOT NULL,
		PRIMARY KEY (tenant, sha256, status, reported_at)
	);
	CREATE INDEX file_report_history_by_file ON file_report_history (tenant, sha256, kafka_partition, kafka_offset);
	INSERT INTO file_report_history (tenant, sha256, status, reported_at, file_name, kafka_partition, kafka_offset, report)
		SELECT tenant, sha256, status, reported_at, file_name, -1, -1, report FROM file_reports;
	ALTER TABLE audit_log ADD COLUMN file_sha256 TEXT;
	CREATE INDEX audit_log_by_file ON audit_log (tenant, file_sha256, status)`,
	// 7 (issue 12 state):
	// current-state lists. person_assignments repeats people.assignments one
	// row per assignment so people can be filtered by organisation or staff
	// group and positions, organisations and locations listed;
	// people.changed_at is the api's clock when the row last changed
	// (?changed_since=), backfilled from updated_at. migrateHooks fills
	// person_assignments from the people already stored.
	`CREATE TABLE person_assignments (
		tenant            TEXT NOT NULL,
		person_id         TEXT NOT NULL,
		assignment_number TEXT NOT NULL,
		position_number   TEXT NOT NULL,
		position_title    TEXT NOT NULL,
		organisation      TEXT NOT NULL,
		grade             TEXT NOT NULL,
		staff_group       TEXT NOT NULL,
		job_role          TEXT NOT NULL,
		occupation_code   TEXT NOT NULL,
		location          TEXT NOT NULL,
		set_at            BIGINT NOT NULL,
		PRIMARY KEY (tenant, person_id, assignment_number)
	);
	CREATE INDEX person_assignments_by_position ON person_assignments (tenant, position_number, set_at);
	CREATE INDEX person_assignments_by_organisation ON person_assignments (tenant, organisation, person_id);
	CREATE INDEX person_assignments_by_staff_group ON person_assignments (tenant, staff_group, person_id);
	CREATE INDEX person_assignments_by_location ON person_assignments (tenant, location, person_id);
	ALTER TABLE people ADD COLUMN changed_at BIGINT NOT NULL DEFAULT 0;
	UPDATE people SET changed_at = updated_at;
	CREATE INDEX people_by_employee_number ON people (tenant, employee_number, person_id);
	CREATE INDEX people_by_status ON people (tenant, employment_status, person_id);
	CREATE INDEX people_by_change ON people (tenant, changed_at)`,
	// 8 (issue 12 access): API keys managed
	// through the api (POST/GET/DELETE /v1/keys), besides the clients file.
	// Only the key's SHA-256 is kept. A revoked key stays, with who revoked
	// it and when, as the audit of its life; a name is never reused, also
	// after a revocation.
	`CREATE TABLE api_keys (
		id         TEXT PRIMARY KEY,
		name       TEXT NOT NULL,
		key_sha256 TEXT NOT NULL UNIQUE,
		tenants    TEXT NOT NULL,
		scopes     TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		created_by TEXT NOT NULL,
		expires_at BIGINT,
		revoked_at BIGINT,
		revoked_by TEXT
	);
	CREATE UNIQUE INDEX api_keys_name ON api_keys (name);
	CREATE INDEX api_keys_by_time ON api_keys (created_at, id)`,
	// 9 (issue 12 speed): indexes for GET
	// /v1/access-log's filters, newest first within each.
	`CREATE INDEX access_log_by_tenant ON access_log (tenant, at, request_id);
	CREATE INDEX access_log_by_status ON access_log (status, at, request_id);
	CREATE INDEX access_log_by_path ON access_log (path, at, request_id)`,
	// 10 (issue 12 feed): the
	// event feed (docs/api.md, Event feed) and webhooks. Each event
	// gets feed_seq, its place in its tenant's total order, assigned from
	// feed_counters when its transaction commits (store.assignFeedSeq);
	// the events already stored are numbered in their old listing order
	// (recorded_at, event_id). Webhook subscriptions keep their position
	// in that order; every delivery attempt is logged; events that failed
	// every attempt wait in webhook_dead_letters for a replay.
	`ALTER TABLE events ADD COLUMN feed_seq BIGINT;
	UPDATE events SET feed_seq = r.n FROM
		(SELECT event_id, ROW_NUMBER() OVER (PARTITION BY tenant ORDER BY recorded_at, event_id) AS n FROM events) AS r
		WHERE events.event_id = r.event_id;
	CREATE UNIQUE INDEX events_by_feed ON events (tenant, feed_seq);
	CREATE TABLE feed_counters (
		tenant TEXT PRIMARY KEY,
		seq    BIGINT NOT NULL
	);
	INSERT INTO feed_counters (tenant, seq) SELECT tenant, MAX(feed_seq) FROM events GROUP BY tenant;
	CREATE TABLE webhook_subscriptions (
		id         TEXT PRIMARY KEY,
		tenant     TEXT NOT NULL,
		client     TEXT NOT NULL,
		url        TEXT NOT NULL,
		types      TEXT NOT NULL,
		secret     TEXT NOT NULL,
		after_seq  BIGINT NOT NULL,
		sensitive  INTEGER NOT NULL,
		created_at BIGINT NOT NULL,
		deleted_at BIGINT
	);
	CREATE INDEX webhook_subscriptions_by_tenant ON webhook_subscriptions (tenant, created_at);
	CREATE TABLE webhook_deliveries (
		subscription_id TEXT NOT NULL,
		event_id        TEXT NOT NULL,
		feed_seq        BIGINT NOT NULL,
		attempt         INTEGER NOT NULL,
		at              BIGINT NOT NULL,
		status_code     INTEGER NOT NULL,
		latency_us      BIGINT NOT NULL,
		error           TEXT NOT NULL,
		replay          INTEGER NOT NULL,
		PRIMARY KEY (subscription_id, at, event_id, attempt)
	);
	CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (subscription_id, event_id);
	CREATE TABLE webhook_dead_letters (
		subscription_id TEXT NOT NULL,
		event_id        TEXT NOT NULL,
		feed_seq        BIGINT NOT NULL,
		person_id       TEXT NOT NULL,
		attempts        INTEGER NOT NULL,
		last_error      TEXT NOT NULL,
		status          TEXT NOT NULL,
		dead_at         BIGINT NOT NULL,
		updated_at      BIGINT NOT NULL,
		PRIMARY KEY (subscription_id, event_id)
	);
	CREATE INDEX webhook_dead_letters_by_status ON webhook_dead_letters (subscription_id, status, feed_seq)`,
	// 11: the feed's ?since= finds its first event (the lowest feed_seq
	// recorded at or after it) from the index alone.
	`CREATE INDEX events_by_recorded_seq ON events (tenant, recorded_at, feed_seq)`,
	// 12 (issue 12 lineage): what publish recorded of each event's
	// lineage on esr.ops.lineage.v1 (docs/api.md, Lineage): the source
	// row's hash, the mapping and rule-set versions and the time of each
	// stage (Unix ms, null where the pipeline did not record it). Keyed
	// by event id like events, so a re-delivered record changes nothing.
	// A quarantined row keeps its raw_sha256 (quarantine v3) so a replay
	// carries it back and the replayed row's events still name it.
	`ALTER TABLE quarantine ADD COLUMN raw_sha256 TEXT;
	CREATE TABLE event_lineage (
		event_id         TEXT PRIMARY KEY,
		tenant           TEXT NOT NULL,
		raw_sha256       TEXT,
		mapping_version  TEXT,
		rule_set_version TEXT,
		ingested_at      BIGINT,
		normalised_at    BIGINT,
		validated_at     BIGINT,
		published_at     BIGINT NOT NULL
	)`,
}

// migrationState is the version of the current-state migration above.
const migrationState = 7

// migrateHooks run in the migration's transaction right after the
// statements of their version: data moves SQL alone cannot do on both
// engines (the JSON functions differ).
var migrateHooks = map[int]func(ctx context.Context, tx *sql.Tx, d dialect) error{
	migrationState: backfillAssignments,
}

// migrate brings the schema up to date. On PostgreSQL an advisory lock
// serialises instances starting together; SQLite's immediate transactions
// already do.
func migrate(ctx context.Context, db *sql.DB, d dialect) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if d == postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7262017)`); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > len(migrations) {
		return fmt.Errorf("migrate: database is at version %d, this binary knows %d: refusing to run an older api on a newer schema", current, len(migrations))
	}
	for v := current + 1; v <= len(migrations); v++ {
		for _, stmt := range strings.Split(migrations[v-1], ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate to version %d: %w", v, err)
			}
		}
		if hook := migrateHooks[v]; hook != nil {
			if err := hook(ctx, tx, d); err != nil {
				return fmt.Errorf("migrate to version %d: %w", v, err)
			}
		}
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (version) VALUES (?)`), v); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
	}
	return tx.Commit()
}
