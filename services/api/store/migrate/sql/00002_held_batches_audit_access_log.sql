-- 2: leaver-guard batches, operator decisions (audit_log), and every
-- request (access_log).

-- +goose Up
CREATE TABLE held_batches (
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
CREATE INDEX access_log_by_client ON access_log (client, at);
