package stage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/platform/statestore"
)

// Runner runs a Processor over its input topic.
type Runner struct {
	cfg      Config
	proc     Processor
	stateful Stateful // nil for a stateless processor or one with a Store
	stored   Stored   // nil unless a processor with a Store keeps a derived view
	ticker   Ticker   // nil unless the processor ticks
	preparer Preparer // nil unless the processor prepares records in parallel
	log      *zap.Logger
	m        *metrics

	// Partition changes reported by the group callbacks, which run on the
	// client's goroutines; the loop applies them between transactions.
	mu       sync.Mutex
	assigned []int32
	revoked  []int32
	joined   bool // the group has given this member an assignment (perhaps empty)

	owned map[int32]bool // partitions this instance owns and has restored
	// ready: joined, every assigned partition restored, and consuming.
	// Cleared when an assignment arrives, partitions are lost, or a
	// transaction aborts, until the loop has restored what it must.
	ready    atomic.Bool
	lastTick time.Time

	// txn is the open transaction's state writes (with a Store), read and
	// written by the records and ticks of the transaction.
	txn *statestore.Txn
	// send hands an output record to the open transaction.
	send func(*kgo.Record)
	// changed notes a state key written in the open transaction's Store
	// batch (nil without a Store).
	changed func(partition int32, key []byte)
	// changelogID is the changelog's topic id, read when partitions are
	// restored and written into every checkpoint.
	changelogID string
}

// New builds a stage runner. Stateful and Ticker are detected on proc.
func New(cfg Config, proc Processor, deps Deps) (*Runner, error) {
	switch {
	case cfg.Name == "":
		return nil, errors.New("stage: Name is required")
	case cfg.Group == "":
		return nil, errors.New("stage: Group is required")
	case cfg.Input == "":
		return nil, errors.New("stage: Input is required")
	case len(cfg.Brokers) == 0:
		return nil, errors.New("stage: Brokers are required")
	case proc == nil:
		return nil, errors.New("stage: a Processor is required")
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = "0"
	}
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = DefaultMaxPollRecords
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 15 * time.Second
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = time.Second
	}
	r := &Runner{cfg: cfg, proc: proc, log: deps.Log, owned: map[int32]bool{}}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	r.log = r.log.With(zap.String("stage", cfg.Name))
	st, isStateful := proc.(Stateful)
	switch {
	case cfg.Store != nil && isStateful:
		return nil, fmt.Errorf("stage %s: a processor keeps its state either in memory (Stateful) or in the Store, not both", cfg.Name)
	case cfg.Store != nil && cfg.Changelog == "":
		return nil, fmt.Errorf("stage %s: a Store needs a Changelog topic", cfg.Name)
	case isStateful && cfg.Changelog == "":
		return nil, fmt.Errorf("stage %s: a Stateful processor needs a Changelog topic", cfg.Name)
	case isStateful:
		r.stateful = st
	}
	r.stored, _ = proc.(Stored)
	r.ticker, _ = proc.(Ticker)
	r.preparer, _ = proc.(Preparer)
	m, err := newMetrics(deps.Metrics, cfg.Name)
	if err != nil {
		return nil, err
	}
	r.m = m
	return r, nil
}

// Ready reports whether the stage has joined its group, restored the state
// of every partition assigned to it, and is consuming. A first poll that
// returns before the group has assigned anything is not ready.
func (r *Runner) Ready() error {
	if !r.ready.Load() {
		r.mu.Lock()
		joined := r.joined
		r.mu.Unlock()
		if !joined {
			return fmt.Errorf("stage %s: not yet consuming (joining group %s)", r.cfg.Name, r.cfg.Group)
		}
		return fmt.Errorf("stage %s: not yet consuming (restoring assigned partitions)", r.cfg.Name)
	}
	return nil
}

// markReady sets ready once the group has assigned this member its
// partitions and every one of them is restored (applyPartitionChanges has
// taken every pending assignment).
func (r *Runner) markReady() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ready.Store(r.joined && len(r.assigned) == 0)
}

