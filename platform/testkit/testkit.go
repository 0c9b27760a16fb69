// Package testkit gives tests real infrastructure in-process: an embedded Kafka
// broker over real TCP, and clients wired to it, cleaned up with the test.
package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
)

// Kafka starts an in-memory embedded broker with the given topics and stops it
// when the test ends.
func Kafka(t testing.TB, topics ...embedded.TopicSpec) *embedded.Broker {
	t.Helper()
	return KafkaAt(t, "", topics...)
}

// KafkaAt starts an embedded broker persisting to dir (empty: in memory), for
// tests that stop and restart the broker on the same data. Closing the broker
// twice is safe, so a test may close it early to simulate a restart.
func KafkaAt(t testing.TB, dir string, topics ...embedded.TopicSpec) *embedded.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := embedded.Start(ctx, embedded.Config{DataDir: dir, Topics: topics})
	if err != nil {
		t.Fatalf("starting embedded kafka: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// Client returns a franz-go client connected to seeds, closed when the test ends.
func Client(t testing.TB, seeds []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...)...)
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}
