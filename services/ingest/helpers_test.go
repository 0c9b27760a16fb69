package ingest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/ingest"
	"github.com/esrflow/esrflow/services/registry/registrytest"
)

// stack is a real broker and registry shared by one test's services.
type stack struct {
	seeds       []string
	registryURL string
	dropRoot    string
	archive     string
	outbound    string
	serde       *avrox.Serde
}

func newStack(t *testing.T) *stack {
	t.Helper()
	k := testkit.Kafka(t,
		embedded.TopicSpec{Name: schemas.TopicRaw, Partitions: 3},
		embedded.TopicSpec{Name: schemas.TopicFileReports, Partitions: 1},
	)
	url := registrytest.Start(t, k.Seeds(), schemas.TopicRaw, schemas.TopicFileReports)
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return &stack{seeds: k.Seeds(), registryURL: url, dropRoot: filepath.Join(dir, "drop"), archive: filepath.Join(dir, "archive"),
		outbound: filepath.Join(dir, "outbound"),
		serde:    avrox.New(cl, internalv1.NewAPI())}
}

// running is a started ingest service.
type running struct {
	svc     *ingest.Service
	metrics *prometheus.Registry
	stop    func()
}

func (s *stack) config(t *testing.T, instance string) ingest.Config {
	t.Helper()
	tenants, err := tenant.Parse("RXX=412")
	if err != nil {
		t.Fatal(err)
	}
	return ingest.Config{
		Drop: s.dropRoot, Archive: s.archive, Outbound: s.outbound, Tenants: tenants,
		Brokers: s.seeds, RegistryURL: s.registryURL, InstanceID: instance,
		Settle: 30 * time.Millisecond, Interval: 10 * time.Millisecond,
	}
}

func (s *stack) start(t *testing.T, cfg ingest.Config) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	svc, err := ingest.New(cfg, ingest.Deps{Log: zaptest.NewLogger(t), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("ingest Run: %v", err)
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(20 * time.Second)
	for svc.Ready() != nil {
		select {
		case err := <-done:
			t.Fatalf("ingest stopped while starting: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("ingest not ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return &running{svc: svc, metrics: reg, stop: stop}
}

// generate makes a synthetic trust in memory.
func generate(t *testing.T, cfg gen.Config) (*gen.MemSink, gen.Result) {
	t.Helper()
	sink := &gen.MemSink{}
	res, err := gen.Generate(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	return sink, res
}

// drop delivers a file the way an SFTP client does: write a .part name,
// then rename it.
func (s *stack) drop(t *testing.T, folder, name string, data []byte) string {
	t.Helper()
	dir := filepath.Join(s.dropDir(), folder)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(dir, name+".part")
	if err := os.WriteFile(part, data, 0o640); err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(dir, name)
	if err := os.Rename(part, final); err != nil {
		t.Fatal(err)
	}
	return final
}

func (s *stack) dropDir() string { return s.dropRoot }

// waitGone waits until ingest has archived (removed) a dropped file.
func waitGone(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not picked up", filepath.Base(path))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readAll returns every committed record of a topic, read committed, up to
// the last stable offset (markers of ended transactions included). Not the
// high watermark: taken while ingest writes a file, that cuts the file's
// transaction in two, and the reader returns its first records once it
// commits (a file start without all its rows).
func readAll(t *testing.T, seeds []string, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := testkit.Client(t, seeds, kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.FetchMaxWait(50*time.Millisecond))
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	offsets := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset - 1
			offsets[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) == 0 {
		return nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets})
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v (still waiting for %v)", topic, ctx.Err(), want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			last, ok := want[r.Partition]
			if !ok || r.Offset > last {
				return
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if r.Offset >= last {
				delete(want, r.Partition)
			}
		})
	}
	return out
}

// highWatermark sums a topic's end offsets: it counts aborted records too.
func highWatermark(t *testing.T, seeds []string, topic string) int64 {
	t.Helper()
	cl := testkit.Client(t, seeds)
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

func (s *stack) rawRecords(t *testing.T) []internalv1.RawRecord {
	t.Helper()
	reader, _, err := schemas.Latest(schemas.Raw)
	if err != nil {
		t.Fatal(err)
	}
	var out []internalv1.RawRecord
	for _, r := range readAll(t, s.seeds, schemas.TopicRaw) {
		var v internalv1.RawRecord
		if _, err := s.serde.Decode(context.Background(), r.Value, reader, &v); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != v.Tenant {
			t.Fatalf("raw key %q, tenant %q", r.Key, v.Tenant)
		}
		out = append(out, v)
	}
	return out
}

func (s *stack) reports(t *testing.T) []internalv1.FileReport {
	t.Helper()
	reader, _, err := schemas.Latest(schemas.FileReport)
	if err != nil {
		t.Fatal(err)
	}
	return decodeReports(t, s.serde, reader, readAll(t, s.seeds, schemas.TopicFileReports))
}

func decodeReports(t *testing.T, serde *avrox.Serde, reader avro.Schema, recs []*kgo.Record) []internalv1.FileReport {
	t.Helper()
	var out []internalv1.FileReport
	for _, r := range recs {
		var v internalv1.FileReport
		if _, err := serde.Decode(context.Background(), r.Value, reader, &v); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != v.Tenant {
			t.Fatalf("report key %q, tenant %q", r.Key, v.Tenant)
		}
		out = append(out, v)
	}
	return out
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			want := map[string]string{}
			for i := 0; i+1 < len(labels); i += 2 {
				want[labels[i]] = labels[i+1]
			}
			for _, lp := range m.GetLabel() {
				if v, ok := want[lp.GetName()]; ok && v != lp.GetValue() {
					continue metric
				}
			}
			if m.Counter != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

// ignoredOn sums the rows the FILE_ENDs among recs counted instead of
// writing (rows of types the tenant's mapping ignores).
func ignoredOn(recs []internalv1.RawRecord) int {
	n := 0
	for _, r := range recs {
		if r.Kind == internalv1.RawKindFileEnd && r.Counts != nil {
			n += int(r.Counts.IgnoredRows)
		}
	}
	return n
}

// rawAccounted is the records on esr.raw.v1 plus the rows their FILE_ENDs
// counted instead of writing: for whole files, every data row of each file
// and its two marks.
func (s *stack) rawAccounted(t *testing.T) int {
	t.Helper()
	recs := s.rawRecords(t)
	return len(recs) + ignoredOn(recs)
}
