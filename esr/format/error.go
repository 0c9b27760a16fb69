package format

import (
	"strconv"
	"strings"
)

// Severity says what a problem costs: one row, or the whole file.
type Severity uint8

const (
	// SeverityRow problems send the row to quarantine; reading continues.
	SeverityRow Severity = iota + 1
	// SeverityFile problems reject the whole file; reading stops.
	SeverityFile
)

func (s Severity) String() string {
	switch s {
	case SeverityRow:
		return "row"
	case SeverityFile:
		return "file"
	}
	return "unknown"
}

// Rule codes. They are short and stable so that quarantine records, metrics
// and alerts can key on them; the message text may change, these may not.
const (
	// File-level rules.
	RuleFileName         = "file-name"         // name does not match the dialect's grammar
	RuleMissingHeader    = "missing-header"    // first line is not HDR
	RuleDuplicateHeader  = "duplicate-header"  // a second HDR
	RuleMissingTrailer   = "missing-trailer"   // no TRL/FTR before end of file
	RuleAfterTrailer     = "after-trailer"     // a non-blank line after the trailer
	RuleTrailerCount     = "trailer-count"     // trailer count missing, malformed or wrong
	RuleTrailerFileName  = "trailer-file-name" // v1 FTR file name differs from HDR
	RuleHeaderFileName   = "header-file-name"  // HDR file name differs from the actual name
	RuleHeaderFormat     = "header-format"     // header line malformed (columns, timestamps)
	RuleVPDMismatch      = "vpd-mismatch"      // VPD in file name differs from header
	RuleUnexpectedVPD    = "unexpected-vpd"    // VPD not among the tenant's expected VPDs
	RuleInterfaceVersion = "interface-version" // header interface version not allowed
	RuleRunDateFuture    = "run-date-future"   // run date beyond now + tolerance
	RuleRunDateStale     = "run-date-stale"    // run date older than the maximum age
	RuleRunDateOrder     = "run-date-order"    // previous run date after run date
	RuleRunDateName      = "run-date-name"     // header run date's day differs from the file name's date
	RuleDelimiter        = "delimiter"         // 4th character of line 1 is not the delimiter
	RuleEncoding         = "encoding"          // text is not valid in the chosen encoding
	RuleMissingColumn    = "missing-column"    // csvfeed: a mapped header is absent
	RuleDuplicateColumn  = "duplicate-column"  // csvfeed: a mapped header appears twice
	RuleRead             = "read"              // the underlying reader failed
	RuleConfig           = "config"            // reader options/config are unusable

	// Row-level rules.
	RuleRecordType  = "record-type"   // unknown record type
	RuleColumnCount = "column-count"  // too few columns, or extra non-empty ones
	RuleDeleteID    = "delete-id"     // delete row id missing or not numeric
	RuleInteger     = "integer"       // not a whole number
	RuleDecimal     = "decimal"       // not a decimal number
	RuleDate        = "date"          // not a valid date
	RuleTimestamp   = "timestamp"     // not a valid timestamp
	RuleFlag        = "flag"          // not Yes/No/Y/N/1/0
	RuleComposite   = "composite"     // pipe-composite with the wrong number of parts
	RuleLineTooLong = "line-too-long" // line exceeds the configured maximum
	RuleQuote       = "quote"         // malformed or unterminated quoted field
	RuleRequired    = "required"      // csvfeed: a required value is empty
)

// Error is one problem found in a file: where it is, which rule it broke and
// a message safe to log (it never carries personal data).
type Error struct {
	File       string // base name of the file
	Line       int    // 1-based physical line; 0 = the file as a whole (e.g. its name)
	RecordType string // record type of the line, when known
	// Column is the field's index as numbered in ESR-FORMATS §2.4/§3: the
	// record type is index 0, so data columns count from 1. 0 means the whole
	// line. For csvfeed it is the 1-based position in the CSV row.
	Column   int
	Field    string // canonical field name of Column, when known
	Rule     string // stable short code, one of the Rule* constants
	Msg      string
	Severity Severity
	Err      error // underlying cause, if any (e.g. an I/O error)
}

// Error renders e.g.
// GO_412_EXP_GOC_20240311_00000347.DAT:5: ASA column 3 (effective_start): date: "2024131" is not a YYYYMMDD date
func (e *Error) Error() string {
	var b strings.Builder
	b.Grow(len(e.File) + len(e.Msg) + 64)
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.RecordType != "" || e.Column > 0 {
		if e.RecordType != "" {
			b.WriteString(e.RecordType)
		}
		if e.Column > 0 {
			if e.RecordType != "" {
				b.WriteByte(' ')
			}
			b.WriteString("column ")
			b.WriteString(strconv.Itoa(e.Column))
			if e.Field != "" {
				b.WriteString(" (")
				b.WriteString(e.Field)
				b.WriteByte(')')
			}
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Rule)
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Err != nil {
		// Causes are I/O or config errors, never row content.
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes the underlying cause for errors.Is/As.
func (e *Error) Unwrap() error { return e.Err }

// FileError is returned by a reader when the whole file must be rejected. It
// ends reading: rows returned before it belong to a rejected file and must be
// discarded, not published.
type FileError struct {
	Problem *Error
}

func (e *FileError) Error() string { return "file rejected: " + e.Problem.Error() }

// Unwrap returns the *Error so errors.As can reach either type.
func (e *FileError) Unwrap() error { return e.Problem }

// FileFailure builds a file-level error.
func FileFailure(file string, line int, recordType, rule, msg string) *FileError {
	return &FileError{Problem: &Error{File: file, Line: line, RecordType: recordType, Rule: rule, Msg: msg, Severity: SeverityFile}}
}

// Quote renders a structural value for an error message, bounded so a
// garbage field cannot blow up a log line. Callers must not pass personal data.
func Quote(v string) string {
	const max = 40
	if len(v) > max {
		return strconv.Quote(v[:max]) + "…"
	}
	return strconv.Quote(v)
}

// LooksLikeRecordCode reports whether s has the shape of a record code: 1-4
// upper-case letters or digits. A first field of another shape is not
// named as a record type (in problems, or by the api's raw lines view):
// it may be personal data on a line that lost its code.
func LooksLikeRecordCode(s string) bool {
	if len(s) == 0 || len(s) > 4 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
