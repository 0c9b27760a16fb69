// Package tracing builds each service's OpenTelemetry TracerProvider and
// traces a file through the pipeline: one trace per file, whose trace id is
// the first 16 bytes of the file's SHA-256 (what publish's public
// traceparent has always said), one span per file per stage, chained by
// the W3C `traceparent` header the stages write on their internal records.
//
// Spans are exported over OTLP/HTTP (protobuf) only when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set;
// otherwise the provider is a no-op and costs nothing. The exporter, the
// sampler (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG; default
// parentbased_always_on) and the resource's other attributes
// (OTEL_RESOURCE_ATTRIBUTES) are read from the standard environment
// variables by the SDK itself.
//
// The ids are deterministic: a stage's span of a file is always
// SHA-256("esrflow/<stage>/<tenant>/<file sha256>")[:8], and a published
// event's span is SHA-256(<event id>)[:8] (publish.md). A transaction that
// aborts and is redone, or a partition that moves to another instance
// mid-file, therefore writes the same traceparent again, so the committed
// records always name the span that is exported. The price of exactly-once
// processing is the other way round: a redone transaction may export its
// spans twice (same ids); nothing tries to prevent it.
package tracing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
)

// Options configure a provider.
type Options struct {
	// Service is the esrflow service, e.g. "ingest": service.name is
	// "esrflow-<Service>".
	Service string
	// Standalone lets OTEL_SERVICE_NAME override service.name: true for a
	// service's own binary, false in `esrflow up`, where every service of
	// the process needs its own name.
	Standalone bool
	// Getenv reads the environment (default os.Getenv): only to decide
	// whether to export and what to log; the SDK reads the rest itself.
	Getenv func(string) string
	// Log, when set, is told once whether and where spans are exported.
	Log *zap.Logger
}

// Provider is a service's TracerProvider and how to stop it.
type Provider struct {
	trace.TracerProvider
	sdk *sdktrace.TracerProvider
}

// Exporting reports whether spans leave the process.
func (p *Provider) Exporting() bool { return p != nil && p.sdk != nil }

// Shutdown flushes the spans not yet exported and stops the exporter; a
// no-op provider has nothing to do.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil || p.sdk == nil {
		return nil
	}
	return p.sdk.Shutdown(ctx)
}

// Noop is a provider that records and exports nothing.
func Noop() *Provider { return &Provider{TracerProvider: noop.NewTracerProvider()} }

// New builds a service's provider from the OpenTelemetry environment.
func New(ctx context.Context, o Options) (*Provider, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	name := "esrflow-" + o.Service
	if v := getenv("OTEL_SERVICE_NAME"); o.Standalone && v != "" {
		name = v
	}
	endpoint := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if endpoint == "" {
		if o.Log != nil {
			o.Log.Info("tracing off: no OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
		}
		return Noop(), nil
	}
	// The exporter reads the endpoint, headers, TLS, timeout and
	// compression from the environment.
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, err
	}
	res, err := resource.Merge(resource.Default(),
		resource.NewSchemaless(attribute.String("service.name", name)))
	if err != nil {
		return nil, err
	}
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithIDGenerator(idGenerator{}),
		// No WithSampler: the SDK reads OTEL_TRACES_SAMPLER and
		// OTEL_TRACES_SAMPLER_ARG (default parentbased_always_on).
	)
	if o.Log != nil {
		sampler := getenv("OTEL_TRACES_SAMPLER")
		if sampler == "" {
			sampler = "parentbased_always_on"
		}
		o.Log.Info("tracing on: exporting spans over OTLP/HTTP", zap.String("endpoint", endpoint),
			zap.String("service_name", name), zap.String("sampler", sampler),
			zap.String("sampler_arg", getenv("OTEL_TRACES_SAMPLER_ARG")))
	}
	return &Provider{TracerProvider: sdk, sdk: sdk}, nil
}

