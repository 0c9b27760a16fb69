// Package gen generates a synthetic ESR trust: one GO v2 full file, a run of
// daily change files, and truth.jsonl, the events (and, with faults, the
// quarantined rows) that a correct pipeline must produce from those files.
//
// The truth is recorded by the simulation itself, from the action that
// changes a person, never by reading the files back; docs/generator.md states
// the rules the pipeline is expected to apply so that both sides agree.
package gen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"
)

// DefaultStart is the run date of the full file when Config.Start is zero. A
// fixed date (not the wall clock) keeps output a pure function of the flags.
var DefaultStart = time.Date(2024, time.April, 1, 0, 0, 0, 0, time.UTC)

// StartEndingOn is the Start that makes the last of days change files run
// on end: generated files dated to end today look like a live feed.
func StartEndingOn(end time.Time, days int) time.Time {
	d := time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, time.UTC)
	return d.AddDate(0, 0, -days)
}

// TruthFile is the name of the truth file written next to the ESR files.
const TruthFile = "truth.jsonl"

// Config describes one synthetic trust and how long to simulate it.
type Config struct {
	Tenant string    // ODS code, e.g. "RXX"; written as NACS / workplace org code
	VPD    string    // ESR VPD number, e.g. "412"
	Staff  int       // approximate number of people in the full file
	Days   int       // number of daily change files after the full file
	Seed   uint64    // PRNG seed; same Config => byte-identical output
	Start  time.Time // run date of the full file (date part only); zero = DefaultStart
	// Faults adds known-invalid rows to change files (quarantine truth)
	// and, with FullEvery, truncates the first periodic full file.
	Faults bool
	// FirstSeq is the sequence number of the full file; change files follow
	// with FirstSeq+1, FirstSeq+2, ... Zero means 1.
	FirstSeq int
	// FullEvery > 0 writes change file k as a full file (GOF) whenever
	// k % FullEvery == 0: every location, organisation, position and person
	// plus that day's changes. Zero means never.
	FullEvery int
	// Format is the file format the trust's history is written in:
	// FormatGOv2 (default), FormatGOv1 or FormatCSV. The simulation, and so
	// the truth, does not depend on it.
	Format string
}

// Formats Config.Format can name.
const (
	FormatGOv2 = "go-v2" // ESR Generic Outbound v2: tilde-delimited, HDR/TRL
	FormatGOv1 = "go-v1" // ESR Generic Outbound v1 (ASG): PER/ASG, comma-delimited, HDR/FTR
	FormatCSV  = "csv"   // a header-row CSV staff list, one full list a day
)

var (
	tenantRe = regexp.MustCompile(`^[A-Z0-9]{3,5}$`)
	vpdRe    = regexp.MustCompile(`^[0-9]{3,4}$`)
)

func (c Config) normalised() (Config, error) {
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.FirstSeq == 0 {
		c.FirstSeq = 1
	}
	if c.Format == "" {
		c.Format = FormatGOv2
	}
	switch {
	case !tenantRe.MatchString(c.Tenant):
		return c, fmt.Errorf("tenant %q: want an ODS code of 3-5 upper-case letters or digits", c.Tenant)
	case !vpdRe.MatchString(c.VPD):
		return c, fmt.Errorf("vpd %q: want 3 or 4 digits", c.VPD)
	case c.Staff < 1 || c.Staff > 2_000_000:
		return c, fmt.Errorf("staff %d: want 1..2000000", c.Staff)
	case c.Days < 0 || c.Days > 3660:
		return c, fmt.Errorf("days %d: want 0..3660", c.Days)
	case c.FirstSeq < 1 || c.FirstSeq+c.Days > 99_999_999:
		return c, fmt.Errorf("first sequence %d: the sequence must stay within 8 digits", c.FirstSeq)
	case c.FullEvery < 0:
		return c, fmt.Errorf("full every %d: want 0 (never) or more", c.FullEvery)
	case c.Format != FormatGOv2 && c.Format != FormatGOv1 && c.Format != FormatCSV:
		return c, fmt.Errorf("format %q: want %s, %s or %s", c.Format, FormatGOv2, FormatGOv1, FormatCSV)
	case c.Format == FormatGOv1 && c.Faults:
		// The planted faults are GO v2 rows (PHA, ADA, deletes ...).
		return c, fmt.Errorf("format %s: faults are written for %s only", FormatGOv1, FormatGOv2)
	case c.Format == FormatCSV && (c.Faults || c.FullEvery > 0):
		return c, fmt.Errorf("format %s: faults and full-every are GO options (planted faults are GO rows; every list is full)", c.Format)
	}
	if y := c.Start.Year(); y < 1990 || y > 2900 {
		return c, fmt.Errorf("start %s: want a year between 1990 and 2900", c.Start.Format(time.DateOnly))
	}
	return c, nil
}

// Sink receives the generated files. Generate creates each file once, writes
// it sequentially and closes it.
type Sink interface {
	Create(name string) (io.WriteCloser, error)
}

// DirSink writes files into a directory, creating it if needed.
type DirSink string

