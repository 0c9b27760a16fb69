package gen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// Values of TruthLine.Kind.
const (
	KindEvent      = "event"      // an event the pipeline must publish
	KindQuarantine = "quarantine" // a row the pipeline must quarantine (--faults)
	KindFile       = "file"       // one per generated file
	KindWithdrawn  = "withdrawn"  // informational: a held future leaver that was withdrawn and must never fire
	KindWarning    = "warning"    // a row the pipeline must pass, flagged with a warning (--faults)
)

// Values of TruthLine.Type for KindEvent lines.
const (
	TypeStarter  = "starter-created"
	TypeLeaver   = "leaver-confirmed"
	TypePosition = "position-updated"
)

// Values of TruthLine.Change for position-updated events.
const (
	ChangeAdded      = "ASSIGNMENT_ADDED"
	ChangeEnded      = "ASSIGNMENT_ENDED"
	ChangeAttributes = "ATTRIBUTES_CHANGED"
)

// Values of TruthLine.Severity (quarantine and warning lines).
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// TruthLine is one line of truth.jsonl. Which fields are set depends on
// Kind (and for events on Type); docs/generator.md lists them. Dates are
// YYYY-MM-DD; ids are strings because the pipeline keys by the ESR text.
type TruthLine struct {
	Kind string `json:"kind"`
	File string `json:"file"`
	Line int    `json:"line,omitempty"`

	// event and withdrawn
	Type           string `json:"type,omitempty"`
	Tenant         string `json:"tenant,omitempty"`
	VPD            string `json:"vpd,omitempty"`
	PersonID       string `json:"person_id,omitempty"`
	EmployeeNumber string `json:"employee_number,omitempty"`
	EffectiveDate  string `json:"effective_date,omitempty"`
	// starter-created and position-updated
	AssignmentNumber string `json:"assignment_number,omitempty"`
	// starter-created
	Scheduled bool `json:"scheduled,omitempty"`
	Rehire    bool `json:"rehire,omitempty"`
	// TransferFromTenant is the trust a starter transferred from (TUPE,
	// merger): only in a region, never together with rehire.
	TransferFromTenant string `json:"transfer_from_tenant,omitempty"`
	// leaver-confirmed
	LeavingReason  string `json:"leaving_reason,omitempty"`
	LastWorkingDay string `json:"last_working_day,omitempty"`
	DaysLate       int    `json:"days_late,omitempty"`
	Due            string `json:"due,omitempty"`
	// TransferToTenant is the trust a leaver transferred to: only in a region.
	TransferToTenant string `json:"transfer_to_tenant,omitempty"`
	// position-updated
	Change string `json:"change,omitempty"`

	// file
	Seq      int    `json:"seq,omitempty"`
	RunDate  string `json:"run_date,omitempty"`
	FileType string `json:"file_type,omitempty"` // GOF or GOC
	Lines    int    `json:"lines,omitempty"`     // all lines incl. HDR and TRL (= the TRL count)
	Rows     int    `json:"rows,omitempty"`      // data rows: lines - 2
	SHA256   string `json:"sha256,omitempty"`

	// quarantine and warning
	RecordType string `json:"record_type,omitempty"`
	// Rule is the catalogue code (esr/rules, e.g. "ESR-V001").
	Rule  string `json:"rule,omitempty"`
	Field string `json:"field,omitempty"`
	// Severity is the rule's: "error" on quarantine lines, "warning" on
	// warning lines (ReadTruth fills in "error" when a quarantine line has
	// none).
	Severity string `json:"severity,omitempty"`
}

