package api

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kgo"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

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

// invalidRecord is a record that decodes but cannot be applied: it goes to
// the dead-letter table, never retried.
type invalidRecord struct{ msg string }

func (e *invalidRecord) Error() string { return e.msg }

func invalidf(format string, args ...any) error {
	return &invalidRecord{msg: fmt.Sprintf(format, args...)}
}

// poison reports an error caused by the record being written, not by the
// database being unavailable or misconfigured: retrying it can never
// succeed, so the record goes to the dead-letter table and the records
// after it go on. Anything not known to be the record's fault is retried,
// and a consumer that keeps failing shows as stuck (Ready, the stalled
// gauge, the alert) instead of silently dropping records.
func poison(err error) bool {
	var inv *invalidRecord
	if errors.As(err, &inv) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case strings.HasPrefix(pg.Code, "22"), // data exception: bad encoding, value out of range
			strings.HasPrefix(pg.Code, "23"), // integrity constraint violation
			strings.HasPrefix(pg.Code, "54"): // program limit exceeded: e.g. an index row too large
			return true
		}
		return false
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH:
			return true
		}
	}
	return false
}

// cleanText reports whether s can be stored as text by every engine the api
// supports: valid UTF-8 without NUL bytes (PostgreSQL's text holds neither).
func cleanText(s string) bool { return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) }

// safeText is s as every store can hold it: NUL bytes and invalid UTF-8
// become U+FFFD. The event's JSON (events.payload) keeps the exact value.
func safeText(s string) string {
	if cleanText(s) {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
}

// keyText checks a field the api keys rows on: it must be present and clean,
// since making it safe would change which row it names.
func keyText(field, s string) error {
	switch {
	case s == "":
		return invalidf("%s is empty", field)
	case !cleanText(s):
		return invalidf("%s is not valid text (NUL byte or invalid UTF-8)", field)
	}
	return nil
}

// makeSafe replaces, in place, every string reachable from v (a pointer to
// a decoded record) by its safeText, so the current-state tables hold the
// same value on SQLite and PostgreSQL. Call it after the record's JSON has
// been rendered from the exact values.
func makeSafe(v any) { safeValue(reflect.ValueOf(v)) }

func safeValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			safeValue(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				safeValue(f)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			safeValue(v.Index(i))
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return
		}
		for _, k := range v.MapKeys() {
			if sk := safeText(k.String()); sk != k.String() {
				val := v.MapIndex(k)
				v.SetMapIndex(k, reflect.Value{})
				v.SetMapIndex(reflect.ValueOf(sk).Convert(v.Type().Key()), val)
			}
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(safeText(v.String()))
		}
	}
}

// deadLetter is one record the api could not apply.
type deadLetter struct {
	Rec    *kgo.Record
	Stage  string // DeadDecode, DeadInvalid or DeadStore
	Reason error
}

// tenantOf names the tenant a record belongs to, when its topic or key says:
// esr.<tenant>.<event>.v1, or the tenant key of the ops topics.
func tenantOf(r *kgo.Record) string {
	if _, ok := eventType(r.Topic); ok {
		if parts := strings.Split(r.Topic, "."); len(parts) == 4 {
			return strings.ToUpper(parts[1])
		}
	}
	if k := string(r.Key); tenantRE.MatchString(k) {
		return strings.ToUpper(k)
	}
	return ""
}

// addDeadLetter records a record the api could not apply, keyed by its
// Kafka position, so a re-delivery adds nothing. It reports whether the row
// is new. The record stays in its topic: the row says where, why, and holds
// its key and value (base64) for inspection or replay.
func (s *store) addDeadLetter(ctx context.Context, d deadLetter) (bool, error) {
	reason := safeText(d.Reason.Error())
	if len(reason) > maxDeadReason {
		reason = strings.ToValidUTF8(reason[:maxDeadReason], "") + "…"
	}
	tenant := tenantOf(d.Rec)
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

// deadLetters lists a tenant's dead letters, newest first.
func (s *store) deadLetters(ctx context.Context, tenant string, limit int) ([]DeadLetter, error) {
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
		d.At = millisRFC3339(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

type deadLetterList struct {
	DeadLetters []DeadLetter `json:"dead_letters"`
}

func (s *Service) getDeadLetters(w http.ResponseWriter, r *http.Request) {
	t, n, ok := tenantAndLimit(w, r)
	if !ok {
		return
	}
	list, err := s.store.deadLetters(r.Context(), t, n)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, deadLetterList{DeadLetters: list})
}
