package stage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/statestore"
	"github.com/esrflow/esrflow/platform/testkit"
)

// storeCounter is counter with its counts in the stage's Store: it holds
// nothing in memory, so output numbering is exact only if the store equals
// the committed changelog at every record.
type storeCounter struct {
	mu         sync.Mutex
	crashAfter int
	crash      context.CancelFunc
	seen       int
	restored   map[int32]int // Restored calls per partition
}

func newStoreCounter() *storeCounter { return &storeCounter{restored: map[int32]int{}} }

func (c *storeCounter) Process(_ context.Context, in *kgo.Record, tx *stage.Tx) error {
	c.mu.Lock()
	c.seen++
	if c.crashAfter > 0 && c.seen == c.crashAfter {
		c.crash()
	}
	c.mu.Unlock()
	n := 0
	v, ok, err := tx.Get(in.Key)
	if err != nil {
		return err
	}
	if ok {
		if n, err = strconv.Atoi(string(v)); err != nil {
			return err
		}
	}
	n++
	k := string(in.Key)
	tx.Produce(&kgo.Record{Topic: "out", Key: in.Key, Value: []byte(k + "=" + strconv.Itoa(n))})
	tx.SetState(in.Key, []byte(strconv.Itoa(n)))
	return nil
}

func (c *storeCounter) Restored(p int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restored[p]++
	return nil
}

func (c *storeCounter) Released(int32) {}

func openStore(t *testing.T, dir string) *statestore.Store {
	t.Helper()
	s, err := statestore.Open(statestore.Options{Dir: dir, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// storeRun is one incarnation of a stage with a Store.
type storeRun struct {
	done  chan error
	stop  context.CancelFunc
	reg   *prometheus.Registry
	store *statestore.Store
}

func runStoreStage(t *testing.T, seeds []string, instance, dir, changelog string, proc stage.Processor, ctx context.Context, stop context.CancelFunc) *storeRun {
	t.Helper()
	run := &storeRun{done: make(chan error, 1), stop: stop, reg: prometheus.NewRegistry(), store: openStore(t, dir)}
	r, err := stage.New(stage.Config{
		Name: "counter", Group: "g", InstanceID: instance, Input: "in", Changelog: changelog, Store: run.store,
		Brokers: seeds, MaxPollRecords: 7, SessionTimeout: 6 * time.Second,
	}, proc, stage.Deps{Log: zaptest.NewLogger(t), Metrics: run.reg})
	if err != nil {
		t.Fatal(err)
	}
	go func() { run.done <- r.Run(ctx) }()
	return run
}

// end stops the incarnation and closes its store, as a process exit would.
func (run *storeRun) end(t *testing.T) {
	t.Helper()
	run.stop()
	run.crashed(t)
}

// crashed waits for the incarnation to die (its processor cancelled it)
// and closes its store.
func (run *storeRun) crashed(t *testing.T) {
	t.Helper()
	if err := <-run.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run = %v", err)
	}
	if err := run.store.Close(); err != nil {
		t.Fatal(err)
	}
}

func (run *storeRun) restores(from string) float64 {
	return gathered(run.reg, "esrflow_stage_state_restores_total", "from", from)
}

// gathered reads a counter of reg by name and, if label is set, the value
// of that label (0 when the series does not exist yet).
func gathered(reg *prometheus.Registry, name, label, value string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if label == "" || (l.GetName() == label && l.GetValue() == value) {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func restoredRecords(reg *prometheus.Registry) float64 {
	return gathered(reg, "esrflow_stage_state_restore_records_total", "", "")
}

// TestStoreRestartCatchesUpFromCheckpoint: a restarted instance with its
// store reads only the changelog after its checkpoint, and counting goes on
// exactly.
func TestStoreRestartCatchesUpFromCheckpoint(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 3}, embedded.TopicSpec{Name: "out", Partitions: 3})
	dir := filepath.Join(t.TempDir(), "state")
	produceInput(t, k.Seeds(), 0, 100)
	ctx, stop := context.WithCancel(context.Background())
	first := runStoreStage(t, k.Seeds(), "a", dir, "counter-changelog", newStoreCounter(), ctx, stop)
	readOutput(t, k.Seeds(), 100)
	if got := first.restores("full"); got != 3 {
		t.Errorf("first start: %v partitions restored in full, want 3 (no checkpoint yet)", got)
	}
	first.end(t)

	produceInput(t, k.Seeds(), 100, 200)
	ctx2, stop2 := context.WithCancel(context.Background())
	proc := newStoreCounter()
	second := runStoreStage(t, k.Seeds(), "a", dir, "counter-changelog", proc, ctx2, stop2)
	equal(t, readOutput(t, k.Seeds(), 200), expect(200))
	if got := second.restores("checkpoint"); got != 3 {
		t.Errorf("restart: %v partitions caught up from their checkpoint, want 3", got)
	}
	if got := second.restores("full"); got != 0 {
		t.Errorf("restart: %v partitions restored in full, want 0", got)
	}
	// The checkpoint is where the last commit left the changelog: nothing
	// but (at most) its commit marker is left to read.
	if got := restoredRecords(second.reg); got != 0 {
		t.Errorf("restart applied %v changelog records, want 0", got)
	}
	proc.mu.Lock()
	if len(proc.restored) != 3 {
		t.Errorf("Restored called for %v, want the 3 partitions", proc.restored)
	}
	proc.mu.Unlock()
	second.end(t)
}

// TestStoreCrashBetweenCheckpointAndLaterCommit: the store is copied as it
// stood at a checkpoint; the stage goes on, commits more and dies in the
// middle of a transaction; a new incarnation starts from the old copy (the
// later commits never reached it). It must catch up from the checkpoint and
// count on as an uninterrupted run would.
func TestStoreCrashBetweenCheckpointAndLaterCommit(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 3}, embedded.TopicSpec{Name: "out", Partitions: 3})
	root := t.TempDir()
	dir, old := filepath.Join(root, "state"), filepath.Join(root, "state-at-checkpoint")
	produceInput(t, k.Seeds(), 0, 60)
	ctx, stop := context.WithCancel(context.Background())
	first := runStoreStage(t, k.Seeds(), "a", dir, "counter-changelog", newStoreCounter(), ctx, stop)
	readOutput(t, k.Seeds(), 60)
	first.end(t)
	copyDir(t, dir, old)

	// Later commits, then a crash mid-transaction (after 93 more records,
	// 7 to a transaction).
	produceInput(t, k.Seeds(), 60, 200)
	ctx2, stop2 := context.WithCancel(context.Background())
	c := newStoreCounter()
	c.crashAfter, c.crash = 93, stop2
	second := runStoreStage(t, k.Seeds(), "a", dir, "counter-changelog", c, ctx2, stop2)
	second.crashed(t)
	if n := len(readOutput(t, k.Seeds(), 60+84)); n < 60+84 {
		t.Fatalf("before the crash: %d outputs, want at least the 12 committed transactions' 84 after the first 60", n)
	}

	ctx3, stop3 := context.WithCancel(context.Background())
	third := runStoreStage(t, k.Seeds(), "a", old, "counter-changelog", newStoreCounter(), ctx3, stop3)
	equal(t, readOutput(t, k.Seeds(), 200), expect(200))
	if got := third.restores("checkpoint"); got != 3 {
		t.Errorf("%v partitions caught up from the old checkpoint, want 3", got)
	}
	if got := restoredRecords(third.reg); got <= 0 {
		t.Errorf("caught up %v changelog records, want the later commits' changes", got)
	}
	third.end(t)
}

