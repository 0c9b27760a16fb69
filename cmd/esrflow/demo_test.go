package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/esr/gen"
)

var bootstrapAddr = regexp.MustCompile(`kafka bootstrap: (\S+)`)

// TestUpDemoOnTheWallClockTellsTheTruth is `make run` on a machine whose
// clock says today: the demo's files end today, arrive at once (a backlog
// of a full file and ten change files), publish runs on the wall clock, and
// the published events must equal the demo's own truth.jsonl exactly: no
// leaver the clock confirmed before a later file of the backlog withdrew or
// re-dated it, and no person with two leavers.
func TestUpDemoOnTheWallClockTellsTheTruth(t *testing.T) {
	dir, args := demoArgs(t)
	var got []observe.Event
	var want []gen.TruthLine
	var rd *observe.Reader
	stableSince := time.Time{}
	runUpUntil(t, args, func(out string) bool {
		if len(reportLine.FindAllString(out, -1)) < 11 {
			return false
		}
		if rd == nil {
			b, r := bootstrapAddr.FindStringSubmatch(out), registryURL.FindStringSubmatch(out)
			if b == nil || r == nil {
				return false
			}
			var err error
			if rd, err = observe.NewReader([]string{b[1]}, r[1]); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(filepath.Join(dir, "demo", gen.TruthFile))
			if err != nil {
				t.Fatal(err)
			}
			truth, err := gen.ReadTruth(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			want, _ = trust{truth: truth}.expectedEvents()
			if last := (trust{truth: truth}).lastRunDate(); last != time.Now().In(londonTZ(t)).Format(time.DateOnly) {
				t.Fatalf("the demo's last run date is %s, want today", last)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		evs, err := rd.Events(ctx, "RXX")
		if err != nil {
			t.Fatal(err)
		}
		// Wait for the count to settle (held leavers the clock may still
		// confirm would show up within a few ticks), at least 3 s.
		if len(evs) != len(got) || stableSince.IsZero() {
			got, stableSince = evs, time.Now()
			return false
		}
		return time.Since(stableSince) > 3*time.Second
	})
	compareEvents(t, got, want)
	leavers := map[string]int{}
	for _, e := range got {
		if e.Type == gen.TypeLeaver {
			leavers[e.PersonID]++
		}
	}
	for pid, n := range leavers {
		if n > 1 {
			t.Errorf("person %s received %d leaver-confirmed events", pid, n)
		}
	}
	t.Logf("%d events published on the wall clock", len(got))
}

func londonTZ(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
