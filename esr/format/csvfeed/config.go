// Package csvfeed reads header-row CSV reports (e.g. "CSV drop" exports a
// trust runs from ESR BI) through a per-feed column mapping: which CSV header
// feeds which canonical field, how dates are written, which columns must be
// present. There is no HDR/TRL envelope, so the file-level checks are the
// file name pattern and the header row.
package csvfeed

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/esrflow/esrflow/esr/format"
)

// Config is one feed's mapping, loaded from tenant configuration (JSON or YAML).
type Config struct {
	// Name identifies the feed in errors and metrics, e.g. "bi-staff-list".
	Name string `json:"name" yaml:"name"`
	// RecordType is put in Row.Type; empty = Name in upper case.
	RecordType string `json:"record_type,omitempty" yaml:"record_type,omitempty"`
	// FileNamePattern, when set, is a regexp the whole base file name must
	// match. A named group "vpd" is checked against Options.ExpectedVPDs.
	FileNamePattern string `json:"file_name_pattern,omitempty" yaml:"file_name_pattern,omitempty"`
	// Delimiter is a single character; empty = ",".
	Delimiter string `json:"delimiter,omitempty" yaml:"delimiter,omitempty"`
	// DateLayout is the Go layout of date columns, e.g. "02/01/2006" or
	// "02-Jan-2006"; empty = "02/01/2006".
	DateLayout string `json:"date_layout,omitempty" yaml:"date_layout,omitempty"`
	// TimestampLayout is the Go layout of timestamp columns (read as
	// Europe/London); empty = DateLayout + " 15:04:05".
	TimestampLayout string `json:"timestamp_layout,omitempty" yaml:"timestamp_layout,omitempty"`
	// Columns are the mapped columns, in the order rows present them.
	Columns []Column `json:"columns" yaml:"columns"`
}

// Column maps one CSV header to a canonical field.
type Column struct {
	Header string `json:"header" yaml:"header"` // CSV header text; matched trimmed, case-insensitively
	Field  string `json:"field" yaml:"field"`   // canonical field name, e.g. "employee_number"
	// Kind is text (default), integer, decimal, date, timestamp or flag.
	Kind string `json:"kind,omitempty" yaml:"kind,omitempty"`
	// DateLayout overrides the feed's layout for this column.
	DateLayout string `json:"date_layout,omitempty" yaml:"date_layout,omitempty"`
	// Optional columns may be absent from the header row; otherwise a
	// missing header rejects the file.
	Optional bool `json:"optional,omitempty" yaml:"optional,omitempty"`
	// Required values must be non-empty in every row (row problem otherwise).
	Required bool `json:"required,omitempty" yaml:"required,omitempty"`
	// Sensitive marks personal data: values never quoted in errors.
	Sensitive bool `json:"sensitive,omitempty" yaml:"sensitive,omitempty"`
}

// Feed is a validated, compiled Config. It is immutable and safe to share
// between readers.
type Feed struct {
	cfg     Config
	typ     string
	delim   byte
	pattern *regexp.Regexp
	cols    []column
}

type column struct {
	Column
	kind    format.Kind
	layout  string
	special bool
}

// Compile validates cfg. Errors are *format.Error with rule "config".
func Compile(cfg Config) (*Feed, error) {
	bad := func(msg string) (*Feed, error) {
		return nil, &format.Error{File: cfg.Name, Rule: format.RuleConfig, Msg: msg, Severity: format.SeverityFile}
	}
	f := &Feed{cfg: cfg, typ: cfg.RecordType, delim: ','}
	if cfg.Name == "" {
		return bad("feed has no name")
	}
	if f.typ == "" {
		f.typ = strings.ToUpper(cfg.Name)
	}
	switch len(cfg.Delimiter) {
	case 0:
	case 1:
		f.delim = cfg.Delimiter[0]
		if f.delim == '"' || f.delim == '\n' || f.delim == '\r' {
			return bad("delimiter cannot be a quote or line break")
		}
	default:
		return bad("delimiter must be a single byte")
	}
	if cfg.FileNamePattern != "" {
		re, err := regexp.Compile("^(?:" + cfg.FileNamePattern + ")$")
		if err != nil {
			return bad("file_name_pattern: " + err.Error())
		}
		f.pattern = re
	}
	dateLayout := cfg.DateLayout
	if dateLayout == "" {
		dateLayout = "02/01/2006"
	}
	tsLayout := cfg.TimestampLayout
	if tsLayout == "" {
		tsLayout = dateLayout + " 15:04:05"
	}
	if len(cfg.Columns) == 0 {
		return bad("feed maps no columns")
	}
	seenH, seenF := map[string]bool{}, map[string]bool{}
	for i, c := range cfg.Columns {
		where := "column " + strconv.Itoa(i+1) + " (" + c.Field + ")"
		if c.Field == "" || strings.TrimSpace(c.Header) == "" {
			return bad(where + ": header and field are required")
		}
		h := normHeader(c.Header)
		if seenH[h] || seenF[c.Field] {
			return bad(where + ": header or field mapped twice")
		}
		seenH[h], seenF[c.Field] = true, true
		col := column{Column: c, special: format.IsSpecialCategory(c.Field)}
		switch c.Kind {
		case "", "text":
			col.kind = format.KindText
		case "integer":
			col.kind = format.KindInteger
		case "decimal":
			col.kind = format.KindDecimal
		case "flag":
			col.kind = format.KindFlag
		case "date":
			col.kind, col.layout = format.KindDate, dateLayout
			if c.DateLayout != "" {
				col.layout = c.DateLayout
			}
		case "timestamp":
			col.kind, col.layout = format.KindTimestamp, tsLayout
			if c.DateLayout != "" {
				col.layout = c.DateLayout
			}
		default:
			return bad(where + ": unknown kind " + strconv.Quote(c.Kind))
		}
		f.cols = append(f.cols, col)
	}
	return f, nil
}

// Name is the feed name.
func (f *Feed) Name() string { return f.cfg.Name }

// Fields returns the canonical field names in Row.Fields order.
func (f *Feed) Fields() []string {
	out := make([]string, len(f.cols))
	for i, c := range f.cols {
		out[i] = c.Field
	}
	return out
}

func normHeader(h string) string { return strings.ToLower(strings.TrimSpace(h)) }

// Pattern is the compiled file name pattern (anchored), nil when the feed
// has none.
func (f *Feed) Pattern() *regexp.Regexp { return f.pattern }
