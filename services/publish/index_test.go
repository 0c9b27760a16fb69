package publish

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/statestore"
	"github.com/esrflow/esrflow/platform/testkit"
)

// TestLinkIndexCatchesUpFromItsCheckpoint: the link index lives in a state
// store; a restarted instance reads the index topic from its checkpoint,
// so what it missed (a new tenant's facts, a tombstone) is applied and
// nothing it held before is lost.
func TestLinkIndexCatchesUpFromItsCheckpoint(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: DefaultLinkIndex, Partitions: 1})
	cl := testkit.Client(t, k.Seeds())
	produce := func(nhs, tenant string, value []byte) {
		t.Helper()
		r := &kgo.Record{Topic: DefaultLinkIndex, Key: []byte(nhsDigest(nhs) + "/" + tenant), Value: value}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{Brokers: k.Seeds(), LinkIndex: DefaultLinkIndex}
	dir := filepath.Join(t.TempDir(), "link-index")
	run := func(check func(x *linkIndex)) {
		t.Helper()
		store, err := statestore.Open(statestore.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		x := newLinkIndex(store)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- x.run(ctx, cfg, zaptest.NewLogger(t)) }()
		deadline := time.Now().Add(30 * time.Second)
		for !x.caught.Load() {
			if time.Now().After(deadline) {
				t.Fatal("the link index never caught up")
			}
			time.Sleep(10 * time.Millisecond)
		}
		check(x)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("run = %v", err)
		}
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
	}

	produce("1000001", "RXX", []byte(`{"employed":true}`))
	produce("1000001", "RYY", []byte(`{"transfer_leaving":true}`))
	produce("1000002", "RXX", []byte(`not json`)) // skipped, loudly
	run(func(x *linkIndex) {
		got := x.tenants("1000001")
		if len(got) != 2 || !got["RXX"].Employed || !got["RYY"].TransferLeaving {
			t.Fatalf("first run: %v", got)
		}
		if got := x.tenants("1000002"); len(got) != 0 {
			t.Fatalf("a bad record was applied: %v", got)
		}
	})

	checkpoint := func(want int64) {
		t.Helper()
		store, err := statestore.Open(statestore.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		if cp, ok, _ := store.Checkpoint(0); !ok || cp.Next != want {
			t.Fatalf("checkpoint %+v (%v), want the end of the topic's %d records", cp, ok, want)
		}
	}
	checkpoint(3) // the restart below reads from here

	// While the instance is down: RYY's person is gone, RZZ employs them.
	produce("1000001", "RYY", nil)
	produce("1000001", "RZZ", []byte(`{"employed":true}`))
	run(func(x *linkIndex) {
		got := x.tenants("1000001")
		if len(got) != 2 || !got["RXX"].Employed || !got["RZZ"].Employed {
			t.Fatalf("after the restart: %v, want RXX and RZZ employed, RYY gone", got)
		}
	})
	checkpoint(5)
}
