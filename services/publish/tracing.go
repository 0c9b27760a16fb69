package publish

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/esrflow/esrflow/platform/tracing"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// fileSpans traces publish: one "publish file" span per file, from the
// first of its records to its FILE_END (a child of validate's span, which
// the records' traceparent names), and one "publish event" span per event
// published, a child of the file's span whose span id is the one in the
// event's public traceparent (SHA-256 of the event id, publish.md), so a
// consumer that continues the trace from an event attaches to a span that
// was exported. A held leaver that fires later gets its span then, in the
// trace of the file it came from.
//
// Spans end while the transaction is still open: one that aborts and is
// redone exports its spans again, with the same ids. The event's headers
// never depend on tracing: they are the contract.
type fileSpans struct{ files *tracing.Files }

func newFileSpans(tp trace.TracerProvider) *fileSpans {
	return &fileSpans{files: tracing.NewFiles(tp, "publish")}
}

// begin opens the file's span at the first of its records.
func (s *fileSpans) begin(ctx context.Context, partition int32, tenant string, in *kgo.Record, rec *internalv1.EntityRecord) {
	if s == nil || rec.Kind == internalv1.EntityRecordKindCommand || rec.File.Sha256 == "" {
		return
	}
	s.files.Begin(ctx, partition, tenant, rec.File.Sha256, rec.File.Name, in.Headers)
}

// end ends the file's span once its FILE_END was processed; o is the file
// that was open before it (its events emitted, counted).
func (s *fileSpans) end(tenant string, rec *internalv1.EntityRecord, o *openFile) {
	if s == nil || rec.Kind != internalv1.EntityRecordKindFileEnd {
		return
	}
	attrs := []attribute.KeyValue{tracing.AttrOutcome.String("published")}
	if rec.Counts != nil {
		attrs = append(attrs, tracing.AttrRows.Int64(rec.Counts.RowsRead))
	}
	if o != nil && o.Sha256 == rec.File.Sha256 {
		var n int64
		for _, c := range o.Emitted {
			n += c
		}
		attrs = append(attrs, attribute.Int64("esrflow.events", n))
	}
	s.files.End(tenant, rec.File.Sha256, nil, attrs...)
}

// event exports the span the event's traceparent names.
func (s *fileSpans) event(ctx context.Context, e *event, topic string) {
	if s == nil {
		return
	}
	s.files.Event(ctx, e.Tenant, e.FileSha256, e.ID, "publish event",
		tracing.AttrTenant.String(e.Tenant), tracing.AttrEventType.String(ceType(e.Type)), tracing.AttrTopic.String(topic))
}

// traceparent is what publish's internal records of a file (its report)
// carry: its span of the file.
func (s *fileSpans) traceparent(tenant, sha string) string {
	sid := tracing.StageSpanID("publish", tenant, sha)
	return tracing.Traceparent(trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tracing.FileTraceID(sha), SpanID: sid, TraceFlags: trace.FlagsSampled}))
}

func (s *fileSpans) forget(partition int32) {
	if s != nil {
		s.files.Forget(partition)
	}
}
