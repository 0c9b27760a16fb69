package materialise

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumerHealth tracks whether the consumer makes progress: the batch it
// is retrying (if any) and, per partition, how many committed records are
// still ahead of it. Ready and two gauges read it.
type consumerHealth struct {
	mu      sync.Mutex
	since   time.Time // first failure of the batch being retried; zero when progressing
	records int
	lastErr string
	lag     map[topicPartition]int64
}

type topicPartition struct {
	topic     string
	partition int32
}

func newConsumerHealth() *consumerHealth {
	return &consumerHealth{lag: map[topicPartition]int64{}}
}

// register exports the gauges.
func (h *consumerHealth) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "esrflow_api_lag_records",
			Help: "Committed records on the api's partitions not yet applied (from the last fetch)."}, func() float64 { return float64(h.totalLag()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "esrflow_api_consumer_stalled_seconds",
			Help: "How long the batch being retried has been failing; 0 while the consumer makes progress."}, func() float64 { return h.stalled().Seconds() }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering api metrics: %w", err)
		}
	}
	return nil
}

// polled notes the lag of each partition a poll returned records for:
// everything from its first record up to the last stable offset.
func (h *consumerHealth) polled(f kgo.Fetches) {
	h.setLag(f, func(p kgo.FetchTopicPartition) int64 { return p.LastStableOffset - p.Records[0].Offset })
}

// applied notes the lag once the poll's records are in the database.
func (h *consumerHealth) applied(f kgo.Fetches) {
	h.setLag(f, func(p kgo.FetchTopicPartition) int64 {
		return p.LastStableOffset - p.Records[len(p.Records)-1].Offset - 1
	})
}

func (h *consumerHealth) setLag(f kgo.Fetches, lag func(kgo.FetchTopicPartition) int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		h.lag[topicPartition{p.Topic, p.Partition}] = max(lag(p), 0)
	})
}

// forget drops the lag of partitions this instance no longer owns.
func (h *consumerHealth) forget(m map[string][]int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for t, ps := range m {
		for _, p := range ps {
			delete(h.lag, topicPartition{t, p})
		}
	}
}

func (h *consumerHealth) totalLag() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var n int64
	for _, l := range h.lag {
		n += l
	}
	return n
}

// failing notes a failed attempt at a batch.
func (h *consumerHealth) failing(records int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.since.IsZero() {
		h.since = time.Now()
	}
	h.records, h.lastErr = records, err.Error()
}

// progressed notes a batch written.
func (h *consumerHealth) progressed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.since, h.records, h.lastErr = time.Time{}, 0, ""
}

func (h *consumerHealth) stalled() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.since.IsZero() {
		return 0
	}
	return time.Since(h.since)
}

// check fails once one batch has been failing for longer than limit.
func (h *consumerHealth) check(limit time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.since.IsZero() {
		return nil
	}
	if d := time.Since(h.since); d > limit {
		return fmt.Errorf("consumer stuck: a batch of %d records has been failing for %s (over %s): %s",
			h.records, d.Round(time.Second), limit, h.lastErr)
	}
	return nil
}