// AppendJSON appends the line as one JSON object without a newline. The
// field set is fixed per kind and type (e.g. a starter always carries
// "scheduled" and "rehire", a leaver always "leaving_reason" and
// "days_late"), so consumers can rely on presence, not just on values.
func (t *TruthLine) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = jsonStr(b, "kind", t.Kind, true)
	b = jsonStr(b, "file", t.File, false)
	if t.Kind != KindFile {
		b = jsonInt(b, "line", t.Line)
	}
	if t.Kind == KindFile || t.Kind == KindQuarantine || t.Kind == KindWarning {
		// every line names its trust, so a region's one truth file splits
		// by tenant
		b = jsonStr(b, "tenant", t.Tenant, false)
	}
	switch t.Kind {
	case KindEvent, KindWithdrawn:
		if t.Kind == KindEvent {
			b = jsonStr(b, "type", t.Type, false)
		}
		b = jsonStr(b, "tenant", t.Tenant, false)
		b = jsonStr(b, "vpd", t.VPD, false)
		b = jsonStr(b, "person_id", t.PersonID, false)
		b = jsonStr(b, "employee_number", t.EmployeeNumber, false)
		b = jsonStr(b, "effective_date", t.EffectiveDate, false)
		switch t.Type {
		case TypeStarter:
			b = jsonStr(b, "assignment_number", t.AssignmentNumber, false)
			b = jsonBool(b, "scheduled", t.Scheduled)
			b = jsonBool(b, "rehire", t.Rehire)
			if t.TransferFromTenant != "" {
				b = jsonStr(b, "transfer_from_tenant", t.TransferFromTenant, false)
			}
		case TypeLeaver:
			if t.Kind == KindEvent {
				b = jsonStr(b, "leaving_reason", t.LeavingReason, false)
				if t.LastWorkingDay != "" {
					b = jsonStr(b, "last_working_day", t.LastWorkingDay, false)
				}
				b = jsonInt(b, "days_late", t.DaysLate)
				if t.Due != "" {
					b = jsonStr(b, "due", t.Due, false)
				}
				if t.TransferToTenant != "" {
					b = jsonStr(b, "transfer_to_tenant", t.TransferToTenant, false)
				}
			}
		case TypePosition:
			b = jsonStr(b, "change", t.Change, false)
			b = jsonStr(b, "assignment_number", t.AssignmentNumber, false)
		}
	case KindFile:
		b = jsonInt(b, "seq", t.Seq)
		b = jsonStr(b, "run_date", t.RunDate, false)
		b = jsonStr(b, "file_type", t.FileType, false)
		b = jsonInt(b, "lines", t.Lines)
		b = jsonInt(b, "rows", t.Rows)
		b = jsonStr(b, "sha256", t.SHA256, false)
	case KindQuarantine, KindWarning:
		b = jsonStr(b, "record_type", t.RecordType, false)
		b = jsonStr(b, "rule", t.Rule, false)
		b = jsonStr(b, "field", t.Field, false)
		b = jsonStr(b, "severity", t.Severity, false)
	}
	return append(b, '}')
}

// MarshalJSON keeps encoding/json output identical to truth.jsonl.
func (t TruthLine) MarshalJSON() ([]byte, error) { return t.AppendJSON(nil), nil }

func jsonKey(b []byte, k string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

func jsonStr(b []byte, k, v string, first bool) []byte {
	b = jsonKey(b, k, first)
	b = append(b, '"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func jsonInt(b []byte, k string, v int) []byte {
	return strconv.AppendInt(jsonKey(b, k, false), int64(v), 10)
}

func jsonBool(b []byte, k string, v bool) []byte {
	return strconv.AppendBool(jsonKey(b, k, false), v)
}

// ReadTruth parses a truth.jsonl stream. Unknown fields are ignored so that
// readers keep working when the generator adds fields.
func ReadTruth(r io.Reader) ([]TruthLine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []TruthLine
	n := 0
	for sc.Scan() {
		n++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var t TruthLine
		if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
			return out, fmt.Errorf("truth line %d: %w", n, err)
		}
		if t.Kind == "" {
			return out, fmt.Errorf("truth line %d: no kind", n)
		}
		if t.Kind == KindQuarantine && t.Severity == "" {
			t.Severity = SeverityError
		}
		out = append(out, t)
	}
	return out, sc.Err()
}
