package ingest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/testkit"
)

// awaitKnown passes once the producer has stored the partitions written
// to, and holds the end of the transaction back while it has not: a
// partition of a topic the client never produced to stays unknown, so the
// wait ends only with the context.
func TestAwaitKnownWaitsForProducerPartitions(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "known", Partitions: 2}, embedded.TopicSpec{Name: "unknown", Partitions: 1})
	cl := testkit.Client(t, k.Seeds(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var parts producedParts
	for _, p := range []int32{0, 1} {
		rec := &kgo.Record{Topic: "known", Partition: p, Value: []byte("x")}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
		parts.add(rec)
	}
	if err := parts.awaitKnown(ctx, cl); err != nil {
		t.Fatalf("partitions written to: %v", err)
	}

	parts.add(&kgo.Record{Topic: "unknown", Partition: 0})
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	if err := parts.awaitKnown(short, cl); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a partition the producer does not know: %v, want the context's end", err)
	}
}
