package stage_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/kafka/tenantpart"
	"github.com/esrflow/esrflow/platform/testkit"
)

// byIndex assigns key "k<i>" to partition i mod n, as the tenants file's
// positions do.
type byIndex struct{}

func (byIndex) Partition(key string, n int) (int, bool) {
	i, err := strconv.Atoi(key[1:])
	if err != nil {
		return 0, false
	}
	return i % n, true
}

// TestConfigPartitionerPlacesOutputsChangelogFollowsInput: with a
// Config.Partitioner, a runner's outputs land on their key's assigned
// partition, while each state change still lands on the changelog
// partition of the input record that caused it (input here placed by
// murmur2, so the two differ for some keys).
func TestConfigPartitionerPlacesOutputsChangelogFollowsInput(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 4}, embedded.TopicSpec{Name: "out", Partitions: 4})
	produceInput(t, k.Seeds(), 0, 20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := stage.New(stage.Config{
		Name: "counter", Group: "g", InstanceID: "a", Input: "in", Changelog: "counter-changelog",
		Brokers: k.Seeds(), Partitioner: tenantpart.Partitioner(byIndex{}, "out"),
	}, newCounter(), stage.Deps{Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	read := func(topic string, want int) []*kgo.Record {
		cl := testkit.Client(t, k.Seeds(), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer rcancel()
		var out []*kgo.Record
		for len(out) < want {
			fs := cl.PollFetches(rctx)
			if rctx.Err() != nil {
				t.Fatalf("%s: read %d of %d records", topic, len(out), want)
			}
			out = append(out, fs.Records()...)
		}
		return out
	}
	inputPartition := map[string]int32{}
	for _, rec := range read("in", 20) {
		inputPartition[string(rec.Key)] = rec.Partition
	}
	moved := 0
	for _, rec := range read("out", 20) {
		want, _ := byIndex{}.Partition(string(rec.Key), 4)
		if int(rec.Partition) != want {
			t.Errorf("output of %s on partition %d, assigned %d", rec.Key, rec.Partition, want)
		}
		if rec.Partition != inputPartition[string(rec.Key)] {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("every key's assignment equals its murmur2 partition: the test proves nothing")
	}
	for _, rec := range read("counter-changelog", 5) {
		if rec.Partition != inputPartition[string(rec.Key)] {
			t.Errorf("state of %s on changelog partition %d, its input is on %d", rec.Key, rec.Partition, inputPartition[string(rec.Key)])
		}
	}
	cancel()
	<-done
}
