package stage_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/testkit"
)

// counter is a stateful processor: for each input key it counts the records
// seen and emits "<key>=<n>". Its counts live in the changelog, so output
// numbering stays exact across restarts only if restore and the transaction
// boundaries are right.
type counter struct {
	mu     sync.Mutex
	counts map[int32]map[string]int
	// crashAfter cancels crash once this many records were processed by
	// this instance: the process "dies" in the middle of a transaction.
	crashAfter int
	crash      context.CancelFunc
	seen       int
}

func newCounter() *counter { return &counter{counts: map[int32]map[string]int{}} }

func (c *counter) Process(_ context.Context, in *kgo.Record, tx *stage.Tx) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen++
	if c.crashAfter > 0 && c.seen == c.crashAfter {
		c.crash()
	}
	p := tx.Partition()
	if c.counts[p] == nil {
		c.counts[p] = map[string]int{}
	}
	k := string(in.Key)
	c.counts[p][k]++
	n := c.counts[p][k]
	tx.Produce(&kgo.Record{Topic: "out", Key: in.Key, Value: []byte(k + "=" + strconv.Itoa(n))})
	tx.SetState(in.Key, []byte(strconv.Itoa(n)))
	return nil
}

func (c *counter) Restore(p int32, key, value []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts[p] == nil {
		c.counts[p] = map[string]int{}
	}
	n, err := strconv.Atoi(string(value))
	if err != nil {
		return err
	}
	c.counts[p][string(key)] = n
	return nil
}

func (c *counter) Forget(p int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.counts, p)
}

const keys = 5

func produceInput(t *testing.T, seeds []string, from, to int) {
	t.Helper()
	cl := testkit.Client(t, seeds)
	for i := from; i < to; i++ {
		r := &kgo.Record{Topic: "in", Key: []byte("k" + strconv.Itoa(i%keys)), Value: []byte(strconv.Itoa(i))}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// readOutput reads the committed output until it holds want records.
func readOutput(t *testing.T, seeds []string, want int) map[string]int {
	t.Helper()
	cl := testkit.Client(t, seeds, kgo.ConsumeTopics("out"), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[string]int{}
	n := 0
	for n < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d output records", n, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[string(r.Value)]++
			n++
		})
	}
	// Nothing beyond want may follow.
	short, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	cl.PollFetches(short).EachRecord(func(r *kgo.Record) { got["extra:"+string(r.Value)]++ })
	return got
}

func runStage(t *testing.T, ctx context.Context, seeds []string, proc stage.Processor) <-chan error {
	t.Helper()
	return runStageWith(t, ctx, seeds, proc, 7)
}

// runStageWith is runStage with maxPoll records per poll.
func runStageWith(t *testing.T, ctx context.Context, seeds []string, proc stage.Processor, maxPoll int) <-chan error {
	t.Helper()
	r, err := stage.New(stage.Config{
		Name: "counter", Group: "g", InstanceID: "a", Input: "in", Changelog: "counter-changelog",
		Brokers: seeds, MaxPollRecords: maxPoll, TickInterval: 100 * time.Millisecond,
	}, proc, stage.Deps{Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return done
}

// expect is what an uninterrupted run over n inputs emits: every key's
// counts 1..n/keys, each exactly once.
func expect(n int) map[string]int {
	want := map[string]int{}
	for k := 0; k < keys; k++ {
		for i := 1; i <= n/keys; i++ {
			want[fmt.Sprintf("k%d=%d", k, i)] = 1
		}
	}
	return want
}

func equal(t *testing.T, got, want map[string]int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d distinct outputs, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("output %q seen %d times, want %d", k, got[k], v)
		}
	}
}

func TestRestartRestoresStateAndResumes(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 3}, embedded.TopicSpec{Name: "out", Partitions: 3})
	produceInput(t, k.Seeds(), 0, 50)

	ctx, cancel := context.WithCancel(context.Background())
	done := runStage(t, ctx, k.Seeds(), newCounter())
	readOutput(t, k.Seeds(), 50)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run = %v", err)
	}

	// A new process: empty memory, state only in the changelog.
	produceInput(t, k.Seeds(), 50, 100)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	runStage(t, ctx2, k.Seeds(), newCounter())
	equal(t, readOutput(t, k.Seeds(), 100), expect(100))
}

func TestCrashMidTransactionLosesAndDuplicatesNothing(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 3}, embedded.TopicSpec{Name: "out", Partitions: 3})
	produceInput(t, k.Seeds(), 0, 200)

	// The first incarnation dies abruptly after 93 records, in the middle
	// of a 7-record transaction.
	ctx, cancel := context.WithCancel(context.Background())
	c := newCounter()
	c.crashAfter, c.crash = 93, cancel
	done := runStage(t, ctx, k.Seeds(), c)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run = %v", err)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	runStage(t, ctx2, k.Seeds(), newCounter())
	equal(t, readOutput(t, k.Seeds(), 200), expect(200))
}

