// Package bench measures the whole pipeline against the broker it runs on:
// end-to-end rows/s, drop-to-events latency, peak memory, and, as the
// yardstick, a bare produce/consume of the same rows through the same broker.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Bare produces every data row of files to a fresh topic, keyed by tenant as
// ingest keys raw records, then consumes them back, and returns rows/s for
// the round trip. It is the ceiling the pipeline's four hops compare with.
func Bare(ctx context.Context, seeds []string, tenant string, partitions int32, files [][]byte) (rows int, took time.Duration, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	topic := fmt.Sprintf("esrflow.bench.bare.%d", time.Now().UnixNano())
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		return 0, 0, err
	}
	defer func() { _, _ = adm.DeleteTopics(context.Background(), topic) }()

	start := time.Now()
	key := []byte(tenant)
	var firstErr error
	promise := func(_ *kgo.Record, err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for _, f := range files {
		sc := bufio.NewScanner(bytes.NewReader(f))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			line := append([]byte(nil), sc.Bytes()...)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Key: key, Value: line}, promise)
			rows++
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, 0, err
	}
	if firstErr != nil {
		return 0, 0, firstErr
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, 0, err
	}
	defer cons.Close()
	for got := 0; got < rows; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		got += fs.NumRecords()
	}
	return rows, time.Since(start), nil
}
