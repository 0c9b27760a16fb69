package statestore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// defaultDeleteRetention is Kafka's delete.retention.ms default, used when
// the topic's own setting cannot be read.
const defaultDeleteRetention = 24 * time.Hour

// Logs describes every partition of topic for Resume: its id, log start
// offset, last stable offset and delete.retention.ms.
func Logs(ctx context.Context, adm *kadm.Client, topic string) (map[int32]Log, error) {
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("describing %s: %w", topic, err)
	}
	var id string
	if d, ok := td[topic]; ok && d.ID != (kadm.TopicID{}) {
		id = d.ID.String()
	}
	firsts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing %s start offsets: %w", topic, err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing %s offsets: %w", topic, err)
	}
	retention := deleteRetention(ctx, adm, topic)
	out := map[int32]Log{}
	var perr error
	ends.Each(func(e kadm.ListedOffset) {
		f, ok := firsts.Lookup(topic, e.Partition)
		switch {
		case e.Err != nil:
			perr = fmt.Errorf("%s partition %d has no end offset: %w", topic, e.Partition, e.Err)
		case !ok || f.Err != nil:
			perr = fmt.Errorf("%s partition %d has no start offset: %v", topic, e.Partition, f.Err)
		default:
			out[e.Partition] = Log{Topic: topic, TopicID: id, First: f.Offset, End: e.Offset, DeleteRetention: retention}
		}
	})
	return out, perr
}

func deleteRetention(ctx context.Context, adm *kadm.Client, topic string) time.Duration {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return defaultDeleteRetention
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		return defaultDeleteRetention
	}
	for _, c := range rc.Configs {
		if c.Key == "delete.retention.ms" && c.Value != nil {
			if ms, err := strconv.ParseInt(*c.Value, 10, 64); err == nil && ms > 0 {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	return defaultDeleteRetention
}
