-- 12 (issue 12 lineage): what publish recorded of each event's
-- lineage on esr.ops.lineage.v1 (docs/api.md, Lineage): the source
-- row's hash, the mapping and rule-set versions and the time of each
-- stage (Unix ms, null where the pipeline did not record it). Keyed
-- by event id like events, so a re-delivered record changes nothing.
-- A quarantined row keeps its raw_sha256 (quarantine v3) so a replay
-- carries it back and the replayed row's events still name it.

-- +goose Up
ALTER TABLE quarantine ADD COLUMN raw_sha256 TEXT;
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
);
