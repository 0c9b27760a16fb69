package model

// Sensitive holds a personal value that must never reach a log line, an error
// message or a public event (today: the NI number). Formatting it with fmt,
// or encoding it as JSON (which is what zap.Any falls back to), prints a
// redaction marker; the value is read only through an explicit Reveal call,
// which is easy to find in review.
type Sensitive string

const redacted = "[redacted]"

// Reveal returns the underlying value. Call it only where the value is
// needed for processing (rehire matching, internal Avro encoding).
func (s Sensitive) Reveal() string { return string(s) }

// IsZero reports whether the value is absent.
func (s Sensitive) IsZero() bool { return s == "" }

// String redacts, so %v and %s never print the value.
func (s Sensitive) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts, so %#v (and test failure dumps) never print the value.
func (s Sensitive) GoString() string { return `model.Sensitive("` + s.String() + `")` }

// MarshalJSON redacts: JSON is how structured loggers render unknown types.
func (s Sensitive) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }
