package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/tenantpart"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// conn is what Run holds while it runs: the transactional producer and the
// registered writers.
type conn struct {
	tx         *kgo.Client
	raw        avrox.Writer
	fileReport avrox.Writer

	// replays reads esr.ops.replays.v1 in ReplayGroup and writes replay
	// batches, each in one transaction with the request's offset.
	replays      *kgo.GroupTransactSession
	serde        *avrox.Serde
	replayReader avro.Schema

	// intake reads operators' decisions on held files (esr.ops.intake.v1)
	// from the start at every start, read committed, in no group: the
	// holds topic knows which decisions were applied.
	intake       *kgo.Client
	intakeReader avro.Schema
	intakeRecs   chan *kgo.Record
}

func (c *conn) close() {
	if c.intake != nil {
		c.intake.Close()
	}
	if c.replays != nil {
		c.replays.Close()
	}
	if c.tx != nil {
		c.tx.Close()
	}
}

// TransactionalID is the transactional id of an instance.
func TransactionalID(instance string) string { return "esrflow-ingest-" + instance }

// restoreClient reads a compacted state topic (ledger, holds) from the
// start, committed records only.
func (s *Service) restoreClient() (*kgo.Client, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.ClientID("esrflow-ingest-restore"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.SeedBrokers(s.cfg.Brokers...),
	}, s.cfg.ClientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("ingest: kafka client: %w", err)
	}
	return cl, nil
}

// connect ensures the ledger topic, restores the ledger, registers the
// schemas and opens the transactional producer.
func (s *Service) connect(ctx context.Context) (*conn, error) {
	// Every record ingest writes (raw rows, file reports, replays) is keyed by
	// tenant and goes to the tenant's assigned partition.
	base := append([]kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.RecordPartitioner(tenantpart.Partitioner(s.cfg.Tenants, schemas.TenantKeyedTopics...))}, s.cfg.ClientOpts...)
	admCl, err := s.restoreClient()
	if err != nil {
		return nil, err
	}
	defer admCl.Close()
	if err := ensureLedgerTopic(ctx, kadm.NewClient(admCl)); err != nil {
		return nil, err
	}
	if err := ensureReplayTopic(ctx, kadm.NewClient(admCl)); err != nil {
		return nil, err
	}
	if err := ensureTopic(ctx, kadm.NewClient(admCl), TopicHolds, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}); err != nil {
		return nil, err
	}
	if err := ensureTopicPartitions(ctx, kadm.NewClient(admCl), schemas.TopicIntake, schemas.DefaultOpsPartitions, nil); err != nil {
		return nil, err
	}
	start := time.Now()
	n, err := restoreLedger(ctx, admCl, s.ledger)
	if err != nil {
		return nil, err
	}
	// The holds are restored with a client of their own: the ledger's has
	// its partitions assigned.
	holdCl, err := s.restoreClient()
	if err != nil {
		return nil, err
	}
	nh, err := restoreTopic(ctx, holdCl, TopicHolds, s.holds.restore)
	holdCl.Close()
	if err != nil {
		return nil, err
	}
	for _, code := range s.cfg.Tenants.Codes() {
		s.setHeld(code)
	}
	s.log.Info("holds restored", logx.Topic(TopicHolds), logx.Count("records", int64(nh)), logx.Count("held_files", int64(len(s.holds.byKey))))
	for _, t := range s.ledger.lastAcceptedByTenant() {
		s.metrics.lastAccepted.WithLabelValues(t.tenant).Set(float64(t.at.UnixMilli()) / 1000)
	}
	s.log.Info("ledger restored", logx.Topic(TopicLedger), logx.Count("records", int64(n)), zap.Duration("took", time.Since(start)))

	srCl, err := sr.NewClient(append([]sr.ClientOpt{sr.URLs(s.cfg.RegistryURL)}, s.cfg.RegistryOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("ingest: registry client: %w", err)
	}
	serde := avrox.New(srCl, internalv1.NewAPI())
	c := &conn{serde: serde}
	if c.replayReader, _, err = schemas.Latest(schemas.ReplayRequest); err != nil {
		return nil, err
	}
	if c.intakeReader, _, err = schemas.Latest(schemas.IntakeDecision); err != nil {
		return nil, err
	}
	for _, w := range []struct {
		topic, schema string
		dst           *avrox.Writer
	}{
		{schemas.TopicRaw, schemas.Raw, &c.raw},
		{schemas.TopicFileReports, schemas.FileReport, &c.fileReport},
	} {
		_, text, err := schemas.Latest(w.schema)
		if err != nil {
			return nil, err
		}
		if *w.dst, err = serde.Register(ctx, schemas.Subject(w.topic), text); err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
	}

	c.tx, err = kgo.NewClient(append([]kgo.Opt{
		kgo.ClientID("esrflow-ingest"),
		kgo.TransactionalID(TransactionalID(s.cfg.InstanceID)),
		kgo.TransactionTimeout(s.cfg.TransactionTimeout),
		kgo.ProducerLinger(5 * time.Millisecond),
		// One produce request in flight per broker: a file's rows are
		// appended strictly in order, and a retried request can never
		// overtake the one before it (seen as OUT_OF_ORDER_SEQUENCE_NUMBER
		// right after a transaction's epoch bump).
		kgo.MaxProduceRequestsInflightPerBroker(1),
	}, base...)...)
	if err != nil {
		return nil, fmt.Errorf("ingest: transactional producer: %w", err)
	}
	if c.replays, err = s.replaySession(ctx, base); err != nil {
		c.close()
		return nil, err
	}
	c.intake, err = kgo.NewClient(append([]kgo.Opt{
		kgo.ClientID("esrflow-ingest-intake"),
		kgo.ConsumeTopics(schemas.TopicIntake),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}, base...)...)
	if err != nil {
		c.close()
		return nil, fmt.Errorf("ingest: intake consumer: %w", err)
	}
	c.intakeRecs = make(chan *kgo.Record, 100)
	return c, nil
}

