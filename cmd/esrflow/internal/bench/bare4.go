package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// bareHopTxRecords is how many records the first hop commits per
// transaction: the stages' default, so every hop batches alike.
const bareHopTxRecords = stage.DefaultMaxPollRecords

// Bare4 is the ceiling the pipeline's four hops (ingest, normalise,
// validate, publish) are compared with: the same records through four
// exactly-once hops on the same broker, with no business logic. Hop 1
// writes records (as ingest writes esr.raw.v1) in transactions; hops 2 to
// 4 are stage runners (consume read-committed, produce and commit the
// offsets in one transaction) whose processor decodes each value with the
// registry-backed serde and encodes it again for its output topic, keyed
// as its input. It returns the time from hop 1's first record until the
// last hop's output is all committed.
func Bare4(ctx context.Context, seeds []string, registryURL string, partitions int32, recs []*kgo.Record, log *zap.Logger) (time.Duration, error) {
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	prefix := fmt.Sprintf("esrflow.bench.hop.%d.", time.Now().UnixNano())
	topics := make([]string, 5) // topics[0] unused: hop i writes topics[i]
	for i := 1; i <= 4; i++ {
		topics[i] = fmt.Sprint(prefix, i)
	}
	if _, err := adm.CreateTopics(ctx, partitions, 1, nil, topics[1:]...); err != nil {
		return 0, err
	}
	defer func() { _, _ = adm.DeleteTopics(context.Background(), topics[1:]...) }()

	reg, err := sr.NewClient(sr.URLs(registryURL))
	if err != nil {
		return 0, err
	}
	rawSchema, rawText, err := schemas.Latest(schemas.Raw)
	if err != nil {
		return 0, err
	}
	serde := avrox.New(reg, internalv1.NewAPI())
	writers := make([]avrox.Writer, 5)
	for i := 1; i <= 4; i++ {
		if writers[i], err = serde.Register(ctx, schemas.Subject(topics[i]), rawText); err != nil {
			return 0, err
		}
	}

	// Hops 2-4 run, and are ready, before the clock starts, as the
	// pipeline's services are before the first file is dropped.
	runErr := make(chan error, 3)
	var runners []*stage.Runner
	for i := 2; i <= 4; i++ {
		r, err := stage.New(stage.Config{
			Name: fmt.Sprintf("bare-hop-%d", i), Group: prefix + fmt.Sprint(i), InstanceID: "bench",
			Input: topics[i-1], Brokers: seeds,
		}, &passthrough{serde: serde, reader: rawSchema, writer: writers[i], out: topics[i]}, stage.Deps{Log: log})
		if err != nil {
			return 0, err
		}
		runners = append(runners, r)
		go func() { runErr <- r.Run(ctx) }()
	}
	for _, r := range runners {
		for r.Ready() != nil {
			select {
			case err := <-runErr:
				return 0, fmt.Errorf("bare hop: %w", err)
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	start := time.Now()
	if err := bareFirstHop(ctx, seeds, prefix, serde, rawSchema, writers[1], topics[1], recs); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- countCommitted(ctx, seeds, topics[4], len(recs)) }()
	select {
	case err := <-done:
		if err != nil {
			return 0, err
		}
	case err := <-runErr:
		return 0, fmt.Errorf("bare hop: %w", err)
	}
	return time.Since(start), nil
}

// bareFirstHop decodes and re-encodes each record and writes it to topic in
// transactions, keyed as it was.
func bareFirstHop(ctx context.Context, seeds []string, prefix string, serde *avrox.Serde, reader avro.Schema, w avrox.Writer, topic string, recs []*kgo.Record) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.TransactionalID(prefix+"1"), kgo.ProducerLinger(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(recs) > 0 {
		n := min(len(recs), bareHopTxRecords)
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		for _, in := range recs[:n] {
			v, err := reencode(ctx, serde, reader, w, in.Value)
			if err != nil {
				return err
			}
			cl.Produce(ctx, &kgo.Record{Topic: topic, Key: in.Key, Value: v}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			return err
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// countCommitted consumes topic read-committed until it has seen n records.
func countCommitted(ctx context.Context, seeds []string, topic string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return err
	}
	defer cl.Close()
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := fs.Err(); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		got += fs.NumRecords()
	}
	return nil
}

// passthrough is a hop with no business logic: decode, encode, forward.
type passthrough struct {
	serde  *avrox.Serde
	reader avro.Schema
	writer avrox.Writer
	out    string
}

// Prepare decodes and re-encodes on all cores, as normalise prepares its
// records (stage.Preparer): the ceiling gets every advantage a stage has.
func (p *passthrough) Prepare(ctx context.Context, in *kgo.Record) (any, error) {
	return reencode(ctx, p.serde, p.reader, p.writer, in.Value)
}

func (p *passthrough) Process(_ context.Context, in *kgo.Record, tx *stage.Tx) error {
	v, _ := tx.Prepared().([]byte)
	tx.Produce(&kgo.Record{Topic: p.out, Key: in.Key, Value: v})
	return nil
}

func reencode(ctx context.Context, serde *avrox.Serde, reader avro.Schema, w avrox.Writer, value []byte) ([]byte, error) {
	var rec internalv1.RawRecord
	if _, err := serde.Decode(ctx, value, reader, &rec); err != nil {
		return nil, err
	}
	return w.Encode(nil, rec)
}
