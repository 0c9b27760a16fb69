package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/esrflow/esrflow/esr/gen"
)

// runGen implements `esrflow gen`: a synthetic ESR trust (one GO v2 full
// file, daily change files, truth.jsonl) written into --out, or with
// --region several trusts with transfers between them. The last file runs
// today (Europe/London) unless --end-date or --start says otherwise; with
// either, output depends only on the flags, so a seed reproduces a run
// exactly.
func runGen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg       gen.Config
		start     string
		end       string
		out       string
		seed      uint64
		quiet     bool
		region    string
		transfers int
		national  bool
		fraction  float64
	)
	fs.StringVar(&cfg.Tenant, "tenant", "RXX", "tenant ODS code (written as NACS / workplace org code)")
	fs.StringVar(&cfg.VPD, "vpd", "412", "ESR VPD number (file names, header, VPD-prefixed names)")
	fs.IntVar(&cfg.Staff, "staff", 1000, "approximate number of people in the full file")
	fs.IntVar(&cfg.Days, "days", 7, "number of daily change files after the full file")
	fs.Uint64Var(&seed, "seed", 1, "PRNG seed; the same flags give byte-identical output")
	fs.StringVar(&out, "out", "", "output directory (created if missing; required)")
	fs.BoolVar(&cfg.Faults, "faults", false, "plant known-invalid rows in change files (listed in truth.jsonl as kind=quarantine)")
	fs.StringVar(&end, "end-date", "", "run date of the last change file, YYYY-MM-DD (default: today in Europe/London, so the files look like a live feed)")
	fs.StringVar(&start, "start", "", "run date of the full file, YYYY-MM-DD (instead of --end-date)")
	fs.IntVar(&cfg.FirstSeq, "seq", 1, "sequence number of the full file; change files follow one by one")
	fs.IntVar(&cfg.FullEvery, "full-every", 0, "write change file k as a full file (GOF) when k % N == 0; 0 = never")
	fs.StringVar(&region, "region", "", "several trusts with transfers between them, TENANT=VPD:STAFF[@GROUP],... (then --tenant, --vpd, --staff and --seq are not used); with groups, transfers stay within a group")
	fs.IntVar(&transfers, "transfers", 1, "with --region: transfers between trusts per day (0 = none); with --national: per ICS per day")
	fs.BoolVar(&national, "national", false, "the national region: 205 synthetic trusts (RAA.., VPD 100..) of realistic sizes in 42 ICSs, about 1.6M staff x --fraction (docs/generator.md)")
	fs.Float64Var(&fraction, "fraction", 1, "with --national: the share of the national staff to generate, e.g. 0.01 (more than 0, at most 1)")
	fs.StringVar(&cfg.Format, "format", gen.FormatGOv2, "file format of the trust's history: go-v2, go-v1 or csv (the truth is the same)")
	fs.BoolVar(&quiet, "q", false, "do not print the summary")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: esrflow gen --out DIR [--tenant RXX] [--vpd 412] [--staff N] [--days D] [--seed S] [--end-date YYYY-MM-DD | --start YYYY-MM-DD] [--full-every N] [--faults]")
		fmt.Fprintln(stderr, "       esrflow gen --out DIR --region RXX=412:2000,RYY=413:1500 [--transfers N] [--days D] [--seed S] [--end-date YYYY-MM-DD | --start YYYY-MM-DD] [--full-every N] [--faults]")
		fmt.Fprintln(stderr, "       esrflow gen --out DIR --national [--fraction F] [--transfers N] [--days D] [--seed S] [--end-date YYYY-MM-DD | --start YYYY-MM-DD] [--full-every N] [--faults]")
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
	t, err := genStart(start, end, cfg.Days)
	if err != nil {
		return err
	}
	cfg.Start, cfg.Seed = t, seed

	if national {
		if region != "" {
			return errors.New("--national and --region: give one")
		}
		trusts, err := gen.National(fraction)
		if err != nil {
			return fmt.Errorf("--fraction: %w", err)
		}
		// Transfers stay within each ICS, so memory holds one ICS's
		// simulations at a time.
		rc := gen.RegionConfig{Trusts: trusts, Days: cfg.Days, Seed: seed, Start: t, Faults: cfg.Faults,
			FullEvery: cfg.FullEvery, TransfersPerDay: transfers}
		if cfg.Format != gen.FormatGOv2 {
			return fmt.Errorf("--format %s: a region is written as %s only", cfg.Format, gen.FormatGOv2)
		}
		res, err := gen.GenerateRegion(rc, gen.DirSink(out))
		if err != nil || quiet {
			return err
		}
		printNational(stdout, trusts, res, out)
		return nil
	}
	if region != "" {
		if cfg.Format != gen.FormatGOv2 {
			return fmt.Errorf("--format %s: a region is written as %s only", cfg.Format, gen.FormatGOv2)
		}
		trusts, err := parseRegion(region)
		if err != nil {
			return fmt.Errorf("--region: %w", err)
		}
		rc := gen.RegionConfig{Trusts: trusts, Days: cfg.Days, Seed: seed, Start: t, Faults: cfg.Faults,
			FullEvery: cfg.FullEvery, TransfersPerDay: transfers}
		res, err := gen.GenerateRegion(rc, gen.DirSink(out))
		if err != nil || quiet {
			return err
		}
		fmt.Fprintf(stdout, "wrote %d trusts (%d rows) and %s to %s\n", len(res.Trusts), res.Rows, gen.TruthFile, out)
		for _, r := range res.Trusts {
			fmt.Fprintf(stdout, "%s/: %d files (%d rows); transfers in %d, out %d, leaving the region %d\n",
				r.Tenant, len(r.Files), r.Rows, r.Stats.TransfersIn, r.Stats.TransfersOut, r.Stats.LeftRegion)
			printStats(stdout, r.Stats, cfg.Faults)
		}
		return nil
	}

	res, err := gen.Generate(cfg, gen.DirSink(out))
	if err != nil || quiet {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d files (%d rows) and %s to %s\n", len(res.Files), res.Rows, gen.TruthFile, out)
	if cfg.Format == gen.FormatCSV {
		fmt.Fprintf(stdout, "CSV staff lists: %s maps them (esrflow up --tenants.file %s)\n", gen.CSVTenantsFile,
			filepath.Join(out, gen.CSVTenantsFile))
	}
	printStats(stdout, res.Stats, cfg.Faults)
	return nil
}

