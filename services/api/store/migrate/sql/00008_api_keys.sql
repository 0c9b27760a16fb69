-- 8 (issue 12 access): API keys managed
-- through the api (POST/GET/DELETE /v1/keys), besides the clients file.
-- Only the key's SHA-256 is kept. A revoked key stays, with who revoked
-- it and when, as the audit of its life; a name is never reused, also
-- after a revocation.

-- +goose Up
CREATE TABLE api_keys (
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
CREATE INDEX api_keys_by_time ON api_keys (created_at, id);
