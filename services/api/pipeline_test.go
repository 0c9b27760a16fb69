package api

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
)

// testClock is a clock the test moves by hand, for the pipeline's cache.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *testClock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// pipelineOf fetches GET /v1/tenants and returns its pipeline as JSON, one
// entry per group, and the entries.
func pipelineOf(t *testing.T, body string) (map[string]string, []pipelineStatus) {
	t.Helper()
	var out struct {
		Pipeline []json.RawMessage `json:"pipeline"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || out.Pipeline == nil {
		t.Fatalf("GET /v1/tenants: no pipeline (%v): %s", err, body)
	}
	byGroup := map[string]string{}
	var entries []pipelineStatus
	for _, raw := range out.Pipeline {
		var s pipelineStatus
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		byGroup[s.Group] = string(raw)
		entries = append(entries, s)
	}
	return byGroup, entries
}

func stages(entries []pipelineStatus) []string {
	var out []string
	for _, s := range entries {
		out = append(out, s.Stage)
	}
	return out
}

// commitAs commits offsets for a group with no members, as a stage's last
// commit before it stopped leaves them.
func commitAs(t *testing.T, adm *kadm.Client, group, topic string, at map[int32]int64) {
	t.Helper()
	offs := kadm.Offsets{}
	for p, o := range at {
		offs.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1})
	}
	resp, err := adm.CommitOffsets(context.Background(), group, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("committing for %s: %v", group, err)
	}
}

// The pipeline on a real broker: a topic of three partitions holding 10, 5
// and 3 committed records (produced outside a transaction, so the
// read-committed ends are exactly 10, 5 and 3; partition 1 also has an open
// transaction's records, which do not count). normalise is a live member that committed 4 and
// 5 (lag 6 + 0 + the whole 3 of the partition it never committed = 9);
// validate a group with no member that committed 10 and 2 (0 + 3 + 3 = 6);
// publish a group the broker does not know (Dead, lag null); ingest's
// replay group, optional, is left out until it commits; the api's entry is
// its own group, whatever the list says. The answer is cached: new commits
// do not show within the window, and do after it.
func TestOverviewPipeline(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const topic = "esr.pipeline-test.v1"
	seeds := e.broker.Seeds()
	adm := kadm.NewClient(testkit.Client(t, seeds))
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	plain := testkit.Client(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for p, n := range []int{10, 5, 3} {
		for range n {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte("x")})
		}
	}
	if err := plain.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Two more records in partition 1 in a transaction left open: past the
	// high watermark's end, not the read-committed end the lag is of.
	open := testkit.Client(t, seeds, kgo.TransactionalID("pipeline-open"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := open.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("x")},
		&kgo.Record{Topic: topic, Partition: 1, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	member := testkit.Client(t, seeds, kgo.ConsumerGroup("esrflow-normalise"), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for n := 0; n == 0; {
		fs := member.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatal("the normalise member read nothing:", err)
		}
		n = fs.NumRecords()
	}
	var commitErr error
	member.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: 4}, 1: {Epoch: -1, Offset: 5}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			commitErr = err
			if resp == nil {
				return
			}
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if err := kerr.ErrorForCode(rp.ErrorCode); err != nil && commitErr == nil {
						commitErr = err
					}
				}
			}
		})
	if commitErr != nil {
		t.Fatal("normalise commit:", commitErr)
	}
	commitAs(t, adm, "esrflow-validate", topic, map[int32]int64{0: 10, 1: 2})

	clock := newTestClock(overviewNow)
	_, srv := e.startWith(Config{DBURL: dbtest.SQLiteURL(t), Group: "pipeline-api", Now: clock.now,
		OverviewGroups: append(DefaultPipelineGroups[:len(DefaultPipelineGroups)-1:len(DefaultPipelineGroups)-1],
			PipelineGroup{Stage: StageAPI, Group: "not-the-api's"})}, testLogger(t))

	code, body := do(t, srv, "GET", "/v1/tenants", "", "")
	if code != 200 {
		t.Fatalf("GET /v1/tenants = %d %s", code, body)
	}
	got, entries := pipelineOf(t, body)
	want := map[string]string{
		"esrflow-normalise": `{"group":"esrflow-normalise","stage":"normalise","lag":9,"members":1,"state":"Stable"}`,
		"esrflow-validate":  `{"group":"esrflow-validate","stage":"validate","lag":6,"members":0,"state":"Empty"}`,
		"esrflow-publish":   `{"group":"esrflow-publish","stage":"publish","lag":null,"members":0,"state":"Dead"}`,
	}
	for g, w := range want {
		if got[g] != w {
			t.Errorf("%s:\n got %s\nwant %s", g, got[g], w)
		}
	}
	if s := stages(entries); strings.Join(s, ",") != "normalise,validate,publish,api" {
		t.Errorf("stages %v, want normalise, validate, publish, api (ingest's replay group has no commit)", s)
	}
	if entries[len(entries)-1].Group != "pipeline-api" {
		t.Errorf("api entry %+v, want the api's own group pipeline-api", entries[len(entries)-1])
	}

	// The api's own group, once it has joined and caught up: past the
	// cache window each time.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body = do(t, srv, "GET", "/v1/tenants", "", "")
		got, _ = pipelineOf(t, body)
		if got["pipeline-api"] == `{"group":"pipeline-api","stage":"api","lag":0,"members":1,"state":"Stable"}` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the api's own group never read Stable with one member and no lag: %s", got["pipeline-api"])
		}
		clock.advance(pipelineTTL)
		time.Sleep(100 * time.Millisecond)
	}

	// New commits within the window change nothing; after it they show,
	// ingest's replay group among them once it has committed.
	commitAs(t, adm, "esrflow-validate", topic, map[int32]int64{2: 3})
	commitAs(t, adm, "esrflow-ingest-replays", topic, map[int32]int64{0: 10})
	clock.advance(pipelineTTL - time.Second)
	_, again := do(t, srv, "GET", "/v1/tenants", "", "")
	if p1, p2 := pipelineJSON(t, body), pipelineJSON(t, again); p1 != p2 {
		t.Errorf("within the cache window the pipeline changed:\n%s\n%s", p1, p2)
	}
	clock.advance(time.Second)
	_, body = do(t, srv, "GET", "/v1/tenants", "", "")
	got, entries = pipelineOf(t, body)
	if w := `{"group":"esrflow-validate","stage":"validate","lag":3,"members":0,"state":"Empty"}`; got["esrflow-validate"] != w {
		t.Errorf("validate after the window:\n got %s\nwant %s", got["esrflow-validate"], w)
	}
	if w := `{"group":"esrflow-ingest-replays","stage":"ingest","lag":8,"members":0,"state":"Empty"}`; got["esrflow-ingest-replays"] != w {
		t.Errorf("ingest after its first commit:\n got %s\nwant %s", got["esrflow-ingest-replays"], w)
	}
	if s := stages(entries); strings.Join(s, ",") != "ingest,normalise,validate,publish,api" {
		t.Errorf("stages %v, want the pipeline's order", s)
	}
}

func pipelineJSON(t *testing.T, body string) string {
	t.Helper()
	var out struct {
		Pipeline json.RawMessage `json:"pipeline"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	return string(out.Pipeline)
}

// A broker that does not answer: every entry says so, the tenants are
// still answered from the database, 200, within the bound.
func TestOverviewPipelineBrokerDown(t *testing.T) {
	e := newEnv(t)
	clock := newTestClock(overviewNow)
	_, srv := e.startWith(Config{DBURL: dbtest.SQLiteURL(t), Now: clock.now}, testLogger(t))
	code, body := do(t, srv, "GET", "/v1/tenants", "", "")
	if _, entries := pipelineOf(t, body); code != 200 || len(entries) != 4 {
		t.Fatalf("with the broker up: %d %s, want 4 entries (no replay group yet)", code, body)
	}
	seeds := e.broker.Seeds() // a closed cluster no longer answers this
	e.broker.Close()
	clock.advance(pipelineTTL)
	start := time.Now()
	code, body = do(t, srv, "GET", "/v1/tenants", "", "")
	took := time.Since(start)
	if code != 200 || !strings.HasPrefix(body, `{"tenants":[]`) {
		t.Fatalf("with the broker down: %d %s, want 200 with the tenants", code, body)
	}
	_, entries := pipelineOf(t, body)
	if s := stages(entries); strings.Join(s, ",") != "ingest,normalise,validate,publish,api" {
		t.Errorf("stages %v: a group that cannot be read is listed, optional or not", s)
	}
	for _, s := range entries {
		// Refused at once, or not answering: either way no address.
		if s.Lag != nil || s.Members != 0 || s.State != "Unknown" ||
			(s.Error != "Kafka could not be reached" && s.Error != "Kafka did not answer within 2s") {
			t.Errorf("%s with the broker down: %+v, want the broker named unreachable and no lag", s.Group, s)
		}
	}
	for _, addr := range seeds {
		if strings.Contains(body, addr) {
			t.Errorf("the overview names the broker's address %s: %s", addr, body)
		}
	}
	// The consumer's readiness and the groups wait in parallel, each
	// bounded by 2s; a second's slack for a loaded machine.
	if took > 2*pipelineTimeout+time.Second {
		t.Errorf("the overview took %s with the broker down", took)
	}
}

// --overview.groups: the forms it takes and what it refuses; its default
// is the five stages.
func TestOverviewGroupsFlag(t *testing.T) {
	for in, want := range map[string]string{
		"normalise=esrflow-normalise,publish=blue-publish":    "normalise=esrflow-normalise,publish=blue-publish",
		" esrflow-validate , replays=esrflow-ingest-replays?": "validate=esrflow-validate,replays=esrflow-ingest-replays?",
		"":                 "",
		"custom-group?":    "custom-group=custom-group?",
		"api=esrflow-api,": "api=esrflow-api",
	} {
		gs, err := ParsePipelineGroups(in)
		if err != nil || gs == nil || FormatPipelineGroups(gs) != want {
			t.Errorf("ParsePipelineGroups(%q) = %v, %v; want %s", in, gs, err, want)
		}
	}
	for _, bad := range []string{"=esrflow-normalise", "normalise=", "a=b,c=b", "a=b c", "?", "a=b=c"} {
		if gs, err := ParsePipelineGroups(bad); err == nil {
			t.Errorf("ParsePipelineGroups(%q) = %v, want an error", bad, gs)
		}
	}
	var cfg Config
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if got, want := fs.Lookup("overview.groups").DefValue,
		"ingest=esrflow-ingest-replays?,normalise=esrflow-normalise,validate=esrflow-validate,publish=esrflow-publish,api=esrflow-api"; got != want {
		t.Errorf("default %s, want %s", got, want)
	}
	if err := fs.Parse([]string{"--overview.groups=publish=blue-publish"}); err != nil {
		t.Fatal(err)
	}
	if len(cfg.OverviewGroups) != 1 || cfg.OverviewGroups[0] != (PipelineGroup{Stage: "publish", Group: "blue-publish"}) {
		t.Errorf("after the flag: %+v, want publish=blue-publish alone", cfg.OverviewGroups)
	}
	if DefaultPipelineGroups[3].Group != "esrflow-publish" {
		t.Error("setting the flag changed the defaults")
	}
}

// The defaults are the stages' own group names: the api does not import
// the stages, so their sources are read.
func TestPipelineDefaultsAreTheStagesGroups(t *testing.T) {
	for _, c := range []struct{ file, pattern, group string }{
		{"../ingest/replay.go", `const ReplayGroup = "([^"]+)"`, DefaultPipelineGroups[0].Group},
		{"../normalise/processor.go", `\bGroup\s+= "([^"]+)"`, DefaultPipelineGroups[1].Group},
		{"../validate/processor.go", `\bGroup\s+= "([^"]+)"`, DefaultPipelineGroups[2].Group},
		{"../publish/publish.go", `\bDefaultGroup\s+= "([^"]+)"`, DefaultPipelineGroups[3].Group},
	} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(c.pattern).FindSubmatch(b)
		if m == nil {
			t.Errorf("%s: no %s", c.file, c.pattern)
			continue
		}
		if string(m[1]) != c.group {
			t.Errorf("%s names its group %s, DefaultPipelineGroups %s: change both together", c.file, m[1], c.group)
		}
	}
}

// The console's overview with the broker down: the Pipeline table says
// each group could not be read, and the tenants are still shown.
func TestConsoleOverviewPipelineUnread(t *testing.T) {
	e, _, srv := consoleEnv(t, dbtest.SQLiteURL(t))
	e.broker.Close()
	ops := newBrowser(t, srv)
	code, doc := ops.signIn(consoleOpsKey)
	if code != http.StatusOK {
		t.Fatalf("sign-in: %d %q", code, texts(doc, "main"))
	}
	if got := texts(doc, "#tenants tbody th[scope=row]"); !slices.Equal(got, []string{"RXX", "RYY"}) {
		t.Errorf("overview tenants = %q, want RXX and RYY from the database", got)
	}
	if got := texts(doc, "#pipeline tbody th[scope=row]"); !slices.Equal(got, []string{"ingest", "normalise", "validate", "publish", "api"}) {
		t.Errorf("pipeline stages = %q, want every configured group, unread", got)
	}
	for _, state := range texts(doc, "#pipeline tbody td[data-label=State]") {
		if state != "unread: Kafka could not be reached" && state != "unread: Kafka did not answer within 2s" {
			t.Errorf("pipeline state %q, want unread", state)
		}
	}
}
