-- 9 (issue 12 speed): indexes for GET
-- /v1/access-log's filters, newest first within each.

-- +goose Up
CREATE INDEX access_log_by_tenant ON access_log (tenant, at, request_id);
CREATE INDEX access_log_by_status ON access_log (status, at, request_id);
CREATE INDEX access_log_by_path ON access_log (path, at, request_id);
