-- 1: events (the audit trail), people (current state), file reports.

-- +goose Up
CREATE TABLE events (
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
CREATE INDEX file_reports_by_time ON file_reports (tenant, reported_at);
