-- 10 (issue 12 feed): the
-- event feed (docs/api.md, Event feed) and webhooks. Each event
-- gets feed_seq, its place in its tenant's total order, assigned from
-- feed_counters when its transaction commits (store.assignFeedSeq);
-- the events already stored are numbered in their old listing order
-- (recorded_at, event_id). Webhook subscriptions keep their position
-- in that order; every delivery attempt is logged; events that failed
-- every attempt wait in webhook_dead_letters for a replay.

-- +goose Up
ALTER TABLE events ADD COLUMN feed_seq BIGINT;
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
CREATE INDEX webhook_dead_letters_by_status ON webhook_dead_letters (subscription_id, status, feed_seq);
