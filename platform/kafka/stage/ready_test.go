package stage_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/testkit"
)

// holdJoin holds the JoinGroup response until released, so the stage polls
// for a while before it has any partition.
type holdJoin struct{ release chan struct{} }

func (h *holdJoin) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, _ error) {
	if key == int16(kmsg.JoinGroup) {
		<-h.release
	}
}

// gatedRestore is a stateful ticker whose restore waits until released,
// and which is never due to tick: each loop of the runner counts an idle
// tick, so the test can see that the loop goes round.
type gatedRestore struct {
	*counter
	once      sync.Once
	restoring chan struct{}
	release   chan struct{}
}

func (g *gatedRestore) Restore(p int32, key, value []byte) error {
	g.once.Do(func() { close(g.restoring) })
	<-g.release
	return g.counter.Restore(p, key, value)
}

func (g *gatedRestore) Tick(context.Context, int32, *stage.Tx) error { return nil }
func (g *gatedRestore) TickDue(int32) bool                           { return false }

func idleTicks(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "esrflow_stage_ticks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == "idle" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// A stateful stage is ready only once it has joined its group and restored
// every assigned partition: not after a first poll that had no partitions
// yet, and not while its state is being restored.
func TestReadyOnlyWhenJoinedAndRestored(t *testing.T) {
	k := testkit.Kafka(t, embedded.TopicSpec{Name: "in", Partitions: 2}, embedded.TopicSpec{Name: "out", Partitions: 1})
	// A first run leaves state in the changelog.
	produceInput(t, k.Seeds(), 0, 10)
	ctx1, cancel1 := context.WithCancel(context.Background())
	done1 := runStage(t, ctx1, k.Seeds(), newCounter())
	equal(t, readOutput(t, k.Seeds(), 10), expect(10))
	cancel1()
	<-done1

	join := &holdJoin{release: make(chan struct{})}
	proc := &gatedRestore{counter: newCounter(), restoring: make(chan struct{}), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	r, err := stage.New(stage.Config{
		Name: "counter", Group: "g", InstanceID: "a", Input: "in", Changelog: "counter-changelog",
		Brokers: k.Seeds(), TickInterval: 20 * time.Millisecond, ClientOpts: []kgo.Opt{kgo.WithHooks(join)},
	}, proc, stage.Deps{Log: zaptest.NewLogger(t), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	released := false
	t.Cleanup(func() {
		if !released {
			close(join.release)
			close(proc.release)
		}
		cancel()
		<-done
	})

	// The loop has polled several times, without partitions: not ready.
	deadline := time.Now().Add(30 * time.Second)
	for idleTicks(t, reg) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the stage loop did not go round")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := r.Ready(); err == nil {
		t.Fatal("Ready before the stage joined its group (no partition assigned, nothing restored)")
	}

	// Joined, restoring: not ready.
	close(join.release)
	select {
	case <-proc.restoring:
	case <-time.After(30 * time.Second):
		t.Fatal("restore did not start")
	}
	if err := r.Ready(); err == nil {
		t.Fatal("Ready while the state is being restored")
	}

	// Restored: ready.
	close(proc.release)
	released = true
	deadline = time.Now().Add(30 * time.Second)
	for r.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after restore: %v", r.Ready())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
