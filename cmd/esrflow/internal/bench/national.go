package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/observe"
	"github.com/esrflow/esrflow/cmd/esrflow/internal/stack"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// SeparateServices are the services the national benchmark runs as their
// own processes, in pipeline order; ingest and the api run in the
// benchmark's process beside the broker and the registry.
var SeparateServices = []string{"normalise", "validate", "publish"}

// stateful are the services given a --state.dir, kept across the restart.
var stateful = map[string]bool{"validate": true, "publish": true}

// NationalConfig sizes a national benchmark run.
type NationalConfig struct {
	// Fraction of the national staff (NationalStaff) generated, spread
	// over Trusts trusts (0: NationalTrusts) of the national size spread.
	Fraction float64
	Trusts   int
	// Days of change files after each trust's full file.
	Days int
	// LatencyStaff is the size of the trust whose change files are timed
	// drop to events: generated at full size whatever the fraction (9,000
	// staff, a mid-sized acute trust, gives change files of about 1,200
	// rows), with LatencyFiles more days than the others, dropped one at a
	// time once the national state is held.
	LatencyStaff, LatencyFiles int
	Seed                       uint64
	Partitions                 int
	// Idle is how long the stack is watched with no file in flight (after
	// the throughput phase, national state held) to measure each process's
	// CPU use at rest: polling, ticks, topic refreshes. 0 skips it.
	Idle time.Duration
	// BinDir holds the service binaries (`make build` puts them in bin/).
	BinDir string
	// DataDir is the run's folder (generated files, broker, state stores,
	// the services' logs); it must not exist or be empty.
	DataDir string
	// Profiles, when set, is a folder for each service's heap profile at
	// its highest RSS over the load and latency phases, and its CPU
	// profile over the first ProfileCPU (0: none) of the throughput phase,
	// or of the latency phase when ProfilePhase is "latency".
	Profiles     string
	ProfileCPU   time.Duration
	ProfilePhase string
	Log          *zap.Logger
}

// ServiceFigures are one separately run service's figures.
type ServiceFigures struct {
	Name string
	// PeakRSS is VmHWM read just before the SIGKILL: the peak over the
	// national load and the latency phase.
	PeakRSS uint64
	// CPU over the throughput phase.
	CPU time.Duration
	// IdleCPU is the CPU used per second of the idle window (1 = a core).
	IdleCPU float64
	// RestartReady is SIGKILL, then start of a new process on the same
	// --state.dir and --instance, to its /readyz answering 200.
	RestartReady time.Duration
	// RestoredRSS is the restarted process's VmHWM once ready.
	RestoredRSS uint64
}

// NationalResult is one national run's figures.
type NationalResult struct {
	Trusts         int // national trusts generated (the latency trust apart)
	Staff          int // their staff, plus the latency trust's
	NationalShare  int // staff of the national trusts alone
	GenTook        time.Duration
	Files, Rows    int // the throughput phase
	Rejected       []string
	Events         int
	Took           time.Duration
	RowsPerSec     float64
	HarnessCPU     time.Duration // broker, registry, ingest, api and the benchmark itself
	HarnessPeakRSS uint64
	HarnessIdleCPU float64
	Services       []ServiceFigures

	LatencyRows                       int // mean rows of a latency file
	LatencyP50, LatencyP99            time.Duration
	LatencySamples                    int
	LatencyHops                       []HopLatency
	RawRecords                        int // esr.raw.v1 records of the throughput phase
	BareTook                          time.Duration
	BareRowsPerSec, PipelineToCeiling float64
}

