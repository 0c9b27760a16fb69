-- 3: records the api could not apply (docs/api.md, Dead letters): where
-- each is in Kafka, why, and its key and value (base64).

-- +goose Up
CREATE TABLE dead_letters (
	topic           TEXT NOT NULL,
	kafka_partition INTEGER NOT NULL,
	kafka_offset    BIGINT NOT NULL,
	tenant          TEXT,
	stage           TEXT NOT NULL,
	reason          TEXT NOT NULL,
	record_key      TEXT NOT NULL,
	record_value    TEXT NOT NULL,
	at              BIGINT NOT NULL,
	PRIMARY KEY (topic, kafka_partition, kafka_offset)
);
CREATE INDEX dead_letters_by_tenant ON dead_letters (tenant, at);
