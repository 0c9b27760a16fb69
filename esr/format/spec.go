package format

import "strconv"

// Kind is how a column is validated and decoded.
type Kind uint8

const (
	KindText      Kind = iota // free text, never validated or quoted
	KindInteger               // ESR surrogate id or count
	KindDecimal               // '.' decimal
	KindDate                  // YYYYMMDD (or a feed's layout)
	KindTimestamp             // YYYYMMDD HHMMSS, Europe/London
	KindFlag                  // Yes/No/Y/N/1/0
	KindComposite             // '|'-separated with MinParts..MaxParts parts
	KindSpare                 // unused column; ignored
)

func (k Kind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindInteger:
		return "integer"
	case KindDecimal:
		return "decimal"
	case KindDate:
		return "date"
	case KindTimestamp:
		return "timestamp"
	case KindFlag:
		return "flag"
	case KindComposite:
		return "composite"
	case KindSpare:
		return "spare"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// FieldSpec describes one column of a record type.
type FieldSpec struct {
	Name     string
	Kind     Kind
	MinParts int // composites only
	MaxParts int // composites only; 0 = unbounded
	// Sensitive fields hold personal data: their values are never quoted in
	// error messages, even when they fail a structural check (e.g. DOB).
	Sensitive bool
	// Special fields are UK GDPR special-category data (ethnicity,
	// disability, religion, sexual orientation, …) or treated as such
	// (marital status, country of birth); they are blanked at parse time
	// unless the caller opts in.
	Special bool
}

// RecordSpec describes a record type: its code and columns, index 0 being
// the record type itself.
type RecordSpec struct {
	Type    string
	Entity  string // e.g. "person", "assignment"
	Delete  bool   // a delete record: <type>~<id>, at least 2 columns
	Columns []FieldSpec
}

// Check validates one value against the spec. It returns the rule and a
// message when the value is bad; ok is true when it is fine. It does not
// allocate on the happy path.
func (f *FieldSpec) Check(v string) (rule, msg string, ok bool) {
	var cause error
	switch f.Kind {
	case KindText, KindSpare:
		return "", "", true
	case KindInteger:
		if ValidInt(v) {
			return "", "", true
		}
		rule, cause = RuleInteger, ErrInteger
	case KindDecimal:
		if ValidDecimal(v) {
			return "", "", true
		}
		rule, cause = RuleDecimal, ErrDecimal
	case KindDate:
		if ValidDate(v) {
			return "", "", true
		}
		rule, cause = RuleDate, ErrDate
	case KindTimestamp:
		if ValidTimestamp(v) {
			return "", "", true
		}
		rule, cause = RuleTimestamp, ErrTimestamp
	case KindFlag:
		if ValidFlag(v) {
			return "", "", true
		}
		rule, cause = RuleFlag, ErrFlag
	case KindComposite:
		if ValidComposite(v, f.MinParts, f.MaxParts) {
			return "", "", true
		}
		return RuleComposite, f.compositeMsg(v), false
	default:
		return "", "", true
	}
	if f.Sensitive {
		return rule, "value " + cause.Error() + " (value not shown: personal data)", false
	}
	return rule, Quote(v) + " is " + cause.Error(), false
}

func (f *FieldSpec) compositeMsg(v string) string {
	want := strconv.Itoa(f.MinParts)
	if f.MaxParts != f.MinParts {
		if f.MaxParts == 0 {
			want += " or more"
		} else {
			want += "-" + strconv.Itoa(f.MaxParts)
		}
	}
	got := 1
	for i := 0; i < len(v); i++ {
		if v[i] == '|' {
			got++
		}
	}
	// Composites carry workstructure names (positions, grades), not people,
	// but the count is all a reader needs.
	return "has " + strconv.Itoa(got) + " |-separated parts, want " + want
}

// CheckRow applies the row-level structural checks to fields (fields[0] is
// the record type) and appends problems to probs: column count, delete id,
// and each typed column. Extra trailing columns are accepted when empty.
func CheckRow(file string, line int, spec *RecordSpec, fields []string, probs []*Error) []*Error {
	if spec.Delete {
		if len(fields) < 2 {
			return append(probs, RowProblem(file, line, spec.Type, 0, "", RuleColumnCount,
				"delete record has "+strconv.Itoa(len(fields))+" columns, want at least 2"))
		}
		if fields[1] == "" || !ValidInt(fields[1]) {
			return append(probs, RowProblem(file, line, spec.Type, 1, "id", RuleDeleteID,
				Quote(fields[1])+" is not a numeric id"))
		}
		return probs
	}
	want := len(spec.Columns)
	if len(fields) < want {
		probs = append(probs, RowProblem(file, line, spec.Type, 0, "", RuleColumnCount,
			"has "+strconv.Itoa(len(fields))+" columns, want "+strconv.Itoa(want)))
	} else if len(fields) > want {
		for i := want; i < len(fields); i++ {
			if fields[i] != "" {
				probs = append(probs, RowProblem(file, line, spec.Type, i, "", RuleColumnCount,
					"has "+strconv.Itoa(len(fields))+" columns, want "+strconv.Itoa(want)+"; extra column "+strconv.Itoa(i)+" is not empty"))
				break
			}
		}
	}
	n := min(len(fields), want)
	for i := 1; i < n; i++ {
		c := &spec.Columns[i]
		if rule, msg, ok := c.Check(fields[i]); !ok {
			probs = append(probs, RowProblem(file, line, spec.Type, i, c.Name, rule, msg))
		}
	}
	return probs
}

// BlankSpecial empties special-category columns in place and returns how
// many non-empty values were removed.
func BlankSpecial(spec *RecordSpec, fields []string) int {
	n := 0
	for i := range spec.Columns {
		if spec.Columns[i].Special && i < len(fields) && fields[i] != "" {
			fields[i] = ""
			n++
		}
	}
	return n
}

// RowProblem builds a row-level *Error.
func RowProblem(file string, line int, recordType string, column int, field, rule, msg string) *Error {
	return &Error{File: file, Line: line, RecordType: recordType, Column: column, Field: field, Rule: rule, Msg: msg, Severity: SeverityRow}
}

// IsSpecialCategory reports whether a canonical field name denotes
// special-category (or treated-as-special) data. csvfeed uses it so a feed
// mapping cannot smuggle such columns through without the opt-in.
func IsSpecialCategory(field string) bool {
	switch field {
	case "ethnic_origin", "ethnicity", "religion", "religious_belief", "sexual_orientation",
		"disability", "disability_flag", "marital_status", "country_of_birth", "gender_identity":
		return true
	}
	return false
}
