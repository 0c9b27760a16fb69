-- 4: quarantined rows (docs/api.md, Quarantine) with a per-rule index,
-- replays of them, their batches (as ingest splits them) and each
-- replayed row's outcome; events learn the
-- source line that caused them (so a replayed row finds its events),
-- and the audit log records replays beside batch decisions.

-- +goose Up
CREATE TABLE quarantine (
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
ALTER TABLE audit_log ADD COLUMN replay_id TEXT;
