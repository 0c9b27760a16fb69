-- 6: held files (file-report v4). A file now has a life (HELD, then
-- RELEASED or DISCARDED, then ACCEPTED or REJECTED): file_reports keeps
-- its current report, file_report_history every report in the order
-- read (the reports already stored start it), and the audit log names
-- the file an operator's release or discard is about.

-- +goose Up
CREATE TABLE file_report_history (
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
CREATE INDEX audit_log_by_file ON audit_log (tenant, file_sha256, status);
