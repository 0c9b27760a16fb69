package model

import "time"

// Date returns the civil date y-m-d as midnight UTC, the representation every
// date field in this package uses.
func Date(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// CivilDate returns the calendar day that t falls on in t's own location, as
// midnight UTC. Use it to turn an instant into "the day it was" after putting
// the instant in the right zone, e.g. CivilDate(now.In(london)): ESR days are
// Europe/London days, and a leaver at 23:30 UTC on 31 March BST is already
// 1 April in London.
func CivilDate(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	y, m, d := t.Date()
	return Date(y, m, d)
}

// IsCivilDate reports whether t respects the civil-date representation:
// zero (absent) or midnight UTC. Validation uses it to catch a mapping that
// leaked a zone or a time of day into a date field.
func IsCivilDate(t time.Time) bool {
	if t.IsZero() {
		return true
	}
	return t.Location() == time.UTC && t.Equal(CivilDate(t))
}

// DaysBetween returns the number of whole days from civil date from to civil
// date to (negative when to is earlier). It is exact because civil dates are
// UTC midnights, which have no DST gaps. Publish uses it for days_late
// (file run date minus effective date).
func DaysBetween(from, to time.Time) int {
	return int(CivilDate(to).Sub(CivilDate(from)).Hours() / 24)
}

// onOrBefore reports a <= b for civil dates.
func onOrBefore(a, b time.Time) bool { return !a.After(b) }
