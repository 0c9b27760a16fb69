package main

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// otlpSpan is one span an OTLP/HTTP receiver was sent.
type otlpSpan struct {
	service, name       string
	traceID, id, parent string // hex
	attrs               map[string]string
}

// otlpReceiver is an in-process OTLP/HTTP trace receiver: POST /v1/traces
// with an ExportTraceServiceRequest in protobuf.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []otlpSpan
}

func (rc *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		svc := attrString(rs.GetResource().GetAttributes(), "service.name")
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := otlpSpan{service: svc, name: s.GetName(), traceID: hex.EncodeToString(s.GetTraceId()),
					id: hex.EncodeToString(s.GetSpanId()), parent: hex.EncodeToString(s.GetParentSpanId()),
					attrs: map[string]string{}}
				for _, kv := range s.GetAttributes() {
					sp.attrs[kv.GetKey()] = anyString(kv.GetValue())
				}
				rc.spans = append(rc.spans, sp)
			}
		}
	}
	rc.mu.Unlock()
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (rc *otlpReceiver) all() []otlpSpan {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]otlpSpan(nil), rc.spans...)
}

func attrString(kvs []*commonv1.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.GetKey() == key {
			return anyString(kv.GetValue())
		}
	}
	return ""
}

func anyString(v *commonv1.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonv1.AnyValue_StringValue:
		return x.StringValue
	case nil:
		return ""
	default:
		return v.String()
	}
}

// TestTracingFileToEvent runs the pipeline with OTLP export on: every
// service's span of a file lands in the file's trace (trace id = the first
// 16 bytes of its SHA-256), chained ingest → normalise → validate →
// publish, each event's traceparent names an exported span, and no span
// attribute holds a personal value of the file.
func TestTracingFileToEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	rc := &otlpReceiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
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
	spans := rc.all()
	if len(spans) == 0 {
		t.Fatal("no spans exported")
	}
	byID := map[string]otlpSpan{}
	for _, s := range spans {
		byID[s.traceID+"/"+s.id] = s
	}

	chain := []string{"ingest", "normalise", "validate", "publish"}
	for _, rep := range reps {
		if rep.Status != internalv1.FileStatusAccepted {
			t.Fatalf("%s: %s", rep.File.Name, rep.Status)
		}
		traceID := rep.File.Sha256[:32]
		var prev otlpSpan
		for i, stage := range chain {
			var found []otlpSpan
			for _, s := range spans {
				if s.traceID == traceID && s.service == "esrflow-"+stage && s.name == stage+" file" {
					found = append(found, s)
				}
			}
			if len(found) == 0 {
				t.Fatalf("%s: no %q span from esrflow-%s in trace %s", rep.File.Name, stage+" file", stage, traceID)
			}
			s := found[0]
			if s.attrs["esrflow.tenant"] != "RXX" || s.attrs["esrflow.file.name"] != rep.File.Name {
				t.Errorf("%s: %s span attributes %v", rep.File.Name, stage, s.attrs)
			}
			if i == 0 {
				if s.parent != "" {
					t.Errorf("%s: ingest's span has a parent %s: it is the trace's root", rep.File.Name, s.parent)
				}
			} else if s.parent != prev.id {
				t.Errorf("%s: %s's span's parent is %q, not %s's span %s", rep.File.Name, stage, s.parent, chain[i-1], prev.id)
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
		if s.service != "esrflow-publish" || s.name != "publish event" {
			t.Errorf("event %s: its span is %q from %s", ev.ID, s.name, s.service)
		}
		p, ok := byID[parts[1]+"/"+s.parent]
		if !ok || p.name != "publish file" {
			t.Errorf("event %s: its span's parent %s is not an exported publish file span", ev.ID, s.parent)
		}
	}

	// No attribute carries a name, date of birth or NI number of the files.
	var attrs []string
	for _, s := range spans {
		for k, v := range s.attrs {
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
