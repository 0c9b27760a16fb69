package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/stack"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Config sizes a benchmark run.
type Config struct {
	Staff, Days int // the generated trust: a full file then Days change files
	// LatencyFiles are the last change files, dropped one at a time after
	// the rest has been processed, to time drop-to-events on an idle stack.
	LatencyFiles int
	Seed         uint64
	Partitions   int
	DataDir      string // empty: a temporary folder, removed afterwards
	Log          *zap.Logger
}

// Result is one run's figures.
type Result struct {
	Files, Rows int
	Events      int
	Took        time.Duration
	// CPU is the process's CPU time over the throughput phase (every
	// service, the broker and the registry share the process).
	CPU                time.Duration
	RowsPerSec         float64
	LatencyP50         time.Duration
	LatencyP99         time.Duration
	LatencySamples     int
	PeakRSS, PeakHeap  uint64
	BareRows           int
	BareTook           time.Duration
	BareRowsPerSec     float64
	PipelineToBareRate float64
	// Raw is esr.raw.v1 after every file (throughput and latency phases).
	Raw RawTopic
}

// Run generates a trust, runs it through an in-process stack and measures.
func Run(ctx context.Context, cfg Config) (Result, error) {
	var res Result
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.LatencyFiles <= 0 || cfg.LatencyFiles >= cfg.Days {
		return res, fmt.Errorf("latency files must be between 1 and days-1")
	}
	dir := cfg.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "esrflow-bench-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	sink := &gen.MemSink{}
	g, err := gen.Generate(gen.Config{Tenant: "RXX", VPD: "412", Staff: cfg.Staff, Days: cfg.Days, Seed: cfg.Seed}, sink)
	if err != nil {
		return res, err
	}
	tenants, err := tenant.Parse("RXX=412")
	if err != nil {
		return res, err
	}
	// Publish's clock runs from the generated trust's start, as the files'
	// dates say, so held leavers are confirmed by the files (counted in their
	// reports) rather than all at once by today's date.
	began := time.Now()
	clock := func() time.Time { return gen.DefaultStart.Add(3 * time.Hour).Add(time.Since(began)) }
	heap := SampleHeap(50 * time.Millisecond)
	st, err := stack.Start(ctx, stack.Config{
		DataDir: dir, KafkaPort: 0, RegistryAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Partitions: cfg.Partitions,
		Tenants: tenants, Settle: 10 * time.Millisecond, Poll: 20 * time.Millisecond, Log: cfg.Log, Now: clock,
	})
	if err != nil {
		heap.Stop()
		return res, err
	}
	defer st.Close()
	follow := newReportWaiter(ctx, st)

	// Throughput: everything but the latency files at once.
	bulk := g.Files[:len(g.Files)-cfg.LatencyFiles]
	start, cpu0 := time.Now(), ProcessCPU()
	for _, f := range bulk {
		if err := drop(st.DropDir(), f.Name, sink.Bytes(f.Name)); err != nil {
			return res, err
		}
		res.Rows += f.Rows
	}
	if err := follow.wait(ctx, len(bulk), 30*time.Minute); err != nil {
		return res, err
	}
	res.Took = time.Since(start)
	res.CPU = ProcessCPU() - cpu0
	res.Files = len(bulk)
	res.RowsPerSec = float64(res.Rows) / res.Took.Seconds()

	// Latency: one change file at a time on an idle stack, drop to report
	// (publish commits a file's events and its report in one transaction,
	// so the report's arrival is when its events became visible).
	var lat []time.Duration
	for i, f := range g.Files[len(bulk):] {
		t0 := time.Now()
		if err := drop(st.DropDir(), f.Name, sink.Bytes(f.Name)); err != nil {
			return res, err
		}
		if err := follow.wait(ctx, len(bulk)+i+1, 5*time.Minute); err != nil {
			return res, err
		}
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res.LatencySamples = len(lat)
	res.LatencyP50 = percentile(lat, 50)
	res.LatencyP99 = percentile(lat, 99)
	for _, r := range follow.reports() {
		if r.Status != internalv1.FileStatusAccepted {
			return res, fmt.Errorf("%s was rejected: %v", r.File.Name, r.Reason)
		}
		for _, n := range r.EventsEmitted {
			res.Events += int(n)
		}
	}
	res.PeakHeap = heap.Stop()
	res.PeakRSS = PeakRSS()
	if res.Raw, err = readRaw(ctx, st.Seeds(), st.RegistryURL()); err != nil {
		return res, err
	}

	// The yardstick: the same rows through the same broker, produce then
	// consume, no processing.
	files := make([][]byte, 0, len(bulk))
	for _, f := range bulk {
		files = append(files, sink.Bytes(f.Name))
	}
	res.BareRows, res.BareTook, err = Bare(ctx, st.Seeds(), "RXX", int32(cfg.Partitions), files)
	if err != nil {
		return res, err
	}
	res.BareRowsPerSec = float64(res.BareRows) / res.BareTook.Seconds()
	res.PipelineToBareRate = res.RowsPerSec / res.BareRowsPerSec
	return res, nil
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return sorted[i-1]
}

func drop(dropDir, name string, b []byte) error {
	dir := filepath.Join(dropDir, "RXX")
	tmp := filepath.Join(dir, "."+name+".part")
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// Print writes the figures.
func (r Result) Print(w io.Writer, cfg Config) {
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	fmt.Fprintf(w, "esrflow end-to-end benchmark (%d CPUs, GOMAXPROCS %d, %d partitions)\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), cfg.Partitions)
	fmt.Fprintf(w, "  trust:            %d staff, full file + %d change files, seed %d\n", cfg.Staff, cfg.Days, cfg.Seed)
	fmt.Fprintf(w, "  throughput:       %d files, %d rows in %s = %.0f rows/s end to end (%d events)\n", r.Files, r.Rows, r.Took.Round(time.Millisecond), r.RowsPerSec, r.Events)
	fmt.Fprintf(w, "  CPU time:         %s over the throughput phase (whole process)\n", r.CPU.Round(time.Millisecond))
	fmt.Fprintf(w, "  esr.raw.v1:       %d records, %.1f MiB (keys and values, all %d files), %d rows counted on FILE_END instead\n",
		r.Raw.Records, float64(r.Raw.Bytes)/(1<<20), r.Files+r.LatencySamples, r.Raw.Ignored)
	fmt.Fprintf(w, "  drop -> events:   p50 %s, p99 %s over %d change files dropped one at a time\n", r.LatencyP50.Round(time.Millisecond), r.LatencyP99.Round(time.Millisecond), r.LatencySamples)
	fmt.Fprintf(w, "  peak memory:      %.0f MiB RSS (whole process: broker, registry, 5 services), %.0f MiB Go heap\n", mib(r.PeakRSS), mib(r.PeakHeap))
	fmt.Fprintf(w, "  bare broker:      %d rows produced + consumed in %s = %.0f rows/s\n", r.BareRows, r.BareTook.Round(time.Millisecond), r.BareRowsPerSec)
	fmt.Fprintf(w, "  pipeline / bare:  %.2f\n", r.PipelineToBareRate)
}
