-- 11: the feed's ?since= finds its first event (the lowest feed_seq
-- recorded at or after it) from the index alone.

-- +goose Up
CREATE INDEX events_by_recorded_seq ON events (tenant, recorded_at, feed_seq);
