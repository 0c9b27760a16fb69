package stage_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/testkit"
)

// committing counts, as a metric of published records would, the records
// of the transactions that committed: Process counts a record as open,
// TxEnded moves the open count to committed or drops it.
type committing struct {
	*counter
	mu        sync.Mutex
	open      int
	committed int
	aborted   int // transactions
}

func (c *committing) Process(ctx context.Context, in *kgo.Record, tx *stage.Tx) error {
	if err := c.counter.Process(ctx, in, tx); err != nil {
		return err
	}
	c.mu.Lock()
	c.open++
	c.mu.Unlock()
	return nil
}

func (c *committing) TxEnded(committed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if committed {
		c.committed += c.open
	} else {
		c.aborted++
	}
	c.open = 0
}

func (c *committing) counts() (committed, aborted int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.committed, c.aborted
}

var _ stage.Committer = (*committing)(nil)

// TestCommitterSeesOnlyCommittedTransactions: a process dies in the middle
// of a transaction; what its Committer counted equals what it committed
// (the group's offsets), the aborted transaction counts nothing, and the
// next incarnation counts the rest, so the two add up to the input exactly.
func TestCommitterSeesOnlyCommittedTransactions(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 3}, embedded.TopicSpec{Name: "out", Partitions: 3})
	produceInput(t, k.Seeds(), 0, 200)

	ctx, cancel := context.WithCancel(context.Background())
	first := &committing{counter: newCounter()}
	first.crashAfter, first.crash = 93, cancel
	if err := <-runStage(t, ctx, k.Seeds(), first); !errors.Is(err, context.Canceled) {
		t.Fatalf("run = %v", err)
	}
	n1, aborted := first.counts()
	if aborted == 0 {
		t.Error("the transaction cut short by the crash was not reported aborted")
	}
	if off := committedOffsetOf(t, k.Seeds(), "g", "in"); int64(n1) != off || n1 >= 93 {
		t.Fatalf("committed transactions held %d records; the group committed %d (of the 93 processed)", n1, off)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	second := &committing{counter: newCounter()}
	done := runStage(t, ctx2, k.Seeds(), second)
	equal(t, readOutput(t, k.Seeds(), 200), expect(200))
	cancel2()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run = %v", err)
	}
	if n2, _ := second.counts(); n1+n2 != 200 {
		t.Fatalf("counted %d + %d committed records, want 200", n1, n2)
	}
}
