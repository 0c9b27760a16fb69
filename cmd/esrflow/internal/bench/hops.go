package bench

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/schemas"
)

// hopTopics are the internal topics a file crosses before publish: the
// last record each hop wrote of a file splits its drop → report time.
var hopTopics = []string{schemas.TopicRaw, schemas.TopicNormalised, schemas.TopicValidated}

// HopNames name the spans of HopLatency, in order.
var HopNames = []string{
	"ingest: drop → its last raw record",
	"normalise: → its last normalised record",
	"validate: → its last validated record",
	"publish: → its report read",
}

// HopLatency is one span of the latency files' drop → report time.
type HopLatency struct {
	Name     string
	P50, Max time.Duration
}

// hopTimer reads the hop topics' committed records from where they ended
// when it was made. With one file in flight at a time, what it reads after
// a file's report is that file's records, and the latest timestamp on each
// topic is when that hop produced the file's last record (the producer's
// clock, on this machine, as the drop and report times are).
type hopTimer struct {
	cl *kgo.Client
}

func newHopTimer(ctx context.Context, seeds []string) (*hopTimer, error) {
	admin, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(admin).ListEndOffsets(ctx, hopTopics...)
	admin.Close()
	if err != nil {
		return nil, err
	}
	from := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if from[o.Topic] == nil {
			from[o.Topic] = map[int32]kgo.Offset{}
		}
		from[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(from),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return nil, err
	}
	return &hopTimer{cl: cl}, nil
}

func (h *hopTimer) close() { h.cl.Close() }

// lastWrites is, per hop topic, the latest timestamp of the records
// committed since the last call: it reads until every topic has given
// records and a poll brings no more.
func (h *hopTimer) lastWrites(ctx context.Context) ([]time.Time, error) {
	last := make(map[string]time.Time, len(hopTopics))
	deadline := time.Now().Add(time.Minute)
	for {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := h.cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if r.Timestamp.After(last[r.Topic]) {
				last[r.Topic] = r.Timestamp
			}
		})
		if n == 0 && len(last) == len(hopTopics) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("hop timing: records on %d of %d topics after a minute", len(last), len(hopTopics))
		}
	}
	out := make([]time.Time, len(hopTopics))
	for i, t := range hopTopics {
		out[i] = last[t]
	}
	return out, nil
}

// hopSpans splits one sample, drop at dropped and report read at reported,
// at the hops' last writes.
func hopSpans(dropped, reported time.Time, writes []time.Time) []time.Duration {
	marks := append(append([]time.Time{dropped}, writes...), reported)
	spans := make([]time.Duration, len(marks)-1)
	for i := range spans {
		spans[i] = marks[i+1].Sub(marks[i])
	}
	return spans
}

// hopLatencies is each span's median and maximum over the samples.
func hopLatencies(samples [][]time.Duration) []HopLatency {
	out := make([]HopLatency, len(HopNames))
	for i, name := range HopNames {
		var d []time.Duration
		for _, s := range samples {
			d = append(d, s[i])
		}
		sort.Slice(d, func(a, b int) bool { return d[a] < d[b] })
		out[i] = HopLatency{Name: name, P50: percentile(d, 50), Max: percentile(d, 100)}
	}
	return out
}
