package tracing

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Header is the W3C trace context header the pipeline's records carry.
const Header = "traceparent"

// Attribute keys of esrflow's spans. None carries personal data: a span
// names a tenant, a file and counts, never a row's values.
const (
	AttrStage     = attribute.Key("esrflow.stage")
	AttrTenant    = attribute.Key("esrflow.tenant")
	AttrFileName  = attribute.Key("esrflow.file.name")
	AttrFileSha   = attribute.Key("esrflow.file.sha256")
	AttrRows      = attribute.Key("esrflow.rows")
	AttrOutcome   = attribute.Key("esrflow.outcome")
	AttrEventType = attribute.Key("esrflow.event.type")
	AttrTopic     = attribute.Key("messaging.destination.name")
)

// Files traces one stage's files: one span per file, from the first of
// its records the stage processes to its end, a child of the span the
// record's traceparent names (the stage before). The records the stage
// writes for the file name the stage's span in their traceparent.
//
// Spans are never per row: a file has up to millions. Safe for concurrent
// use.
type Files struct {
	tracer trace.Tracer
	// exporting is false when the provider exports nothing: Event, once
	// per published event, then costs nothing at all.
	exporting bool
	stage     string
	mu        sync.Mutex
	open      map[string]*File
	last      *File // the file of the last Begin: rows come a file at a time
}

// File is a stage's open span of one file.
type File struct {
	span      trace.Span
	sc        trace.SpanContext
	hdr       []kgo.RecordHeader // just the traceparent, shared by every record without other headers
	partition int32
	tenant    string
	sha       string
}

// NewFiles traces the files of stage (e.g. "normalise") with tp; nil
// traces nothing (the records still carry the stage's traceparent).
func NewFiles(tp trace.TracerProvider, stage string) *Files {
	exporting := true
	switch p := tp.(type) {
	case nil:
		tp, exporting = noop.NewTracerProvider(), false
	case *Provider:
		exporting = p.Exporting()
	case noop.TracerProvider:
		exporting = false
	}
	return &Files{tracer: tp.Tracer(ScopeName), exporting: exporting, stage: stage, open: map[string]*File{}}
}

func fileKey(tenant, sha string) string { return tenant + "/" + sha }

// Parent is the span context a record's headers name, if any.
func Parent(hdrs []kgo.RecordHeader) (trace.SpanContext, bool) {
	for i := len(hdrs) - 1; i >= 0; i-- {
		if hdrs[i].Key == Header {
			return ParseTraceparent(string(hdrs[i].Value))
		}
	}
	return trace.SpanContext{}, false
}

// Begin returns the stage's span of a file, starting it when it is not
// open: a child of the span the record's headers name or, without a
// traceparent (records written before tracing, replay batches), the root
// of the file's trace. The span's id is StageSpanID, whichever instance
// starts it and however often.
func (f *Files) Begin(ctx context.Context, partition int32, tenant, sha, name string, hdrs []kgo.RecordHeader) *File {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl := f.last; fl != nil && fl.tenant == tenant && fl.sha == sha {
		fl.partition = partition
		return fl
	}
	k := fileKey(tenant, sha)
	if fl := f.open[k]; fl != nil {
		f.last = fl
		fl.partition = partition
		return fl
	}
	want := StageSpanID(f.stage, tenant, sha)
	tid := FileTraceID(sha)
	parent, ok := Parent(hdrs)
	if ok && parent.TraceID() != tid {
		ok = false // not this file's trace: start the file's own
	}
	sctx := context.WithoutCancel(ctx)
	if ok {
		sctx = trace.ContextWithRemoteSpanContext(sctx, parent)
	} else {
		sctx = trace.ContextWithSpanContext(sctx, trace.SpanContext{})
	}
	sctx = WithIDs(sctx, tid, want)
	_, span := f.tracer.Start(sctx, f.stage+" file", trace.WithAttributes(
		AttrStage.String(f.stage), AttrTenant.String(tenant), AttrFileName.String(name), AttrFileSha.String(sha)))
	sc := span.SpanContext()
	if sc.SpanID() != want || sc.TraceID() != tid {
		// No SDK (tracing off): the records still name the stage's span,
		// as an exporting instance would, and pass on the sampling
		// decision made before (sampled when none was).
		flags := trace.FlagsSampled
		if ok {
			flags = parent.TraceFlags()
		}
		sc = trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: want, TraceFlags: flags})
	}
	fl := &File{span: span, sc: sc, partition: partition, tenant: tenant, sha: sha,
		hdr: []kgo.RecordHeader{{Key: Header, Value: []byte(Traceparent(sc))}}}
	f.open[k] = fl
	f.last = fl
	return fl
}

