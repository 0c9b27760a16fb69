package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/platform/tracing/tracingtest"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// TestTracingFileToEvent runs the pipeline with OTLP export on: every
// service's span of a file lands in the file's trace (trace id = the first
// 16 bytes of its SHA-256), chained ingest → normalise → validate →
// publish, each event's traceparent names an exported span, and no span
// attribute holds a personal value of the file.
func TestTracingFileToEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	rc := tracingtest.Start(t)
	t.Setenv("OTEL_TRACES_SAMPLER", "")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")

	tr := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 60, Days: 3, Seed: 7})
	st, rd, reps := runTrust(t, tr, 3*time.Minute)
	events, err := rd.Events(context.Background(), "RXX")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 {
		t.Fatal("no events published")
	}
	// Stopping the stack flushes every service's spans.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	spans := rc.Spans()
	if len(spans) == 0 {
		t.Fatal("no spans exported")
	}
	byID := map[string]tracingtest.Span{}
	for _, s := range spans {
		byID[s.TraceID+"/"+s.ID] = s
	}

	chain := []string{"ingest", "normalise", "validate", "publish"}
	for _, rep := range reps {
		if rep.Status != internalv1.FileStatusAccepted {
			t.Fatalf("%s: %s", rep.File.Name, rep.Status)
		}
		traceID := rep.File.Sha256[:32]
		var prev tracingtest.Span
		for i, stage := range chain {
			var found []tracingtest.Span
			for _, s := range spans {
				if s.TraceID == traceID && s.Service == "esrflow-"+stage && s.Name == stage+" file" {
					found = append(found, s)
				}
			}
			if len(found) == 0 {
				t.Fatalf("%s: no %q span from esrflow-%s in trace %s", rep.File.Name, stage+" file", stage, traceID)
			}
			s := found[0]
			if s.Attrs["esrflow.tenant"] != "RXX" || s.Attrs["esrflow.file.name"] != rep.File.Name {
				t.Errorf("%s: %s span attributes %v", rep.File.Name, stage, s.Attrs)
			}
			if i == 0 {
				if s.Parent != "" {
					t.Errorf("%s: ingest's span has a parent %s: it is the trace's root", rep.File.Name, s.Parent)
				}
			} else if s.Parent != prev.ID {
				t.Errorf("%s: %s's span's parent is %q, not %s's span %s", rep.File.Name, stage, s.Parent, chain[i-1], prev.ID)
			}
			prev = s
		}
	}

	// Each event's traceparent names a "publish event" span, a child of
	// publish's span of the event's file.
	for _, ev := range events {
		tp := ev.Headers["traceparent"]
		parts := strings.Split(tp, "-")
		if len(parts) != 4 || parts[0] != "00" || parts[3] != "01" {
			t.Fatalf("event %s: traceparent %q", ev.ID, tp)
		}
		s, ok := byID[parts[1]+"/"+parts[2]]
		if !ok {
			t.Fatalf("event %s: traceparent %s names no exported span", ev.ID, tp)
		}
		if s.Service != "esrflow-publish" || s.Name != "publish event" {
			t.Errorf("event %s: its span is %q from %s", ev.ID, s.Name, s.Service)
		}
		p, ok := byID[parts[1]+"/"+s.Parent]
		if !ok || p.Name != "publish file" {
			t.Errorf("event %s: its span's parent %s is not an exported publish file span", ev.ID, s.Parent)
		}
	}

	// No attribute carries a name, date of birth or NI number of the files.
	var attrs []string
	for _, s := range spans {
		for k, v := range s.Attrs {
			attrs = append(attrs, k+"="+v)
		}
	}
	all := strings.Join(attrs, "\n")
	checked := 0
	for _, f := range tr.res.Files {
		for _, line := range strings.Split(string(tr.sink.Bytes(f.Name)), "\n") {
			fs := strings.Split(line, "~")
			if fs[0] != "PRA" || len(fs) < 15 {
				continue
			}
			for _, v := range []string{fs[6], fs[7], fs[13], fs[14]} { // last and first name, date of birth, NI number
				if len(v) >= 4 && strings.Contains(all, v) {
					t.Errorf("a span attribute holds a personal value from %s (PRA line, %d chars)", f.Name, len(v))
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no PRA rows checked")
	}
	t.Logf("%d files, %d events, %d spans", len(reps), len(events), len(spans))
}
