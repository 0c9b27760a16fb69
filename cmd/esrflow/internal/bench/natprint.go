package bench

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/esrflow/esrflow/esr/gen"
)

// Print writes the run's figures as markdown (readable as text): the run,
// a table per separate service, the totals, and the linear extrapolation
// to the national population.
func (r NationalResult) Print(w io.Writer, cfg NationalConfig) {
	mib := func(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	perRow := func(cpu time.Duration) string {
		return fmt.Sprintf("%.1f µs", float64(cpu.Microseconds())/float64(max(r.Rows, 1)))
	}
	scale := float64(gen.NationalStaff) / float64(max(r.Staff, 1))

	fmt.Fprintf(w, "## esrflow national benchmark\n\n")
	fmt.Fprintf(w, "- machine: %d CPUs, GOMAXPROCS %d; %d partitions per internal topic; one embedded broker\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), cfg.Partitions)
	fmt.Fprintf(w, "- fraction: %g of %d national staff: %d trusts, %d staff (the national spread, scaled), plus the latency trust RZZ at full size (%d staff); %d staff in all\n",
		cfg.Fraction, gen.NationalStaff, r.Trusts, r.NationalShare, cfg.LatencyStaff, r.Staff)
	fmt.Fprintf(w, "- files: every trust's full file and %d change files (seed %d), generated in %s\n", cfg.Days, cfg.Seed, ms(r.GenTook))
	fmt.Fprintf(w, "- separate processes: normalise, validate, publish; in the benchmark's process: broker, registry, ingest, api\n\n")

	cores := func(c float64) string { return fmt.Sprintf("%.0f %%", 100*c) }
	fmt.Fprintf(w, "| service | peak RSS | CPU (throughput phase) | CPU per row | CPU at rest (of a core, %s) | SIGKILL restart → /readyz | RSS after restore |\n", cfg.Idle)
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|\n")
	for _, s := range r.Services {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", s.Name, mib(s.PeakRSS), ms(s.CPU), perRow(s.CPU), cores(s.IdleCPU), ms(s.RestartReady), mib(s.RestoredRSS))
	}
	fmt.Fprintf(w, "| broker + registry + ingest + api (benchmark process) | %s | %s | %s | %s | — | — |\n\n",
		mib(r.HarnessPeakRSS), ms(r.HarnessCPU), perRow(r.HarnessCPU), cores(r.HarnessIdleCPU))

	fmt.Fprintf(w, "| total | value |\n|---|---|\n")
	fmt.Fprintf(w, "| end to end | %d rows in %d files in %s = %.0f rows/s (%d events) |\n", r.Rows, r.Files, ms(r.Took), r.RowsPerSec, r.Events)
	fmt.Fprintf(w, "| files not accepted | %d |\n", len(r.Rejected))
	fmt.Fprintf(w, "| drop → events, national state held | p50 %s, p99 %s (%d change files of RZZ, %d rows each on average) |\n",
		ms(r.LatencyP50), ms(r.LatencyP99), r.LatencySamples, r.LatencyRows)
	for _, h := range r.LatencyHops {
		fmt.Fprintf(w, "| … %s | p50 %s, max %s |\n", h.Name, ms(h.P50), ms(h.Max))
	}
	fmt.Fprintf(w, "| bare 4-hop ceiling | %d esr.raw.v1 records (the same rows) in %s = %.0f rows/s |\n", r.RawRecords, ms(r.BareTook), r.BareRowsPerSec)
	fmt.Fprintf(w, "| pipeline / ceiling | %.2f |\n\n", r.PipelineToCeiling)

	var cpu time.Duration
	for _, s := range r.Services {
		cpu += s.CPU
	}
	cpu += r.HarnessCPU
	natRows := float64(r.Rows) * scale
	fmt.Fprintf(w, "Linear extrapolation to %d staff (x%.1f; the files stay one full file and %d change files a trust, so costs per file or per tenant do not grow: where CPU per row falls as the fraction rises, time and CPU below are upper bounds):\n\n",
		gen.NationalStaff, scale, cfg.Days)
	fmt.Fprintf(w, "- scale with the population: rows %.0f; time at this run's rows/s %s; CPU of every process %s\n",
		natRows, (time.Duration(natRows / r.RowsPerSec * float64(time.Second))).Round(time.Second),
		time.Duration(float64(cpu)*scale).Round(time.Second))
	fmt.Fprintf(w, "- expected flat: CPU per row (less fixed costs per file or per tenant, which fall per row as the fraction grows); RSS and restart to ready of normalise (no state held), validate and publish (state in on-disk stores, caught up from their checkpoints); drop → events of one trust's file\n")
	fmt.Fprintf(w, "- expected to scale: the benchmark process's RSS with what the broker holds\n")
	for _, f := range r.Rejected {
		fmt.Fprintf(w, "\nnot accepted: %s", f)
	}
}
