package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Config configures a Store.
type Config struct {
	Topic string
	// ReplicationFactor is used only when the topic has to be created;
	// -1 lets the brokers pick their default.
	ReplicationFactor int16
	// WriteTimeout bounds one write: catching up, producing and applying.
	WriteTimeout time.Duration
}

// Store is the single writer and reader of the schemas topic.
//
// Every change is a record produced to the topic and applied to the in-memory
// State only by the reader loop, in topic order, exactly as on a restart. A
// writer first waits until the reader has applied everything up to the
// topic's end offset, computes its records from that state, produces them
// synchronously and waits until the reader has applied them. So a record that
// reached the topic is always seen before the next id is chosen, even when a
// produce failed ambiguously or the process crashed after producing: an id is
// never handed out twice.
type Store struct {
	cfg Config
	cl  *kgo.Client
	adm *kadm.Client
	log *zap.Logger

	writeMu sync.Mutex // one writer at a time

	mu       sync.RWMutex
	state    *State
	next     int64         // offset of the next record to apply
	progress chan struct{} // closed and replaced whenever next moves
	readErr  error         // set when the reader loop stops

	caughtUp   atomic.Bool
	badRecords atomic.Int64

	stop     context.CancelFunc
	readDone chan struct{}
}

// New creates a Store with its own Kafka client. opts must at least name the
// seed brokers. The store owns a dedicated client because it consumes one
// partition directly, which would mix with any other consumer on a shared client.
func New(cfg Config, opts []kgo.Opt, log *zap.Logger) (*Store, error) {
	if cfg.Topic == "" {
		return nil, errors.New("store: topic is required")
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	all := append([]kgo.Opt{
		kgo.DefaultProduceTopic(cfg.Topic),
		// Everything goes to partition 0: the topic has one partition so that
		// the log is one total order.
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(cfg.WriteTimeout),
		kgo.FetchMaxWait(500 * time.Millisecond),
		// Control records are kept only so that their offsets count as read.
		kgo.KeepControlRecords(),
	}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("creating kafka client: %w", err)
	}
	return &Store{
		cfg:      cfg,
		cl:       cl,
		adm:      kadm.NewClient(cl),
		log:      log,
		state:    NewState(),
		progress: make(chan struct{}),
		readDone: make(chan struct{}),
	}, nil
}

// Start creates the topic if needed, starts the reader and returns once the
// in-memory state holds everything the topic held when Start was called.
func (s *Store) Start(ctx context.Context) error {
	if err := s.ensureTopic(ctx); err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{
		s.cfg.Topic: {0: kgo.NewOffset().AtStart()},
	})
	go s.read(rctx)

	start := time.Now()
	if err := s.syncToEnd(ctx); err != nil {
		return fmt.Errorf("reading %s to its end: %w", s.cfg.Topic, err)
	}
	s.caughtUp.Store(true)
	s.mu.RLock()
	s.log.Info("schemas topic read",
		zap.String("topic", s.cfg.Topic),
		zap.Int64("offset", s.next),
		zap.Int("subjects", s.state.SubjectCount()),
		zap.Int("schemas", s.state.SchemaCount()),
		zap.Int("max_id", s.state.MaxID()),
		zap.Duration("took", time.Since(start)))
	s.mu.RUnlock()
	return nil
}

// Ready reports nil once Start has caught up and the reader is running.
func (s *Store) Ready() error {
	if !s.caughtUp.Load() {
		return fmt.Errorf("still reading %s", s.cfg.Topic)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.readErr != nil {
		return fmt.Errorf("reader stopped: %w", s.readErr)
	}
	return nil
}

// Done is closed when the reader loop has stopped.
func (s *Store) Done() <-chan struct{} { return s.readDone }

// Err returns why the reader loop stopped, if it has.
func (s *Store) Err() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.readErr
}

// Close stops the reader and closes the Kafka client.
func (s *Store) Close() {
	if s.stop != nil {
		s.stop()
		<-s.readDone
	}
	s.cl.Close()
}

// BadRecords counts records that could not be decoded and were skipped.
func (s *Store) BadRecords() int64 { return s.badRecords.Load() }

// View runs fn with read access to the state.
func (s *Store) View(fn func(st *State)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(s.state)
}

