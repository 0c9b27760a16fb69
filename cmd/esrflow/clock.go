package main

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // Europe/London without a zoneinfo database
)

// publishClock is what `up --clock` gives publish's scheduler, the clock
// that confirms future-dated leavers on their Europe/London day.
type publishClock struct {
	off   bool      // files alone confirm held leavers (loading old files)
	fixed time.Time // zero: the wall clock; else publish's clock stands here
}

// parseClock reads --clock: "wall" (the default: the machine's clock),
// "off" (replay history: a held leaver fires only at a file whose run date
// reaches its date), or a date (YYYY-MM-DD, taken as midnight in
// Europe/London) or an RFC 3339 time at which publish's clock is pinned.
func parseClock(s string) (publishClock, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "wall":
		return publishClock{}, nil
	case "off":
		return publishClock{off: true}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return publishClock{fixed: t}, nil
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		return publishClock{}, err
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, london); err == nil {
		return publishClock{fixed: t}, nil
	}
	return publishClock{}, fmt.Errorf("--clock %q: want wall, off, a date (YYYY-MM-DD) or an RFC 3339 time", s)
}

// londonToday is t's civil day in England, where ESR's run dates are days.
func londonToday(t time.Time) time.Time {
	if london, err := time.LoadLocation("Europe/London"); err == nil {
		t = t.In(london)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// now is the clock publish reads (nil: the wall clock).
func (c publishClock) now() func() time.Time {
	if c.fixed.IsZero() {
		return nil
	}
	t := c.fixed
	return func() time.Time { return t }
}

func (c publishClock) String() string {
	switch {
	case c.off:
		return "off (held leavers are confirmed by files only)"
	case !c.fixed.IsZero():
		return "pinned at " + c.fixed.UTC().Format(time.RFC3339)
	}
	return "wall"
}

// today is the instant whose London day the demo's last file runs on: the
// pinned time, else now.
func (c publishClock) today() time.Time {
	if !c.fixed.IsZero() {
		return c.fixed
	}
	return time.Now()
}
