// Package stage runs one consume-transform-produce hop of the pipeline with
// exactly-once semantics: records are consumed in a consumer group (read
// committed), handed to a Processor in partition order, and everything the
// processor produces, its state changes and the consumed offsets are committed
// in one Kafka transaction (franz-go GroupTransactSession). A crash or a
// rebalance aborts the open transaction, so a record is neither lost nor
// duplicated between stages.
//
// A Stateful processor keeps its state in memory and writes every change to a
// compacted changelog topic the stage owns, in the same transaction. The
// changelog has the input topic's partition count and a change is written to
// the partition of the input record that caused it, so the owner of an input
// partition rebuilds exactly that partition's state (Restore) when it is
// assigned the partition, and drops it (Forget) when it loses it or when a
// transaction aborts (the aborted changes were never committed).
//
// A processor with a Store (Config.Store) keeps its state off the heap
// instead: the runner writes each transaction's state changes to the
// store only once the transaction has committed, with the changelog offset
// they reach, and on assignment catches a partition up from that checkpoint
// rather than replaying the whole changelog (see package statestore).
package stage

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/statestore"
)

// Processor transforms one input record. It is called from a single
// goroutine, in offset order within a partition. Outputs and state changes go
// through tx; they become visible only if the transaction commits.
//
// Returning an error aborts the transaction and stops the stage: use it for
// failures that retrying the same record cannot fix by itself being skipped
// (registry down, a bug). Bad data is not an error: quarantine it.
type Processor interface {
	Process(ctx context.Context, in *kgo.Record, tx *Tx) error
}

// Stateful is implemented by processors that keep state.
type Stateful interface {
	// Restore applies one changelog record of the partition while the stage
	// rebuilds it, in changelog order. A nil value is a deletion (tombstone).
	Restore(partition int32, key, value []byte) error
	// Forget drops all in-memory state of the partition: it was revoked, or
	// a transaction touching it aborted and it will be restored again.
	Forget(partition int32)
}

// Initializer is implemented by processors with work to do once before
// the first record, such as registering their output schemas. Run calls
// Init before joining the group; the stage is not ready until it succeeded,
// and an error stops the stage.
type Initializer interface {
	Init(ctx context.Context) error
}

// Preparer is implemented by processors with per-record work that needs no
// state: decoding, mapping, encoding. The runner calls Prepare for the
// records of a poll on all cores, a chunk at a time (PrepareChunk) ahead of
// Process, which takes each in order with Prepare's result in
// tx.Prepared(). Prepare must be safe for concurrent use, also with
// Process, and must not touch state; an error from it stops the stage like
// an error from Process.
type Preparer interface {
	Prepare(ctx context.Context, in *kgo.Record) (any, error)
}

// Finisher is implemented by a processor that keeps a piece of state in
// memory while it works through a poll and writes it once: a key it would
// otherwise rewrite on nearly every record (publish's open person group).
// The runner calls Finish for a partition after Process has taken the last
// of its records in a poll (and after each Tick), inside the same
// transaction, so what Finish writes commits with the records that changed
// it.
type Finisher interface {
	Finish(ctx context.Context, partition int32, tx *Tx) error
}

// Committer is implemented by a processor that acts on what a transaction
// published only once it has committed: a metric of the records it
// published, for one. Anything done from Process, Finish or Tick is done
// again when an aborted transaction is redone from the committed offsets,
// so the processor keeps such work aside and the runner calls TxEnded once
// at the end of every transaction it began (records, or a tick): committed
// is true only when the commit succeeded. An abort, a failed Process, a
// failure to produce, shutdown and an EndTxn whose outcome is unknown are
// all false, so a transaction that did commit after all (the broker
// committed it but the reply was lost) is under-counted, never
// over-counted. TxEnded runs on the stage goroutine, like Process.
type Committer interface {
	TxEnded(committed bool)
}

// Ticker is implemented by processors that also act on time rather than on
// input (for example firing held leavers). Tick runs in its own transaction
// for each owned partition, between polls.
type Ticker interface {
	Tick(ctx context.Context, partition int32, tx *Tx) error
}

// TickChecker is implemented by a Ticker that can tell cheaply, without a
// transaction, whether a tick of a partition would do anything. The runner
// then skips idle ticks: a transaction per tick interval is not free, and a
// file arriving meanwhile waits for it to commit.
type TickChecker interface {
	TickDue(partition int32) bool
}

// Stored is implemented by a processor whose state is in Config.Store and
// which keeps something small derived from it in memory (gauges, which
// tenants a partition holds). Restored is called once partition p's state
// has been restored or caught up, before any of its records is processed;
// Released when p is revoked (its state stays in the store, as the
// checkpoint a later assignment catches up from). After an aborted
// transaction both are called for every owned partition: what the
// processor derived in memory from the aborted records must go.
type Stored interface {
	Restored(p int32) error
	Released(p int32)
}

// Tx collects what one input record (or tick) produces.
type Tx struct {
	partition int32
	prepared  any
	out       []*kgo.Record
	state     []*kgo.Record
	txn       *statestore.Txn // nil unless the stage has a Store
	// send, when set (by the runner), hands output records to the
	// transaction as they are produced instead of collecting them in out:
	// a record that releases a whole file (validate's FILE_END) then holds
	// no more of its output in memory than the client buffers.
	send func(*kgo.Record)
	// changed, when set (by the runner of a stage with a Store), is told
	// each key SetState writes instead of SetState keeping the record: the
	// runner reads the last values back from the Store's batch.
	changed func(partition int32, key []byte)
}