// TestStoreAbortedTransactionLeavesNothing: a crash in the middle of a
// transaction, with the same store kept by the next incarnation: the
// aborted writes never reached it.
func TestStoreAbortedTransactionLeavesNothing(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 3}, embedded.TopicSpec{Name: "out", Partitions: 3})
	dir := filepath.Join(t.TempDir(), "state")
	produceInput(t, k.Seeds(), 0, 200)
	ctx, stop := context.WithCancel(context.Background())
	c := newStoreCounter()
	c.crashAfter, c.crash = 93, stop
	first := runStoreStage(t, k.Seeds(), "a", dir, "counter-changelog", c, ctx, stop)
	first.crashed(t)

	ctx2, stop2 := context.WithCancel(context.Background())
	second := runStoreStage(t, k.Seeds(), "a", dir, "counter-changelog", newStoreCounter(), ctx2, stop2)
	equal(t, readOutput(t, k.Seeds(), 200), expect(200))
	second.end(t)
}

// TestStoreCheckpointOfAnotherChangelogRestoresInFull: a store whose
// checkpoints name another changelog (the topic was renamed or recreated)
// is not caught up from: the partitions are restored from the start.
func TestStoreCheckpointOfAnotherChangelogRestoresInFull(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 3}, embedded.TopicSpec{Name: "out", Partitions: 3})
	dir := filepath.Join(t.TempDir(), "state")
	produceInput(t, k.Seeds(), 0, 50)
	ctx, stop := context.WithCancel(context.Background())
	first := runStoreStage(t, k.Seeds(), "a", dir, "counter-changelog", newStoreCounter(), ctx, stop)
	readOutput(t, k.Seeds(), 50)
	first.end(t)

	// Another group and changelog over the same input: it must count from
	// zero, not from the store's counts of the first changelog.
	ctx2, stop2 := context.WithCancel(context.Background())
	run := &storeRun{done: make(chan error, 1), stop: stop2, reg: prometheus.NewRegistry(), store: openStore(t, dir)}
	r, err := stage.New(stage.Config{Name: "counter", Group: "g2", InstanceID: "a", Input: "in", Changelog: "counter2-changelog",
		Store: run.store, Brokers: k.Seeds(), MaxPollRecords: 7}, newStoreCounter(), stage.Deps{Log: zaptest.NewLogger(t), Metrics: run.reg})
	if err != nil {
		t.Fatal(err)
	}
	go func() { run.done <- r.Run(ctx2) }()
	got := readOutput(t, k.Seeds(), 100)
	want := expect(50)
	for k, v := range want {
		want[k] = v * 2 // both groups counted 1..10 per key
	}
	equal(t, got, want)
	if got := run.restores("full"); got != 3 {
		t.Errorf("%v partitions restored in full, want 3", got)
	}
	run.end(t)
}

