package format

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // Europe/London must resolve even on hosts without zoneinfo
)

// Sentinel causes returned by the field helpers; callers turn them into an
// *Error with position and rule.
var (
	ErrDate      = errors.New("not a YYYYMMDD date")
	ErrTimestamp = errors.New("not a YYYYMMDD HHMMSS timestamp")
	ErrInteger   = errors.New("not a whole number")
	ErrDecimal   = errors.New("not a decimal number")
	ErrFlag      = errors.New("not a Yes/No/Y/N/1/0 flag")
	ErrComposite = errors.New("wrong number of |-separated parts")
)

// OpenEnded is Oracle's "end of time" date. ESR normally leaves open-ended
// dates empty, but 4712-12-31 can leak through from the database.
const OpenEnded = "47121231"

var londonOnce = sync.OnceValues(func() (*time.Location, error) { return time.LoadLocation("Europe/London") })

// London returns the Europe/London zone used for ESR timestamps. It is
// loaded once and never changes, so sharing it is safe.
func London() *time.Location {
	loc, err := londonOnce()
	if err != nil {
		// Unreachable: time/tzdata is embedded.
		panic("format: Europe/London zone unavailable: " + err.Error())
	}
	return loc
}

// ParseDate parses YYYYMMDD into midnight UTC (a civil date). An empty value
// or OpenEnded yields the zero time and no error: both mean "no date".
func ParseDate(s string) (time.Time, error) {
	if s == "" || s == OpenEnded {
		return time.Time{}, nil
	}
	y, m, d, ok := splitDate(s)
	if !ok {
		return time.Time{}, ErrDate
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), nil
}

// ParseDateLayout parses a date with a Go layout (csvfeed reports use e.g.
// 02/01/2006 or 02-Jan-2006). Empty yields the zero time.
func ParseDateLayout(s, layout string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, ErrDate
	}
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
}

// ValidDate reports whether s is a syntactically and calendrically valid
// YYYYMMDD date (or empty/open-ended). It does not allocate.
func ValidDate(s string) bool {
	if s == "" || s == OpenEnded {
		return true
	}
	_, _, _, ok := splitDate(s)
	return ok
}

func splitDate(s string) (y, m, d int, ok bool) {
	if len(s) != 8 {
		return 0, 0, 0, false
	}
	n, ok := digits(s)
	if !ok {
		return 0, 0, 0, false
	}
	y, m, d = n/10000, n/100%100, n%100
	if y < 1800 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// ParseTimestamp parses "YYYYMMDD HHMMSS" as a Europe/London wall-clock time
// (loc, or London() when nil). Empty yields the zero time. During the autumn
// clock change an ambiguous time resolves as time.Date documents.
func ParseTimestamp(s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	y, mo, d, h, mi, se, ok := splitTimestamp(s)
	if !ok {
		return time.Time{}, ErrTimestamp
	}
	if loc == nil {
		loc = London()
	}
	return time.Date(y, time.Month(mo), d, h, mi, se, 0, loc), nil
}

// ValidTimestamp reports whether s is a valid timestamp (or empty). It does
// not allocate.
func ValidTimestamp(s string) bool {
	if s == "" {
		return true
	}
	_, _, _, _, _, _, ok := splitTimestamp(s)
	return ok
}

func splitTimestamp(s string) (y, mo, d, h, mi, se int, ok bool) {
	if len(s) != 15 || s[8] != ' ' {
		return
	}
	if y, mo, d, ok = splitDate(s[:8]); !ok {
		return
	}
	t, ok := digits(s[9:])
	if !ok {
		return
	}
	h, mi, se = t/10000, t/100%100, t%100
	if h > 23 || mi > 59 || se > 59 {
		return 0, 0, 0, 0, 0, 0, false
	}
	return y, mo, d, h, mi, se, true
}

// ParseInt parses a whole number (ESR surrogate ids). Empty yields 0.
func ParseInt(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if !ValidInt(s) {
		return 0, ErrInteger
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, ErrInteger
	}
	return n, nil
}

// ValidInt reports whether s is empty or 1–18 ASCII digits (so it always
// fits an int64). Signs and spaces are not accepted: ids never carry them.
func ValidInt(s string) bool {
	if len(s) > 18 {
		return false
	}
	_, ok := digits(s)
	return ok
}

// ParseDecimal parses a '.'-separated decimal such as 37.5 or 25.75. Empty
// yields 0. float64 is exact enough for hours, FTE, salaries and percentages.
func ParseDecimal(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	if !ValidDecimal(s) {
		return 0, ErrDecimal
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, ErrDecimal
	}
	return f, nil
}

// ValidDecimal reports whether s is empty or [-]digits[.digits] (at least one
// digit overall). Exponents, NaN and thousands separators are rejected.
func ValidDecimal(s string) bool {
	if s == "" {
		return true
	}
	if len(s) > 32 {
		return false
	}
	i := 0
	if s[0] == '-' {
		i = 1
	}
	nd, dot := 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			nd++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return nd > 0
}

// ParseFlag normalises Yes/No/Y/N/1/0 (any case) to a bool. Empty yields
// false with set=false so callers can tell "no" from "not given".
func ParseFlag(s string) (value, set bool, err error) {
	switch s {
	case "":
		return false, false, nil
	case "Yes", "YES", "yes", "Y", "y", "1":
		return true, true, nil
	case "No", "NO", "no", "N", "n", "0":
		return false, true, nil
	}
	return false, false, ErrFlag
}

// ValidFlag reports whether ParseFlag would accept s.
func ValidFlag(s string) bool {
	_, _, err := ParseFlag(s)
	return err == nil
}

// SplitComposite splits a pipe-composite into parts, checking that the part
// count is within [min, max] (max 0 = no upper bound). Empty yields nil.
func SplitComposite(s string, min, max int) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	if !ValidComposite(s, min, max) {
		return nil, ErrComposite
	}
	return strings.Split(s, "|"), nil
}

