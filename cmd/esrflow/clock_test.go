package main

import (
	"testing"
	"time"
)

func TestParseClock(t *testing.T) {
	london, _ := time.LoadLocation("Europe/London")
	for _, c := range []struct {
		in    string
		off   bool
		fixed time.Time
		bad   bool
	}{
		{in: "wall"}, {in: ""}, {in: "off", off: true},
		{in: "2024-07-01", fixed: time.Date(2024, 7, 1, 0, 0, 0, 0, london)},
		{in: "2024-07-01T12:00:00Z", fixed: time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC)},
		{in: "yesterday", bad: true}, {in: "2024-13-01", bad: true},
	} {
		got, err := parseClock(c.in)
		if (err != nil) != c.bad {
			t.Errorf("%q: err %v", c.in, err)
			continue
		}
		if got.off != c.off || !got.fixed.Equal(c.fixed) {
			t.Errorf("%q: got %+v, want off=%v fixed=%v", c.in, got, c.off, c.fixed)
		}
		if !c.fixed.IsZero() && !got.now()().Equal(c.fixed) {
			t.Errorf("%q: now() = %v", c.in, got.now()())
		}
	}
}

func TestGenStartEndsToday(t *testing.T) {
	got, err := genStart("", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := londonToday(time.Now()).AddDate(0, 0, -10); !got.Equal(want) {
		t.Fatalf("default start %v, want %v (10 days before today)", got, want)
	}
	got, err = genStart("", "2024-04-11", 10)
	if err != nil || got.Format(time.DateOnly) != "2024-04-01" {
		t.Fatalf("--end-date 2024-04-11 --days 10: start %v, %v", got, err)
	}
	got, err = genStart("2024-04-01", "", 10)
	if err != nil || got.Format(time.DateOnly) != "2024-04-01" {
		t.Fatalf("--start: %v, %v", got, err)
	}
	if _, err := genStart("2024-04-01", "2024-04-11", 10); err == nil {
		t.Fatal("--start with --end-date accepted")
	}
}