// printNational prints one line per trust (code, VPD, staff, files, rows,
// events), the totals (a national run has too many trusts for the full
// statistics of each) and the trusts in the short form esrflow up
// --tenants reads, so a bench can start the pipeline for them.
func printNational(w io.Writer, trusts []gen.Trust, res gen.RegionResult, out string) {
	staff, files, events := 0, 0, 0
	short := make([]string, len(trusts))
	for i, r := range res.Trusts {
		short[i] = trusts[i].Tenant + "=" + trusts[i].VPD
		staff += trusts[i].Staff
		files += len(r.Files)
		events += r.Stats.Events
		fmt.Fprintf(w, "%s vpd %s: staff %d, %d files (%d rows), %d events\n",
			r.Tenant, trusts[i].VPD, trusts[i].Staff, len(r.Files), r.Rows, r.Stats.Events)
	}
	fmt.Fprintf(w, "wrote %d trusts, %d staff, %d files (%d rows, %d events) and %s to %s\n",
		len(res.Trusts), staff, files, res.Rows, events, gen.TruthFile, out)
	fmt.Fprintf(w, "tenants: %s\n", strings.Join(short, ","))
}

// genStart is the full file's run date: --start, or --days before
// --end-date (default today in Europe/London).
func genStart(start, end string, days int) (time.Time, error) {
	switch {
	case start != "" && end != "":
		return time.Time{}, errors.New("--start and --end-date: give one")
	case start != "":
		t, err := time.Parse(time.DateOnly, start)
		if err != nil {
			return t, fmt.Errorf("--start: %w", err)
		}
		return t, nil
	case end != "":
		t, err := time.Parse(time.DateOnly, end)
		if err != nil {
			return t, fmt.Errorf("--end-date: %w", err)
		}
		return gen.StartEndingOn(t, days), nil
	}
	return gen.StartEndingOn(londonToday(time.Now()), days), nil
}

func printStats(w io.Writer, st gen.Stats, faults bool) {
	fmt.Fprintf(w, "people in full file: %d (employed %d, ex-employees %d, applicants %d)\n",
		st.People, st.Employees, st.ExEmployees, st.Applicants)
	fmt.Fprintf(w, "events: %d  starters %d (scheduled %d, rehires %d)  leavers %d (held %d, late %d)  position-updated %d (attributes %d, added %d, ended %d)\n",
		st.Events, st.Starters, st.ScheduledStarters, st.Rehires, st.Leavers, st.HeldLeavers, st.LateLeavers,
		st.PositionUpdates, st.AttributeChanges, st.AssignmentsAdded, st.AssignmentsEnded)
	fmt.Fprintf(w, "no-event scenarios: withdrawn leavers %d, suspensions %d, returns %d, detail changes %d, delete rows %d, full files %d\n",
		st.WithdrawnLeavers, st.Suspensions, st.Returns, st.DetailChanges, st.DeleteRows, st.FullFiles)
	if faults {
		fmt.Fprintf(w, "quarantine rows: %d\n", st.QuarantineRows)
		if st.TruncatedFullFiles > 0 {
			fmt.Fprintf(w, "truncated full files: %d (%d people omitted; nothing for them under missing: ignore)\n", st.TruncatedFullFiles, st.OmittedPeople)
		}
	}
}

// parseRegion reads TENANT=VPD:STAFF[@GROUP],... into the region's trusts,
// in the order given (which fixes each trust's id ranges).
func parseRegion(s string) ([]gen.Trust, error) {
	var trusts []gen.Trust
	for _, part := range strings.Split(s, ",") {
		code, rest, ok := strings.Cut(strings.TrimSpace(part), "=")
		vpd, rest, ok2 := strings.Cut(rest, ":")
		staff, group, _ := strings.Cut(rest, "@")
		n, err := strconv.Atoi(staff)
		if !ok || !ok2 || err != nil {
			return nil, fmt.Errorf("%q: want TENANT=VPD:STAFF or TENANT=VPD:STAFF@GROUP", part)
		}
		trusts = append(trusts, gen.Trust{Tenant: code, VPD: vpd, Staff: n, Group: group})
	}
	return trusts, nil
}