// RunNational generates the national region (or a fraction of it), runs it
// through the pipeline with normalise, validate and publish as separate
// processes on one broker, and measures.
func RunNational(ctx context.Context, cfg NationalConfig) (NationalResult, error) {
	var res NationalResult
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 6
	}
	if cfg.LatencyFiles < 1 {
		return res, errors.New("at least one latency file")
	}
	if err := NewDataDir(cfg.DataDir); err != nil {
		return res, err
	}
	trusts, err := nationalTrusts(cfg.Fraction, cfg.Trusts)
	if err != nil {
		return res, err
	}
	res.Trusts = len(trusts)

	// Generate, streaming every file to disk.
	genDir := filepath.Join(cfg.DataDir, "gen")
	t0 := time.Now()
	national, latency, err := generateNational(genDir, trusts, cfg)
	if err != nil {
		return res, err
	}
	res.GenTook = time.Since(t0)
	for _, t := range trusts {
		res.NationalShare += t.Staff
	}
	res.Staff = res.NationalShare + cfg.LatencyStaff

	specs := make([]string, 0, len(trusts)+1)
	for _, t := range append(trusts, latencyTrust(cfg)) {
		specs = append(specs, t.Tenant+"="+t.VPD)
	}
	tenantSpec := strings.Join(specs, ",")
	tenants, err := tenant.Parse(tenantSpec)
	if err != nil {
		return res, err
	}

	// Broker, registry, ingest and the api here; the rest as processes.
	st, err := stack.Start(ctx, stack.Config{
		DataDir: cfg.DataDir, KafkaPort: 0, RegistryAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Partitions: cfg.Partitions,
		Tenants: tenants, Settle: 20 * time.Millisecond, Poll: 50 * time.Millisecond, Log: cfg.Log,
		Without: SeparateServices,
	})
	if err != nil {
		return res, err
	}
	defer st.Close()
	logDir := filepath.Join(cfg.DataDir, "logs")
	if err := os.MkdirAll(logDir, 0o750); err != nil {
		return res, err
	}
	procs := make([]*serviceProc, 0, len(SeparateServices))
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for _, name := range SeparateServices {
		args := []string{"--kafka.brokers", strings.Join(st.Seeds(), ","), "--registry.url", st.RegistryURL(),
			"--instance", "bench", "--tenants", tenantSpec, "--log.level", "warn"}
		if stateful[name] {
			args = append(args, "--state.dir", filepath.Join(cfg.DataDir, "state", name))
		}
		if cfg.Profiles != "" {
			args = append(args, "--debug.pprof")
		}
		if name == "publish" {
			// The files are dated from 2024: today's clock would confirm
			// every held leaver at once; the files' run dates do instead.
			args = append(args, "--schedule.disable-clock")
		}
		p := &serviceProc{name: name, bin: filepath.Join(cfg.BinDir, name), args: args, logs: filepath.Join(logDir, name+".log")}
		if err := p.start(); err != nil {
			return res, err
		}
		procs = append(procs, p)
	}
	for _, p := range procs {
		if _, err := p.waitReady(ctx, time.Now(), 2*time.Minute); err != nil {
			return res, err
		}
	}
	follow := newReportWaiter(ctx, st)
	var prof *profiler
	if cfg.Profiles != "" {
		if prof, err = startProfiles(ctx, cfg, procs); err != nil {
			return res, err
		}
		defer prof.cancel() // a run that fails part way leaves no watcher behind
	}

	// Throughput: every trust's full file, then each day's change files,
	// all at once.
	bulk := bulkFiles(national, latency, cfg.Days)
	cpu0, err := procCPU(procs)
	if err != nil {
		return res, err
	}
	start, harness0 := time.Now(), ProcessCPU()
	if cfg.ProfilePhase != "latency" {
		prof.cpu(cfg.ProfileCPU)
	}
	for _, f := range bulk {
		if err := dropFrom(genDir, st.DropDir(), f); err != nil {
			return res, err
		}
		res.Rows += f.Rows
	}
	if err := follow.wait(ctx, len(bulk), 2*time.Hour); err != nil {
		return res, err
	}
	res.Took = time.Since(start)
	res.HarnessCPU = ProcessCPU() - harness0
	res.Files = len(bulk)
	res.RowsPerSec = float64(res.Rows) / res.Took.Seconds()
	cpu1, err := procCPU(procs)
	if err != nil {
		return res, err
	}
	rawEnd, err := endOffsets(ctx, st.Seeds(), schemas.TopicRaw)
	if err != nil {
		return res, err
	}
	idle, harnessIdle, err := idleCPU(ctx, procs, cfg.Idle)
	if err != nil {
		return res, err
	}
	res.HarnessIdleCPU = harnessIdle

	// Latency: one large trust's change files, one at a time, with the
	// national state held; drop to report (publish commits a file's events
	// and its report in one transaction).
	hops, err := newHopTimer(ctx, st.Seeds())
	if err != nil {
		return res, err
	}
	defer hops.close()
	var lat []time.Duration
	var spans [][]time.Duration
	if cfg.ProfilePhase == "latency" {
		prof.cpu(cfg.ProfileCPU)
	}
	for i, f := range latency.Files[1+cfg.Days:] {
		t := time.Now()
		if err := dropFrom(genDir, st.DropDir(), f); err != nil {
			return res, err
		}
		if err := follow.wait(ctx, len(bulk)+i+1, 10*time.Minute); err != nil {
			return res, err
		}
		reported := time.Now()
		lat = append(lat, reported.Sub(t))
		res.LatencyRows += f.Rows
		writes, err := hops.lastWrites(ctx)
		if err != nil {
			return res, err
		}
		spans = append(spans, hopSpans(t, reported, writes))
	}
	res.LatencyHops = hopLatencies(spans)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res.LatencySamples = len(lat)
	res.LatencyRows /= len(lat)
	res.LatencyP50, res.LatencyP99 = percentile(lat, 50), percentile(lat, 99)
	for _, r := range follow.reports() {
		if r.Status != internalv1.FileStatusAccepted {
			reason := ""
			if r.Reason != nil {
				reason = *r.Reason
			}
			res.Rejected = append(res.Rejected, fmt.Sprintf("%s/%s: %s %s", r.Tenant, r.File.Name, r.Status, reason))
		}
		for _, n := range r.EventsEmitted {
			res.Events += int(n)
		}
	}

	if err := prof.stop(); err != nil {
		return res, err
	}

	// Restart: each service SIGKILLed with its state held, started again on
	// the same state folder and instance, timed to ready.
	for i, p := range procs {
		before, err := p.stats()
		if err != nil {
			return res, err
		}
		p.kill()
		t := time.Now()
		if err := p.start(); err != nil {
			return res, err
		}
		ready, err := p.waitReady(ctx, t, 5*time.Minute)
		if err != nil {
			return res, err
		}
		after, err := p.stats()
		if err != nil {
			return res, err
		}
		res.Services = append(res.Services, ServiceFigures{Name: p.name, PeakRSS: before.PeakRSS,
			CPU: cpu1[i] - cpu0[i], IdleCPU: idle[i], RestartReady: ready, RestoredRSS: after.PeakRSS})
	}
	res.HarnessPeakRSS = PeakRSS()

	// The ceiling: the throughput phase's esr.raw.v1 records through four
	// bare exactly-once hops on the same broker.
	recs, err := rawRecords(ctx, st.Seeds(), st.RegistryURL(), rawEnd)
	if err != nil {
		return res, err
	}
	res.RawRecords = len(recs)
	if res.BareTook, err = Bare4(ctx, st.Seeds(), st.RegistryURL(), int32(cfg.Partitions), recs, cfg.Log); err != nil {
		return res, err
	}
	// Credited with the same rows as the pipeline (ingest wrote these
	// records for them), so the ratio is the ratio of the times.
	res.BareRowsPerSec = float64(res.Rows) / res.BareTook.Seconds()
	res.PipelineToCeiling = res.RowsPerSec / res.BareRowsPerSec
	return res, nil
}

