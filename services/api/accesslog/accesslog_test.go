package accesslog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// recorder is a sink that keeps every batch it is handed. (The api's tests
// run the writer against SQLite and PostgreSQL; these check the queueing
// rules, which need a sink that can be made slow or failing on demand.)
type recorder struct {
	mu      sync.Mutex
	batches [][]Entry
	fail    int           // fail this many calls first
	gate    chan struct{} // when set, each call waits for it
}

func (r *recorder) sink(ctx context.Context, b []Entry) error {
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return errors.New("database unavailable")
	}
	r.batches = append(r.batches, append([]Entry(nil), b...))
	return nil
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.batches {
		for _, e := range b {
			out = append(out, e.RequestID)
		}
	}
	return out
}

func entry(i int) Entry { return Entry{RequestID: fmt.Sprintf("r%03d", i), Status: 200} }

// Entries are written in order, in batches no bigger than BatchSize, and a
// Flush returns only once the entries before it are written.
func TestBatchesAndFlush(t *testing.T) {
	r := &recorder{}
	w, err := New(Config{BatchSize: 10, FlushInterval: time.Hour}, r.sink, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 25 {
		w.Log(entry(i))
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ids := r.ids()
	if len(ids) != 25 {
		t.Fatalf("after Flush %d entries written, want 25", len(ids))
	}
	for i, id := range ids {
		if id != entry(i).RequestID {
			t.Fatalf("entry %d is %s: out of order", i, id)
		}
	}
	r.mu.Lock()
	sizes := fmt.Sprint(len(r.batches[0]), len(r.batches[1]), len(r.batches[2]))
	r.mu.Unlock()
	if sizes != "10 10 5" {
		t.Errorf("batch sizes = %s, want 10 10 5", sizes)
	}
}

// Close writes what is still queued; an entry logged after Close is still
// written (a request finishing during a stop).
func TestCloseDrains(t *testing.T) {
	r := &recorder{}
	w, err := New(Config{BatchSize: 1000, FlushInterval: time.Hour}, r.sink, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		w.Log(entry(i))
	}
	w.Close()
	if n := len(r.ids()); n != 7 {
		t.Errorf("after Close %d entries written, want 7", n)
	}
	w.Log(entry(7))
	if n := len(r.ids()); n != 8 {
		t.Errorf("an entry logged after Close: %d written, want 8", n)
	}
	if err := w.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
}

// A failing batch is retried; one that keeps failing is counted.
func TestRetriesThenCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := &recorder{fail: 2}
	w, err := New(Config{FlushInterval: time.Hour, Retries: 2}, r.sink, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	w.Log(entry(1))
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(r.ids()); n != 1 {
		t.Errorf("after two failures and a success %d written, want 1", n)
	}
	r.mu.Lock()
	r.fail = 3
	r.mu.Unlock()
	w.Log(entry(2))
	w.Close()
	if got := testutil.ToFloat64(w.failed); got != 1 {
		t.Errorf("errors_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(w.written); got != 1 {
		t.Errorf("written_total = %v, want 1", got)
	}
}

// With the database stuck and the queue full, a request waits EnqueueWait
// and its entry is dropped and counted, never silently; once the database
// answers again, everything queued is written.
func TestFullQueueWaitsThenCountsDrop(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	w, err := New(Config{QueueSize: 2, BatchSize: 1, FlushInterval: time.Hour, EnqueueWait: 20 * time.Millisecond}, r.sink, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// One entry is taken by the writer (stuck in the sink), two fill the
	// queue; the fourth finds no room.
	w.Log(entry(0))
	deadline := time.Now().Add(10 * time.Second)
	for len(w.queue) != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	w.Log(entry(1))
	w.Log(entry(2))
	w.Log(entry(3))
	if got := testutil.ToFloat64(w.dropped); got != 1 {
		t.Errorf("dropped_total = %v, want 1", got)
	}
	close(r.gate)
	w.Close()
	if got := fmt.Sprint(r.ids()); got != "[r000 r001 r002]" {
		t.Errorf("written = %s, want r000 r001 r002", got)
	}
}
