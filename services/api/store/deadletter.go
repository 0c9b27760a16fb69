package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DeadRecord is one record the api could not apply.
type DeadRecord struct {
	Rec    *kgo.Record
	Tenant string // the tenant its topic or key names, if any
	Stage  string // DeadDecode, DeadInvalid or DeadStore
	Reason error
}

// AddDeadLetter records a record the api could not apply, keyed by its
// Kafka position, so a re-delivery adds nothing. It reports whether the row
// is new. The record stays in its topic: the row says where, why, and holds
// its key and value (base64) for inspection or replay.
func (s *Store) AddDeadLetter(ctx context.Context, d DeadRecord) (bool, error) {
	reason := SafeText(d.Reason.Error())
	if len(reason) > maxDeadReason {
		reason = strings.ToValidUTF8(reason[:maxDeadReason], "") + "…"
	}
	tenant := d.Tenant
	res, err := s.db.ExecContext(ctx, s.d.rebind(`INSERT INTO dead_letters
		(topic, kafka_partition, kafka_offset, tenant, stage, reason, record_key, record_value, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING`),
		d.Rec.Topic, d.Rec.Partition, d.Rec.Offset, sql.NullString{String: tenant, Valid: tenant != ""}, d.Stage, reason,
		base64.StdEncoding.EncodeToString(d.Rec.Key), base64.StdEncoding.EncodeToString(d.Rec.Value), time.Now().UnixMilli())
	if err != nil {
		return false, fmt.Errorf("writing dead letter: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// DeadLetter is a dead letter as the API serves it: where the record is in
// Kafka and why it was not applied (its value stays in the database).
type DeadLetter struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Stage     string `json:"stage"`
	Reason    string `json:"reason"`
	At        string `json:"at"`
}

// DeadLetters lists a tenant's dead letters, newest first.
func (s *Store) DeadLetters(ctx context.Context, tenant string, limit int) ([]DeadLetter, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT topic, kafka_partition, kafka_offset, stage, reason, at
		FROM dead_letters WHERE tenant = ? ORDER BY at DESC, topic, kafka_partition, kafka_offset LIMIT ?`), tenant, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []DeadLetter{}
	for rows.Next() {
		var d DeadLetter
		var at int64
		if err := rows.Scan(&d.Topic, &d.Partition, &d.Offset, &d.Stage, &d.Reason, &at); err != nil {
			return nil, err
		}
		d.At = MillisRFC3339(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

// Why a record went to the dead-letter table (the stage label of
// esrflow_api_dead_letters_total and the dead_letters.stage column).
const (
	// DeadDecode: the value cannot be decoded (not Avro-framed, unknown or
	// incompatible schema).
	DeadDecode = "decode"
	// DeadInvalid: it decodes, but a field the api keys on (event id,
	// tenant, person id, file SHA-256, batch id) is missing or is not text
	// every store can hold (a NUL byte, invalid UTF-8).
	DeadInvalid = "invalid"
	// DeadStore: the database refused the record itself (a data error such
	// as a value too long for an index), while it accepts the others.
	DeadStore = "store"
)

// maxDeadReason bounds the reason stored with a dead letter, in bytes.
const maxDeadReason = 1000

// cleanText reports whether s can be stored as text by every engine the api
// supports: valid UTF-8 without NUL bytes (PostgreSQL's text holds neither).
func CleanText(s string) bool { return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) }

// safeText is s as every store can hold it: NUL bytes and invalid UTF-8
// become U+FFFD. The event's JSON (events.payload) keeps the exact value.
func SafeText(s string) string {
	if CleanText(s) {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
}