// TestStoreRebalanceMovesState: two instances with their own stores; the
// second joins, then the first leaves, so partitions move twice and each
// catches up what the other wrote meanwhile.
func TestStoreRebalanceMovesState(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 3}, embedded.TopicSpec{Name: "out", Partitions: 3})
	root := t.TempDir()
	produceInput(t, k.Seeds(), 0, 100)
	ctxA, stopA := context.WithCancel(context.Background())
	a := runStoreStage(t, k.Seeds(), "a", filepath.Join(root, "a"), "counter-changelog", newStoreCounter(), ctxA, stopA)
	readOutput(t, k.Seeds(), 10)
	ctxB, stopB := context.WithCancel(context.Background())
	b := runStoreStage(t, k.Seeds(), "b", filepath.Join(root, "b"), "counter-changelog", newStoreCounter(), ctxB, stopB)
	produceInput(t, k.Seeds(), 100, 200)
	time.Sleep(2 * time.Second) // let the group settle with two members
	a.end(t)
	produceInput(t, k.Seeds(), 200, 300)
	equal(t, readOutput(t, k.Seeds(), 300), expect(300))
	b.end(t)
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// finishingCounter is storeCounter that also counts each partition's
// records in memory during a poll and writes the total once, in Finish.
type finishingCounter struct {
	*storeCounter
	pending  map[int32]int // records since the partition's last Finish
	finishes int
}

func (c *finishingCounter) Process(ctx context.Context, in *kgo.Record, tx *stage.Tx) error {
	c.pending[tx.Partition()]++
	return c.storeCounter.Process(ctx, in, tx)
}

func (c *finishingCounter) Finish(_ context.Context, p int32, tx *stage.Tx) error {
	n := 0
	if v, ok, err := tx.Get([]byte("total")); err != nil {
		return err
	} else if ok {
		n, _ = strconv.Atoi(string(v))
	}
	tx.SetState([]byte("total"), []byte(strconv.Itoa(n+c.pending[p])))
	c.pending[p] = 0
	c.finishes++
	return nil
}

// Restored also follows an aborted transaction: what was pending is gone.
func (c *finishingCounter) Restored(p int32) error {
	c.pending[p] = 0
	return c.storeCounter.Restored(p)
}

// TestFinishWritesOncePerPollAndCommitsWithIt: a key written only in
// Finish holds, across a restart, exactly the records its partition's
// committed transactions processed, and is written per poll, not per record.
func TestFinishWritesOncePerPollAndCommitsWithIt(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 3}, embedded.TopicSpec{Name: "out", Partitions: 3})
	dir := filepath.Join(t.TempDir(), "state")
	produceInput(t, k.Seeds(), 0, 100)
	ctx, stop := context.WithCancel(context.Background())
	first := &finishingCounter{storeCounter: newStoreCounter(), pending: map[int32]int{}}
	run := runStoreStage(t, k.Seeds(), "a", dir, "counter-changelog", first, ctx, stop)
	readOutput(t, k.Seeds(), 100)
	run.end(t)
	if first.finishes == 0 || first.finishes >= 100 {
		t.Errorf("Finish called %d times for 100 records in polls of at most 7", first.finishes)
	}

	produceInput(t, k.Seeds(), 100, 200)
	ctx2, stop2 := context.WithCancel(context.Background())
	second := &finishingCounter{storeCounter: newStoreCounter(), pending: map[int32]int{}}
	run = runStoreStage(t, k.Seeds(), "a", dir, "counter-changelog", second, ctx2, stop2)
	equal(t, readOutput(t, k.Seeds(), 200), expect(200))
	run.end(t)

	s := openStore(t, dir)
	defer s.Close()
	total := 0
	for p := int32(0); p < 3; p++ {
		if v, ok, err := s.Get(p, []byte("total")); err != nil {
			t.Fatal(err)
		} else if ok {
			n, _ := strconv.Atoi(string(v))
			total += n
		}
	}
	if total != 200 {
		t.Fatalf("the partitions' totals add up to %d, want the 200 records", total)
	}
}
