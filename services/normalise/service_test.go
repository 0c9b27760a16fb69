package normalise_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/normalise"
	"github.com/esrflow/esrflow/services/registry/registrytest"
)

// TestServiceThroughRunner runs the service on the real stage runner over
// an in-process Kafka and registry: a file on esr.raw.v1 comes out on
// esr.normalised.v1 and esr.quarantine.v1, committed, with its counts.
func TestServiceThroughRunner(t *testing.T) {
	k := testkit.Kafka(t,
		embedded.TopicSpec{Name: schemas.TopicRaw, Partitions: 3},
		embedded.TopicSpec{Name: schemas.TopicNormalised, Partitions: 3},
		embedded.TopicSpec{Name: schemas.TopicQuarantine, Partitions: 3})
	url := registrytest.Start(t, k.Seeds(), schemas.TopicRaw, schemas.TopicNormalised, schemas.TopicQuarantine)
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	serde := avrox.New(cl, internalv1.NewAPI())
	_, text, _ := schemas.Latest(schemas.Raw)
	w, err := serde.Register(context.Background(), schemas.Subject(schemas.TopicRaw), text)
	if err != nil {
		t.Fatal(err)
	}
	prod := testkit.Client(t, k.Seeds())
	for _, r := range testFile() {
		b, err := w.Encode(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := prod.ProduceSync(context.Background(), &kgo.Record{Topic: schemas.TopicRaw, Key: []byte(r.Tenant), Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	svc, err := normalise.New(normalise.Config{Brokers: k.Seeds(), RegistryURL: url, InstanceID: "test-0"},
		normalise.Deps{Log: zaptest.NewLogger(t), Metrics: prometheus.NewRegistry(), Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Ready() == nil {
		t.Error("ready before running")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && ctx.Err() == nil {
			t.Errorf("Run: %v", err)
		}
	}()

	cons := testkit.Client(t, k.Seeds(), kgo.ConsumeTopics(schemas.TopicNormalised, schemas.TopicQuarantine),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	var ents []internalv1.EntityRecord
	var quars []internalv1.QuarantineRecord
	entity, _, _ := schemas.Latest(schemas.Entity)
	quar, _, _ := schemas.Latest(schemas.Quarantine)
	for len(ents) < 8 || len(quars) < 2 {
		fs := cons.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read %d normalised and %d quarantine records, want 8 and 2", len(ents), len(quars))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) != "RXX" {
				t.Errorf("key %q, want RXX", r.Key)
			}
			switch r.Topic {
			case schemas.TopicNormalised:
				var e internalv1.EntityRecord
				if _, err := serde.Decode(rctx, r.Value, entity, &e); err != nil {
					t.Fatal(err)
				}
				ents = append(ents, e)
			case schemas.TopicQuarantine:
				var q internalv1.QuarantineRecord
				if _, err := serde.Decode(rctx, r.Value, quar, &q); err != nil {
					t.Fatal(err)
				}
				quars = append(quars, q)
			}
		})
	}
	if err := svc.Ready(); err != nil {
		t.Errorf("not ready while consuming: %v", err)
	}
	last := ents[len(ents)-1]
	want := internalv1.StageCounts{RowsRead: 10, Entities: 5, Corrections: 1, Ignored: 2, Quarantined: 2}
	if len(ents) != 8 || ents[0].Kind != internalv1.EntityRecordKindFileStart || last.Kind != internalv1.EntityRecordKindFileEnd ||
		last.Counts == nil || *last.Counts != want {
		t.Errorf("normalised %d records, last %+v, want 8 ending in FILE_END with %+v", len(ents), last.Counts, want)
	}
	if quars[0].Lineage.Line != 10 || quars[1].Lineage.Line != 11 {
		t.Errorf("quarantined lines %d, %d, want 10, 11", quars[0].Lineage.Line, quars[1].Lineage.Line)
	}
	// The changelog exists and ends with the file's tombstone: the running
	// counts are deleted once FILE_END carried them on. (The runner keeps
	// only the last change per key within a transaction, so how many
	// records precede the tombstone depends on the batching.)
	log := testkit.Client(t, k.Seeds(), kgo.ConsumeTopics(normalise.Changelog), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var changes []*kgo.Record
	for len(changes) == 0 || changes[len(changes)-1].Value != nil {
		fs := log.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read %d changelog records and no tombstone for the finished file", len(changes))
		}
		fs.EachRecord(func(r *kgo.Record) { changes = append(changes, r) })
	}
	for _, c := range changes {
		if string(c.Key) != string(changes[len(changes)-1].Key) {
			t.Errorf("changelog key %q: only the file's running counts are normalise state", c.Key)
		}
	}
}
