// Package publish is the last consume-transform-produce stage: it reads
// validated entities (esr.validated.v1), applies the truth rules of
// docs/generator.md to each person group against the tenant's state, and
// publishes starter-created, leaver-confirmed and position-updated events on
// the tenant's event topics (esr.<tenant>.<event>.v1) with deterministic ids
// and CloudEvents headers. Future-dated leavers are held in state and fire
// when a later file of the tenant reaches their date. At each FILE_END it
// writes the file's report to esr.ops.file-reports.v1.
//
// State (people, held leavers, the open group and file, organisation and
// location names) lives in memory and in the compacted changelog
// esr.publish.changelog.v1, restored on start. docs/publish.md describes the
// rules as implemented, the event ids, headers and state layout.
package publish

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/config"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/kafka/tenantpart"
	"github.com/esrflow/esrflow/platform/lifecycle"
	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/platform/statestore"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Defaults.
const (
	DefaultGroup           = "esrflow-publish"
	DefaultChangelog       = "esr.publish.changelog.v1"
	DefaultEventPartitions = 3
	// DefaultFeedWindow matches the alert on a silent tenant: ESR sends a
	// file a day, so 26 hours without one means the feed has stopped.
	DefaultFeedWindow = 26 * time.Hour
)

// Config configures a publish instance.
type Config struct {
	Brokers    config.StringList
	ClientOpts []kgo.Opt // extra options for every Kafka client (TLS, SASL ...)
	// RegistryURL is the Confluent-compatible schema registry.
	RegistryURL  string
	RegistryOpts []sr.ClientOpt
	// SchemaURL is the registry's address as consumers reach it, the base
	// of each event's ce_dataschema (<SchemaURL>/schemas/ids/<id>); empty
	// = RegistryURL.
	SchemaURL string
	// InstanceID is stable across restarts of one instance (e.g. the pod
	// name); with Group it forms the transactional id.
	InstanceID string

	// Group, Input and Changelog default to esrflow-publish,
	// esr.validated.v1 and esr.publish.changelog.v1.
	Group     string
	Input     string
	Changelog string
	// EventPartitions and EventReplication are used when a tenant's event
	// topics are created (defaults 3 and -1 = the broker's default).
	EventPartitions  int32
	EventReplication int16
	// MaxPollRecords bounds the records per transaction (0 = the stage default).
	MaxPollRecords int
	// Now stamps recorded_at, ce_time and reported_at, and is the clock of
	// the scheduler (its Europe/London day confirms held leavers); nil =
	// time.Now. Tests move it.
	Now func() time.Time
	// TickInterval is how often the scheduler looks for due leavers
	// (default 1s).
	TickInterval time.Duration
	// DisableClock leaves held leavers to files alone: one fires only at a
	// file whose run date reaches its date. For replaying history through a
	// fresh pipeline (today's clock would confirm every old leaver at once,
	// before the files that withdraw or re-date some of them).
	DisableClock bool
	// FeedWindow is how long a tenant's feed may be silent (no file started
	// or ended) before the clock confirms its due leavers without waiting
	// for its files to catch up (default DefaultFeedWindow). See
	// docs/publish.md, "When the clock may confirm a leaver".
	FeedWindow time.Duration
	// Tenants configures each tenant's leaver guard and feeds; nil or a
	// tenant it does not name gets the defaults (tenant.DefaultGuard,
	// missing: ignore for GO files).
	Tenants *tenant.Set
	// Commands is the topic of operators' decisions, forwarded onto Input
	// (default esr.ops.commands.v1).
	Commands string
	// LinkIndex is the compacted topic through which instances share what
	// transfer links need (default esr.publish.link-index.v1).
	LinkIndex string
	// StateDir holds the instance's local state stores and their
	// checkpoints: its state (StateDir/stage) and the link index's
	// (StateDir/link-index), so a restart reads only the changelog and index
	// records it missed. Empty: temporary directories, restored in full at
	// every start. One directory per instance.
	StateDir string

	tenantFlags tenant.Flags // read when the binary is built
}

