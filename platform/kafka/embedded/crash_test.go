package embedded_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
)

// The crash tests run the broker in a child process (this test binary,
// re-executed with crashChildEnv set) and SIGKILL it, so the data folder
// is left exactly as a killed `esrflow up` leaves it: whatever the broker
// had written, nothing it would have written on a clean Close.
const (
	crashChildEnv = "ESRFLOW_EMBEDDED_CRASH_CHILD" // the phase to run
	crashDirEnv   = "ESRFLOW_EMBEDDED_CRASH_DIR"
	crashModeEnv  = "ESRFLOW_EMBEDDED_CRASH_MODE" // "kfake" or "embedded"
	crashTopic    = "t"
	pairTopic     = "pair" // the torn-commit stress test's: one record per partition per transaction
	crashTxID     = "crash-tx"
)

// TestCrashChild is the child process of the crash tests; it does nothing
// in a normal run.
func TestCrashChild(t *testing.T) {
	phase := os.Getenv(crashChildEnv)
	if phase == "" {
		t.Skip("child process of the crash tests")
	}
	if err := crashChild(phase, os.Getenv(crashDirEnv), os.Getenv(crashModeEnv)); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// startBroker starts the broker on dir, either as kfake alone (how the
// upstream behaviour is shown) or through embedded.Start (ours).
func startBroker(ctx context.Context, dir, mode string) ([]string, func(), error) {
	if mode == "kfake" {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SeedTopics(1, crashTopic), kfake.SeedTopics(2, pairTopic))
		if err != nil {
			return nil, nil, err
		}
		return c.ListenAddrs(), c.Close, nil
	}
	b, err := embedded.Start(ctx, embedded.Config{DataDir: dir, Topics: []embedded.TopicSpec{{Name: crashTopic, Partitions: 1}, {Name: pairTopic, Partitions: 2}}})
	if err != nil {
		return nil, nil, err
	}
	if r := b.Recovery(); r.OpenTransactions > 0 {
		fmt.Fprintf(os.Stderr, "RECOVERY %+v\n", r)
	}
	return b.Seeds(), b.Close, nil
}

func crashChild(phase, dir, mode string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seeds, _, err := startBroker(ctx, dir, mode)
	if err != nil {
		return err
	}
	switch phase {
	case "open", "open-one", "commit":
		// One transactional producer with a fixed transactional id, as
		// every stage of esrflow has.
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.TransactionalID(crashTxID),
			kgo.DefaultProduceTopic(crashTopic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			return err
		}
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		n, prefix := 5, "aborted"
		switch phase {
		case "open-one":
			n = 1
		case "commit":
			n, prefix = 1, "committed"
		}
		for i := range n {
			r := &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				return err
			}
		}
		if phase == "commit" {
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				return err
			}
			// What read committed shows in this run, before the kill.
			vals, err := readCommitted(ctx, seeds)
			if err != nil {
				return err
			}
			b, _ := json.Marshal(vals)
			fmt.Println("SEEN", string(b))
		}
		fmt.Println("READY") // the parent kills us now; the transaction of "open" stays open
		select {}
	case "pair-commit":
		// One transaction: a record on each partition of pairTopic, committed.
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.TransactionalID("pairs-tx"),
			kgo.DefaultProduceTopic(pairTopic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			return err
		}
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		for p := range int32(2) {
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("both")}).FirstErr(); err != nil {
				return err
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return err
		}
		fmt.Println("READY")
		select {}
	case "pair-read", "pairs":
		// What the last run left; "pairs" then commits transactions of one
		// record on each partition until killed.
		p0, p1, err := readPairs(ctx, seeds)
		if err != nil {
			return err
		}
		fmt.Printf("SEEN %d %d %d\n", len(p0), len(p1), tornPairs(p0, p1))
		if phase == "pair-read" {
			fmt.Println("READY")
			select {}
		}
		fmt.Println("READY")
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.TransactionalID("pairs-tx"),
			kgo.DefaultProduceTopic(pairTopic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			return err
		}
		run := time.Now().UnixNano()
		for i := 0; ; i++ {
			if err := cl.BeginTransaction(); err != nil {
				return err
			}
			v := fmt.Appendf(nil, "%d-%d", run, i)
			for p := range int32(2) {
				cl.Produce(ctx, &kgo.Record{Partition: p, Value: v}, func(r *kgo.Record, err error) {
					if err != nil {
						fmt.Fprintf(os.Stderr, "PRODUCE %s p%d: %v\n", r.Value, r.Partition, err)
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				return err
			}
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				return err
			}
		}
	case "read":
		vals, err := readCommitted(ctx, seeds)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(vals)
		fmt.Println("SEEN", string(b))
		fmt.Println("READY")
		select {}
	}
	return fmt.Errorf("unknown phase %q", phase)
}

