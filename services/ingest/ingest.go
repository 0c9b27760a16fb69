// Package ingest watches the drop folder, checks each ESR file as a whole and
// writes accepted files to esr.raw.v1 as one Kafka transaction: FILE_START, one
// RECORD per data row, FILE_END with counts. A file that fails a file-level
// check is rejected whole: nothing reaches esr.raw.v1 and a REJECTED report is
// written to esr.ops.file-reports.v1 instead.
//
// Layout: <drop>/<TENANT>/<file> in, <archive>/<TENANT>/<sha256> out. A
// compacted ledger topic (esr.ingest.ledger.v1) remembers every accepted file,
// written in the same transaction as its rows, so duplicates and sequences
// going backwards are caught across restarts. docs/ingest.md describes the
// folder layout, the completeness rule and every check.
//
// Ingest also reads operators' replay requests (esr.ops.replays.v1) and
// writes each as a replay batch on esr.raw.v1, framed like a change file,
// in one transaction with the request's offset (replay.go).
package ingest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/config"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/platform/tracing"
)

// TopicLedger is the compacted topic holding one record per accepted file,
// keyed <TENANT>/<sha256>.
const TopicLedger = "esr.ingest.ledger.v1"

// Defaults.
const (
	DefaultSettle = 2 * time.Second
	// DefaultIncompleteAfter: an ESR file without its trailer that has not
	// changed for this long is read anyway (and rejected missing-trailer),
	// so a truncated delivery is not waited on forever.
	DefaultIncompleteAfter    = time.Hour
	DefaultInterval           = time.Second
	DefaultTransactionTimeout = 5 * time.Minute
	// minReplayPoll is the shortest wait for replay requests between scans.
	minReplayPoll = 20 * time.Millisecond
)

// ParseOptions are the parser checks ingest can tune.
type ParseOptions struct {
	// FutureTolerance is how far a header run date may lie ahead of Now
	// (0 = format.DefaultFutureTolerance, 36h; negative = unchecked).
	FutureTolerance time.Duration
	// MaxRunAge rejects files whose run date is older than Now-MaxRunAge
	// (rule run-date-stale). 0, the default, turns the check off: replays
	// and the synthetic data (dated 2024) must pass.
	MaxRunAge time.Duration
	// RelaxHeaderFileName accepts files renamed in transit (the header's
	// file name field differing from the actual name).
	RelaxHeaderFileName bool
}

// Config configures the ingest service. The zero values of Settle, Interval,
// IncompleteAfter, TransactionTimeout and Now are replaced by defaults.
type Config struct {
	// Drop holds one folder per tenant, named by its ODS code.
	Drop string
	// Archive receives every original, accepted or rejected, at
	// <archive>/<TENANT>/<sha256>.
	Archive string
	// Retention deletes archived originals this long after they were
	// archived (the file's mtime); 0 keeps them forever. The ledger keeps
	// their SHA-256s, so a deleted original's bytes are still a duplicate.
	Retention Retention
	// SweepInterval between retention sweeps (0 = DefaultSweepInterval).
	SweepInterval time.Duration
	// Outbound holds <Outbound>/<TENANT>/, where refresh requests for held
	// files are written (the SFTP server's /outbound); empty: none written.
	Outbound string
	// Tenants are the configured tenants; a folder of another name is
	// rejected file by file ("tenant not configured").
	Tenants *tenant.Set

	Brokers    config.StringList
	ClientOpts []kgo.Opt // extra options for every Kafka client (TLS, SASL ...)
	// RegistryURL is the Confluent-compatible schema registry.
	RegistryURL  string
	RegistryOpts []sr.ClientOpt
	// InstanceID is stable across restarts of one instance; the
	// transactional id is esrflow-ingest-<InstanceID>, so a restarted
	// instance fences its previous incarnation.
	InstanceID string

	// Settle: a file is complete once its size and modification time have
	// not changed for this long.
	Settle time.Duration
	// IncompleteAfter: an ESR file whose last line is not its trailer is
	// still being written, until it has not changed for this long; then it
	// is read, and the parser rejects it (missing-trailer).
	IncompleteAfter time.Duration
	// Interval between scans of the drop folder.
	Interval time.Duration
	// TransactionTimeout bounds one file's transaction.
	TransactionTimeout time.Duration
	// Parse tunes the parser's file-level checks.
	Parse ParseOptions
	// Now is the clock for run-date checks and timestamps; nil = time.Now.
	Now func() time.Time

	// flag-only inputs, resolved by Spec's Build into Tenants.
	tenantFlags tenant.Flags
}