// RegisterFlags adds the publish flags (Kafka brokers come from Spec).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.RegistryURL, "registry.url", "http://127.0.0.1:8081", "schema registry URL")
	fs.StringVar(&c.SchemaURL, "registry.public-url", "", "the registry's URL as consumers reach it, the base of each event's ce_dataschema (default: --registry.url)")
	host, _ := os.Hostname()
	fs.StringVar(&c.InstanceID, "instance", host, "instance id, stable across restarts; with the group it forms the transactional id")
	fs.StringVar(&c.Group, "group", DefaultGroup, "consumer group")
	fs.StringVar(&c.Changelog, "changelog", DefaultChangelog, "compacted changelog topic holding publish's state")
	fs.IntVar(&c.MaxPollRecords, "max-poll-records", 0, fmt.Sprintf("records per transaction (0: the stage default, %d)", stage.DefaultMaxPollRecords))
	c.tenantFlags.Register(fs, "leaver_guard thresholds, feeds' missing modes")
	fs.StringVar(&c.StateDir, "state.dir", "", "directory of this instance's state stores and checkpoints (its state and the link index; empty: temporary ones, restored in full at each start)")
	fs.DurationVar(&c.TickInterval, "schedule.interval", time.Second, "how often the scheduler looks for held leavers whose Europe/London day has come")
	fs.BoolVar(&c.DisableClock, "schedule.disable-clock", false, "confirm held leavers only at a file whose run date reaches their date (replaying history)")
	fs.DurationVar(&c.FeedWindow, "schedule.feed-window", DefaultFeedWindow, "a tenant's feed silent this long (no file) no longer holds its due leavers back: the clock confirms them")
	var parts int
	fs.Func("event.partitions", "partitions of a tenant's event topics when publish creates them (default 3)", func(s string) error {
		_, err := fmt.Sscan(s, &parts)
		c.EventPartitions = int32(parts)
		return err
	})
	fs.Func("event.replication", "replication factor of created event topics (default -1: the broker's default)", func(s string) error {
		var r int
		_, err := fmt.Sscan(s, &r)
		c.EventReplication = int16(r)
		return err
	})
}

func (c *Config) withDefaults() (Config, error) {
	out := *c
	switch {
	case len(out.Brokers) == 0:
		return out, errors.New("publish: no Kafka brokers")
	case out.RegistryURL == "":
		return out, errors.New("publish: registry URL not set")
	}
	if out.InstanceID == "" {
		out.InstanceID = "0"
	}
	if out.SchemaURL == "" {
		out.SchemaURL = out.RegistryURL
	}
	out.SchemaURL = strings.TrimRight(out.SchemaURL, "/")
	if out.Group == "" {
		out.Group = DefaultGroup
	}
	if out.Input == "" {
		out.Input = schemas.TopicValidated
	}
	if out.Changelog == "" {
		out.Changelog = DefaultChangelog
	}
	if out.Commands == "" {
		out.Commands = schemas.TopicCommands
	}
	if out.LinkIndex == "" {
		out.LinkIndex = DefaultLinkIndex
	}
	if out.EventPartitions <= 0 {
		out.EventPartitions = DefaultEventPartitions
	}
	if out.EventReplication == 0 {
		out.EventReplication = -1
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	if out.FeedWindow <= 0 {
		out.FeedWindow = DefaultFeedWindow
	}
	return out, nil
}

// PublicCompression is the compression of every batch publish writes, and
// the compression.type of the event topics it creates: gzip, the one codec
// every Kafka client reads without a plugin (kafkajs has only gzip built in;
// snappy, lz4 and zstd need codec packages there). franz-go's default,
// snappy, made the public topics unreadable by kafkajs out of the box.
const PublicCompression = "gzip"

// publicClientOpts puts gzip after the caller's options, so no option can
// turn the public topics back to a codec some client cannot read.
func publicClientOpts(opts []kgo.Opt) []kgo.Opt {
	return append(slices.Clone(opts), kgo.ProducerBatchCompression(kgo.GzipCompression()))
}

// Deps are the service's collaborators.
type Deps struct {
	Log     *zap.Logger
	Metrics prometheus.Registerer
	// Tracing exports the "publish file" and "publish event" spans (nil:
	// none; the headers are the same either way).
	Tracing trace.TracerProvider
}

// Service is a publish instance.
type Service struct {
	cfg     Config
	proc    *processor
	runner  *stage.Runner
	forward *stage.Runner // operators' commands onto the input
	admin   *kgo.Client
	log     *zap.Logger
}

// New builds the service. It connects nothing yet: clients dial lazily and
// Run starts consuming.
func New(cfg Config, deps Deps) (*Service, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = zap.NewNop()
	}
	m, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, err
	}
	srcl, err := sr.NewClient(append([]sr.ClientOpt{sr.URLs(c.RegistryURL)}, c.RegistryOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("publish: registry client: %w", err)
	}
	admin, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, c.ClientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("publish: kafka client: %w", err)
	}
	serde := avrox.New(srcl, internalv1.NewAPI())
	adm := kadm.NewClient(admin)
	stateDir := func(name string) string {
		if c.StateDir == "" {
			return ""
		}
		return filepath.Join(c.StateDir, name)
	}
	store, err := statestore.Open(statestore.Options{Dir: stateDir("stage"), Log: log})
	if err != nil {
		admin.Close()
		return nil, fmt.Errorf("publish: %w", err)
	}
	indexStore, err := statestore.Open(statestore.Options{Dir: stateDir("link-index"), CacheBytes: linkIndexCacheBytes, Log: log.Named("link-index")})
	if err != nil {
		admin.Close()
		_ = store.Close()
		return nil, fmt.Errorf("publish: link index: %w", err)
	}
	closeAll := func() {
		admin.Close()
		_ = store.Close()
		_ = indexStore.Close()
	}
	proc, err := newProcessor(c, log, m, serde, srcl, adm, store, newLinkIndex(indexStore))
	if proc != nil {
		proc.spans = newFileSpans(deps.Tracing)
	}
	if err != nil {
		closeAll()
		return nil, err
	}
	runner, err := stage.New(stage.Config{Name: "publish", Group: c.Group, InstanceID: c.InstanceID, Input: c.Input,
		Changelog: c.Changelog, Store: store, Brokers: c.Brokers, ClientOpts: publicClientOpts(c.ClientOpts), MaxPollRecords: c.MaxPollRecords,
		TickInterval: c.TickInterval, Partitioner: tenantpart.Partitioner(c.Tenants, schemas.TenantKeyedTopics...)}, proc, stage.Deps{Log: log, Metrics: deps.Metrics})
	if err != nil {
		closeAll()
		return nil, err
	}
	cmdSchema, _, err := schemas.Latest(schemas.OperatorCommand)
	if err != nil {
		closeAll()
		return nil, err
	}
	fwd := &forwarder{input: c.Input, serde: serde, sr: srcl, command: cmdSchema, log: log.Named("commands"), skipped: m.undecodable}
	forward, err := stage.New(stage.Config{Name: "publish-commands", Group: c.Group + "-commands", InstanceID: c.InstanceID,
		Input: c.Commands, Brokers: c.Brokers, ClientOpts: c.ClientOpts,
		Partitioner: tenantpart.Partitioner(c.Tenants, schemas.TenantKeyedTopics...)}, fwd, stage.Deps{Log: log.Named("commands"), Metrics: deps.Metrics})
	if err != nil {
		closeAll()
		return nil, err
	}
	return &Service{cfg: c, proc: proc, runner: runner, forward: forward, admin: admin, log: log}, nil
}

