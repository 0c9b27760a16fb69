package gen

import "time"

// date is a calendar day counted from 1970-01-01. The simulation does all its
// date arithmetic on this integer so that it never consults the wall clock or
// a time zone: ESR dates are plain local calendar days.
type date int32

// noDate marks an empty (null) date field.
const noDate date = -1 << 30

// mkDate converts a civil date to a day number (Howard Hinnant's
// days_from_civil), which keeps the hot path free of time.Time.
func mkDate(y, m, d int) date {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return date(era*146097 + doe - 719468)
}

func dateOf(t time.Time) date {
	y, m, d := t.Date()
	return mkDate(y, int(m), d)
}

// civil is the inverse of mkDate.
func (d date) civil() (y, m, dd int) {
	z := int(d) + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	dd = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, dd
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

func append4(b []byte, v int) []byte {
	return append(b, byte('0'+v/1000%10), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// appendCompact writes YYYYMMDD, the ESR date layout; noDate writes nothing
// because ESR represents a null as an empty field.
func (d date) appendCompact(b []byte) []byte {
	if d == noDate {
		return b
	}
	y, m, dd := d.civil()
	b = append4(b, y)
	b = append2(b, m)
	return append2(b, dd)
}

// appendISO writes YYYY-MM-DD, the layout used in truth.jsonl.
func (d date) appendISO(b []byte) []byte {
	if d == noDate {
		return b
	}
	y, m, dd := d.civil()
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, m)
	b = append(b, '-')
	return append2(b, dd)
}

func (d date) iso() string { return string(d.appendISO(nil)) }

func (d date) compact() string { return string(d.appendCompact(nil)) }

// stamp is an ESR timestamp: a day plus seconds since midnight, written as
// "YYYYMMDD HHMMSS" (local UK time, no zone, as ESR writes it).
type stamp struct {
	day date
	sec int32
}

func (s stamp) appendTo(b []byte) []byte {
	b = s.day.appendCompact(b)
	b = append(b, ' ')
	h, m, sec := int(s.sec)/3600, int(s.sec)/60%60, int(s.sec)%60
	b = append2(b, h)
	b = append2(b, m)
	return append2(b, sec)
}
