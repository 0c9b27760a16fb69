package ingest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// producedParts records the partitions a transaction's records were
// written to (acknowledged by the broker).
//
// Why: franz-go (v1.22.x, KIP-890 transactions) decides in EndTransaction
// whether there is anything to commit from its own per-partition state,
// which it reads from the producer's topic map. For the first record a
// client produces to a topic, that map entry is stored by the metadata
// goroutine only after the record has been handed to the partition's
// buffer (kgo's storePartitionsUpdate stores it in a defer). Under load
// the record can be written, acknowledged and flushed before the entry is
// stored; EndTransaction then sees no partition in the transaction, logs
// "no produce succeeded in this transaction but produces were attempted;
// issuing an abort" and ends the transaction with an ABORT while returning
// nil for a TryCommit. The caller believes the transaction committed (a
// DUPLICATE report was lost this way after an instance restarted:
// TestRestartRestoresLedger). The same map is what kgo walks to reset
// sequence numbers after EndTxn bumps the epoch, so a partition missed there
// keeps its old sequence under the new epoch and its next batch fails with
// OUT_OF_ORDER_SEQUENCE_NUMBER. Before ending a transaction we therefore
// wait until the client's producer knows every partition we wrote to.
type producedParts struct {
	mu    sync.Mutex
	parts map[string]map[int32]struct{}
}

func (p *producedParts) add(r *kgo.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.parts == nil {
		p.parts = map[string]map[int32]struct{}{}
	}
	ps := p.parts[r.Topic]
	if ps == nil {
		ps = map[int32]struct{}{}
		p.parts[r.Topic] = ps
	}
	ps[r.Partition] = struct{}{}
}

// partsKnownWait bounds how long ending a transaction waits for the client
// to store a topic's partitions (normally microseconds; it is one deferred
// store in the metadata goroutine).
const partsKnownWait = 10 * time.Second

// awaitKnown waits until cl's producer has stored every partition written
// to (PartitionLeader reads the producer's topic map, the state
// EndTransaction reads). It is called after Flush, when every record is
// acknowledged. A partition the client has not stored by the deadline is
// an error: the caller aborts rather than let the commit become an abort
// it reports as a commit.
func (p *producedParts) awaitKnown(ctx context.Context, cl *kgo.Client) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	deadline := time.Now().Add(partsKnownWait)
	for topic, ps := range p.parts {
		for partition := range ps {
			for {
				leader, _, err := cl.PartitionLeader(topic, partition)
				if leader >= 0 || err != nil {
					// Stored (a load error means stored too: the
					// partition is in the producer's map).
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("ingest: producer has not stored partition %d of %s after %s", partition, topic, partsKnownWait)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Millisecond):
				}
			}
		}
	}
	return nil
}
