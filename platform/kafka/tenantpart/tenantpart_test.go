package tenantpart_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/kafka/tenantpart"
	"github.com/esrflow/esrflow/platform/testkit"
)

// roundRobin assigns the listed tenants by position, like esr/tenant.
type roundRobin []string

func (r roundRobin) Partition(key string, n int) (int, bool) {
	for i, code := range r {
		if code == key {
			return i % n, true
		}
	}
	return 0, false
}

// TestProducedRecordsLandOnTheirTenantsPartition produces through a real
// client to a real broker and reads back where each record landed: every
// assigned tenant on its partition in both tenant-keyed topics (of
// different partition counts), unknown keys and other topics by murmur2.
func TestProducedRecordsLandOnTheirTenantsPartition(t *testing.T) {
	const keyed4, keyed6, other = "t.keyed4", "t.keyed6", "t.other"
	b := testkit.Kafka(t, embedded.TopicSpec{Name: keyed4, Partitions: 4},
		embedded.TopicSpec{Name: keyed6, Partitions: 6}, embedded.TopicSpec{Name: other, Partitions: 6})
	tenants := roundRobin{}
	for i := range 10 {
		tenants = append(tenants, fmt.Sprintf("T%02d", i))
	}
	cl := testkit.Client(t, b.Seeds(), kgo.RecordPartitioner(tenantpart.Partitioner(tenants, keyed4, keyed6)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys := append([]string{"UNKNOWN1", "UNKNOWN2"}, tenants...)
	var recs []*kgo.Record
	for _, topic := range []string{keyed4, keyed6, other} {
		for _, k := range keys {
			for range 3 {
				recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte("v")})
			}
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	murmur := kgo.StickyKeyPartitioner(nil)
	for _, r := range recs {
		n := map[string]int{keyed4: 4, keyed6: 6, other: 6}[r.Topic]
		want, assigned := tenants.Partition(string(r.Key), n)
		if !assigned || r.Topic == other {
			want = murmur.ForTopic(r.Topic).Partition(r, n)
		}
		if int(r.Partition) != want {
			t.Errorf("%s key %s landed on %d, want %d", r.Topic, r.Key, r.Partition, want)
		}
	}
	// The spread is the assignment's, not the hash's: ten tenants over four
	// partitions are 3/3/2/2.
	per := map[int32]int{}
	for _, r := range recs {
		if _, ok := tenants.Partition(string(r.Key), 4); ok && r.Topic == keyed4 {
			per[r.Partition]++
		}
	}
	if per[0] != 9 || per[1] != 9 || per[2] != 6 || per[3] != 6 {
		t.Errorf("records per partition of %s = %v, want 9/9/6/6", keyed4, per)
	}
}

func TestNilAssignmentIsMurmur2(t *testing.T) {
	p := tenantpart.Partitioner(nil, "t")
	murmur := kgo.StickyKeyPartitioner(nil)
	for _, k := range []string{"RXX", "RYY", "R1A"} {
		r := &kgo.Record{Topic: "t", Key: []byte(k)}
		if got, want := p.ForTopic("t").Partition(r, 6), murmur.ForTopic("t").Partition(r, 6); got != want {
			t.Errorf("%s: %d, want murmur2's %d", k, got, want)
		}
	}
}