// Create implements Sink. A name may hold a slash-separated folder (a
// region writes each trust's files under <TENANT>/).
func (d DirSink) Create(name string) (io.WriteCloser, error) {
	path := filepath.Join(string(d), filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return os.Create(path)
}

// MemSink keeps files in memory, for tests of other services that want a
// generated trust without touching the disk.
type MemSink struct {
	mu    sync.Mutex
	names []string
	files map[string]*bytes.Buffer
}

type memFile struct{ *bytes.Buffer }

func (memFile) Close() error { return nil }

// Create implements Sink.
func (m *MemSink) Create(name string) (io.WriteCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files == nil {
		m.files = map[string]*bytes.Buffer{}
	}
	if _, ok := m.files[name]; !ok {
		m.names = append(m.names, name)
	}
	b := &bytes.Buffer{}
	m.files[name] = b
	return memFile{b}, nil
}

// Names lists the files in creation order.
func (m *MemSink) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.names)
}

// Bytes returns a file's contents (nil if absent).
func (m *MemSink) Bytes(name string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.files[name]; ok {
		return b.Bytes()
	}
	return nil
}

// DiscardSink drops everything; used by the benchmark.
type DiscardSink struct{}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// Create implements Sink.
func (DiscardSink) Create(string) (io.WriteCloser, error) { return nopWriteCloser{io.Discard}, nil }

// FileInfo describes one generated ESR file.
type FileInfo struct {
	Name    string // the file name, as in the header and truth.jsonl
	Path    string // its name in the sink: Name, or <TENANT>/Name in a region
	Seq     int
	RunDate string // YYYY-MM-DD
	Type    string // GOF or GOC
	Lines   int    // including HDR and TRL
	Rows    int    // Lines - 2
	SHA256  string
}

// Stats counts what the simulation did. Event counts match truth.jsonl;
// the others count scenario actions, some of which deliberately produce no
// event (suspensions, withdrawals, deletes, detail changes).
type Stats struct {
	People      int // person records in the full file
	Employees   int // of which employed
	ExEmployees int // of which ex-employees (history)
	Applicants  int // of which applicants

	Events             int
	Starters           int
	ScheduledStarters  int // start date after the recording file's run date
	BaselineStarters   int // starters raised by the full file
	ApplicantHires     int
	Rehires            int
	Leavers            int
	HeldLeavers        int // future-dated: carry "due"
	LateLeavers        int // days_late > 0
	BaselineLeavers    int
	AssignmentLeavers  int // leaver through the last assignment ending (no PRA termination)
	PositionUpdates    int
	AttributeChanges   int
	AssignmentsAdded   int
	AssignmentsEnded   int
	WithdrawnLeavers   int
	RedatedLeavers     int
	PositionMoves      int
	GradeChanges       int
	OrgChanges         int
	LocationChanges    int
	TitleChanges       int // POA title changes (each yields one event per live incumbent assignment)
	Suspensions        int
	Returns            int
	DetailChanges      int // name/phone/address changes: rows, no event
	ErroneousRows      int // rows added in error and deleted later
	DeleteRows         int
	QuarantineRows     int
	NewPositions       int
	ReferenceRefreshes int // ORA/LCA rows re-sent in change files without an event

	NoNHSRehires       int // rehires whose new record has no NHS Unique ID (matched on NI number + DOB)
	SuspendedLeavers   int // leavers who were on SUSP_ASSIGN (maternity, career break)
	TwoPostLeavers     int // the last of two posts ended on a later file than the first
	ErroneousPeople    int // applicants created in error, deleted by PRD (+ ASD)
	ErroneousOrgs      int // organisations created in error, deleted by ORD
	ErroneousLocations int // locations created in error, deleted by LCD
	FullFiles          int // change days written as full files (Config.FullEvery)
	TruncatedFullFiles int // full files that omit people (Faults with FullEvery: the first periodic one)
	OmittedPeople      int // person groups the truncated full files left out
	TransfersOut       int // leavers to another trust of the region (transfer_to_tenant)
	TransfersIn        int // starters from another trust of the region (transfer_from_tenant)
	LeftRegion         int // transfer leavers with no counterpart in the region
	MaxFileLeavers     int // the most leavers one change file caused (the leaver guard's count)
}

// Result is what Generate produced (for a region: one trust).
type Result struct {
	Tenant string
	Files  []FileInfo
	Rows   int64 // data rows over all files (excluding HDR/TRL)
	Stats  Stats
}

// Generate simulates the trust described by cfg and writes the full file,
// the change files and truth.jsonl to out (FormatCSV: a staff list a day,
// truth.jsonl and CSVTenantsFile).
func Generate(cfg Config, out Sink) (Result, error) {
	cfg, err := cfg.normalised()
	if err != nil {
		return Result{}, err
	}
	if out == nil {
		return Result{}, errors.New("gen: nil sink")
	}
	s := newSim(cfg, -1)
	s.populate()
	if err := s.writeFile(out); err != nil {
		return s.res, err
	}
	for k := 1; k <= cfg.Days; k++ {
		s.nextDay(k)
		s.simulateDay()
		if err := s.writeFile(out); err != nil {
			return s.res, err
		}
	}
	if err := writeTruth(out, s.finishTruth()); err != nil {
		return s.res, err
	}
	if cfg.Format == FormatCSV {
		if err := writeCSVTenants(out, cfg); err != nil {
			return s.res, err
		}
	}
	return s.res, nil
}