// End ends the file's span with attrs (rows, outcome); err, when not
// nil, marks it failed. Nothing happens when the span is not open.
func (f *Files) End(tenant, sha string, err error, attrs ...attribute.KeyValue) {
	f.mu.Lock()
	fl := f.open[fileKey(tenant, sha)]
	delete(f.open, fileKey(tenant, sha))
	if f.last == fl {
		f.last = nil
	}
	f.mu.Unlock()
	if fl == nil {
		return
	}
	fl.span.SetAttributes(attrs...)
	if err != nil {
		fl.span.SetStatus(codes.Error, err.Error())
	}
	fl.span.End()
}

// Forget drops the open spans of files on partition p without ending
// them: p was revoked, and whichever instance gets it starts the span
// again, with the same id, when it reads the file's next record.
func (f *Files) Forget(p int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, fl := range f.open {
		if fl.partition == p {
			delete(f.open, k)
		}
	}
	if f.last != nil && f.last.partition == p {
		f.last = nil
	}
}

// Open reports how many file spans are open.
func (f *Files) Open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.open)
}

// Event records one span for something the stage published for a file:
// its span id is SpanIDOf(seed) (publish's event id, the span id of the
// event's public traceparent), its parent the stage's span of the file
// (open or not: a held leaver fired days later still joins its file's
// trace, its parent marked sampled, as its public traceparent is).
func (f *Files) Event(ctx context.Context, tenant, sha, seed, name string, attrs ...attribute.KeyValue) {
	if !f.exporting {
		return
	}
	f.mu.Lock()
	fl := f.open[fileKey(tenant, sha)]
	f.mu.Unlock()
	var parent trace.SpanContext
	if fl != nil {
		parent = fl.sc
	} else {
		parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: FileTraceID(sha),
			SpanID: StageSpanID(f.stage, tenant, sha), TraceFlags: trace.FlagsSampled})
	}
	sctx := trace.ContextWithSpanContext(context.WithoutCancel(ctx), parent)
	sctx = WithIDs(sctx, parent.TraceID(), SpanIDOf(seed))
	_, span := f.tracer.Start(sctx, name, trace.WithAttributes(attrs...))
	span.End()
}

// SpanContext is what the file's records name as their parent.
func (fl *File) SpanContext() trace.SpanContext { return fl.sc }

// Headers are hdrs with the traceparent naming this span (added, or in
// place of the one there). The result may be shared between records: no
// one may change it.
func (fl *File) Headers(hdrs []kgo.RecordHeader) []kgo.RecordHeader {
	if len(hdrs) == 0 || (len(hdrs) == 1 && hdrs[0].Key == Header) {
		return fl.hdr
	}
	out := make([]kgo.RecordHeader, 0, len(hdrs)+1)
	for _, h := range hdrs {
		if h.Key != Header {
			out = append(out, h)
		}
	}
	return append(out, fl.hdr[0])
}

// Without is hdrs without any traceparent (nil when nothing else is left).
func Without(hdrs []kgo.RecordHeader) []kgo.RecordHeader {
	n := 0
	for _, h := range hdrs {
		if h.Key != Header {
			n++
		}
	}
	if n == len(hdrs) {
		return hdrs
	}
	if n == 0 {
		return nil
	}
	out := make([]kgo.RecordHeader, 0, n)
	for _, h := range hdrs {
		if h.Key != Header {
			out = append(out, h)
		}
	}
	return out
}