// Run consumes esr.validated.v1, and forwards operators' commands onto it,
// until ctx ends or processing fails.
func (s *Service) Run(ctx context.Context) error {
	defer s.admin.Close()
	defer s.proc.index.store.Close()
	defer s.proc.store.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	others := make(chan error, 2)
	go func() { others <- s.forward.Run(ctx) }()
	go func() { others <- s.proc.index.run(ctx, s.cfg, s.log.Named("link-index")) }()
	err := s.runner.Run(ctx)
	cancel()
	for range 2 {
		if oerr := <-others; (err == nil || errors.Is(err, context.Canceled)) && oerr != nil && !errors.Is(oerr, context.Canceled) {
			err = oerr
		}
	}
	return err
}

// Ready reports nil once both stages have joined their groups, the
// publish stage has restored its state and the link index has been read
// up to its end.
func (s *Service) Ready() error {
	if err := s.runner.Ready(); err != nil {
		return err
	}
	if !s.proc.index.caught.Load() {
		return errors.New("publish: reading the link index")
	}
	return s.forward.Ready()
}

// HeldBatches returns the tenant's leaver-guard batches (every status), by
// batch id. Safe to call while Run is running.
func (s *Service) HeldBatches(tenant string) []internalv1.HeldBatch {
	return s.proc.heldBatches(tenant)
}

// ScheduledLeavers returns the tenant's held future-dated leavers, by
// person id: leavers whose date no file of the tenant has reached yet. Safe
// to call while Run is running.
func (s *Service) ScheduledLeavers(tenant string) []HeldLeaver {
	return s.proc.scheduledLeavers(tenant)
}

// Spec describes the publish binary.
func Spec() service.Spec {
	var cfg Config
	return service.Spec{
		Name:            "publish",
		DefaultHTTPAddr: ":8080",
		MemoryLimit:     service.DefaultMemoryLimit,
		RegisterFlags: func(fs *flag.FlagSet) {
			cfg.Brokers = config.StringList{"127.0.0.1:9092"}
			fs.Var(&cfg.Brokers, "kafka.brokers", "comma-separated Kafka bootstrap brokers")
			cfg.RegisterFlags(fs)
		},
		Build: func(ctx context.Context, env service.Env) (service.Built, error) {
			set, err := cfg.tenantFlags.Load()
			if err != nil {
				return service.Built{}, err
			}
			cfg.Tenants = set
			svc, err := New(cfg, Deps{Log: env.Log, Metrics: env.Metrics, Tracing: env.Tracing})
			if err != nil {
				return service.Built{}, err
			}
			env.Ready.Add("publish", svc.Ready)
			return service.Built{Parts: []lifecycle.Part{lifecycle.Named("publish", lifecycle.Func(svc.Run))}}, nil
		},
	}
}
