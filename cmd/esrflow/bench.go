package main

import (
	"context"
	"flag"
	"io"
	"os"
	"runtime/pprof"

	"github.com/esrflow/esrflow/cmd/esrflow/internal/bench"
	"github.com/esrflow/esrflow/platform/logx"
)

// runBench is `esrflow bench`: the whole stack in this process over a large
// generated trust, with a bare produce/consume through the same broker as
// the yardstick. It is a measurement, not a test: it asserts nothing about
// speed and prints figures.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg bench.Config
	var logLevel, cpuProfile string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Staff, "staff", 20000, "staff in the generated trust (20,000 gives a full file of about 140k rows)")
	fs.IntVar(&cfg.Days, "days", 25, "change files after the full file")
	fs.IntVar(&cfg.LatencyFiles, "latency-files", 20, "last change files dropped one at a time to time drop-to-events")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "generator seed")
	fs.IntVar(&cfg.Partitions, "partitions", 6, "partitions of each internal topic")
	fs.StringVar(&cfg.DataDir, "data", "", "data folder (default: a temporary folder, removed afterwards)")
	fs.StringVar(&logLevel, "log.level", "error", "log level of the services")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
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
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	res.Print(stdout, cfg)
	return nil
}

// startCPUProfile writes a CPU profile to path until the returned stop is
// called; with an empty path it does nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
