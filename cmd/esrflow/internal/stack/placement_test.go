package stack

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
)

// TestStoreFromBeforeTheAssignmentKeepsItsTenantsHashed: a store whose raw
// topic an earlier version filled over several partitions keeps its
// tenants on murmur2 (their state is there), recorded once, while tenants
// onboarded later get the assignment; a new store assigns everyone.
func TestStoreFromBeforeTheAssignmentKeepsItsTenantsHashed(t *testing.T) {
	ctx := context.Background()
	old, err := tenant.Parse("RXX=412,RYY=413")
	if err != nil {
		t.Fatal(err)
	}

	fresh := testkit.Kafka(t, embedded.TopicSpec{Name: schemas.TopicRaw, Partitions: 3})
	dir := t.TempDir()
	set, hashed, err := tenantPlacement(ctx, dir, fresh.Seeds(), old)
	if err != nil || len(hashed) != 0 {
		t.Fatalf("new store: hashed %v, %v", hashed, err)
	}
	if p, ok := set.Partition("RYY", 3); !ok || p != 1 {
		t.Errorf("new store: RYY = %d, %v; want its position 1", p, ok)
	}

	legacy := testkit.Kafka(t, embedded.TopicSpec{Name: schemas.TopicRaw, Partitions: 3})
	cl := testkit.Client(t, legacy.Seeds())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: schemas.TopicRaw, Key: []byte("RXX"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	set, hashed, err = tenantPlacement(ctx, dir, legacy.Seeds(), old)
	if err != nil || len(hashed) != 2 {
		t.Fatalf("store from before: hashed %v, %v; want RXX and RYY", hashed, err)
	}
	for _, code := range []string{"RXX", "RYY"} {
		if _, ok := set.Partition(code, 3); ok {
			t.Errorf("store from before: %s was assigned a partition; want the hash placement", code)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, PlacementFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s:\n%s", PlacementFile, b)

	// The next start reads the record: a tenant onboarded since is assigned.
	grown, err := tenant.Parse("RXX=412,RYY=413,RZZ=414")
	if err != nil {
		t.Fatal(err)
	}
	set, _, err = tenantPlacement(ctx, dir, legacy.Seeds(), grown)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := set.Partition("RXX", 3); ok {
		t.Error("restart: RXX lost its hash placement")
	}
	if p, ok := set.Partition("RZZ", 3); !ok || p != 2 {
		t.Errorf("restart: new tenant RZZ = %d, %v; want its position 2", p, ok)
	}
}
