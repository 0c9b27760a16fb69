package format

import "time"

// Decoder pulls typed values out of a row by column index, remembering the
// first failure so typed-struct literals can stay flat. Dialect packages use
// it to build their typed rows.
type Decoder struct {
	row  Row
	spec *RecordSpec
	err  error
}

// NewDecoder decodes row according to spec.
func NewDecoder(row Row, spec *RecordSpec) *Decoder { return &Decoder{row: row, spec: spec} }

// Err returns the first decoding failure as a row-level *Error, or nil.
func (d *Decoder) Err() error {
	if d.err == nil {
		return nil
	}
	return d.err
}

// String returns column i as text ("" when absent).
func (d *Decoder) String(i int) string { return d.row.Field(i) }

func (d *Decoder) fail(i int) {
	if d.err != nil {
		return
	}
	c := &d.spec.Columns[i]
	rule, msg, _ := c.Check(d.row.Field(i))
	d.err = RowProblem("", d.row.Line, d.spec.Type, i, c.Name, rule, msg)
}

// Int returns column i as a whole number (0 when empty).
func (d *Decoder) Int(i int) int64 {
	v, err := ParseInt(d.String(i))
	if err != nil {
		d.fail(i)
	}
	return v
}

// Decimal returns column i as a float64 (0 when empty).
func (d *Decoder) Decimal(i int) float64 {
	v, err := ParseDecimal(d.String(i))
	if err != nil {
		d.fail(i)
	}
	return v
}

// Date returns column i as a civil date (zero when empty or open-ended).
func (d *Decoder) Date(i int) time.Time {
	v, err := ParseDate(d.String(i))
	if err != nil {
		d.fail(i)
	}
	return v
}

// Timestamp returns column i in Europe/London (zero when empty).
func (d *Decoder) Timestamp(i int) time.Time {
	v, err := ParseTimestamp(d.String(i), nil)
	if err != nil {
		d.fail(i)
	}
	return v
}

// Flag returns column i as a bool (false when empty).
func (d *Decoder) Flag(i int) bool {
	v, _, err := ParseFlag(d.String(i))
	if err != nil {
		d.fail(i)
	}
	return v
}

// PositionName splits column i.
func (d *Decoder) PositionName(i int) PositionName {
	v, err := ParsePositionName(d.String(i))
	if err != nil {
		d.fail(i)
	}
	return v
}

// Grade splits column i.
func (d *Decoder) Grade(i int) Grade {
	v, err := ParseGrade(d.String(i))
	if err != nil {
		d.fail(i)
	}
	return v
}

// GradeStep splits column i.
func (d *Decoder) GradeStep(i int) GradeStep {
	v, err := ParseGradeStep(d.String(i))
	if err != nil {
		d.fail(i)
	}
	return v
}

// JobName splits column i.
func (d *Decoder) JobName(i int) JobName {
	v, err := ParseJobName(d.String(i))
	if err != nil {
		d.fail(i)
	}
	return v
}

// PeopleGroup splits column i.
func (d *Decoder) PeopleGroup(i int) PeopleGroup {
	v, err := ParsePeopleGroup(d.String(i))
	if err != nil {
		d.fail(i)
	}
	return v
}