// Update runs one write: it catches up with the topic, asks fn for the
// records to write given the current state, produces them in order and waits
// until they are applied. fn may return no records (nothing to change).
func (s *Store) Update(ctx context.Context, fn func(st *State) ([]Record, error)) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	// Bound the whole write, but do not let a client that hangs up cancel a
	// produce half way: the write either lands or times out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout)
	defer cancel()

	if err := s.syncToEnd(ctx); err != nil {
		return fmt.Errorf("catching up before write: %w", err)
	}
	var (
		recs  []Record
		fnErr error
	)
	s.View(func(st *State) { recs, fnErr = fn(st) })
	if fnErr != nil || len(recs) == 0 {
		return fnErr
	}
	krs := make([]*kgo.Record, 0, len(recs))
	for _, r := range recs {
		v, err := r.EncodeValue()
		if err != nil {
			return err
		}
		krs = append(krs, &kgo.Record{Key: r.Key.Encode(), Value: v, Partition: 0})
	}
	results := s.cl.ProduceSync(ctx, krs...)
	if err := results.FirstErr(); err != nil {
		return fmt.Errorf("producing to %s: %w", s.cfg.Topic, err)
	}
	var last int64
	for _, r := range results {
		last = max(last, r.Record.Offset)
	}
	if err := s.waitApplied(ctx, last+1); err != nil {
		return fmt.Errorf("applying own write at offset %d: %w", last, err)
	}
	return nil
}

func (s *Store) syncToEnd(ctx context.Context) error {
	ends, err := s.adm.ListEndOffsets(ctx, s.cfg.Topic)
	if err != nil {
		return fmt.Errorf("listing end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("listing end offsets: %w", err)
	}
	end, ok := ends.Lookup(s.cfg.Topic, 0)
	if !ok {
		return fmt.Errorf("no end offset for %s partition 0", s.cfg.Topic)
	}
	return s.waitApplied(ctx, end.Offset)
}

func (s *Store) waitApplied(ctx context.Context, offset int64) error {
	for {
		s.mu.RLock()
		next, ch, rerr := s.next, s.progress, s.readErr
		s.mu.RUnlock()
		if next >= offset {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("reader stopped at offset %d: %w", next, rerr)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for offset %d (at %d): %w", offset, next, ctx.Err())
		}
	}
}

func (s *Store) read(ctx context.Context) {
	defer close(s.readDone)
	for {
		fetches := s.cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			s.setReadErr(errors.New("store closed"))
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			// The client retries fetch errors itself; they are worth a log line.
			s.log.Warn("fetching schemas topic", zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
		})
		var recs []*kgo.Record
		fetches.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		if len(recs) == 0 {
			continue
		}
		s.mu.Lock()
		for _, r := range recs {
			if r.Offset < s.next {
				continue
			}
			if !r.Attrs.IsControl() {
				if err := s.state.Apply(r.Key, r.Value); err != nil {
					// Confluent logs and skips records it cannot read; stopping
					// would make the whole registry unavailable over one record.
					s.badRecords.Add(1)
					s.log.Error("skipping unreadable record in schemas topic",
						zap.String("topic", r.Topic), zap.Int64("offset", r.Offset), zap.Error(err))
				}
			}
			s.next = r.Offset + 1
		}
		close(s.progress)
		s.progress = make(chan struct{})
		s.mu.Unlock()
	}
}

func (s *Store) setReadErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readErr == nil {
		s.readErr = err
	}
	close(s.progress)
	s.progress = make(chan struct{})
}

func (s *Store) ensureTopic(ctx context.Context) error {
	topic := s.cfg.Topic
	rf := s.cfg.ReplicationFactor
	if rf == 0 {
		rf = -1
	}
	resp, err := s.adm.CreateTopic(ctx, 1, rf, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, topic)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		s.log.Info("created schemas topic", zap.String("topic", topic))
	case errors.Is(err, kerr.TopicAlreadyExists):
	default:
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}

	// Like Confluent, refuse a topic that would lose or reorder state: more
	// than one partition has no total order, and a deleting cleanup policy
	// would drop schemas.
	details, err := s.adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("describing topic %s: %w", topic, err)
	}
	d, ok := details[topic]
	if !ok {
		return fmt.Errorf("topic %s not found after creating it", topic)
	}
	if d.Err != nil {
		return fmt.Errorf("describing topic %s: %w", topic, d.Err)
	}
	if n := len(d.Partitions); n != 1 {
		return fmt.Errorf("topic %s has %d partitions; the schemas topic must have exactly 1", topic, n)
	}
	cfgs, err := s.adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return fmt.Errorf("describing configs of topic %s: %w", topic, err)
	}
	rc, err := cfgs.On(topic, nil)
	if err != nil {
		return fmt.Errorf("describing configs of topic %s: %w", topic, err)
	}
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil && !strings.Contains(*c.Value, "compact") {
			return fmt.Errorf("topic %s has cleanup.policy=%s; the schemas topic must be compacted", topic, *c.Value)
		}
	}
	return nil
}