// transactionalID is stable per instance, so a restarted instance fences its
// previous incarnation (aborting its open transaction) when it starts.
func (r *Runner) transactionalID() string { return r.cfg.Group + "-" + r.cfg.InstanceID }

// Run consumes and processes until ctx ends (a clean stop: the open
// transaction is aborted) or processing fails.
func (r *Runner) Run(ctx context.Context) error {
	if in, ok := r.proc.(Initializer); ok {
		if err := in.Init(ctx); err != nil {
			return fmt.Errorf("stage %s: %w", r.cfg.Name, err)
		}
	}
	if r.hasState() {
		if err := r.ensureChangelog(ctx); err != nil {
			return err
		}
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(r.cfg.Brokers...),
		kgo.ClientID("esrflow-" + r.cfg.Name),
		kgo.ConsumerGroup(r.cfg.Group),
		// Static membership: a restarted instance (same InstanceID) takes
		// its partitions back at once instead of waiting for the dead
		// member's session to time out, and without moving the partitions
		// of the other instances.
		// The flip side: a stopped instance does not leave the group, so
		// its partitions move to the others only after SessionTimeout.
		kgo.InstanceID(r.cfg.InstanceID),
		kgo.SessionTimeout(r.cfg.SessionTimeout),
		kgo.ConsumeTopics(r.cfg.Input),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.TransactionalID(r.transactionalID()),
		kgo.TransactionTimeout(60 * time.Second),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.RecordPartitioner(r.partitioner()),
		kgo.ProducerLinger(0),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { r.noteAssigned(m[r.cfg.Input]) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { r.noteRevoked(m[r.cfg.Input]) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { r.noteLost(m[r.cfg.Input]) }),
	}, r.cfg.ClientOpts...)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("stage %s: %w", r.cfg.Name, err)
	}
	defer sess.Close()

	var restorer *kgo.Client
	if r.hasState() {
		restorer, err = kgo.NewClient(append([]kgo.Opt{
			kgo.SeedBrokers(r.cfg.Brokers...),
			kgo.ClientID("esrflow-" + r.cfg.Name + "-restore"),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.KeepControlRecords(),
			kgo.FetchMaxWait(100 * time.Millisecond),
		}, r.cfg.ClientOpts...)...)
		if err != nil {
			return err
		}
		defer restorer.Close()
	}
	r.log.Info("stage started", zap.String("input", r.cfg.Input), zap.String("group", r.cfg.Group), zap.String("transactional_id", r.transactionalID()))

	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		pollCtx, cancel := context.WithTimeout(ctx, r.cfg.TickInterval)
		fetches := sess.PollRecords(pollCtx, r.cfg.MaxPollRecords)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := r.applyPartitionChanges(ctx, restorer); err != nil {
			return err
		}
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
				continue
			}
			if errors.Is(fe.Err, kgo.ErrClientClosed) {
				return fe.Err
			}
			r.log.Warn("fetch error", logx.Topic(fe.Topic), logx.Partition(fe.Partition), zap.Error(fe.Err))
		}
		r.markReady()
		if !fetches.Empty() {
			if err := r.transact(ctx, sess, restorer, func(produce func(*Tx) error) error {
				return r.processFetches(ctx, fetches, produce)
			}); err != nil {
				return err
			}
		}
		if r.ticker != nil && time.Since(r.lastTick) >= r.cfg.TickInterval {
			r.lastTick = time.Now()
			if !r.tickDue() {
				r.m.ticks.WithLabelValues("idle").Inc()
				continue
			}
			if err := r.transact(ctx, sess, restorer, func(produce func(*Tx) error) error { return r.tick(ctx, produce) }); err != nil {
				return err
			}
			r.m.ticks.WithLabelValues("run").Inc()
		}
	}
}