// latencyTrust is the full-size trust whose change files are timed.
func latencyTrust(cfg NationalConfig) gen.Trust {
	return gen.Trust{Tenant: "RZZ", VPD: "999", Staff: cfg.LatencyStaff}
}

// generateNational writes the national trusts as one region (transfers
// stay within each ICS, so the generator holds one ICS at a time) and the
// latency trust under genDir, each trust's files under <TENANT>/.
func generateNational(genDir string, trusts []gen.Trust, cfg NationalConfig) ([]gen.Result, gen.Result, error) {
	transfers := 0
	if len(trusts) > 1 {
		transfers = 1
	}
	rr, err := gen.GenerateRegion(gen.RegionConfig{Trusts: trusts, Days: cfg.Days, Seed: cfg.Seed, TransfersPerDay: transfers},
		tenantSink{root: genDir})
	if err != nil {
		return nil, gen.Result{}, err
	}
	national := rr.Trusts
	lt := latencyTrust(cfg)
	latency, err := gen.Generate(gen.Config{Tenant: lt.Tenant, VPD: lt.VPD, Staff: lt.Staff, Days: cfg.Days + cfg.LatencyFiles, Seed: cfg.Seed},
		tenantSink{root: genDir, prefix: lt.Tenant + "/"})
	if err != nil {
		return nil, gen.Result{}, err
	}
	for i := range latency.Files {
		latency.Files[i].Path = lt.Tenant + "/" + latency.Files[i].Name
	}
	return national, latency, nil
}