// replaySession opens the replay producer: a member of ReplayGroup reading
// esr.ops.replays.v1 read committed, whose transactions carry the offsets of
// the requests they turn into batches (exactly once). It fences its
// previous incarnation at once, so a replay transaction a crash left open
// does not hold back readers of esr.raw.v1 until it times out.
func (s *Service) replaySession(ctx context.Context, base []kgo.Opt) (*kgo.GroupTransactSession, error) {
	sess, err := kgo.NewGroupTransactSession(append([]kgo.Opt{
		kgo.ClientID("esrflow-ingest-replays"),
		kgo.ConsumerGroup(ReplayGroup),
		// Dynamic membership (unlike the stages): a stopped instance leaves
		// the group, so another instance id can take the requests over at
		// once; after a crash the group waits for the session timeout.
		kgo.SessionTimeout(15 * time.Second),
		kgo.ConsumeTopics(schemas.TopicReplays),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.TransactionalID(ReplayTransactionalID(s.cfg.InstanceID)),
		kgo.TransactionTimeout(s.cfg.TransactionTimeout),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.MaxProduceRequestsInflightPerBroker(1),
	}, base...)...)
	if err != nil {
		return nil, fmt.Errorf("ingest: replay consumer: %w", err)
	}
	if _, _, err := sess.Client().ProducerID(ctx); err != nil {
		sess.Close()
		return nil, fmt.Errorf("ingest: replay producer id: %w", err)
	}
	return sess, nil
}

// ensureReplayTopic creates esr.ops.replays.v1 when missing (the api may
// not have written to it yet), so the replay consumer has a topic to join
// on.
func ensureReplayTopic(ctx context.Context, adm *kadm.Client) error {
	resp, err := adm.CreateTopic(ctx, schemas.DefaultOpsPartitions, -1, nil, schemas.TopicReplays)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("ingest: creating %s: %w", schemas.TopicReplays, err)
	}
	return nil
}

func ensureLedgerTopic(ctx context.Context, adm *kadm.Client) error {
	return ensureTopic(ctx, adm, TopicLedger, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
}

// ensureTopic creates a one-partition topic when it is missing.
func ensureTopic(ctx context.Context, adm *kadm.Client, topic string, configs map[string]*string) error {
	return ensureTopicPartitions(ctx, adm, topic, 1, configs)
}

// ensureTopicPartitions creates a topic of n partitions when it is missing;
// an existing one is left as it is.
func ensureTopicPartitions(ctx context.Context, adm *kadm.Client, topic string, n int32, configs map[string]*string) error {
	resp, err := adm.CreateTopic(ctx, n, -1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("ingest: creating %s: %w", topic, err)
	}
	return nil
}

// restoreLedger reads the ledger topic from the start up to its last stable
// offset, read committed. Control records are kept so the reader knows when
// it has passed the final commit marker.
func restoreLedger(ctx context.Context, cl *kgo.Client, l *ledger) (int, error) {
	return restoreTopic(ctx, cl, TopicLedger, l.restore)
}

// restoreTopic reads a compacted state topic from the start up to its last
// stable offset, read committed, applying each record in order.
func restoreTopic(ctx context.Context, cl *kgo.Client, topic string, apply func(key, value []byte) error) (int, error) {
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("ingest: listing %s offsets: %w", topic, err)
	}
	want := map[int32]int64{}
	offsets := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			want[o.Partition] = o.Offset - 1
			offsets[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if err := ends.Error(); err != nil {
		return 0, fmt.Errorf("ingest: listing %s offsets: %w", topic, err)
	}
	if len(want) == 0 {
		return 0, nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets})
	n := 0
	for len(want) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		for _, fe := range fetches.Errors() {
			return n, fmt.Errorf("ingest: restoring %s partition %d: %w", topic, fe.Partition, fe.Err)
		}
		var err error
		fetches.EachRecord(func(rec *kgo.Record) {
			last, ok := want[rec.Partition]
			if err != nil || !ok || rec.Offset > last {
				return
			}
			if !rec.Attrs.IsControl() {
				if rerr := apply(rec.Key, rec.Value); rerr != nil {
					err = fmt.Errorf("ingest: %s offset %d: %w", topic, rec.Offset, rerr)
					return
				}
				n++
			}
			if rec.Offset >= last {
				delete(want, rec.Partition)
			}
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
