package tracing_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/esrflow/esrflow/platform/tracing"
	"github.com/esrflow/esrflow/platform/tracing/tracingtest"
)

const fileSha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func clearOTEL(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SERVICE_NAME",
		"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"} {
		t.Setenv(k, "")
	}
}

// Without an endpoint nothing is exported: the provider is a no-op, its
// spans record nothing, and the records still name the stage's span.
func TestNoEndpointExportsNothing(t *testing.T) {
	clearOTEL(t)
	// Only OTEL_EXPORTER_OTLP_HEADERS-like settings, no endpoint.
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
	p, err := tracing.New(context.Background(), tracing.Options{Service: "normalise"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Exporting() {
		t.Fatal("exporting without an endpoint")
	}
	files := tracing.NewFiles(p, "normalise")
	fl := files.Begin(context.Background(), 0, "RXX", fileSha, "f.DAT", nil)
	if fl.SpanContext().SpanID() != tracing.StageSpanID("normalise", "RXX", fileSha) {
		t.Fatalf("span id %s", fl.SpanContext().SpanID())
	}
	got := string(fl.Headers(nil)[0].Value)
	want := "00-" + fileSha[:32] + "-" + tracing.StageSpanID("normalise", "RXX", fileSha).String() + "-01"
	if got != want {
		t.Fatalf("traceparent %s, want %s", got, want)
	}
	files.End("RXX", fileSha, nil)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// With an endpoint, a stage's span of a file is exported under
// service.name esrflow-<service>, with the file's trace id, the stage's
// span id and, as parent, the span the record's traceparent named; an
// event span has the span id of its seed.
func TestEndpointExportsFileSpans(t *testing.T) {
	clearOTEL(t)
	rc := tracingtest.Start(t)
	t.Setenv("OTEL_SERVICE_NAME", "ignored-in-up")
	p, err := tracing.New(context.Background(), tracing.Options{Service: "publish"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Exporting() {
		t.Fatal("not exporting with an endpoint")
	}
	parent := tracing.StageSpanID("validate", "RXX", fileSha)
	in := []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-" + fileSha[:32] + "-" + parent.String() + "-01")}}
	files := tracing.NewFiles(p, "publish")
	fl := files.Begin(context.Background(), 0, "RXX", fileSha, "f.DAT", in)
	if fl.SpanContext().SpanID() != tracing.StageSpanID("publish", "RXX", fileSha) || !fl.SpanContext().IsSampled() {
		t.Fatalf("span context %v", fl.SpanContext())
	}
	files.Event(context.Background(), "RXX", fileSha, "event-1", "publish event")
	files.End("RXX", fileSha, nil, tracing.AttrRows.Int64(3))
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := rc.Spans()
	if len(spans) != 2 {
		t.Fatalf("%d spans exported", len(spans))
	}
	ids := map[string]tracingtest.Span{}
	for _, s := range spans {
		if s.Service != "esrflow-publish" {
			t.Errorf("%s: service.name %q", s.Name, s.Service)
		}
		if s.TraceID != fileSha[:32] {
			t.Errorf("%s: trace id %s", s.Name, s.TraceID)
		}
		ids[s.Name] = s
	}
	file, okFile := ids["publish file"]
	ev, okEvent := ids["publish event"]
	if !okFile || !okEvent {
		t.Fatalf("spans %v", ids)
	}
	if file.ID != tracing.StageSpanID("publish", "RXX", fileSha).String() || file.Parent != parent.String() {
		t.Errorf("file span %s parent %s", file.ID, file.Parent)
	}
	if ev.ID != tracing.SpanIDOf("event-1").String() || ev.Parent != file.ID {
		t.Errorf("event span %s parent %s", ev.ID, ev.Parent)
	}
}

// A standalone binary takes OTEL_SERVICE_NAME; a trace-id-ratio sampler
// decides for the file's trace id alike in every service.
func TestStandaloneServiceNameAndRatio(t *testing.T) {
	clearOTEL(t)
	rc := tracingtest.Start(t)
	t.Setenv("OTEL_SERVICE_NAME", "my-ingest")
	t.Setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "0")
	p, err := tracing.New(context.Background(), tracing.Options{Service: "ingest", Standalone: true})
	if err != nil {
		t.Fatal(err)
	}
	files := tracing.NewFiles(p, "ingest")
	fl := files.Begin(context.Background(), 0, "RXX", fileSha, "f.DAT", nil)
	if fl.SpanContext().IsSampled() {
		t.Error("sampled at ratio 0")
	}
	if got := string(fl.Headers(nil)[0].Value); got[len(got)-2:] != "00" {
		t.Errorf("traceparent %s: not marked unsampled", got)
	}
	files.End("RXX", fileSha, nil)
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "1")
	p2, err := tracing.New(context.Background(), tracing.Options{Service: "ingest", Standalone: true})
	if err != nil {
		t.Fatal(err)
	}
	files = tracing.NewFiles(p2, "ingest")
	files.Begin(context.Background(), 0, "RXX", fileSha, "f.DAT", nil)
	files.End("RXX", fileSha, nil)
	_ = p.Shutdown(context.Background())
	_ = p2.Shutdown(context.Background())
	spans := rc.Spans()
	if len(spans) != 1 || spans[0].Service != "my-ingest" {
		t.Fatalf("spans %+v: want one, from my-ingest", spans)
	}
	if spans[0].Parent != "" {
		t.Errorf("ingest's span has a parent")
	}
}

func TestTraceparentRoundTrip(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tracing.FileTraceID(fileSha),
		SpanID: tracing.SpanIDOf("x"), TraceFlags: trace.FlagsSampled})
	got, ok := tracing.ParseTraceparent(tracing.Traceparent(sc))
	if !ok || got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsSampled() {
		t.Fatalf("%v %v", got, ok)
	}
	for _, bad := range []string{"", "01-" + fileSha[:32] + "-0000000000000001-01", "00-" + fileSha[:32] + "-0000000000000000-01"} {
		if _, ok := tracing.ParseTraceparent(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
