package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/registry/registrytest"
)

func tailDay(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// tailFixture produces real framed events with CloudEvents headers.
type tailFixture struct {
	t        *testing.T
	seeds    []string
	registry string
	cl       *kgo.Client
	serde    *avrox.Serde
}

func newTailFixture(t *testing.T) *tailFixture {
	var topics []embedded.TopicSpec
	for _, tenant := range []string{"RXX", "RYY"} {
		for _, ev := range eventNames {
			topics = append(topics, embedded.TopicSpec{Name: schemas.EventTopic(tenant, ev), Partitions: 1})
		}
	}
	k := testkit.Kafka(t, topics...)
	url := registrytest.Start(t, k.Seeds())
	srCl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	return &tailFixture{t: t, seeds: k.Seeds(), registry: url,
		cl: testkit.Client(t, k.Seeds(), kgo.TransactionalID("tail-test")), serde: avrox.New(srCl, internalv1.NewAPI())}
}

// produce writes one event with the given schema version in a transaction,
// committed or aborted, and returns the writer schema id.
func (f *tailFixture) produce(commit bool, tenant, event string, version int, key string, v any) int {
	f.t.Helper()
	ctx := context.Background()
	topic := schemas.EventTopic(tenant, event)
	var w avrox.Writer
	for ver := 1; ver <= version; ver++ {
		_, text, err := schemas.Version(event, ver)
		if err != nil {
			f.t.Fatal(err)
		}
		if w, err = f.serde.Register(ctx, schemas.Subject(topic), text); err != nil {
			f.t.Fatal(err)
		}
	}
	val, err := w.Encode(nil, v)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := schemas.SchemaForTopic(topic)
	rec := &kgo.Record{Topic: topic, Key: []byte(key), Value: val,
		Timestamp: time.Date(2024, 3, 11, 2, 20, 0, 0, time.UTC),
		Headers: []kgo.RecordHeader{
			{Key: "ce_id", Value: []byte("id-" + key)}, {Key: "ce_type", Value: []byte(b.CEType)},
			{Key: "ce_source", Value: []byte("esrflow/publish")}, {Key: "ce_specversion", Value: []byte("1.0")},
			{Key: "content-type", Value: []byte("application/avro")},
		}}
	if err := f.cl.BeginTransaction(); err != nil {
		f.t.Fatal(err)
	}
	if err := f.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		f.t.Fatal(err)
	}
	if err := f.cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		f.t.Fatal(err)
	}
	return w.ID
}

func (f *tailFixture) tail(args ...string) ([]string, error) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	args = append([]string{"--kafka.brokers", strings.Join(f.seeds, ","), "--registry.url", f.registry}, args...)
	err := runTail(ctx, args, &out, &errOut)
	if ctx.Err() != nil {
		f.t.Fatalf("tail %v did not stop by itself; printed:\n%s\nstderr: %s", args, out.String(), errOut.String())
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"), err
}