// RegisterFlags adds the ingest flags (Kafka flags come from kafkax in Spec).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Drop, "drop", "drop", "drop folder: one sub-folder per tenant, named by its ODS code")
	fs.StringVar(&c.Archive, "archive", "archive", "archive folder: originals are kept at <archive>/<TENANT>/<sha256>")
	fs.Var(&c.Retention, "archive.retention", "delete archived originals this long after archiving: days (30d) or a duration (720h); 0 keeps them forever")
	c.tenantFlags.Register(fs, "VPDs of each tenant's drop folder")
	fs.StringVar(&c.RegistryURL, "registry.url", "http://127.0.0.1:8081", "schema registry URL")
	host, _ := os.Hostname()
	fs.StringVar(&c.InstanceID, "instance", host, "instance id, stable across restarts; the transactional id is esrflow-ingest-<instance>")
	fs.DurationVar(&c.Settle, "settle", DefaultSettle, "a file is complete once its size and mtime have not changed for this long")
	fs.DurationVar(&c.IncompleteAfter, "incomplete-after", DefaultIncompleteAfter, "an ESR file without its trailer is waited for until it has not changed for this long, then rejected (missing-trailer)")
	fs.DurationVar(&c.Interval, "interval", DefaultInterval, "how often the drop folder is scanned")
	fs.DurationVar(&c.TransactionTimeout, "transaction.timeout", DefaultTransactionTimeout, "longest one file's Kafka transaction may stay open")
	fs.DurationVar(&c.Parse.FutureTolerance, "run-date.future-tolerance", 0, "how far a header run date may be ahead of now (0 = 36h, negative = unchecked)")
	fs.DurationVar(&c.Parse.MaxRunAge, "run-date.max-age", 0, "reject files whose run date is older than this (0 = no limit)")
	fs.BoolVar(&c.Parse.RelaxHeaderFileName, "relax-header-file-name", false, "accept files whose header names another file (renamed in transit)")
}

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if out.Tenants == nil {
		s, err := out.tenantFlags.Load()
		if err != nil {
			return out, fmt.Errorf("tenants: %w", err)
		}
		out.Tenants = s
	}
	switch {
	case out.Drop == "":
		return out, errors.New("ingest: drop folder not set")
	case out.Archive == "":
		return out, errors.New("ingest: archive folder not set")
	case len(out.Brokers) == 0:
		return out, errors.New("ingest: no Kafka brokers")
	case out.RegistryURL == "":
		return out, errors.New("ingest: registry URL not set")
	case out.InstanceID == "":
		return out, errors.New("ingest: instance id not set")
	}
	if out.Settle <= 0 {
		out.Settle = DefaultSettle
	}
	if out.IncompleteAfter <= 0 {
		out.IncompleteAfter = DefaultIncompleteAfter
	}
	if out.Interval <= 0 {
		out.Interval = DefaultInterval
	}
	if out.TransactionTimeout <= 0 {
		out.TransactionTimeout = DefaultTransactionTimeout
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	if out.SweepInterval <= 0 {
		out.SweepInterval = DefaultSweepInterval
	}
	return out, nil
}

// Deps are the service's collaborators.
type Deps struct {
	Log     *zap.Logger
	Metrics prometheus.Registerer
	// Tracing exports the "ingest file" spans (nil: none; the records
	// still carry a traceparent).
	Tracing trace.TracerProvider
}

// Service is a running ingest.
type Service struct {
	cfg     Config
	log     *zap.Logger
	metrics *metrics
	spans   *tracing.Files

	ready atomic.Bool
	// state below is owned by the Run goroutine.
	ledger         *ledger
	holds          *holds
	watcher        *watcher
	scans          uint64
	pendingArchive map[string]pending     // drop path -> handled file awaiting archiving
	ignored        map[string]uint64      // ignored entries already reported -> last scan that met them
	nextSweep      time.Time              // when the archive retention sweep is next due
	quiet          map[string]quietFolder // empty tenant folders, as last read (stillEmpty)
}

// New validates cfg and builds the service; it does no I/O (Run connects).
func New(cfg Config, deps Deps) (*Service, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = zap.NewNop()
	}
	reg := deps.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	for _, code := range c.Tenants.Codes() {
		m.initTenant(code)
	}
	return &Service{cfg: c, log: log, metrics: m, spans: tracing.NewFiles(deps.Tracing, "ingest"), ledger: newLedger(), holds: newHolds(), watcher: newWatcher(c.Settle, c.IncompleteAfter),
		pendingArchive: map[string]pending{}, ignored: map[string]uint64{}, quiet: map[string]quietFolder{}}, nil
}

// Ready reports nil once the ledger is restored and the schemas registered.
func (s *Service) Ready() error {
	if !s.ready.Load() {
		return errors.New("restoring the ingest ledger")
	}
	return nil
}

// Run restores the ledger, then scans the drop folder every Interval until
// ctx ends. It returns an error only when Kafka or the registry fail in a way
// that leaves a file's outcome unknown: the process must restart, and the
// ledger decides on restart.
func (s *Service) Run(ctx context.Context) error {
	if err := s.prepareDrop(); err != nil {
		return fmt.Errorf("ingest: drop folder: %w", err)
	}
	if err := os.MkdirAll(s.cfg.Archive, 0o750); err != nil {
		return fmt.Errorf("ingest: archive folder: %w", err)
	}
	p, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer p.close()
	intakeCtx, stopIntake := context.WithCancel(ctx)
	intakeDone := make(chan struct{})
	go func() { defer close(intakeDone); s.readIntake(intakeCtx, p) }()
	defer func() { stopIntake(); <-intakeDone }()
	s.ready.Store(true)
	s.log.Info("ingest started", zap.String("drop", s.cfg.Drop), zap.String("archive", s.cfg.Archive),
		zap.Stringer("archive_retention", s.cfg.Retention),
		zap.Strings("tenants", s.cfg.Tenants.Codes()), logx.Count("ledger_files", int64(s.ledger.size())))
	for {
		next := time.Now().Add(s.cfg.Interval)
		s.maybeSweep()
		if err := s.scan(ctx, p); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		// A file first seen in this scan is looked at again as soon as it
		// can have settled.
		if at, ok := s.watcher.settling(s.scans, time.Now()); ok && at.Before(next) {
			next = at
		}
		// Operators' decisions on held files, then whatever held files
		// can now go (after a restart too: the holds are restored).
		if err := s.pollIntake(ctx, p); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if err := s.drainHeld(ctx, p); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		// Between scans, replay requests: in the same loop as the files,
		// so a tenant's replay batches and files never interleave.
		// At least a short poll even after a long scan, so a stream of
		// files cannot starve the requests.
		if soon := time.Now().Add(minReplayPoll); next.Before(soon) {
			next = soon
		}
		if err := s.pollReplays(ctx, p, next); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
}