// ScopeName is the instrumentation scope of esrflow's spans.
const ScopeName = "github.com/esrflow/esrflow"

// FileTraceID is a file's trace id: the first 16 bytes of its SHA-256
// (given in hex); a value that is not hex is hashed first, as publish's
// traceparent does.
func FileTraceID(fileSha256 string) trace.TraceID {
	var id trace.TraceID
	if b, err := hex.DecodeString(fileSha256); err == nil && len(b) >= 16 {
		copy(id[:], b)
		return id
	}
	sum := sha256.Sum256([]byte(fileSha256))
	copy(id[:], sum[:])
	return id
}

// SpanIDOf is the first 8 bytes of SHA-256(seed): a published event's span
// id is SpanIDOf(event id).
func SpanIDOf(seed string) trace.SpanID {
	sum := sha256.Sum256([]byte(seed))
	var id trace.SpanID
	copy(id[:], sum[:8])
	return id
}

// StageSpanID is the span id of a stage's span of a file.
func StageSpanID(stage, tenant, fileSha256 string) trace.SpanID {
	return SpanIDOf("esrflow/" + stage + "/" + tenant + "/" + fileSha256)
}

// Traceparent formats a span context as a W3C traceparent header value.
func Traceparent(sc trace.SpanContext) string {
	tid, sid := sc.TraceID(), sc.SpanID()
	return "00-" + hex.EncodeToString(tid[:]) + "-" + hex.EncodeToString(sid[:]) + "-" + hex.EncodeToString([]byte{byte(sc.TraceFlags())})
}

// ParseTraceparent reads a version-00 traceparent; ok is false for
// anything else.
func ParseTraceparent(v string) (trace.SpanContext, bool) {
	if len(v) != 55 || v[:3] != "00-" || v[35] != '-' || v[52] != '-' {
		return trace.SpanContext{}, false
	}
	var cfg trace.SpanContextConfig
	if _, err := hex.Decode(cfg.TraceID[:], []byte(v[3:35])); err != nil {
		return trace.SpanContext{}, false
	}
	if _, err := hex.Decode(cfg.SpanID[:], []byte(v[36:52])); err != nil {
		return trace.SpanContext{}, false
	}
	var flags [1]byte
	if _, err := hex.Decode(flags[:], []byte(v[53:55])); err != nil {
		return trace.SpanContext{}, false
	}
	cfg.TraceFlags = trace.TraceFlags(flags[0])
	cfg.Remote = true
	sc := trace.NewSpanContext(cfg)
	return sc, sc.IsValid()
}

// idKey carries the ids the next span started with the context must have.
type idKey struct{}

type ids struct {
	trace trace.TraceID
	span  trace.SpanID
}

// WithIDs makes the next span started with ctx have span id span and, if
// it is a root span, trace id tid: how esrflow gives its spans the
// deterministic ids the pipeline's headers name.
func WithIDs(ctx context.Context, tid trace.TraceID, span trace.SpanID) context.Context {
	return context.WithValue(ctx, idKey{}, ids{trace: tid, span: span})
}

// idGenerator gives a span the ids WithIDs put in its context, and random
// ones otherwise (the SDK's default behaviour).
type idGenerator struct{}

var (
	randMu sync.Mutex
)

func random(b []byte) {
	randMu.Lock()
	defer randMu.Unlock()
	_, _ = rand.Read(b)
}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if v, ok := ctx.Value(idKey{}).(ids); ok && v.trace.IsValid() && v.span.IsValid() {
		return v.trace, v.span
	}
	var tid trace.TraceID
	var sid trace.SpanID
	for !tid.IsValid() {
		random(tid[:])
	}
	for !sid.IsValid() {
		random(sid[:])
	}
	return tid, sid
}

func (idGenerator) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	if v, ok := ctx.Value(idKey{}).(ids); ok && v.span.IsValid() {
		return v.span
	}
	var sid trace.SpanID
	for !sid.IsValid() {
		random(sid[:])
	}
	return sid
}
