// Package accesslog writes the api's access log off the request path: a
// request hands its entry to a bounded queue and returns; one goroutine
// writes the queue to the database in batches (one multi-row INSERT per
// batch), so the cost a request pays is a channel send.
//
// Nothing is lost silently. When the queue is full a request waits for room
// for a bounded time (Config.EnqueueWait); only past that is its entry
// dropped, and every drop is counted (esrflow_api_access_log_dropped_total)
// and logged. A batch the database refuses is retried, then counted
// (esrflow_api_access_log_errors_total). Close writes what is queued before
// it returns, so a graceful stop loses nothing.
package accesslog

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Entry is one access log row. It names the client, never its key, and
// holds no request values beyond the (capped) path.
type Entry struct {
	RequestID string
	At        time.Time
	Client    string
	Method    string
	Path      string
	Tenant    string // empty: none (no tenant in the path)
	Status    int
	Duration  time.Duration
}

// Sink writes one batch, all or nothing; a retried batch must be harmless
// (the store ignores a request id it already holds).
type Sink func(ctx context.Context, batch []Entry) error

// Config sizes the writer; zero values take the defaults.
type Config struct {
	// QueueSize bounds the entries waiting to be written (default 65536).
	QueueSize int
	// BatchSize caps one INSERT (default 500).
	BatchSize int
	// FlushInterval is the longest an entry waits for its batch to fill
	// (default 200ms): the log lags the requests by about this much.
	FlushInterval time.Duration
	// EnqueueWait is how long a request waits for room in a full queue
	// before its entry is dropped and counted (default 1s).
	EnqueueWait time.Duration
	// WriteTimeout bounds one attempt at writing a batch (default 10s).
	WriteTimeout time.Duration
	// Retries is how many more times a failed batch is tried (default 3).
	Retries int
}

func (c *Config) defaults() {
	if c.QueueSize <= 0 {
		c.QueueSize = 65536
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 200 * time.Millisecond
	}
	if c.EnqueueWait <= 0 {
		c.EnqueueWait = time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = 3
	}
}

// item is an entry, or (done set) a flush marker: the queue is FIFO, so
// when the marker is reached every entry queued before it is written.
type item struct {
	entry Entry
	done  chan struct{}
}

// Writer is the asynchronous access log.
type Writer struct {
	cfg  Config
	sink Sink
	log  *zap.Logger

	queue   chan item
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once

	written, dropped, failed prometheus.Counter
	depth                    prometheus.GaugeFunc
}

// ErrClosed is returned by Flush after Close.
var ErrClosed = errors.New("access log closed")

// New starts a writer that hands batches to sink. Register its metrics with
// reg (nil: not registered).
func New(cfg Config, sink Sink, log *zap.Logger, reg prometheus.Registerer) (*Writer, error) {
	cfg.defaults()
	if log == nil {
		log = zap.NewNop()
	}
	w := &Writer{
		cfg: cfg, sink: sink, log: log,
		queue: make(chan item, cfg.QueueSize), stop: make(chan struct{}), stopped: make(chan struct{}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "esrflow_api_access_log_written_total",
			Help: "Access log rows written to the database."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "esrflow_api_access_log_dropped_total",
			Help: "Access log rows dropped because the queue stayed full past the enqueue wait."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "esrflow_api_access_log_errors_total",
			Help: "Access log rows whose batch the database refused after every retry."}),
	}
	w.depth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "esrflow_api_access_log_queue",
		Help: "Access log rows waiting to be written."}, func() float64 { return float64(len(w.queue)) })
	if reg != nil {
		for _, c := range []prometheus.Collector{w.written, w.dropped, w.failed, w.depth} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	go w.run()
	return w, nil
}

// Log queues an entry. It returns at once unless the queue is full; then it
// waits up to EnqueueWait and, failing that, drops the entry and counts it.
func (w *Writer) Log(e Entry) {
	select {
	case <-w.stop:
		// After Close nothing writes the queue any more: write this one
		// directly rather than lose it (a request finishing during a stop).
		w.write([]Entry{e})
		return
	default:
	}
	select {
	case w.queue <- item{entry: e}:
		return
	default:
	}
	t := time.NewTimer(w.cfg.EnqueueWait)
	defer t.Stop()
	select {
	case w.queue <- item{entry: e}:
	case <-t.C:
		w.dropped.Inc()
		w.log.Warn("access log queue full: entry dropped", zap.Int("queue", cap(w.queue)), zap.Int("status", e.Status))
	}
}

// Flush returns once every entry queued before the call has been written
// (or counted as failed).
func (w *Writer) Flush(ctx context.Context) error {
	select {
	case <-w.stopped:
		return ErrClosed
	default:
	}
	done := make(chan struct{})
	select {
	case w.queue <- item{done: done}:
	case <-w.stopped:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-w.stopped:
		return nil // Close drained the queue, the marker with it
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes everything queued and stops the writer. Call it after the
// HTTP server has stopped, so no request is still being served.
func (w *Writer) Close() {
	w.once.Do(func() { close(w.stop) })
	<-w.stopped
}

func (w *Writer) run() {
	defer close(w.stopped)
	batch := make([]Entry, 0, w.cfg.BatchSize)
	var waiting []chan struct{}
	flush := func() {
		if len(batch) > 0 {
			w.write(batch)
			batch = batch[:0]
		}
		for _, d := range waiting {
			close(d)
		}
		waiting = waiting[:0]
	}
	tick := time.NewTicker(w.cfg.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case it := <-w.queue:
			if it.done != nil {
				waiting = append(waiting, it.done)
				flush()
				continue
			}
			batch = append(batch, it.entry)
			if len(batch) >= w.cfg.BatchSize {
				flush()
			}
		case <-tick.C:
			flush()
		case <-w.stop:
			// Drain: the HTTP server has stopped, so the queue only shrinks.
			for {
				select {
				case it := <-w.queue:
					if it.done != nil {
						waiting = append(waiting, it.done)
						continue
					}
					batch = append(batch, it.entry)
					if len(batch) >= w.cfg.BatchSize {
						flush()
					}
					continue
				default:
				}
				break
			}
			flush()
			return
		}
	}
}

// write hands a batch to the sink, retrying with a growing pause.
func (w *Writer) write(batch []Entry) {
	pause := 50 * time.Millisecond
	var err error
	for attempt := 0; attempt <= w.cfg.Retries; attempt++ {
		if attempt > 0 {
			time.Sleep(pause)
			pause *= 2
		}
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout)
		err = w.sink(ctx, batch)
		cancel()
		if err == nil {
			w.written.Add(float64(len(batch)))
			return
		}
	}
	w.failed.Add(float64(len(batch)))
	w.log.Error("writing the access log failed", zap.Int("rows", len(batch)), zap.Error(err))
}
