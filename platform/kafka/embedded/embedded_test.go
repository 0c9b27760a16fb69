package embedded_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/testkit"
)

func TestTopicsCreatedWithPartitionsAndCompaction(t *testing.T) {
	b := testkit.Kafka(t,
		embedded.TopicSpec{Name: "esr.raw.v1", Partitions: 6},
		embedded.TopicSpec{Name: "changelog", Partitions: 3, Compact: true},
	)
	ctx := context.Background()
	adm := kadm.NewClient(testkit.Client(t, b.Seeds()))
	details, err := adm.ListTopics(ctx, "esr.raw.v1", "changelog")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(details["esr.raw.v1"].Partitions); got != 6 {
		t.Errorf("esr.raw.v1 partitions = %d, want 6", got)
	}
	if got := len(details["changelog"].Partitions); got != 3 {
		t.Errorf("changelog partitions = %d, want 3", got)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, "changelog")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On("changelog", nil)
	if err != nil {
		t.Fatal(err)
	}
	var policy string
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil {
			policy = *c.Value
		}
	}
	if policy != "compact" {
		t.Errorf("changelog cleanup.policy = %q, want compact", policy)
	}
	// Ensuring again is a no-op, not an error.
	if err := b.EnsureTopics(ctx, embedded.TopicSpec{Name: "changelog", Partitions: 3, Compact: true}); err != nil {
		t.Errorf("second EnsureTopics: %v", err)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := embedded.TopicSpec{Name: "t", Partitions: 2}

	b1 := testkit.KafkaAt(t, dir, topic)
	cl := testkit.Client(t, b1.Seeds(), kgo.DefaultProduceTopic("t"))
	for i := range 10 {
		r := &kgo.Record{Key: []byte{byte('a' + i%2)}, Value: []byte{byte(i)}}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// A consumer group commits offset 4 on partition of key "a".
	adm := kadm.NewClient(cl)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "t", Partition: 0, At: 4, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "g", offs); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	b1.Close()

	b2 := testkit.KafkaAt(t, dir, topic)
	adm2 := kadm.NewClient(testkit.Client(t, b2.Seeds()))
	ends, err := adm2.ListEndOffsets(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != 10 {
		t.Errorf("records after restart = %d, want 10", total)
	}
	fetched, err := adm2.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("t", 0); !ok || o.At != 4 {
		t.Errorf("committed offset after restart = %+v (found %v), want 4", o, ok)
	}
}