// readCommitted reads the whole topic as a read-committed consumer.
func readCommitted(ctx context.Context, seeds []string) ([]string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(crashTopic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	vals := []string{}
	// The test's records are few: an empty poll of 2 s means the committed
	// log has been read to its end.
	for empty := 0; empty < 1; {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if fs.NumRecords() == 0 {
			empty++
			continue
		}
		fs.EachRecord(func(r *kgo.Record) { vals = append(vals, string(r.Value)) })
	}
	return vals, nil
}

// readPairs reads both partitions of pairTopic, read committed, up to their
// last stable offsets.
func readPairs(ctx context.Context, seeds []string) (p0, p1 []string, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, pairTopic)
	if err != nil {
		return nil, nil, err
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset - 1
		}
	})
	if len(want) == 0 {
		return nil, nil, nil
	}
	parts := map[string]map[int32]kgo.Offset{pairTopic: {}}
	for p := range want {
		parts[pairTopic][p] = kgo.NewOffset().AtStart()
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(parts),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return nil, nil, err
	}
	defer cons.Close()
	// Read to the last stable offsets, or until nothing more comes: kfake
	// alone can hide committed records from read committed after a crash
	// (docs/embedded-broker.md), and those offsets are then never reached.
	for len(want) > 0 {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cons.PollFetches(pctx)
		cancel()
		if fs.NumRecords() == 0 {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			last, ok := want[r.Partition]
			if !ok || r.Offset > last {
				return
			}
			if !r.Attrs.IsControl() {
				if r.Partition == 0 {
					p0 = append(p0, string(r.Value))
				} else {
					p1 = append(p1, string(r.Value))
				}
			}
			if r.Offset >= last {
				delete(want, r.Partition)
			}
		})
	}
	return p0, p1, nil
}

// tornPairs counts transactions visible on one partition but not the
// other: each committed one wrote the same value to both.
func tornPairs(p0, p1 []string) int {
	in := map[string]int{}
	for _, v := range p0 {
		in[v]++
	}
	for _, v := range p1 {
		in[v]--
	}
	n := 0
	for _, d := range in {
		if d != 0 {
			n++
		}
	}
	return n
}

// TestTornCommitStress (opt in: ESRFLOW_TORN_COMMIT_KILLS=N) kills a
// broker N times while a producer commits transactions over two
// partitions as fast as it can, and counts transactions that are visible
// on one partition and not the other afterwards. kfake writes a commit's
// markers one partition at a time with no record of the decision first,
// so a kill between two markers tears the transaction
// (docs/embedded-broker.md, "what remains"); this measures how often.
func TestTornCommitStress(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("ESRFLOW_TORN_COMMIT_KILLS"))
	if n <= 0 {
		t.Skip("opt in: ESRFLOW_TORN_COMMIT_KILLS=N")
	}
	mode := os.Getenv(crashModeEnv)
	if mode == "" {
		mode = "embedded"
	}
	dir := t.TempDir()
	if d := os.Getenv("ESRFLOW_TORN_COMMIT_DIR"); d != "" {
		dir = d
	}
	torn := 0
	for i := range n + 1 {
		phase := "pairs"
		seen := runCrashPhaseAfter(t, dir, mode, phase, time.Duration(50+rand.IntN(250))*time.Millisecond)
		var a, b, bad int
		fmt.Sscan(seen, &a, &b, &bad)
		if bad > 0 && os.Getenv("ESRFLOW_TORN_COMMIT_DIR") != "" {
			t.Fatalf("torn after kill %d, dir kept", i)
		}
		if bad != torn {
			t.Logf("after kill %d: %d and %d transactions on the two partitions, %d torn", i, a, b, bad)
		}
		torn = bad
	}
	t.Logf("%s: %d kills, %d torn transactions", mode, n, torn)
	if torn > 0 {
		t.Errorf("%d transactions torn by %d kills", torn, n)
	}
}

// runCrashPhase runs one phase in a child process and SIGKILLs it once it
// is ready; it returns what the child saw, if anything.
func runCrashPhase(t *testing.T, dir, mode, phase string) string {
	t.Helper()
	return runCrashPhaseAfter(t, dir, mode, phase, 0)
}

// runCrashPhaseAfter is runCrashPhase, killing the child wait after it is
// ready.
func runCrashPhaseAfter(t *testing.T, dir, mode, phase string, wait time.Duration) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+phase, crashDirEnv+"="+dir, crashModeEnv+"="+mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	seen := ""
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "SEEN "); ok {
			seen = v
		}
		if strings.HasPrefix(line, "ERROR") {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("%s phase %s: %s", mode, phase, line)
		}
		if line == "READY" {
			break
		}
	}
	time.Sleep(wait)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()
	return seen
}