func TestTail(t *testing.T) {
	f := newTailFixture(t)
	src := eventsv1.Source{FileName: "GO_412_EXP_GOC_20240311_00000347.DAT", FileSha256: "ab12", Line: 6}
	recorded := time.Date(2024, 3, 11, 2, 17, 3, 250_000_000, time.UTC)
	lwd := tailDay(2024, 3, 28)
	leaver := &eventsv1.LeaverConfirmed{
		EventID: "ev-1", Tenant: "RXX", Vpd: "412", PersonID: "20110032", EmployeeNumber: "30977120",
		EffectiveDate: tailDay(2024, 3, 29), RecordedAt: recorded, Source: src,
		LeavingDate: tailDay(2024, 3, 29), LeavingReason: "Voluntary Resignation - Relocation", LastWorkingDay: &lwd, DaysLate: -18,
	}
	v1 := f.produce(true, "RXX", schemas.EventLeaverConfirmed, 1, "20110032", leaver)
	f.produce(false, "RXX", schemas.EventLeaverConfirmed, 2, "20110099", leaver) // aborted: never shown
	fae := tailDay(2024, 3, 31)
	leaver2 := *leaver
	leaver2.EventID, leaver2.PersonID, leaver2.LastWorkingDay, leaver2.FinalAssignmentEndDate = "ev-2", "20220055", nil, &fae
	v2 := f.produce(true, "RXX", schemas.EventLeaverConfirmed, 2, "20220055", &leaver2)
	starter := &eventsv1.StarterCreated{
		EventID: "ev-3", Tenant: "RYY", Vpd: "413", PersonID: "30000001", EmployeeNumber: "40000001",
		EffectiveDate: tailDay(2024, 3, 11), RecordedAt: recorded, Source: src,
		AssignmentNumber: "40000001", PositionNumber: "1", PositionTitle: "Porter", Organisation: "413 Estates", StartDate: tailDay(2024, 3, 11),
	}
	f.produce(true, "RYY", schemas.EventStarterCreated, 1, "30000001", starter)

	// One topic: exact lines, each decoded with its own writer schema (the v1
	// record has no final_assignment_end_date at all).
	lines, err := f.tail("--tenant", "RXX", "--type", "leaver-confirmed", "--from", "start", "--max", "2")
	if err != nil {
		t.Fatal(err)
	}
	head := `{"topic":"esr.rxx.leaver-confirmed.v1","partition":0,"offset":%d,"timestamp":"2024-03-11T02:20:00Z","key":"%s",` +
		`"headers":{"ce_id":"id-%[2]s","ce_source":"esrflow/publish","ce_specversion":"1.0","ce_type":"uk.nhs.esr.leaver-confirmed.v1"},"schema_id":%d,`
	want := []string{
		fmt.Sprintf(head, 0, "20110032", v1) + `"value":{"event_id":"ev-1","tenant":"RXX","vpd":"412","person_id":"20110032","employee_number":"30977120",` +
			`"effective_date":"2024-03-29","recorded_at":"2024-03-11T02:17:03.25Z","source":{"file_name":"GO_412_EXP_GOC_20240311_00000347.DAT","file_sha256":"ab12","line":6},` +
			`"leaving_date":"2024-03-29","leaving_reason":"Voluntary Resignation - Relocation","last_working_day":"2024-03-28","days_late":-18,"transfer_to_tenant":null}}`,
		// Offset 1 is the first transaction's commit marker, 2 the aborted
		// record and 3 its abort marker.
		fmt.Sprintf(head, 4, "20220055", v2) + `"value":{"event_id":"ev-2","tenant":"RXX","vpd":"412","person_id":"20220055","employee_number":"30977120",` +
			`"effective_date":"2024-03-29","recorded_at":"2024-03-11T02:17:03.25Z","source":{"file_name":"GO_412_EXP_GOC_20240311_00000347.DAT","file_sha256":"ab12","line":6},` +
			`"leaving_date":"2024-03-29","leaving_reason":"Voluntary Resignation - Relocation","last_working_day":null,"days_late":-18,"transfer_to_tenant":null,` +
			`"final_assignment_end_date":"2024-03-31"}}`,
	}
	if !slices.Equal(lines, want) {
		t.Errorf("tail lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// Every tenant and type: all three committed events, nothing else.
	lines, err = f.tail("--from", "start", "--max", "3")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, l := range lines {
		_, rest, _ := strings.Cut(l, `"key":"`)
		k, _, _ := strings.Cut(rest, `"`)
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if got := strings.Join(keys, ","); got != "20110032,20220055,30000001" {
		t.Errorf("keys = %s\n%s", got, strings.Join(lines, "\n"))
	}

	// --tenant filters: RYY's starter only.
	lines, err = f.tail("--tenant", "ryy", "--from", "start", "--max", "1")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || !strings.Contains(lines[0], `"topic":"esr.ryy.starter-created.v1"`) || !strings.Contains(lines[0], `"start_date":"2024-03-11"`) {
		t.Errorf("RYY tail = %v", lines)
	}
}

// --from end shows only what is produced after the tail starts.
func TestTailFromEnd(t *testing.T) {
	f := newTailFixture(t)
	recorded := time.Date(2024, 3, 11, 2, 17, 3, 0, time.UTC)
	st := &eventsv1.StarterCreated{EventID: "old", Tenant: "RXX", Vpd: "412", PersonID: "1", EffectiveDate: recorded, RecordedAt: recorded, StartDate: recorded}
	f.produce(true, "RXX", schemas.EventStarterCreated, 1, "old", st)
	done := make(chan []string)
	go func() {
		lines, _ := f.tail("--tenant", "RXX", "--type", "starter-created", "--max", "1")
		done <- lines
	}()
	// Keep producing until the tail, once positioned at the end, sees one.
	for i := 0; ; i++ {
		select {
		case lines := <-done:
			if len(lines) != 1 || !strings.Contains(lines[0], `"key":"new-`) {
				t.Errorf("tail --from end = %v", lines)
			}
			return
		case <-time.After(200 * time.Millisecond):
			f.produce(true, "RXX", schemas.EventStarterCreated, 1, fmt.Sprintf("new-%d", i), st)
		}
	}
}

func TestTailRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--type", "leaver"}, {"--tenant", "r.x"}, {"--from", "middle"}, {"--max", "-1"}, {"extra"},
	} {
		var out, errOut bytes.Buffer
		if err := runTail(context.Background(), args, &out, &errOut); err == nil {
			t.Errorf("runTail(%v) succeeded", args)
		}
	}
}
