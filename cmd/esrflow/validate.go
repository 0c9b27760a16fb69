package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/esr/tenant"
)

// exitError ends a command with a given exit status. A nil err prints
// nothing more: the command has said what it had to (a report).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErr is a usage error: exit status 2.
func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// progressMinBytes is the size from which a file gets a progress bar (when
// stderr is a terminal): smaller files are done before a bar would help.
const progressMinBytes = 4 << 20

// validateReport is the whole run's JSON report.
type validateReport struct {
	// Version is the report layout's version (reportFormatVersion).
	Version int           `json:"version"`
	Files   []*fileReport `json:"files"`
	Summary runSummary    `json:"summary"`
}

type runSummary struct {
	Files       int   `json:"files"`
	Accepted    int   `json:"accepted"`
	Rejected    int   `json:"rejected"`
	Rows        int64 `json:"rows"`
	Quarantined int64 `json:"quarantined"`
	Warned      int64 `json:"warned"`
	ExitStatus  int   `json:"exit_status"`
}

// runValidate is `esrflow validate`: the pipeline's checks over files on
// disk, with no Kafka. Exit status 0: every file accepted with no row
// quarantined (warnings allowed); 1: a file rejected, or a row quarantined
// at error severity even under budget (a trust's pre-send check should
// fail on any error); 2: usage.
func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: esrflow validate [--tenant RXX] [--tenants FILE] [--format text|json] [--max-lines N] FILE...")
		fs.PrintDefaults()
	}
	tenantCode := fs.String("tenant", "", "judge every file as tenant `RXX` of --tenants (default: the tenant whose VPD the file name carries, else the baseline rules)")
	tenantsFile := fs.String("tenants", "", "tenants `FILE` (YAML, as the services' --tenants.file) with their validation overrides; or short form RXX=412")
	formatName := fs.String("format", "text", "report format: text or json")
	maxLines := fs.Int("max-lines", 10, "line numbers listed per rule before \"+K more\"")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2} // the flag package printed the problem and the usage
	}
	files := fs.Args()
	switch {
	case len(files) == 0:
		fs.Usage()
		return usageErr("no files given")
	case *formatName != "text" && *formatName != "json":
		return usageErr("--format %q: want text or json", *formatName)
	case *maxLines < 0:
		return usageErr("--max-lines must be >= 0")
	}
	ts, sets, err := loadTenantRules(*tenantsFile)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	v := &validation{sets: sets, tenants: ts, maxLines: *maxLines, now: time.Now}
	if *tenantCode != "" {
		t, ok := ts.Get(*tenantCode)
		if !ok {
			return usageErr("--tenant %s: not in --tenants", strings.ToUpper(*tenantCode))
		}
		v.forced = t.Code
	}
	v.progress = progressBars(stderr, isTerminal(stderr))

	rep := validateReport{Version: reportFormatVersion, Files: []*fileReport{}}
	for _, path := range files {
		fi, err := os.Stat(path)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		if fi.IsDir() {
			return usageErr("%s is a directory", path)
		}
		fr, err := v.file(filepath.Base(path), fi.Size(), func() (io.ReadCloser, error) { return os.Open(path) })
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rep.Files = append(rep.Files, fr)
	}
	rep.Summary = summarise(rep.Files)

	if *formatName == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := writeTextReport(stdout, rep, isTerminal(stdout)); err != nil {
		return err
	}
	if rep.Summary.ExitStatus != 0 {
		return &exitError{code: rep.Summary.ExitStatus}
	}
	return nil
}

func summarise(files []*fileReport) runSummary {
	s := runSummary{Files: len(files)}
	for _, f := range files {
		if f.Verdict == verdictAccepted {
			s.Accepted++
		} else {
			s.Rejected++
		}
		s.Rows += f.Totals.Rows
		s.Quarantined += f.Totals.Quarantined
		s.Warned += f.Totals.Warned
	}
	if s.Rejected > 0 || s.Quarantined > 0 {
		s.ExitStatus = 1
	}
	return s
}

// loadTenantRules reads --tenants (a YAML file, or the short form) and
// compiles every tenant's rules, so a bad override or CEL rule is a usage
// error naming the tenant and rule.
func loadTenantRules(spec string) (*tenant.Set, *rules.Sets, error) {
	var ts *tenant.Set
	var err error
	switch {
	case spec == "":
		ts, err = tenant.New()
	case strings.Contains(spec, "=") && !strings.HasSuffix(spec, ".yaml") && !strings.HasSuffix(spec, ".yml"):
		ts, err = tenant.Parse(spec)
	default:
		ts, err = tenant.Load(spec)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("--tenants: %w", err)
	}
	sets, err := rules.CompileAll(ts)
	if err != nil {
		return nil, nil, fmt.Errorf("--tenants: %w", err)
	}
	return ts, sets, nil
}

// isTerminal reports whether w is a terminal (colour and progress bars
// only then: a pipe or a file gets plain text).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBars returns what wraps each file's reader in a progress bar on
// w — for files of progressMinBytes or more, and only when w is a terminal
// (nil otherwise: a pipe or a log gets no control codes).
func progressBars(w io.Writer, terminal bool) func(name string, size int64, r io.Reader) (io.Reader, func()) {
	if !terminal {
		return nil
	}
	return func(name string, size int64, r io.Reader) (io.Reader, func()) {
		if size < progressMinBytes {
			return r, func() {}
		}
		bar := progressbar.NewOptions64(size,
			progressbar.OptionSetDescription(filepath.Base(name)),
			progressbar.OptionSetWriter(w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		pr := progressbar.NewReader(r, bar)
		return &pr, func() { _ = bar.Finish() }
	}
}