// crashScenario is the minimal reproduction of issue 9 item 3: a
// transaction left open by a SIGKILL, then a committed transaction of the
// same transactional id, then another SIGKILL. It returns what read
// committed showed before the second kill and after it.
func crashScenario(t *testing.T, mode string) (before, after string) {
	dir := t.TempDir()
	runCrashPhase(t, dir, mode, "open")            // 5 records in a transaction never ended
	before = runCrashPhase(t, dir, mode, "commit") // same transactional id: 1 record, committed
	after = runCrashPhase(t, dir, mode, "read")
	return before, after
}

// lastBatchAt is where the last record batch of a segment file starts
// (Kafka's batch framing: offset, then length).
func lastBatchAt(t *testing.T, path string) int64 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	last := -1
	for pos := 0; pos+12 <= len(raw); {
		last = pos
		pos += 12 + int(binary.BigEndian.Uint32(raw[pos+8:pos+12]))
	}
	if last < 0 {
		t.Fatalf("%s holds no batch", path)
	}
	return int64(last)
}

// TestCrashBetweenBatchAndIndexEntry: the data folder a kill leaves
// between kfake's write of a batch and the write of its index entry
// (made here by taking the last entry off the index of a folder a kill
// left with a transaction of one batch open). kfake then takes the batch
// for a non-transactional one, outside any transaction: read committed
// shows a record of a transaction that never committed, even with the
// abort marker after it. embedded.Start cuts the unindexed batch.
func TestCrashBetweenBatchAndIndexEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, mode := range []string{"embedded", "kfake"} {
		dir := t.TempDir()
		runCrashPhase(t, dir, mode, "open-one") // 1 batch of a transaction left open
		idx := filepath.Join(dir, "partitions", crashTopic+"-0", "0.idx")
		st, err := os.Stat(idx)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(idx, st.Size()-15); err != nil { // one 15-byte entry
			t.Fatal(err)
		}
		before := runCrashPhase(t, dir, mode, "commit")
		after := runCrashPhase(t, dir, mode, "read")
		const want = `["committed-0"]`
		if mode == "kfake" {
			t.Logf("kfake alone: read committed %s, after the next crash %s (want %s)", before, after, want)
			continue
		}
		if before != want || after != want {
			t.Errorf("read committed %s, after the next crash %s; want %s both times", before, after, want)
		}
	}
}

// TestCrashTornCommit: the data folder a kill leaves between kfake's
// commit markers of a transaction over two partitions (made here by
// cutting the marker off the second partition of a committed one). kfake
// alone shows the transaction on one partition and not the other;
// embedded.Start rolls the commit back, and the transaction is aborted on
// both: its producer was never told it committed.
func TestCrashTornCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, mode := range []string{"embedded", "kfake"} {
		dir := t.TempDir()
		runCrashPhase(t, dir, mode, "pair-commit")
		seg := filepath.Join(dir, "partitions", pairTopic+"-1", "0.dat")
		if err := os.Truncate(seg, lastBatchAt(t, seg)); err != nil {
			t.Fatal(err)
		}
		got := runCrashPhase(t, dir, mode, "pair-read")
		if mode == "kfake" {
			t.Logf("kfake alone: records on the two partitions, and transactions on one only: %s (want 0 0 0)", got)
			continue
		}
		if got != "0 0 0" {
			t.Errorf("records on the two partitions, and transactions on one only, after a torn commit: %s; want 0 0 0 (aborted whole)", got)
		}
	}
}

// TestCrashAbortedTransactionStaysAborted: a transaction cut short by a
// SIGKILL of the broker's process is aborted when the broker restarts, and
// stays aborted after later crashes, and the same producer's next
// committed transaction is visible. kfake alone fails both
// (docs/embedded-broker.md): it aborts the open transaction in memory on
// load but writes no abort marker, so in that run read-committed clients
// skip the producer's next committed records too (before = []), and after
// the next crash the producer's commit marker makes the open records
// committed (after = the 5 aborted records and the committed one).
// embedded.Start writes the missing markers.
func TestCrashAbortedTransactionStaysAborted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	before, after := crashScenario(t, "embedded")
	const want = `["committed-0"]`
	if before != want {
		t.Errorf("read committed before the second kill = %s, want %s", before, want)
	}
	if after != want {
		t.Errorf("read committed after the second kill = %s, want %s (an aborted transaction became visible)", after, want)
	}
}

// TestUpstreamKfakeResurrectsCrashAbortedTransaction documents the
// upstream behaviour the embedded package works around. It does not fail
// when upstream changes; it says so, and then the work-around can go.
func TestUpstreamKfakeResurrectsCrashAbortedTransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	before, after := crashScenario(t, "kfake")
	t.Logf("kfake alone: read committed before the second kill %s, after it %s", before, after)
	if after == before {
		t.Logf("kfake no longer resurrects a crash-aborted transaction: the recovery in embedded.Start may be unnecessary")
	}
}
