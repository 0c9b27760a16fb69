package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/esrflow/esrflow/esr/gen"
)

// runGen implements `esrflow gen`: a synthetic ESR trust (one GO v2 full
// file, daily change files, truth.jsonl) written into --out. Output depends
// only on the flags, never on the clock, so a seed reproduces a run exactly.
func runGen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg   gen.Config
		start string
		out   string
		seed  uint64
		quiet bool
	)
	fs.StringVar(&cfg.Tenant, "tenant", "RXX", "tenant ODS code (written as NACS / workplace org code)")
	fs.StringVar(&cfg.VPD, "vpd", "412", "ESR VPD number (file names, header, VPD-prefixed names)")
	fs.IntVar(&cfg.Staff, "staff", 1000, "approximate number of people in the full file")
	fs.IntVar(&cfg.Days, "days", 7, "number of daily change files after the full file")
	fs.Uint64Var(&seed, "seed", 1, "PRNG seed; the same flags give byte-identical output")
	fs.StringVar(&out, "out", "", "output directory (created if missing; required)")
	fs.BoolVar(&cfg.Faults, "faults", false, "plant known-invalid rows in change files (listed in truth.jsonl as kind=quarantine)")
	fs.StringVar(&start, "start", gen.DefaultStart.Format(time.DateOnly), "run date of the full file, YYYY-MM-DD")
	fs.IntVar(&cfg.FirstSeq, "seq", 1, "sequence number of the full file; change files follow one by one")
	fs.BoolVar(&quiet, "q", false, "do not print the summary")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: esrflow gen --out DIR [--tenant RXX] [--vpd 412] [--staff N] [--days D] [--seed S] [--start YYYY-MM-DD] [--faults]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if out == "" {
		fs.Usage()
		return errors.New("--out is required")
	}
	t, err := time.Parse(time.DateOnly, start)
	if err != nil {
		return fmt.Errorf("--start: %w", err)
	}
	cfg.Start, cfg.Seed = t, seed

	res, err := gen.Generate(cfg, gen.DirSink(out))
	if err != nil {
		return err
	}
	if quiet {
		return nil
	}
	st := res.Stats
	fmt.Fprintf(stdout, "wrote %d files (%d rows) and %s to %s\n", len(res.Files), res.Rows, gen.TruthFile, out)
	fmt.Fprintf(stdout, "people in full file: %d (employed %d, ex-employees %d, applicants %d)\n",
		st.People, st.Employees, st.ExEmployees, st.Applicants)
	fmt.Fprintf(stdout, "events: %d  starters %d (scheduled %d, rehires %d)  leavers %d (held %d, late %d)  position-updated %d (attributes %d, added %d, ended %d)\n",
		st.Events, st.Starters, st.ScheduledStarters, st.Rehires, st.Leavers, st.HeldLeavers, st.LateLeavers,
		st.PositionUpdates, st.AttributeChanges, st.AssignmentsAdded, st.AssignmentsEnded)
	fmt.Fprintf(stdout, "no-event scenarios: withdrawn leavers %d, suspensions %d, returns %d, detail changes %d, delete rows %d\n",
		st.WithdrawnLeavers, st.Suspensions, st.Returns, st.DetailChanges, st.DeleteRows)
	if cfg.Faults {
		fmt.Fprintf(stdout, "quarantine rows: %d\n", st.QuarantineRows)
	}
	return nil
}