// NewTx returns an empty Tx for the partition. The runner makes one per
// record; processor tests use it to call Process directly.
func NewTx(partition int32) *Tx { return &Tx{partition: partition} }

// NewTxIn returns an empty Tx for the partition reading and writing state
// in txn (processor tests of a stage with a Store).
func NewTxIn(txn *statestore.Txn, partition int32) *Tx {
	return &Tx{partition: partition, txn: txn}
}

// Get reads a key of the partition's state as the transaction sees it
// (committed state with the transaction's own writes over it). Without a
// Store there is nothing to read.
func (t *Tx) Get(key []byte) ([]byte, bool, error) {
	if t.txn == nil {
		return nil, false, nil
	}
	return t.txn.Get(t.partition, key)
}

// Scan calls fn for every key of the partition's state under prefix, in key
// order, as the transaction sees it; key and value are valid only during
// the call.
func (t *Tx) Scan(prefix []byte, fn func(key, value []byte) error) error {
	return t.ScanIn(t.partition, prefix, fn)
}

// GetIn is Get in another partition this instance owns (its state as the
// transaction sees it: the transaction may only write its own partition).
func (t *Tx) GetIn(partition int32, key []byte) ([]byte, bool, error) {
	if t.txn == nil {
		return nil, false, nil
	}
	return t.txn.Get(partition, key)
}

// ScanIn is Scan in another partition this instance owns.
func (t *Tx) ScanIn(partition int32, prefix []byte, fn func(key, value []byte) error) error {
	if t.txn == nil {
		return nil
	}
	return t.txn.Scan(partition, prefix, fn)
}

// Records are the output records queued so far (none in the runner, which
// sends them as they are produced).
func (t *Tx) Records() []*kgo.Record { return t.out }

// StateChanges are the changelog records queued so far (Key, Value; nil
// Value = delete); none in the runner of a stage with a Store, which reads
// them back from the Store's batch.
func (t *Tx) StateChanges() []*kgo.Record { return t.state }

// Prepared is what Preparer.Prepare returned for the record being
// processed; nil when the processor is not a Preparer or Process is called
// directly (as unit tests do).
func (t *Tx) Prepared() any { return t.prepared }

// Partition is the input partition being processed.
func (t *Tx) Partition() int32 { return t.partition }

// Produce queues a record for any topic. Records are placed by
// Config.Partitioner (the tenants' partition assignment), else by key with
// Kafka's murmur2 hash (what the Java client does); either way keying by
// tenant puts a tenant on the same partition number in every internal topic
// with the same partition count.
func (t *Tx) Produce(r *kgo.Record) {
	if t.send != nil {
		t.send(r)
		return
	}
	t.out = append(t.out, r)
}

// SetState writes a state change to the changelog partition of the current
// input record. A nil value deletes the key. With a Store, later reads of
// the transaction see it; without one, the processor must apply the same
// change to its in-memory state itself.
func (t *Tx) SetState(key, value []byte) {
	if t.txn != nil {
		t.txn.Set(t.partition, key, value)
		if t.changed != nil {
			t.changed(t.partition, key)
			return
		}
	}
	t.state = append(t.state, &kgo.Record{Key: key, Value: value, Partition: t.partition})
}

// DefaultMaxPollRecords is the records per transaction when
// Config.MaxPollRecords is not set: fewer, larger transactions.
const DefaultMaxPollRecords = 10000

// Config configures a stage.
type Config struct {
	// Name labels logs and metrics, e.g. "normalise".
	Name string
	// Group is the consumer group; every instance of a stage shares it.
	Group string
	// InstanceID is stable for an instance across restarts (e.g. the pod
	// name) and unique within the group. With Group it forms the
	// transactional id, so a restarted instance fences its previous
	// incarnation and aborts its open transaction at once instead of
	// waiting for the transaction timeout; it is also the static group
	// membership id, so the restarted instance gets its partitions back
	// without a rebalance.
	InstanceID string
	// SessionTimeout is how long the group waits for a silent instance
	// before giving its partitions to the others (default 15s).
	SessionTimeout time.Duration
	// Input is the topic consumed.
	Input string
	// Changelog is the compacted topic holding a Stateful processor's state;
	// created with the input's partition count if missing. Empty for a
	// stateless processor.
	Changelog string
	// Store, when set, holds the processor's state off the heap: the
	// runner keeps it equal to the committed changelog of the partitions
	// it owns (catching a partition up from its checkpoint on assignment)
	// and the processor reads it through Tx.Get and Tx.Scan. A processor
	// with a Store is not Stateful. The caller owns (closes) the Store.
	Store *statestore.Store
	// Brokers are the seed brokers; ClientOpts are added to every client
	// (TLS, SASL, ...).
	Brokers    []string
	ClientOpts []kgo.Opt
	// MaxPollRecords bounds the records per transaction (0 or less:
	// DefaultMaxPollRecords).
	MaxPollRecords int
	// TickInterval is how often a Ticker processor is ticked (default 1s).
	TickInterval time.Duration
	// Partitioner places the output records (every topic but the
	// changelog): tenantpart's, so a tenant stays on its assigned
	// partition. nil places them by the murmur2 hash of the key.
	Partitioner kgo.Partitioner
}

// Deps are a stage's collaborators.
type Deps struct {
	Log     *zap.Logger
	Metrics prometheus.Registerer
}