// transact runs work in one transaction. An abort (a rebalance, or a
// failure to commit) rewinds the consumer to the committed offsets, so the
// in-memory state of every owned partition is dropped and restored again from
// the changelog, which holds exactly the committed changes.
func (r *Runner) transact(ctx context.Context, sess *kgo.GroupTransactSession, restorer *kgo.Client, work func(produce func(*Tx) error) error) error {
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("stage %s: begin transaction: %w", r.cfg.Name, err)
	}
	// committed is set only by a successful commit below; every other way
	// out of this function (abort, error, shutdown) tells a Committer false.
	committed := false
	if c, ok := r.proc.(Committer); ok {
		defer func() { c.TxEnded(committed) }()
	}
	var (
		once     sync.Once
		firstErr error
		// changelogNext is, per changelog partition, the offset after the
		// last state change this transaction produced: the checkpoint its
		// partitions reach when it commits.
		offMu         sync.Mutex
		changelogNext = map[int32]int64{}
	)
	promise := func(rec *kgo.Record, err error) {
		if err != nil {
			once.Do(func() { firstErr = err })
			return
		}
		if rec.Topic == r.cfg.Changelog {
			offMu.Lock()
			changelogNext[rec.Partition] = max(changelogNext[rec.Partition], rec.Offset+1)
			offMu.Unlock()
		}
	}
	if r.cfg.Store != nil {
		r.txn = r.cfg.Store.Begin()
		defer func() {
			r.txn.Discard() // after Commit, a no-op
			r.txn = nil
		}()
	}
	// State changes are collapsed per key within the transaction: only the
	// last value of a key matters on restore, and a stage that updates a
	// file's running counts on every row then writes them once per batch.
	type stateKey struct {
		partition int32
		key       string
	}
	var (
		stateOrder []stateKey
		stateLast  = map[stateKey]*kgo.Record{}
	)
	if r.txn != nil {
		// With a Store, the transaction's batch already holds each key's
		// last value: only which keys changed, in order, is kept here, and
		// the changelog records are read from the batch at the end, so a
		// transaction that touches every row of a large file holds their
		// state once, not twice.
		r.changed = func(p int32, key []byte) {
			k := stateKey{p, string(key)}
			if _, seen := stateLast[k]; !seen {
				stateOrder = append(stateOrder, k)
				stateLast[k] = nil
			}
		}
		defer func() { r.changed = nil }()
	}
	// Processors' output goes to the transaction as it is produced (Tx.send).
	r.send = func(rec *kgo.Record) {
		sess.Produce(ctx, rec, promise)
		r.m.produced.Inc()
	}
	defer func() { r.send = nil }()
	produce := func(tx *Tx) error {
		for _, rec := range tx.out {
			sess.Produce(ctx, rec, promise)
		}
		for _, rec := range tx.state {
			k := stateKey{rec.Partition, string(rec.Key)}
			if _, seen := stateLast[k]; !seen {
				stateOrder = append(stateOrder, k)
			}
			stateLast[k] = rec
		}
		r.m.produced.Add(float64(len(tx.out)))
		return nil
	}
	workErr := work(produce)
	if workErr == nil && r.txn != nil {
		// The changed keys' last values go out from the batch in one pass
		// (key order; each key once); a changed key the batch no longer
		// holds was deleted, and its tombstone follows below.
		workErr = r.txn.Changes(func(p int32, key, value []byte) error {
			k := stateKey{p, string(key)}
			if rec, changed := stateLast[k]; !changed || rec != nil {
				return nil
			}
			stateLast[k] = sentFromBatch
			sess.Produce(ctx, &kgo.Record{Topic: r.cfg.Changelog, Partition: p, Key: bytes.Clone(key), Value: bytes.Clone(value)}, promise)
			return nil
		})
		if workErr != nil {
			workErr = fmt.Errorf("reading state back: %w", workErr)
		}
	}
	if workErr == nil {
		for _, k := range stateOrder {
			rec := stateLast[k]
			switch rec {
			case sentFromBatch:
				continue
			case nil: // changed in the Store's batch, and deleted there
				rec = &kgo.Record{Key: []byte(k.key), Partition: k.partition}
			}
			rec.Topic = r.cfg.Changelog
			sess.Produce(ctx, rec, promise)
		}
	}
	if ctx.Err() != nil {
		// Shutting down: abort with a short grace period of our own.
		abortCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = sess.End(abortCtx, kgo.TryAbort)
		return ctx.Err()
	}
	if workErr != nil {
		_, _ = sess.End(ctx, kgo.TryAbort)
		r.m.txns.WithLabelValues("aborted").Inc()
		return fmt.Errorf("stage %s: %w", r.cfg.Name, workErr)
	}
	// Flush before deciding: a record that failed to produce (a broker
	// error after the client's retries) means this transaction must not
	// commit. Aborting and redoing the batch from the committed offsets is
	// safe, so it is retried rather than stopping the stage.
	if err := sess.Client().Flush(ctx); err != nil {
		return fmt.Errorf("stage %s: flush: %w", r.cfg.Name, err)
	}
	end := kgo.TryCommit
	if firstErr != nil {
		end = kgo.TryAbort
		r.log.Warn("producing failed; aborting the transaction to redo it", zap.Error(firstErr))
	}
	ok, err := sess.End(ctx, end)
	if err != nil {
		r.m.txns.WithLabelValues("failed").Inc()
		return fmt.Errorf("stage %s: end transaction: %w", r.cfg.Name, err)
	}
	if ok {
		committed = true
		r.m.txns.WithLabelValues("committed").Inc()
		return r.commitStore(changelogNext)
	}
	r.m.txns.WithLabelValues("aborted").Inc()
	if firstErr == nil {
		r.log.Info("transaction aborted (rebalance); restoring state from the changelog")
	} else {
		select { // back off a little before redoing the batch
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if r.cfg.Store != nil {
		// The store holds committed state only: the aborted writes go with
		// the discarded Txn. What the processor derived from them in memory
		// is rebuilt from the store.
		return r.rederive()
	}
	r.ready.Store(false) // until the state is restored again
	return r.restoreAll(ctx, restorer)
}

// sentFromBatch marks a changed key whose changelog record has gone out
// from the Store's batch.
var sentFromBatch = &kgo.Record{}

// commitStore applies a committed transaction's state writes to the Store
// with the checkpoints they reach. A failure stops the stage: the restarted
// instance catches the store up from its last checkpoint.
func (r *Runner) commitStore(changelogNext map[int32]int64) error {
	if r.txn == nil {
		return nil
	}
	now := time.Now().UnixMilli()
	cps := make(map[int32]statestore.Checkpoint, len(changelogNext))
	for p, next := range changelogNext {
		cps[p] = statestore.Checkpoint{Topic: r.cfg.Changelog, TopicID: r.changelogID, Next: next, SavedMs: now}
	}
	if err := r.txn.Commit(cps); err != nil {
		return fmt.Errorf("stage %s: %w", r.cfg.Name, err)
	}
	return nil
}

func (r *Runner) processFetches(ctx context.Context, fetches kgo.Fetches, produce func(*Tx) error) error {
	var err error
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if err != nil || len(fp.Records) == 0 {
			return
		}
		var chunks <-chan preparedChunk
		var prepared []any
		if r.preparer != nil {
			var stop func()
			chunks, stop = r.prepareAhead(ctx, fp.Records)
			defer stop()
		}
		for i, rec := range fp.Records {
			tx := &Tx{partition: fp.Partition, txn: r.txn, send: r.send, changed: r.changed}
			if chunks != nil {
				if i%PrepareChunk == 0 {
					c := <-chunks
					if err = c.err; err != nil {
						return
					}
					prepared = c.values
				}
				// Handed over: decoded records are not held until the
				// chunk's last one is processed.
				j := i % PrepareChunk
				tx.prepared, prepared[j] = prepared[j], nil
			}
			if perr := r.proc.Process(ctx, rec, tx); perr != nil {
				err = fmt.Errorf("partition %d offset %d: %w", rec.Partition, rec.Offset, perr)
				return
			}
			if err = produce(tx); err != nil {
				return
			}
		}
		if err = r.finish(ctx, fp.Partition, produce); err != nil {
			return
		}
		r.m.consumed.Add(float64(len(fp.Records)))
		last := fp.Records[len(fp.Records)-1].Offset
		if lag := fp.LastStableOffset - last - 1; fp.LastStableOffset > 0 && lag >= 0 {
			r.m.lag.WithLabelValues(strconv.Itoa(int(fp.Partition))).Set(float64(lag))
		}
	})
	return err
}

