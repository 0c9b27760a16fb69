package publish

import (
	"slices"

	"context"
	"errors"
	"github.com/esrflow/esrflow/esr/tenant"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/registry/registrytest"
)

// live is publish on the real stage runner, Kafka and registry.
type live struct {
	t   *testing.T
	b   *embedded.Broker
	url string
	env *testEnv
	reg prometheus.Registerer // the services' metrics; nil: none kept
}

func newLive(t *testing.T) *live {
	t.Helper()
	b := testkit.Kafka(t, embedded.TopicSpec{Name: schemas.TopicValidated, Partitions: 3},
		embedded.TopicSpec{Name: schemas.TopicFileReports, Partitions: 1})
	url := registrytest.Start(t, b.Seeds(), schemas.TopicValidated, schemas.TopicFileReports)
	return &live{t: t, b: b, url: url, env: newEnvOn(t, b.Seeds(), url)}
}

// produce writes entity records to esr.validated.v1, keyed by tenant.
func (l *live) produce(recs []internalv1.EntityRecord) {
	l.t.Helper()
	cl := testkit.Client(l.t, l.b.Seeds())
	for i := range recs {
		v, err := l.env.entityW.Encode(nil, &recs[i])
		if err != nil {
			l.t.Fatal(err)
		}
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: schemas.TopicValidated, Key: []byte(recs[i].Lineage.Tenant), Value: v}).FirstErr(); err != nil {
			l.t.Fatal(err)
		}
	}
}

// reader returns a function reading the next n committed records of topics.
func (l *live) reader(topics ...string) func(n int) []*kgo.Record {
	consumer := testkit.Client(l.t, l.b.Seeds(), kgo.ConsumeTopics(topics...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100*time.Millisecond))
	return func(n int) []*kgo.Record {
		l.t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var out []*kgo.Record
		for len(out) < n {
			fs := consumer.PollFetches(ctx)
			if ctx.Err() != nil {
				l.t.Fatalf("read %d of %d records", len(out), n)
			}
			out = append(out, fs.Records()...)
		}
		if len(out) != n {
			l.t.Fatalf("read %d records, want %d", len(out), n)
		}
		return out
	}
}

// start runs a publish service until the returned stop is called.
func (l *live) start(adjust func(*Config)) (*Service, func()) {
	l.t.Helper()
	cfg := Config{Brokers: l.b.Seeds(), RegistryURL: l.url, InstanceID: "it", Now: testClock()}
	if adjust != nil {
		adjust(&cfg)
	}
	svc, err := New(cfg, Deps{Log: zaptest.NewLogger(l.t), Metrics: l.reg})
	if err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for svc.Ready() != nil {
		if time.Now().After(deadline) {
			l.t.Fatal("publish never became ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return svc, func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			l.t.Errorf("run: %v", err)
		}
	}
}

// The service on the real stage runner, Kafka and registry: a baseline file
// produced to esr.validated.v1 comes out as committed events and a report;
// a restarted instance restores the held leaver from the changelog and fires
// it when a later file reaches its date.
func TestServiceEndToEnd(t *testing.T) {
	l := newLive(t)
	h := &harness{t: t, env: l.env}
	produce, start := l.produce, func() (*Service, func()) { return l.start(nil) }
	read := l.reader(schemas.TopicFileReports, "esr.rxx.starter-created.v1", "esr.rxx.leaver-confirmed.v1", "esr.rxx.position-updated.v1")

	svc, stop := start()
	f1, recs := baselineRecords()
	produce(recs)
	d := h.decode(read(4))
	var gotEv []got
	var reports int
	for _, x := range d {
		if x.report != nil {
			reports++
			if x.report.EventsEmitted[eventStarter] != 2 || x.report.EventsEmitted[eventLeaver] != 1 || x.report.RowsRead != 21 {
				t.Errorf("report %+v", x.report)
			}
			continue
		}
		if x.rec.Headers[1].Key != "ce_id" || string(x.rec.Headers[1].Value) != x.got.ID || string(x.rec.Key) != x.got.PersonID {
			t.Errorf("record key %q headers %v", x.rec.Key, x.rec.Headers)
		}
		g := x.got
		g.ID = ""
		gotEv = append(gotEv, g)
	}
	if reports != 1 || len(gotEv) != 3 {
		t.Fatalf("%d reports and %d events", reports, len(gotEv))
	}
	checkPublicTopics(t, l, d)
	if held := svc.ScheduledLeavers(tenantRXX); len(held) != 1 || held[0].PersonID != "20000005" {
		t.Fatalf("held = %+v", held)
	}
	stop()

	// A new instance restores the held leaver from the changelog.
	svc, stop = start()
	defer stop()
	deadline := time.Now().Add(30 * time.Second)
	for len(svc.ScheduledLeavers(tenantRXX)) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("held leaver not restored")
		}
		time.Sleep(20 * time.Millisecond)
	}
	f2 := newFile(tenantRXX, "2024-04-10", 2)
	produce([]internalv1.EntityRecord{f2.start(), f2.end()})
	d = h.decode(read(2))
	if d[0].leaver == nil || d[1].report == nil {
		t.Fatalf("want the held leaver then the report, got %+v", d)
	}
	want := got{File: f1.info.Name, Line: 14, Type: eventLeaver, PersonID: "20000005", EmployeeNumber: "30000005",
		Effective: "2024-04-10", LeavingReason: "Retirement Age", LastWorkingDay: "2024-04-09"}
	g := d[0].got
	g.ID = ""
	if !reflect.DeepEqual(g, want) {
		t.Errorf("fired leaver %s, want %s", g, want)
	}
	if d[0].got.ID != eventID(tenantRXX, eventLeaver, "20000005", "", "", f1.info.Sha256, 14) {
		t.Errorf("fired leaver id %s is not the held one", d[0].got.ID)
	}
	if len(svc.ScheduledLeavers(tenantRXX)) != 0 {
		t.Error("leaver still held after firing")
	}
}

