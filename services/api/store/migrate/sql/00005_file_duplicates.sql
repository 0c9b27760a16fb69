-- 5: DUPLICATE file reports (file-report v3). A duplicate has the
-- SHA-256 of the file it repeats, which keys file_reports, so each
-- delivery of the same bytes is kept here, beside the accepted file's
-- own report, rather than replacing it.

-- +goose Up
CREATE TABLE file_duplicates (
	tenant      TEXT NOT NULL,
	sha256      TEXT NOT NULL,
	file_name   TEXT NOT NULL,
	reported_at BIGINT NOT NULL,
	report      TEXT NOT NULL,
	PRIMARY KEY (tenant, sha256, file_name, reported_at)
);
CREATE INDEX file_duplicates_by_name ON file_duplicates (tenant, file_name, reported_at);
CREATE INDEX file_duplicates_by_time ON file_duplicates (tenant, reported_at);