// finish lets a Finisher write what it kept of partition p during a poll.
func (r *Runner) finish(ctx context.Context, p int32, produce func(*Tx) error) error {
	f, ok := r.proc.(Finisher)
	if !ok {
		return nil
	}
	tx := &Tx{partition: p, txn: r.txn, send: r.send, changed: r.changed}
	if err := f.Finish(ctx, p, tx); err != nil {
		return fmt.Errorf("partition %d: finish: %w", p, err)
	}
	return produce(tx)
}

// PrepareChunk is how many of a partition's records in a poll the runner
// prepares at once. The next chunk is prepared while Process takes this
// one, so decoding (on every core) overlaps the processing (on one), and
// the decoded records held at once are at most about two chunks' worth,
// not a whole poll's: a poll of a full file's rows decoded at once was the
// largest part of validate's heap at national scale.
const PrepareChunk = 1000

// preparedChunk is one chunk's Prepare results, or the first error.
type preparedChunk struct {
	values []any
	err    error
}

// prepareAhead prepares recs a chunk at a time, one chunk ahead of the
// reader, in order. stop ends it early (after an error in Process).
func (r *Runner) prepareAhead(ctx context.Context, recs []*kgo.Record) (chunks <-chan preparedChunk, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan preparedChunk)
	go func() {
		defer close(out)
		for start := 0; start < len(recs); start += PrepareChunk {
			values, err := r.prepare(ctx, recs[start:min(start+PrepareChunk, len(recs))])
			select {
			case out <- preparedChunk{values: values, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return out, func() {
		cancel()
		for range out { // let the goroutine end before the records go
		}
	}
}

// prepare runs Preparer.Prepare over recs on every core, keeping each
// result at its record's index.
func (r *Runner) prepare(ctx context.Context, recs []*kgo.Record) ([]any, error) {
	out := make([]any, len(recs))
	workers := runtime.GOMAXPROCS(0)
	if workers > len(recs) {
		workers = len(recs)
	}
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(recs) {
					return
				}
				v, err := r.preparer.Prepare(ctx, recs[i])
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("partition %d offset %d: %w", recs[i].Partition, recs[i].Offset, err) })
					return
				}
				out[i] = v
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

// tickDue reports whether a tick has anything to do: always, unless the
// ticker says otherwise for every owned partition.
func (r *Runner) tickDue() bool {
	c, ok := r.ticker.(TickChecker)
	if !ok {
		return true
	}
	for _, p := range r.ownedPartitions() {
		if c.TickDue(p) {
			return true
		}
	}
	return false
}

func (r *Runner) tick(ctx context.Context, produce func(*Tx) error) error {
	for _, p := range r.ownedPartitions() {
		tx := &Tx{partition: p, txn: r.txn, send: r.send, changed: r.changed}
		if err := r.ticker.Tick(ctx, p, tx); err != nil {
			return fmt.Errorf("tick partition %d: %w", p, err)
		}
		if err := produce(tx); err != nil {
			return err
		}
		if err := r.finish(ctx, p, produce); err != nil {
			return err
		}
	}
	return nil
}

// noteAssigned runs on every assignment, even an empty one (franz-go calls
// OnPartitionsAssigned whatever was added), so it also marks the join.
func (r *Runner) noteAssigned(ps []int32) {
	r.mu.Lock()
	r.assigned = append(r.assigned, ps...)
	r.joined = true
	if len(ps) > 0 {
		r.ready.Store(false) // until they are restored
	}
	r.mu.Unlock()
}

// noteLost: the member lost its partitions (session expired); it is not
// consuming until the group assigns it partitions again.
func (r *Runner) noteLost(ps []int32) {
	r.mu.Lock()
	r.revoked = append(r.revoked, ps...)
	r.joined = false
	r.ready.Store(false)
	r.mu.Unlock()
}

func (r *Runner) noteRevoked(ps []int32) {
	r.mu.Lock()
	r.revoked = append(r.revoked, ps...)
	r.mu.Unlock()
}

// applyPartitionChanges forgets revoked partitions and restores newly
// assigned ones before any of their records are processed.
func (r *Runner) applyPartitionChanges(ctx context.Context, restorer *kgo.Client) error {
	r.mu.Lock()
	assigned, revoked := r.assigned, r.revoked
	r.assigned, r.revoked = nil, nil
	r.mu.Unlock()
	for _, p := range revoked {
		if r.owned[p] {
			delete(r.owned, p)
			if r.stateful != nil {
				r.stateful.Forget(p)
			}
			if r.stored != nil {
				r.stored.Released(p)
			}
			r.m.lag.DeleteLabelValues(strconv.Itoa(int(p)))
		}
	}
	var toRestore []int32
	for _, p := range assigned {
		if !r.owned[p] {
			toRestore = append(toRestore, p)
		}
	}
	if len(toRestore) == 0 {
		return nil
	}
	if err := r.restore(ctx, restorer, toRestore); err != nil {
		return err
	}
	for _, p := range toRestore {
		r.owned[p] = true
	}
	return nil
}

func (r *Runner) ownedPartitions() []int32 {
	ps := make([]int32, 0, len(r.owned))
	for p := range r.owned {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// rederive has a Stored processor drop and rebuild what it holds in memory
// of every owned partition, after an aborted transaction.
func (r *Runner) rederive() error {
	if r.stored == nil {
		return nil
	}
	for _, p := range r.ownedPartitions() {
		r.stored.Released(p)
		if err := r.stored.Restored(p); err != nil {
			return fmt.Errorf("stage %s: partition %d restored: %w", r.cfg.Name, p, err)
		}
	}
	return nil
}

// hasState: the stage keeps state, in memory or in a Store.
func (r *Runner) hasState() bool { return r.stateful != nil || r.cfg.Store != nil }

func (r *Runner) restoreAll(ctx context.Context, restorer *kgo.Client) error {
	ps := r.ownedPartitions()
	if r.stateful == nil || len(ps) == 0 {
		return nil
	}
	return r.restore(ctx, restorer, ps)
}

// restore rebuilds the state of partitions from the changelog: everything
// committed up to the last stable offset. Control records are kept so the
// reader knows when it has passed the final commit marker.
func (r *Runner) restore(ctx context.Context, restorer *kgo.Client, ps []int32) error {
	if r.cfg.Store != nil {
		return r.catchUp(ctx, restorer, ps)
	}
	if r.stateful == nil {
		return nil
	}
	start := time.Now()
	for _, p := range ps {
		r.stateful.Forget(p)
	}
	adm := kadm.NewClient(restorer)
	ends, err := adm.ListCommittedOffsets(ctx, r.cfg.Changelog)
	if err != nil {
		return fmt.Errorf("stage %s: listing changelog offsets: %w", r.cfg.Name, err)
	}
	want := map[int32]int64{} // partition -> last offset to read
	offsets := map[int32]kgo.Offset{}
	for _, p := range ps {
		o, ok := ends.Lookup(r.cfg.Changelog, p)
		if !ok || o.Err != nil {
			return fmt.Errorf("stage %s: changelog partition %d has no end offset: %v", r.cfg.Name, p, o.Err)
		}
		if o.Offset > 0 {
			want[p] = o.Offset - 1
			offsets[p] = kgo.NewOffset().AtStart()
		}
	}
	if len(want) == 0 {
		return nil
	}
	var applied int
	err = r.readChangelog(ctx, restorer, offsets, want, func(rec *kgo.Record) error {
		if rec.Attrs.IsControl() {
			return nil
		}
		if err := r.stateful.Restore(rec.Partition, rec.Key, rec.Value); err != nil {
			return err
		}
		applied++
		return nil
	})
	if err != nil {
		return err
	}
	r.m.restoreSeconds.Observe(time.Since(start).Seconds())
	r.log.Info("state restored", zap.Int("records", applied), zap.Int("partitions", len(ps)), zap.Duration("took", time.Since(start)))
	return nil
}

// readChangelog reads changelog partitions from their offsets in from up
// to the offset in last (inclusive), committed records and transaction
// markers alike, calling apply for each in partition order; an error from
// apply stops the read.
func (r *Runner) readChangelog(ctx context.Context, restorer *kgo.Client, from map[int32]kgo.Offset, last map[int32]int64, apply func(*kgo.Record) error) error {
	if len(last) == 0 {
		return nil
	}
	ps := make([]int32, 0, len(from))
	for p := range from {
		ps = append(ps, p)
	}
	restorer.AddConsumePartitions(map[string]map[int32]kgo.Offset{r.cfg.Changelog: from})
	defer restorer.RemoveConsumePartitions(map[string][]int32{r.cfg.Changelog: ps})
	for len(last) > 0 {
		fetches := restorer.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, fe := range fetches.Errors() {
			return fmt.Errorf("stage %s: reading changelog partition %d: %w", r.cfg.Name, fe.Partition, fe.Err)
		}
		var err error
		fetches.EachRecord(func(rec *kgo.Record) {
			end, ok := last[rec.Partition]
			if err != nil || !ok || rec.Offset > end {
				return
			}
			if aerr := apply(rec); aerr != nil {
				err = fmt.Errorf("stage %s: changelog partition %d offset %d: %w", r.cfg.Name, rec.Partition, rec.Offset, aerr)
				return
			}
			if rec.Offset >= end {
				delete(last, rec.Partition)
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ensureChangelog creates the compacted changelog with the input topic's
// partition count, so changelog partition p holds the state of input
// partition p.
func (r *Runner) ensureChangelog(ctx context.Context) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(r.cfg.Brokers...)}, r.cfg.ClientOpts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	td, err := adm.ListTopics(ctx, r.cfg.Input, r.cfg.Changelog)
	if err != nil {
		return fmt.Errorf("stage %s: describing topics: %w", r.cfg.Name, err)
	}
	in, ok := td[r.cfg.Input]
	if !ok || in.Err != nil {
		return fmt.Errorf("stage %s: input topic %s is not available: %v", r.cfg.Name, r.cfg.Input, in.Err)
	}
	want := len(in.Partitions)
	if cd, ok := td[r.cfg.Changelog]; ok && cd.Err == nil {
		if got := len(cd.Partitions); got != want {
			return fmt.Errorf("stage %s: changelog %s has %d partitions but input %s has %d; they must match", r.cfg.Name, r.cfg.Changelog, got, r.cfg.Input, want)
		}
		return nil
	}
	resp, err := adm.CreateTopic(ctx, int32(want), -1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, r.cfg.Changelog)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("stage %s: creating changelog %s: %w", r.cfg.Name, r.cfg.Changelog, err)
	}
	return nil
}

// partitioner sends changelog records to the partition the Tx set (the
// input partition) and everything else with Config.Partitioner, by default
// by key like the Java client.
func (r *Runner) partitioner() kgo.Partitioner {
	byKey := r.cfg.Partitioner
	if byKey == nil {
		byKey = kgo.StickyKeyPartitioner(nil)
	}
	return kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
		if topic == r.cfg.Changelog {
			return func(rec *kgo.Record, _ int) int { return int(rec.Partition) }
		}
		tp := byKey.ForTopic(topic)
		return func(rec *kgo.Record, n int) int { return tp.Partition(rec, n) }
	})
}