// checkPublicTopics checks what lets every client read the public topics:
// gzip batches (kafkajs has no snappy, lz4 or zstd codec built in), the
// topics' own compression.type, and each subject's own compatibility level,
// which a client's register() cannot then downgrade.
func checkPublicTopics(t *testing.T, l *live, d []decoded) {
	t.Helper()
	for _, x := range d {
		if c := x.rec.Attrs.CompressionType(); c != 1 {
			t.Errorf("%s record in a batch with compression %d, want 1 (gzip)", x.rec.Topic, c)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var topics []string
	for _, e := range tenantEvents {
		topics = append(topics, schemas.EventTopic(tenantRXX, e))
	}
	cfgs, err := l.env.adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfgs {
		var got string
		for _, kv := range c.Configs {
			if kv.Key == "compression.type" {
				got = kv.MaybeValue()
			}
		}
		if c.Err != nil || got != "gzip" {
			t.Errorf("%s: compression.type %q (%v), want gzip", c.Name, got, c.Err)
		}
	}
	for _, topic := range topics {
		got := l.env.sr.Compatibility(ctx, schemas.Subject(topic))[0]
		if got.Err != nil || got.Level != sr.CompatBackwardTransitive {
			t.Errorf("%s: subject-level compatibility %v (%v), want BACKWARD_TRANSITIVE", schemas.Subject(topic), got.Level, got.Err)
		}
	}
}

// The leaver guard end to end on the real runner: a file over the threshold
// announces a held batch on esr.ops.held-batches.v1; an operator command on
// esr.ops.commands.v1 (as the api writes it) reaches publish through the
// forwarder and releases exactly the held leavers, with their ids.
func TestServiceGuardReleaseThroughTheCommandsTopic(t *testing.T) {
	l := newLive(t)
	h := &harness{t: t, env: l.env}
	_, stop := l.start(withTenant(t, &tenant.Guard{MaxLeavers: 2}, ""))
	defer stop()
	_, base := baselineRecords()
	l.produce(base)
	f := newFile(tenantRXX, "2024-04-02", 2)
	l.produce([]internalv1.EntityRecord{f.start(),
		f.person(P{ID: 20000001, NHS: "1000001", Term: "2024-04-02", Reason: "Voluntary Resignation - Other"}),
		f.asg(A{Person: 20000001, ID: 40000001, Status: "TERM_ASSIGN", End: "2024-04-02"}),
		f.person(P{ID: 20000003, NHS: "1000003", Term: "2024-04-02", Reason: "Dismissal - Conduct"}),
		f.asg(A{Person: 20000003, ID: 40000003, Start: "2024-04-01", Status: "TERM_ASSIGN", End: "2024-04-02"}),
		f.person(P{ID: 20000010, NHS: "1000010", Term: "2024-04-02", Reason: "Retirement Age"}),
		f.asg(A{Person: 20000010, ID: 40000010, Status: "TERM_ASSIGN", End: "2024-04-02"}),
		f.asg(A{Person: 20000010, ID: 40000011, Number: "30000010-2", Status: "TERM_ASSIGN", End: "2024-04-02"}),
		f.end()})
	batches := l.reader(schemas.TopicHeldBatches)
	held := h.decode(batches(1))[0].batch
	if held == nil || held.Status != internalv1.HeldBatchStatusHeld || held.Leavers != 3 {
		t.Fatalf("held batch = %+v", held)
	}

	cmdW, err := l.env.serde.Register(context.Background(), schemas.Subject(schemas.TopicCommands), mustLatest(t, schemas.OperatorCommand))
	if err != nil {
		t.Fatal(err)
	}
	v, err := cmdW.Encode(nil, &internalv1.OperatorCommand{CommandID: "c-1", Tenant: tenantRXX, Action: internalv1.OperatorActionRelease,
		BatchID: held.BatchID, Actor: "rxx-ops", Reason: "restructure confirmed", RequestedAt: time.Now().Truncate(time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if err := testkit.Client(t, l.b.Seeds()).ProduceSync(context.Background(), &kgo.Record{Topic: schemas.TopicCommands, Key: []byte(tenantRXX), Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	decided := h.decode(batches(1))[0].batch
	if decided.Status != internalv1.HeldBatchStatusReleased || decided.DecidedBy != "rxx-ops" || decided.Emitted != 3 {
		t.Fatalf("decided batch = %+v", decided)
	}
	var ids []string
	for _, d := range h.decode(l.reader("esr.rxx.leaver-confirmed.v1")(4)) { // baseline's 20000004 + the 3 released
		if d.got.File == f.info.Name {
			ids = append(ids, d.got.ID)
		}
	}
	var want []string
	for _, r := range held.Held {
		want = append(want, r.EventID)
	}
	slices.Sort(ids) // three partitions: no order across people
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("released leaver ids %v, want %v", ids, want)
	}
}

func mustLatest(t *testing.T, name string) string {
	t.Helper()
	_, text, err := schemas.Latest(name)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// Two publish instances share the input's partitions, so a transfer's two
// tenants may sit on different instances: the link index carries what
// each needs to link the transfer both ways.
func TestTransferLinkedAcrossInstances(t *testing.T) {
	l := newLive(t)
	h := &harness{t: t, env: l.env}
	one, stop1 := l.start(func(c *Config) { c.InstanceID = "it-1" })
	defer stop1()
	two, stop2 := l.start(func(c *Config) { c.InstanceID = "it-2" })
	defer stop2()

	// Empty baselines for a few tenants spread them over the partitions;
	// then pick one tenant held by each instance.
	codes := []string{"RXA", "RXB", "RXC", "RXD", "RXE", "RXF"}
	reports := l.reader(schemas.TopicFileReports)
	for _, c := range codes {
		f := newFile(c, "2024-04-01", 1)
		l.produce([]internalv1.EntityRecord{f.start(), f.end()})
	}
	reports(len(codes))
	holds := func(s *Service, code string) bool {
		s.proc.mu.Lock()
		defer s.proc.mu.Unlock()
		return s.proc.tenants[code] != nil
	}
	var a, b string
	for _, c := range codes {
		switch {
		case a == "" && holds(one, c) && !holds(two, c):
			a = c
		case b == "" && holds(two, c) && !holds(one, c):
			b = c
		}
	}
	if a == "" || b == "" {
		t.Fatalf("the instances did not share the tenants (first holds A=%q, second B=%q)", a, b)
	}
	events := l.reader(schemas.EventTopic(a, eventStarter), schemas.EventTopic(a, eventLeaver), schemas.EventTopic(b, eventStarter))

	// A: the person starts, then is TUPE'd out on 04-07, known on 04-02.
	a1 := newFile(a, "2024-04-01", 2)
	l.produce([]internalv1.EntityRecord{a1.start(), a1.person(P{ID: 20000001, NHS: "1000001"}), a1.asg(A{Person: 20000001, ID: 40000001, Start: "2024-04-01"}), a1.end()})
	a2 := newFile(a, "2024-04-02", 3)
	l.produce([]internalv1.EntityRecord{a2.start(), a2.person(P{ID: 20000001, NHS: "1000001", Term: "2024-04-07", Reason: "Employee Transfer"}),
		a2.asg(A{Person: 20000001, ID: 40000001, Start: "2024-04-01", End: "2024-04-07"}), a2.end()})
	reports(2)
	if ev := h.events(events(1)); len(ev) != 1 || ev[0].Type != eventStarter {
		t.Fatalf("A's start: %v", ev)
	}
	// The second instance learns it from the index, not from its state.
	deadline := time.Now().Add(30 * time.Second)
	for !two.proc.index.tenants("1000001")[a].TransferLeaving {
		if time.Now().After(deadline) {
			t.Fatal("the second instance never read A's transfer from the link index")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// B: the same NHS Unique ID starts on 04-08, on the other instance.
	b2 := newFile(b, "2024-04-03", 2)
	l.produce([]internalv1.EntityRecord{b2.start(), b2.person(P{ID: 21000001, NHS: "1000001"}), b2.asg(A{Person: 21000001, ID: 41000001, Start: "2024-04-08"}), b2.end()})
	reports(1)
	ev := h.events(events(1))
	if len(ev) != 1 || ev[0].Type != eventStarter || ev[0].TransferFrom != a {
		t.Fatalf("B's starter = %v, want transfer_from_tenant %s", ev, a)
	}
	deadline = time.Now().Add(30 * time.Second)
	for !one.proc.index.tenants("1000001")[b].Employed {
		if time.Now().After(deadline) {
			t.Fatal("the first instance never read B's starter from the link index")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A's held leaver fires on its date and names B.
	a3 := newFile(a, "2024-04-07", 4)
	l.produce([]internalv1.EntityRecord{a3.start(), a3.end()})
	ev = h.events(events(1))
	if len(ev) != 1 || ev[0].Type != eventLeaver || ev[0].TransferTo != b {
		t.Fatalf("A's leaver = %v, want transfer_to_tenant %s", ev, b)
	}
}

// A configured tenant's event topics exist, with every version of their
// schemas registered, as soon as publish is ready and before the tenant's
// first file: a consumer can subscribe from the day a trust is configured.
// A restart finds them all in place.
func TestConfiguredTenantsHaveTopicsBeforeTheirFirstFile(t *testing.T) {
	l := newLive(t)
	set, err := tenant.New(tenant.Tenant{Code: "R01", VPDs: []string{"101"}}, tenant.Tenant{Code: "R02", VPDs: []string{"102"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for round := range 2 {
		_, stop := l.start(func(c *Config) { c.Tenants = set })
		for _, code := range set.Codes() {
			var topics []string
			for _, e := range tenantEvents {
				topics = append(topics, schemas.EventTopic(code, e))
			}
			td, err := l.env.adm.ListTopics(ctx, topics...)
			if err != nil {
				t.Fatal(err)
			}
			for i, topic := range topics {
				if d, ok := td[topic]; !ok || d.Err != nil {
					t.Errorf("round %d: topic %s is missing (%v)", round, topic, d.Err)
					continue
				}
				want, err := schemas.Versions(tenantEvents[i])
				if err != nil {
					t.Fatal(err)
				}
				got, err := l.env.sr.SubjectVersions(ctx, schemas.Subject(topic))
				if err != nil || len(got) != len(want) {
					t.Errorf("round %d: %s has versions %v (%v), want %d", round, schemas.Subject(topic), got, err, len(want))
				}
			}
		}
		stop()
	}
}