// ValidComposite checks the part count without allocating.
func ValidComposite(s string, min, max int) bool {
	if s == "" {
		return true
	}
	n := strings.Count(s, "|") + 1
	return n >= min && (max == 0 || n <= max)
}

// PositionName is ESR's position-name composite
// "number|title|occupation code|area of work|" (POA col 5, ASA col 29).
type PositionName struct {
	Number, Title, OccupationCode, Area string
}

// Grade is "pay scale owner|grade code|description", e.g. NHS|XR05|Review Body Band 5.
type Grade struct {
	Owner, Code, Description string
}

// JobName is "staff group|job role".
type JobName struct {
	StaffGroup, JobRole string
}

// GradeStep is "grade code|step", e.g. XR05|3.
type GradeStep struct {
	Code, Step string
}

// PeopleGroup is the VPD-prefixed people-group key flexfield; ESR samples
// carry four segments, the first being the group name.
type PeopleGroup struct {
	Segments []string
}

// Name returns the first segment (e.g. "412 z 0231 Ward 7").
func (p PeopleGroup) Name() string {
	if len(p.Segments) == 0 {
		return ""
	}
	return p.Segments[0]
}

// Composite arities; the same numbers drive validation in the field tables.
const (
	PositionNameMinParts = 4 // trailing "|" optional
	PositionNameMaxParts = 5
	GradeParts           = 3
	JobNameParts         = 2
	GradeStepParts       = 2
	PeopleGroupMinParts  = 1
	PeopleGroupMaxParts  = 4
)

// ParsePositionName splits a position-name composite.
func ParsePositionName(s string) (PositionName, error) {
	p, err := SplitComposite(s, PositionNameMinParts, PositionNameMaxParts)
	if err != nil || p == nil {
		return PositionName{}, err
	}
	return PositionName{Number: p[0], Title: p[1], OccupationCode: p[2], Area: p[3]}, nil
}

// ParseGrade splits a grade composite.
func ParseGrade(s string) (Grade, error) {
	p, err := SplitComposite(s, GradeParts, GradeParts)
	if err != nil || p == nil {
		return Grade{}, err
	}
	return Grade{Owner: p[0], Code: p[1], Description: p[2]}, nil
}

// ParseJobName splits a job-name composite.
func ParseJobName(s string) (JobName, error) {
	p, err := SplitComposite(s, JobNameParts, JobNameParts)
	if err != nil || p == nil {
		return JobName{}, err
	}
	return JobName{StaffGroup: p[0], JobRole: p[1]}, nil
}

// ParseGradeStep splits a grade-step composite.
func ParseGradeStep(s string) (GradeStep, error) {
	p, err := SplitComposite(s, GradeStepParts, GradeStepParts)
	if err != nil || p == nil {
		return GradeStep{}, err
	}
	return GradeStep{Code: p[0], Step: p[1]}, nil
}

// ParsePeopleGroup splits a people-group composite.
func ParsePeopleGroup(s string) (PeopleGroup, error) {
	p, err := SplitComposite(s, PeopleGroupMinParts, PeopleGroupMaxParts)
	if err != nil || p == nil {
		return PeopleGroup{}, err
	}
	return PeopleGroup{Segments: p}, nil
}
