package format

import (
	"slices"
	"time"
)

// DefaultFutureTolerance is how far a header run date may lie ahead of now:
// ESR runs overnight UK time and clocks drift, so a day's grace avoids
// rejecting a file produced "tomorrow" just after midnight.
const DefaultFutureTolerance = 36 * time.Hour

// RunWindow is the run-date policy shared by the dialect readers.
type RunWindow struct {
	Now             func() time.Time // nil = time.Now
	FutureTolerance time.Duration    // 0 = DefaultFutureTolerance; negative = no future check
	MaxAge          time.Duration    // 0 = no maximum age
}

// Check returns a file-level problem when run is outside the window, or when
// prev (if set) is after run. field names the header field for the message.
func (w RunWindow) Check(file string, line int, recordType string, col int, field string, run, prev time.Time) *FileError {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	t := now()
	tol := w.FutureTolerance
	if tol == 0 {
		tol = DefaultFutureTolerance
	}
	fail := func(rule, msg string) *FileError {
		e := FileFailure(file, line, recordType, rule, msg)
		e.Problem.Column, e.Problem.Field = col, field
		return e
	}
	if !prev.IsZero() && prev.After(run) {
		return fail(RuleRunDateOrder, "previous run "+prev.Format(time.DateTime)+" is after run "+run.Format(time.DateTime))
	}
	if tol > 0 && run.After(t.Add(tol)) {
		return fail(RuleRunDateFuture, "run date "+run.Format(time.DateTime)+" is more than "+tol.String()+" in the future")
	}
	if w.MaxAge > 0 && run.Before(t.Add(-w.MaxAge)) {
		return fail(RuleRunDateStale, "run date "+run.Format(time.DateTime)+" is older than the maximum age "+w.MaxAge.String())
	}
	return nil
}

// CheckVPD returns a file-level problem when vpd is not in expected (an
// empty expected set accepts any VPD).
func CheckVPD(file string, line int, recordType string, col int, vpd string, expected []string) *FileError {
	if len(expected) == 0 || slices.Contains(expected, vpd) {
		return nil
	}
	e := FileFailure(file, line, recordType, RuleUnexpectedVPD, "VPD "+Quote(vpd)+" is not one of the tenant's VPDs")
	e.Problem.Column, e.Problem.Field = col, "vpd"
	return e
}
