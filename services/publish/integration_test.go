package publish

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/registry/registrytest"
)

// The service on the real stage runner, Kafka and registry: a baseline file
// produced to esr.validated.v1 comes out as committed events and a report;
// a restarted instance restores the held leaver from the changelog and fires
// it when a later file reaches its date.
func TestServiceEndToEnd(t *testing.T) {
	b := testkit.Kafka(t, embedded.TopicSpec{Name: schemas.TopicValidated, Partitions: 3},
		embedded.TopicSpec{Name: schemas.TopicFileReports, Partitions: 1})
	url := registrytest.Start(t, b.Seeds(), schemas.TopicValidated, schemas.TopicFileReports)
	env := newEnvOn(t, b.Seeds(), url)
	h := &harness{t: t, env: env}

	produce := func(recs []internalv1.EntityRecord) {
		t.Helper()
		cl := testkit.Client(t, b.Seeds())
		for i := range recs {
			v, err := env.entityW.Encode(nil, &recs[i])
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: schemas.TopicValidated, Key: []byte(recs[i].Lineage.Tenant), Value: v}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	consumer := testkit.Client(t, b.Seeds(), kgo.ConsumeTopics(schemas.TopicFileReports, "esr.rxx.starter-created.v1",
		"esr.rxx.leaver-confirmed.v1", "esr.rxx.position-updated.v1"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100*time.Millisecond))
	// read returns the next n committed records (events and reports).
	read := func(n int) []*kgo.Record {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var out []*kgo.Record
		for len(out) < n {
			fs := consumer.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read %d of %d records", len(out), n)
			}
			out = append(out, fs.Records()...)
		}
		if len(out) != n {
			t.Fatalf("read %d records, want %d", len(out), n)
		}
		return out
	}
	start := func() (*Service, func()) {
		t.Helper()
		svc, err := New(Config{Brokers: b.Seeds(), RegistryURL: url, InstanceID: "it", Now: testClock()}, Deps{Log: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		deadline := time.Now().Add(30 * time.Second)
		for svc.Ready() != nil {
			if time.Now().After(deadline) {
				t.Fatal("publish never became ready")
			}
			time.Sleep(20 * time.Millisecond)
		}
		return svc, func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("run: %v", err)
			}
		}
	}

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
