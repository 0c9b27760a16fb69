package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/cmd/esrflow/internal/stack"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/services/normalise"
	"github.com/esrflow/esrflow/services/publish"
	"github.com/esrflow/esrflow/services/validate"
)

// stageInstance is one validate or publish instance the test runs beside
// the stack, with its own metrics registry so its consumed-records counter
// is its own.
type stageInstance struct {
	name    string
	id      string // the instance id (static group membership)
	stage   string // the runner's stage label: validate or publish
	metrics *prometheus.Registry
	ready   func() error
	stop    context.CancelFunc
	done    chan error
}

func startStageInstance(t *testing.T, stage, id string, run func(context.Context) error, ready func() error, reg *prometheus.Registry) *stageInstance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := &stageInstance{name: stage + "-" + id, id: id, stage: stage, metrics: reg, ready: ready, stop: cancel, done: make(chan error, 1)}
	go func() { in.done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-in.done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("%s stopped with %v", in.name, err)
		}
	})
	return in
}

// consumed is the instance's esrflow_stage_records_consumed_total.
func (in *stageInstance) consumed(t *testing.T) float64 {
	t.Helper()
	mfs, err := in.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "esrflow_stage_records_consumed_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "stage" && l.GetValue() == in.stage {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// startValidate and startPublish build an instance as the binaries do.
func startValidate(t *testing.T, st *stack.Stack, tenants *tenant.Set, id string) *stageInstance {
	t.Helper()
	reg := prometheus.NewRegistry()
	svc, err := validate.New(validate.Config{Brokers: st.Seeds(), RegistryURL: st.RegistryURL(), InstanceID: id, Tenants: tenants},
		validate.Deps{Log: zaptest.NewLogger(t, zaptest.Level(zapWarn)).Named("validate-" + id), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	return startStageInstance(t, "validate", id, svc.Run, svc.Ready, reg)
}

func startPublish(t *testing.T, st *stack.Stack, tenants *tenant.Set, id string) *stageInstance {
	t.Helper()
	reg := prometheus.NewRegistry()
	svc, err := publish.New(publish.Config{Brokers: st.Seeds(), RegistryURL: st.RegistryURL(), InstanceID: id, Tenants: tenants, Now: e2eClock},
		publish.Deps{Log: zaptest.NewLogger(t, zaptest.Level(zapWarn)).Named("publish-" + id), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	return startStageInstance(t, "publish", id, svc.Run, svc.Ready, reg)
}

// waitAssignment waits until every listed instance is ready and the group's
// members split the input's partitions as want (members → partitions each),
// so that files dropped next are shared from their first record.
func waitAssignment(t *testing.T, adm *kadm.Client, group, topic string, instances []*stageInstance, want int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var why string
		for _, in := range instances {
			if err := in.ready(); err != nil {
				why = in.name + ": " + err.Error()
			}
		}
		if why == "" {
			groups, err := adm.DescribeGroups(context.Background(), group)
			if err != nil {
				t.Fatal(err)
			}
			g := groups[group]
			var owned []int
			for _, m := range g.Members {
				a, _ := m.Assigned.AsConsumer()
				n := 0
				for _, tp := range a.Topics {
					if tp.Topic == topic {
						n += len(tp.Partitions)
					}
				}
				owned = append(owned, n)
			}
			sort.Ints(owned)
			if g.State == "Stable" && len(owned) == want && owned[0] > 0 {
				return
			}
			why = fmt.Sprintf("group %s is %s with partitions per member %v", group, g.State, owned)
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %d members sharing %s: %s", want, topic, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTwentyTenantsSplitEvenlyOverInstances is issue 14's "parallelism you
// can plan": 20 synthetic trusts of equal size over 4 partitions, two
// instances of each stateful stage (validate, publish) in their groups.
// The tenants' assignment gives every partition 5 tenants, so each instance
// processes within 10 % of the rows of the other (murmur2 put 20 trusts
// 6/4/3/3/3/1 over six partitions). Then a third instance of each joins
// while files are in flight, and the published events equal the
// generator's truth exactly: nothing lost, no event id twice. Every tenant's
// records sit on its assigned partition in every tenant-keyed topic.
func TestTwentyTenantsSplitEvenlyOverInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	const (
		trusts     = 20
		partitions = 4
		days       = 4 // a full file, then days change files
		joinAfter  = 2 // change files processed by two instances before the third joins
	)
	var specs []string
	generated := map[string]trust{}
	var codes []string
	for i := 1; i <= trusts; i++ {
		code, vpd := fmt.Sprintf("R%02d", i), fmt.Sprint(500+i)
		specs = append(specs, code+"="+vpd)
		codes = append(codes, code)
		generated[code] = generate(t, gen.Config{Tenant: code, VPD: vpd, Staff: 60, Days: days, Seed: uint64(100 + i)})
	}
	tenants, err := tenant.Parse(strings.Join(specs, ","))
	if err != nil {
		t.Fatal(err)
	}
	cfg := e2eStackConfig(t, t.TempDir(), tenants, "validate", "publish")
	cfg.Partitions = partitions
	st := startStackConfig(t, cfg)
	rd, err := observe.NewReader(st.Seeds(), st.RegistryURL())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(st.Seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)

	v := []*stageInstance{startValidate(t, st, tenants, "v1"), startValidate(t, st, tenants, "v2")}
	p := []*stageInstance{startPublish(t, st, tenants, "p1"), startPublish(t, st, tenants, "p2")}
	waitAssignment(t, adm, validate.Group, schemas.TopicNormalised, v, 2)
	waitAssignment(t, adm, publish.DefaultGroup, schemas.TopicValidated, p, 2)
	vOwned := ownership(t, adm, validate.Group, schemas.TopicNormalised)
	pOwned := ownership(t, adm, publish.DefaultGroup, schemas.TopicValidated)

	drop := func(day int) {
		for _, code := range codes {
			f := generated[code].res.Files[day]
			dropFile(t, st.DropDir(), code, f.Name, generated[code].sink.Bytes(f.Path))
		}
	}
	instances := func() []*stageInstance { return append(append([]*stageInstance(nil), v...), p...) }
	for day := 0; day <= joinAfter; day++ {
		drop(day)
		waitReportsOrDiagnose(t, rd, adm, instances(), (day+1)*trusts)
	}
	// Rows per instance: the records of the input partitions each owned
	// throughout (the assignment did not move), so a transaction redone
	// after an abort does not count twice as the consumed-records counter
	// (logged beside) does.
	for _, g := range []struct {
		group, topic string
		instances    []*stageInstance
		owned        map[string][]int32
	}{{validate.Group, schemas.TopicNormalised, v, vOwned}, {publish.DefaultGroup, schemas.TopicValidated, p, pOwned}} {
		if now := ownership(t, adm, g.group, g.topic); fmt.Sprint(now) != fmt.Sprint(g.owned) {
			t.Fatalf("group %s rebalanced while two instances ran: %v, then %v", g.group, g.owned, now)
		}
		perPartition := recordsByPartition(t, rd, g.topic)
		var rows []float64
		for _, in := range g.instances {
			n := 0
			for _, part := range g.owned[in.id] {
				n += perPartition[part]
			}
			rows = append(rows, float64(n))
			t.Logf("%s owned %s partitions %v: %d records (its consumed-records counter: %.0f)", in.name, g.topic, g.owned[in.id], n, in.consumed(t))
		}
		imbalance := math.Abs(rows[0]-rows[1]) / math.Max(rows[0], rows[1])
		t.Logf("%s: %.1f %% apart", g.group, 100*imbalance)
		if rows[0] == 0 || rows[1] == 0 || imbalance > 0.10 {
			t.Errorf("%s: instances processed %v records: more than 10 %% apart", g.group, rows)
		}
	}

	// A third instance of each joins while the next day's files are in
	// flight; the groups rebalance under load.
	drop(joinAfter + 1)
	v = append(v, startValidate(t, st, tenants, "v3"))
	p = append(p, startPublish(t, st, tenants, "p3"))
	waitAssignment(t, adm, validate.Group, schemas.TopicNormalised, v, 3)
	waitAssignment(t, adm, publish.DefaultGroup, schemas.TopicValidated, p, 3)
	for day := joinAfter + 2; day <= days; day++ {
		drop(day)
	}
	waitReportsOrDiagnose(t, rd, adm, instances(), (days+1)*trusts)

	ids := map[string]string{}
	total := 0
	for _, code := range codes {
		events, err := rd.Events(context.Background(), code)
		if err != nil {
			t.Fatal(err)
		}
		published, _ := generated[code].expectedEvents()
		if missing, extra := compareEvents(t, events, published); missing+extra > 0 {
			t.Errorf("%s: %d events missing, %d extra", code, missing, extra)
		}
		for _, e := range events {
			if prev, dup := ids[e.ID]; dup {
				t.Errorf("event id %s published twice (%s, %s)", e.ID, prev, e.Topic)
			}
			ids[e.ID] = e.Topic
		}
		total += len(events)
	}
	if total == 0 {
		t.Fatal("no events: the test proves nothing")
	}
	t.Logf("%d events of %d tenants equal the truth; third instances consumed validate %.0f, publish %.0f records",
		total, trusts, v[2].consumed(t), p[2].consumed(t))

	checkTenantPlacement(t, rd, adm, tenants, codes)
}

// waitReportsOrDiagnose waits for n file reports like waitReports; when
// they do not come it says where the files stopped: each group's lag and
// each instance's readiness.
func waitReportsOrDiagnose(t *testing.T, rd *observe.Reader, adm *kadm.Client, instances []*stageInstance, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		reps, err := rd.FileReports(ctx)
		cancel()
		if err == nil && len(reps) >= n {
			return
		}
		if time.Now().After(deadline) {
			lags, lerr := adm.Lag(context.Background(), normalise.Group, validate.Group, publish.DefaultGroup, publish.DefaultGroup+"-commands")
			for group, l := range lags {
				t.Logf("group %s (%s): lag %d by topic %v, error %v", group, l.State, l.Lag.Total(), l.Lag.TotalByTopic(), l.Error())
			}
			for _, in := range instances {
				t.Logf("%s ready: %v", in.name, in.ready())
			}
			t.Fatalf("%d of %d file reports after 3 minutes (last read: %v; lag: %v)", len(reps), n, err, lerr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ownership is the group's assignment: instance id → partitions of topic.
func ownership(t *testing.T, adm *kadm.Client, group, topic string) map[string][]int32 {
	t.Helper()
	groups, err := adm.DescribeGroups(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int32{}
	for _, m := range groups[group].Members {
		if m.InstanceID == nil {
			t.Fatalf("group %s: member %s has no instance id", group, m.MemberID)
		}
		a, _ := m.Assigned.AsConsumer()
		for _, tp := range a.Topics {
			if tp.Topic == topic {
				ps := append([]int32(nil), tp.Partitions...)
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				out[*m.InstanceID] = ps
			}
		}
	}
	return out
}

// recordsByPartition counts the committed records of topic by partition.
func recordsByPartition(t *testing.T, rd *observe.Reader, topic string) map[int32]int {
	t.Helper()
	out := map[int32]int{}
	if err := rd.Records(context.Background(), "^"+regexp.QuoteMeta(topic)+"$", func(r *kgo.Record) error {
		out[r.Partition]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkTenantPlacement reads every tenant-keyed topic and checks each
// tenant's records are all on the partition its assignment names, and that
// the assignment put five tenants on each of the four partitions.
func checkTenantPlacement(t *testing.T, rd *observe.Reader, adm *kadm.Client, tenants *tenant.Set, codes []string) {
	t.Helper()
	ctx := context.Background()
	tds, err := adm.ListTopics(ctx, schemas.TenantKeyedTopics...)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, td := range tds {
		counts[td.Topic] = len(td.Partitions)
	}
	// The ops topics are partitioned too, so their consumers (publish's
	// command forwarder, ingest's replays, the api) can run as several
	// instances.
	for _, topic := range schemas.OpsTopics {
		if counts[topic] != schemas.DefaultOpsPartitions {
			t.Errorf("%s has %d partitions, want %d", topic, counts[topic], schemas.DefaultOpsPartitions)
		}
	}
	pattern := "^(" + strings.Join(quoteAll(schemas.TenantKeyedTopics), "|") + ")$"
	seen := map[string]map[string]bool{} // topic → tenants
	wrong := 0
	err = rd.Records(ctx, pattern, func(r *kgo.Record) error {
		want, ok := tenants.Partition(string(r.Key), counts[r.Topic])
		if !ok {
			return fmt.Errorf("%s/%d@%d: key %q is no tenant", r.Topic, r.Partition, r.Offset, r.Key)
		}
		if int(r.Partition) != want {
			if wrong++; wrong <= 5 {
				t.Errorf("%s: tenant %s on partition %d, assigned %d", r.Topic, r.Key, r.Partition, want)
			}
		}
		if seen[r.Topic] == nil {
			seen[r.Topic] = map[string]bool{}
		}
		seen[r.Topic][string(r.Key)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{schemas.TopicRaw, schemas.TopicNormalised, schemas.TopicValidated, schemas.TopicFileReports, schemas.TopicLineage} {
		if len(seen[topic]) != len(codes) {
			t.Errorf("%s carries %d tenants, want all %d", topic, len(seen[topic]), len(codes))
		}
	}
	per := map[int]int{}
	for _, code := range codes {
		p, _ := tenants.Partition(code, counts[schemas.TopicRaw])
		per[p]++
	}
	for part := range counts[schemas.TopicRaw] {
		if per[part] != len(codes)/counts[schemas.TopicRaw] {
			t.Errorf("tenants per partition %v: not an even split", per)
			break
		}
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = regexp.QuoteMeta(s)
	}
	return out
}