// TestRebalanceMovesStateWithPartitions runs two instances of a stage in one
// group: the second joins while the first is working and later the first
// leaves, so partitions (and their state) move twice. Every count must
// still come out exactly once.
func TestRebalanceMovesStateWithPartitions(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 3}, embedded.TopicSpec{Name: "out", Partitions: 3})
	produceInput(t, k.Seeds(), 0, 100)

	newRunner := func(instance string) *stage.Runner {
		r, err := stage.New(stage.Config{
			Name: "counter", Group: "g", InstanceID: instance, Input: "in", Changelog: "counter-changelog",
			Brokers: k.Seeds(), MaxPollRecords: 3, SessionTimeout: 6 * time.Second, // the broker minimum
		}, newCounter(), stage.Deps{Log: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan error, 1)
	go func() { doneA <- newRunner("a").Run(ctxA) }()

	// Wait until a's work is visible, then add b and more input.
	readOutput(t, k.Seeds(), 10)
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	doneB := make(chan error, 1)
	go func() { doneB <- newRunner("b").Run(ctxB) }()
	produceInput(t, k.Seeds(), 100, 200)
	time.Sleep(2 * time.Second) // let the group settle with two members

	// a leaves; b takes every partition over and restores a's state.
	stopA()
	if err := <-doneA; !errors.Is(err, context.Canceled) {
		t.Fatalf("a: %v", err)
	}
	produceInput(t, k.Seeds(), 200, 300)
	equal(t, readOutput(t, k.Seeds(), 300), expect(300))
	stopB()
	if err := <-doneB; !errors.Is(err, context.Canceled) {
		t.Fatalf("b: %v", err)
	}
}

// ticking emits one record per owned partition on each tick, and counts
// ticks in its changelog state, so a tick is a transaction like any other.
type ticking struct {
	*counter
	ticks map[int32]int
}

func (tk *ticking) Tick(_ context.Context, p int32, tx *stage.Tx) error {
	tk.ticks[p]++
	n := strconv.Itoa(tk.ticks[p])
	tx.Produce(&kgo.Record{Topic: "out", Key: []byte("tick"), Value: []byte(fmt.Sprintf("tick p%d #%s", p, n))})
	tx.SetState([]byte("tick"), []byte(n))
	return nil
}

func TestTickerRunsInTransactionsPerOwnedPartition(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 2}, embedded.TopicSpec{Name: "out", Partitions: 1})
	produceInput(t, k.Seeds(), 0, 5) // the group must own partitions to tick them
	tk := &ticking{counter: newCounter(), ticks: map[int32]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runStage(t, ctx, k.Seeds(), tk)
	// Seventeen records hold at most the five counts, so at least twelve
	// ticks: both partitions tick in each tick transaction, six each.
	got := readOutput(t, k.Seeds(), 5+2*6)
	for _, p := range []int{0, 1} {
		for i := 1; i <= 3; i++ {
			if got[fmt.Sprintf("tick p%d #%d", p, i)] != 1 {
				t.Fatalf("tick %d of partition %d seen %d times; output %v", i, p, got[fmt.Sprintf("tick p%d #%d", p, i)], got)
			}
		}
	}
}

// checkedTicking ticks only while due says so.
type checkedTicking struct {
	*ticking
	due   atomic.Bool
	calls atomic.Int64
}

func (c *checkedTicking) TickDue(int32) bool { return c.due.Load() }

func (c *checkedTicking) Tick(ctx context.Context, p int32, tx *stage.Tx) error {
	c.calls.Add(1)
	return c.ticking.Tick(ctx, p, tx)
}

