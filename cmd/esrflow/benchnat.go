package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/bench"
	"github.com/esrflow/esrflow/platform/logx"
)

// runBenchNational is `esrflow bench-national`: the national region (or a
// fraction of it) through normalise, validate and publish run as separate
// processes on one broker, with per-service memory, CPU and restart
// figures and a bare four-hop ceiling. A measurement, not a test: it
// prints figures and asserts nothing about them.
func runBenchNational(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := bench.NationalConfig{LatencyStaff: 9000}
	var logLevel, out, cpuProfile string
	var keep bool
	fs := flag.NewFlagSet("bench-national", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&cfg.Fraction, "fraction", 0.02, "fraction of the 1.6M national staff to generate (figures are extrapolated linearly to 1)")
	fs.IntVar(&cfg.Trusts, "trusts", 0, "only the first N of the national trusts (0: all 205)")
	fs.IntVar(&cfg.Days, "days", 2, "change files per trust after its full file")
	fs.IntVar(&cfg.LatencyFiles, "latency-files", 20, "change files of the full-size latency trust dropped one at a time, national state held")
	fs.IntVar(&cfg.LatencyStaff, "latency-staff", cfg.LatencyStaff, "staff of the latency trust, generated at full size whatever the fraction (9,000: change files of about 1,200 rows)")
	fs.DurationVar(&cfg.Idle, "idle", 5*time.Second, "after the throughput phase, watch each process this long with no file in flight: its CPU at rest (0 skips)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "generator seed")
	fs.IntVar(&cfg.Partitions, "partitions", 6, "partitions of each internal topic")
	fs.StringVar(&cfg.BinDir, "bin", "", "folder of the service binaries normalise, validate and publish (default: this executable's folder, where make build puts them)")
	fs.StringVar(&cfg.DataDir, "data", "", "the run's folder, new or empty (default: a temporary folder)")
	fs.BoolVar(&keep, "keep", false, "keep the data folder afterwards (the services' logs are in its logs/)")
	fs.StringVar(&out, "out", "", "also write the figures (markdown) to this file")
	fs.StringVar(&logLevel, "log.level", "error", "log level of the in-process services")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the benchmark's own process (broker, registry, ingest, api) to this file")
	fs.StringVar(&cfg.Profiles, "profiles", "", "run the services with --debug.pprof and write to this folder each one's heap profile at its highest RSS and its CPU profile over the start of --profile-phase")
	fs.DurationVar(&cfg.ProfileCPU, "profile-cpu", 30*time.Second, "with --profiles: the CPU profiles' window from the start of --profile-phase (0: none)")
	fs.StringVar(&cfg.ProfilePhase, "profile-phase", "throughput", "with --profiles: the phase whose start the CPU profiles cover: throughput or latency")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.ProfilePhase != "throughput" && cfg.ProfilePhase != "latency" {
		return fmt.Errorf("--profile-phase %q: throughput or latency", cfg.ProfilePhase)
	}
	if cfg.BinDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		cfg.BinDir = filepath.Dir(exe)
	}
	for _, name := range bench.SeparateServices {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, name)); err != nil {
			return fmt.Errorf("service binary %s not in %s (run `make build`, or give --bin)", name, cfg.BinDir)
		}
	}
	if cfg.DataDir == "" {
		tmp, err := os.MkdirTemp("", "esrflow-bench-national-")
		if err != nil {
			return err
		}
		cfg.DataDir = tmp
	}
	// Removed afterwards (unless --keep), so it must hold nothing else.
	if err := bench.NewDataDir(cfg.DataDir); err != nil {
		return err
	}
	if !keep {
		defer func() { _ = os.RemoveAll(cfg.DataDir) }()
	} else {
		fmt.Fprintf(stderr, "data folder: %s\n", cfg.DataDir)
	}
	log, err := logx.New(logx.Config{Level: logLevel, Format: "console"})
	if err != nil {
		return err
	}
	cfg.Log = log
	stopProfile, err := startCPUProfile(cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	res, err := bench.RunNational(ctx, cfg)
	if err != nil {
		return err
	}
	res.Print(stdout, cfg)
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		res.Print(f, cfg)
		if err := f.Close(); err != nil {
			return err
		}
	}
	if len(res.Rejected) > 0 {
		return errors.New("some files were not accepted: the figures are not of the whole region")
	}
	return nil
}
