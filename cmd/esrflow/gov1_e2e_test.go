package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/format/gov1"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
)

// TestEndToEndGOv1MatchesTruth runs a trust whose ESR feed is GO v1 (a Full
// file, change files, a periodic Full file) through the whole stack: the
// published events equal the generator's truth exactly, every file is
// ACCEPTED and reconciles, nothing is quarantined, and the starters and
// position changes carry the post and organisation their ASG rows name
// (organisations are named by text in v1: normalise derives them).
func TestEndToEndGOv1MatchesTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 400, Days: 9, Seed: 5, FullEvery: 4, Format: gen.FormatGOv1})
	st, rd, reps := runTrust(t, tr, 5*time.Minute)
	ctx := context.Background()
	events, err := rd.Events(ctx, "RXX")
	if err != nil {
		t.Fatal(err)
	}
	published, held := tr.expectedEvents()
	if len(published) < 50 {
		t.Fatalf("only %d events in the truth: the trust is too quiet to test", len(published))
	}
	compareEvents(t, events, published)
	checkEnvelope(t, events)
	checkReports(t, tr, reps, events)
	q, err := rd.Quarantine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkQuarantine(t, tr, q) // the truth has no quarantine lines: nothing may be quarantined
	checkHeld(t, st, held)

	// What each event's ASG row names, read back from the files.
	type asgRow struct{ number, title, org string }
	rows := map[string]asgRow{}
	for _, f := range tr.res.Files {
		r, err := gov1.NewReader(f.Name, bytes.NewReader(tr.sink.Bytes(f.Name)), gov1.Options{RelaxHeaderFileName: true,
			Now: func() time.Time { return time.Now().AddDate(10, 0, 0) }, MaxRunAge: 100 * 365 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		for {
			row, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec, err := gov1.Decode(row); err == nil {
				if a, ok := rec.(gov1.AssignmentRow); ok {
					rows[fmt.Sprintf("%s:%d", f.Name, row.Line)] = asgRow{a.PositionName.Number, a.PositionName.Title, a.Organisation}
				}
			}
		}
	}
	starters, changes := 0, 0
	for _, e := range events {
		row := rows[fmt.Sprintf("%s:%d", e.File, e.Line)]
		switch v := e.Value.(type) {
		case eventsv1.StarterCreated:
			if got := (asgRow{v.PositionNumber, v.PositionTitle, v.Organisation}); got != row || row.org == "" {
				t.Errorf("starter %s: post %+v, its ASG row names %+v", e.PersonID, got, row)
			}
			starters++
		case eventsv1.PositionUpdated:
			if v.After == nil {
				continue
			}
			if got := (asgRow{v.After.PositionNumber, v.After.PositionTitle, v.After.Organisation}); got != row || v.After.Location == "" {
				t.Errorf("position-updated %s: after %+v (location %q), its ASG row names %+v", e.PersonID, got, v.After.Location, row)
			}
			changes++
		}
	}
	if starters == 0 || changes == 0 {
		t.Fatalf("%d starters and %d position changes checked against their rows", starters, changes)
	}
	t.Logf("%d files, %d events published, %d leavers held, %d starters and %d position changes checked against their rows",
		len(reps), len(events), len(held), starters, changes)
}
