package main

// The generator's planted faults through the whole embedded stack: every
// fault kind, and the pipeline quarantines exactly the rows the truth
// lists, with exactly the error rules it names, flags the warnings it
// names on the records it passes (or quarantines), rejects no file and
// publishes exactly the truth's events.

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// TestEndToEndFaultsQuarantineExactly: four change files of a small trust
// with --faults plant every fault kind (seven a file, rotating); the
// quarantine topic holds exactly the truth's quarantine rows, each with
// exactly the truth's error rules and fields, and the warnings on
// validated and quarantined records are exactly the truth's warning lines.
func TestEndToEndFaultsQuarantineExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 400, Days: 4, Seed: 3, Faults: true})
	st, rd, reps := runTrust(t, tr, 3*time.Minute)
	ctx := context.Background()
	for _, r := range reps {
		if r.Status != internalv1.FileStatusAccepted {
			t.Errorf("%s: %s (%v): a generated file must stay within its error budget", r.File.Name, r.Status, r.Reason)
		}
	}

	wantErr, wantWarn := map[string][]string{}, map[string][]string{}
	errRules := map[string]bool{}
	for _, l := range tr.truth {
		at := fmt.Sprintf("%s:%d", l.File, l.Line)
		switch l.Kind {
		case gen.KindQuarantine:
			wantErr[at] = append(wantErr[at], l.Rule+"/"+l.Field)
			errRules[l.Rule] = true
		case gen.KindWarning:
			wantWarn[at] = append(wantWarn[at], l.Rule+"/"+l.Field)
		}
	}
	if len(errRules) < 15 {
		t.Fatalf("the run plants %d error rules, want at least 15", len(errRules))
	}

	gotErr, gotWarn := map[string][]string{}, map[string][]string{}
	q, err := rd.Quarantine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range q {
		at := fmt.Sprintf("%s:%d", r.Lineage.FileName, r.Lineage.Line)
		if _, dup := gotErr[at]; dup {
			t.Errorf("%s quarantined twice", at)
		}
		gotErr[at] = []string{}
		for _, v := range r.Violations {
			if v.Severity == internalv1.SeverityWarning {
				gotWarn[at] = append(gotWarn[at], v.Rule+"/"+v.Field)
			} else {
				gotErr[at] = append(gotErr[at], v.Rule+"/"+v.Field)
			}
		}
	}
	for at, w := range validatedWarnings(t, st.RegistryURL(), rd) {
		gotWarn[at] = append(gotWarn[at], w...)
	}
	compareRowRules(t, "quarantined", wantErr, gotErr)
	compareRowRules(t, "warned", wantWarn, gotWarn)

	events, err := rd.Events(ctx, "RXX")
	if err != nil {
		t.Fatal(err)
	}
	published, _ := tr.expectedEvents()
	compareEvents(t, events, published)
	t.Logf("%d files, %d rows quarantined under %d error rules, %d rows warned, %d events", len(reps), len(gotErr), len(errRules), len(gotWarn), len(events))
}

// validatedWarnings reads esr.validated.v1 and returns the warnings on its
// ENTITY records, by file and line.
func validatedWarnings(t *testing.T, registryURL string, rd *observe.Reader) map[string][]string {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(registryURL))
	if err != nil {
		t.Fatal(err)
	}
	serde := avrox.New(cl, internalv1.NewAPI())
	reader, _, err := schemas.Latest(schemas.Entity)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	ctx := context.Background()
	err = rd.Records(ctx, "^"+regexp.QuoteMeta(schemas.TopicValidated)+"$", func(rec *kgo.Record) error {
		var e internalv1.EntityRecord
		if _, err := serde.Decode(ctx, rec.Value, reader, &e); err != nil {
			return err
		}
		if e.Kind != internalv1.EntityRecordKindEntity || len(e.Warnings) == 0 {
			return nil
		}
		at := fmt.Sprintf("%s:%d", e.Lineage.FileName, e.Lineage.Line)
		for _, v := range e.Warnings {
			out[at] = append(out[at], v.Rule+"/"+v.Field)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// compareRowRules checks that the same rows carry the same rule/field
// pairs.
func compareRowRules(t *testing.T, what string, want, got map[string][]string) {
	t.Helper()
	for at, w := range want {
		g, ok := got[at]
		if !ok {
			t.Errorf("%s: not %s; the truth says %v", at, what, w)
			continue
		}
		slices.Sort(w)
		slices.Sort(g)
		if !slices.Equal(w, g) {
			t.Errorf("%s: %s with %v, the truth says %v", at, what, g, w)
		}
	}
	for at, g := range got {
		if _, ok := want[at]; !ok {
			t.Errorf("%s: %s with %v, not in the truth", at, what, g)
		}
	}
}