// bulkFiles are the throughput phase's files in the order ESR would send
// them: day by day, every trust's file of a day before the next day's.
func bulkFiles(national []gen.Result, latency gen.Result, days int) []gen.FileInfo {
	var out []gen.FileInfo
	for d := 0; d <= days; d++ {
		for _, t := range national {
			if d < len(t.Files) {
				out = append(out, t.Files[d])
			}
		}
		out = append(out, latency.Files[d])
	}
	return out
}

// dropFrom moves a generated file into its tenant's drop folder (one
// rename on the same file system: ingest never sees it half written).
func dropFrom(genDir, dropDir string, f gen.FileInfo) error {
	return os.Rename(filepath.Join(genDir, filepath.FromSlash(f.Path)), filepath.Join(dropDir, filepath.FromSlash(f.Path)))
}

func procCPU(procs []*serviceProc) ([]time.Duration, error) {
	out := make([]time.Duration, len(procs))
	for i, p := range procs {
		st, err := p.stats()
		if err != nil {
			return nil, err
		}
		out[i] = st.CPU
	}
	return out, nil
}

// idleCPU watches the processes for d with no file in flight and returns
// the CPU each used per second, and the benchmark process's.
func idleCPU(ctx context.Context, procs []*serviceProc, d time.Duration) ([]float64, float64, error) {
	out := make([]float64, len(procs))
	if d <= 0 {
		return out, 0, nil
	}
	before, err := procCPU(procs)
	if err != nil {
		return nil, 0, err
	}
	h0, t0 := ProcessCPU(), time.Now()
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	after, err := procCPU(procs)
	if err != nil {
		return nil, 0, err
	}
	took := time.Since(t0).Seconds()
	for i := range procs {
		out[i] = (after[i] - before[i]).Seconds() / took
	}
	return out, (ProcessCPU() - h0).Seconds() / took, nil
}

// endOffsets are topic's end offsets by partition.
func endOffsets(ctx context.Context, seeds []string, topic string) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// rawRecords reads esr.raw.v1's committed records below the given end
// offsets: what ingest wrote in the throughput phase.
func rawRecords(ctx context.Context, seeds []string, registry string, below map[int32]int64) ([]*kgo.Record, error) {
	rd, err := observe.NewReader(seeds, registry)
	if err != nil {
		return nil, err
	}
	var out []*kgo.Record
	err = rd.Records(ctx, "^"+regexp.QuoteMeta(schemas.TopicRaw)+"$", func(r *kgo.Record) error {
		if r.Offset < below[r.Partition] {
			out = append(out, &kgo.Record{Key: r.Key, Value: r.Value})
		}
		return nil
	})
	return out, err
}

// NewDataDir makes dir, or accepts it if it exists and is empty: the run
// writes there, and its caller may remove it afterwards without removing
// anything else.
func NewDataDir(dir string) error {
	if dir == "" {
		return errors.New("no data folder")
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o750)
	}
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("data folder %s is not empty", dir)
	}
	return nil
}
