package materialise_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/kafka/kafkax"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/materialise"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
	"github.com/esrflow/esrflow/services/api/store/storetest"
	"github.com/esrflow/esrflow/services/registry/registrytest"
)

// The consumer applies what was committed, once, whatever is delivered
// twice, aborted or undecodable: a starter then its leaver leave the person
// LEFT; the starter delivered again is counted a duplicate; an aborted
// transaction's starter never appears; a record that is not Avro goes to the
// dead letters with its position and does not stop the batch; and each
// tenant with new events is notified.
func TestAppliesCommittedRecordsOnce(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		starterTopic := schemas.EventTopic("RXX", schemas.EventStarterCreated)
		leaverTopic := schemas.EventTopic("RXX", schemas.EventLeaverConfirmed)
		k := testkit.Kafka(t, embedded.TopicSpec{Name: starterTopic, Partitions: 1}, embedded.TopicSpec{Name: leaverTopic, Partitions: 1})
		srCl, err := sr.NewClient(sr.URLs(registrytest.Start(t, k.Seeds())))
		if err != nil {
			t.Fatal(err)
		}
		serde := avrox.New(srCl, internalv1.NewAPI())
		encode := func(topic string, v any) []byte {
			t.Helper()
			b, err := schemas.SchemaForTopic(topic)
			if err != nil {
				t.Fatal(err)
			}
			var w avrox.Writer
			for ver := 1; ; ver++ { // every version, as the registrar registers them
				_, text, err := schemas.Version(b.Schema, ver)
				if err != nil {
					break
				}
				if w, err = serde.Register(context.Background(), schemas.Subject(topic), text); err != nil {
					t.Fatal(err)
				}
			}
			out, err := w.Encode(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		st := storetest.Starter()
		aborted := storetest.Starter()
		aborted.EventID, aborted.PersonID = "ev-aborted", "20990999"
		lwd := storetest.Day(2024, 3, 28)
		lv := &eventsv1.LeaverConfirmed{EventID: "ev-leaver-1", Tenant: "RXX", Vpd: "412", PersonID: st.PersonID,
			EmployeeNumber: st.EmployeeNumber, EffectiveDate: storetest.Day(2024, 3, 29), RecordedAt: storetest.Recorded2,
			Source: storetest.Src(6), LeavingDate: storetest.Day(2024, 3, 29), LeavingReason: "Retirement Age", LastWorkingDay: &lwd}
		prod := testkit.Client(t, k.Seeds(), kgo.TransactionalID("materialise-test"))
		produce := func(commit bool, recs ...*kgo.Record) {
			t.Helper()
			ctx := context.Background()
			if err := prod.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			if err := prod.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
				t.Fatal(err)
			}
		}
		produce(true,
			&kgo.Record{Topic: starterTopic, Key: []byte(st.PersonID), Value: encode(starterTopic, st)},
			&kgo.Record{Topic: starterTopic, Key: []byte("RXX"), Value: []byte("not avro")},
			&kgo.Record{Topic: starterTopic, Key: []byte(st.PersonID), Value: encode(starterTopic, st)})
		produce(false, &kgo.Record{Topic: starterTopic, Key: []byte(aborted.PersonID), Value: encode(starterTopic, aborted)})
		produce(true, &kgo.Record{Topic: leaverTopic, Key: []byte(lv.PersonID), Value: encode(leaverTopic, lv)})

		s := storetest.Open(t, dbURL)
		var mu sync.Mutex
		notified := map[string]int{}
		m, err := materialise.New(materialise.Config{Kafka: kafkax.Config{Brokers: k.Seeds(), ClientID: "materialise-test"},
			Group: "materialise-test", TopicRefresh: 200 * time.Millisecond},
			materialise.Deps{Log: zaptest.NewLogger(t), Metrics: prometheus.NewRegistry(), Store: s, Serde: serde,
				Notify: func(tenant string) { mu.Lock(); notified[tenant]++; mu.Unlock() }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
			m.Close()
		}()
		deadline := time.Now().Add(30 * time.Second)
		var p *store.Person
		for time.Now().Before(deadline) {
			if p, err = s.PersonByID(context.Background(), "RXX", st.PersonID); err == nil && p.EmploymentStatus == store.StatusLeft {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if p == nil || p.EmploymentStatus != store.StatusLeft || p.LastEventID != lv.EventID {
			t.Fatalf("person = %+v (%v), want LEFT by %s", p, err, lv.EventID)
		}
		if _, err := s.PersonByID(context.Background(), "RXX", aborted.PersonID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the aborted transaction's starter: %v, want not found", err)
		}
		met := m.Metrics()
		if got := testutil.ToFloat64(met.Stored.WithLabelValues("RXX", schemas.StarterCreated)); got != 1 {
			t.Errorf("starters stored = %v, want 1", got)
		}
		if got := testutil.ToFloat64(met.Duplicates); got != 1 {
			t.Errorf("duplicates = %v, want 1", got)
		}
		if got := testutil.ToFloat64(met.DeadLetters.WithLabelValues(starterTopic, store.DeadDecode)); got != 1 {
			t.Errorf("dead letters (decode) = %v, want 1", got)
		}
		dead, err := s.DeadLetters(context.Background(), "RXX", 10)
		if err != nil || len(dead) != 1 || dead[0].Topic != starterTopic || dead[0].Offset != 1 {
			t.Errorf("dead letters = %+v (%v), want the record at %s offset 1", dead, err, starterTopic)
		}
		mu.Lock()
		defer mu.Unlock()
		if notified["RXX"] == 0 || len(notified) != 1 {
			t.Errorf("notified = %v, want RXX", notified)
		}
	})
}