func TestIdleTicksAreSkipped(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 2}, embedded.TopicSpec{Name: "out", Partitions: 1})
	produceInput(t, k.Seeds(), 0, 5)
	tk := &checkedTicking{ticking: &ticking{counter: newCounter(), ticks: map[int32]int{}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runStage(t, ctx, k.Seeds(), tk)
	equal(t, readOutput(t, k.Seeds(), 5), expect(5))
	// Ten tick intervals with nothing due: Tick is never called.
	time.Sleep(10 * 100 * time.Millisecond)
	if n := tk.calls.Load(); n != 0 {
		t.Fatalf("Tick called %d times while nothing was due", n)
	}
	tk.due.Store(true)
	got := readOutput(t, k.Seeds(), 5+2)
	if got["tick p0 #1"] != 1 || got["tick p1 #1"] != 1 {
		t.Fatalf("once due, both partitions tick; output %v", got)
	}
}

// preparing counts like counter, but derives each output in Prepare (run
// in parallel) and checks in Process that it got its own record's result.
type preparing struct {
	*counter
	prepared atomic.Int64
}

func (pp *preparing) Prepare(_ context.Context, in *kgo.Record) (any, error) {
	pp.prepared.Add(1)
	return "prepared:" + string(in.Key) + "/" + string(in.Value), nil
}

func (pp *preparing) Process(ctx context.Context, in *kgo.Record, tx *stage.Tx) error {
	if want := "prepared:" + string(in.Key) + "/" + string(in.Value); tx.Prepared() != want {
		return fmt.Errorf("offset %d: prepared %v, want %q", in.Offset, tx.Prepared(), want)
	}
	return pp.counter.Process(ctx, in, tx)
}

func TestPreparedResultsReachTheirRecords(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 3}, embedded.TopicSpec{Name: "out", Partitions: 3})
	produceInput(t, k.Seeds(), 0, 300)
	pp := &preparing{counter: newCounter()}
	ctx, cancel := context.WithCancel(context.Background())
	done := runStage(t, ctx, k.Seeds(), pp)
	equal(t, readOutput(t, k.Seeds(), 300), expect(300))
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run = %v (a mismatched prepared value stops the stage)", err)
	}
	if n := pp.prepared.Load(); n < 300 {
		t.Fatalf("Prepare ran %d times for 300 records", n)
	}
}

// produceMany produces the records of produceInput, from..to, in one go.
func produceMany(t *testing.T, seeds []string, from, to int) {
	t.Helper()
	cl := testkit.Client(t, seeds)
	recs := make([]*kgo.Record, 0, to-from)
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: "in", Key: []byte("k" + strconv.Itoa(i%keys)), Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// A poll of more records than stage.PrepareChunk is prepared a chunk at a
// time ahead of Process: every record still gets its own result, and an
// error preparing a later chunk stops the stage.
func TestPreparedResultsReachTheirRecordsAcrossChunks(t *testing.T) {
	n := 2*stage.PrepareChunk + 500
	t.Run("results", func(t *testing.T) {
		k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 1}, embedded.TopicSpec{Name: "out", Partitions: 1})
		produceMany(t, k.Seeds(), 0, n)
		pp := &preparing{counter: newCounter()}
		ctx, cancel := context.WithCancel(context.Background())
		done := runStageWith(t, ctx, k.Seeds(), pp, n)
		equal(t, readOutput(t, k.Seeds(), n), expect(n))
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("run = %v (a mismatched prepared value stops the stage)", err)
		}
	})
	t.Run("an error in a later chunk", func(t *testing.T) {
		k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 1}, embedded.TopicSpec{Name: "out", Partitions: 1})
		produceMany(t, k.Seeds(), 0, n)
		bad := strconv.Itoa(stage.PrepareChunk + 700)
		pf := &prepareFails{preparing: &preparing{counter: newCounter()}, bad: bad}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := <-runStageWith(t, ctx, k.Seeds(), pf, n); err == nil || !strings.Contains(err.Error(), "cannot prepare "+bad) {
			t.Fatalf("run = %v, want the error preparing %s", err, bad)
		}
	})
}

// prepareFails fails to prepare the record whose value is bad.
type prepareFails struct {
	*preparing
	bad string
}

func (pf *prepareFails) Prepare(ctx context.Context, in *kgo.Record) (any, error) {
	if string(in.Value) == pf.bad {
		return nil, errors.New("cannot prepare " + pf.bad)
	}
	return pf.preparing.Prepare(ctx, in)
}

// initFails is a processor whose Init fails: the stage must not start.
type initFails struct{ *counter }

func (initFails) Init(context.Context) error { return errors.New("registry unreachable") }

func TestInitRunsBeforeConsumingAndItsErrorStopsTheStage(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 1}, embedded.TopicSpec{Name: "out", Partitions: 1})
	produceInput(t, k.Seeds(), 0, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := <-runStage(t, ctx, k.Seeds(), initFails{newCounter()})
	if err == nil || !strings.Contains(err.Error(), "registry unreachable") {
		t.Fatalf("run = %v, want the Init error", err)
	}
	if n := committedOffsetOf(t, k.Seeds(), "g", "in"); n != 0 {
		t.Fatalf("the stage consumed %d records without a successful Init", n)
	}
}

func committedOffsetOf(t *testing.T, seeds []string, group, topic string) int64 {
	t.Helper()
	adm := kadm.NewClient(testkit.Client(t, seeds))
	offs, err := adm.FetchOffsets(context.Background(), group)
	if err != nil {
		return 0
	}
	var n int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			n += o.At
		}
	})
	return n
}
