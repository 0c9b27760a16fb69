package materialise

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/esrflow/esrflow/services/api/store"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kgo"
)

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

// keyText checks a field the api keys rows on: it must be present and clean,
// since making it safe would change which row it names.
func keyText(field, s string) error {
	switch {
	case s == "":
		return invalidf("%s is empty", field)
	case !store.CleanText(s):
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
			if sk := store.SafeText(k.String()); sk != k.String() {
				val := v.MapIndex(k)
				v.SetMapIndex(k, reflect.Value{})
				v.SetMapIndex(reflect.ValueOf(sk).Convert(v.Type().Key()), val)
			}
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(store.SafeText(v.String()))
		}
	}
}

// tenantOf names the tenant a record belongs to, when its topic or key says:
// esr.<tenant>.<event>.v1, or the tenant key of the ops topics.
func tenantOf(r *kgo.Record) string {
	if _, ok := store.EventType(r.Topic); ok {
		if parts := strings.Split(r.Topic, "."); len(parts) == 4 {
			return strings.ToUpper(parts[1])
		}
	}
	if k := string(r.Key); store.ValidTenant(k) {
		return strings.ToUpper(k)
	}
	return ""
}
