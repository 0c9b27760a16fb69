// Package validate runs the rule catalogue (esr/rules, baseline plus each
// tenant's overrides) over the canonical entities on esr.normalised.v1 and
// gives each file a verdict before anything of it is published: a file
// within its error budget goes on to esr.validated.v1 (file markers,
// accepted entities flagged with their warnings, corrections), its rows that
// broke a rule at error severity to esr.quarantine.v1 with every violation,
// the lineage, the original row and the canonical entity; a file over its
// budget goes nowhere but a REJECTED report on esr.ops.file-reports.v1.
//
// Processor is the stage.Processor; its state (the entities known per
// tenant, the open file's buffered records) lives in the changelog
// esr.validate.changelog.v1. Service wires it to Kafka and the schema
// registry; Spec is the binary. docs/normalise-validate.md and
// docs/validation.md document it.
package validate

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/config"
	"github.com/esrflow/esrflow/platform/kafka/stage"
	"github.com/esrflow/esrflow/platform/kafka/tenantpart"
	"github.com/esrflow/esrflow/platform/lifecycle"
	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/platform/statestore"
	"github.com/esrflow/esrflow/schemas"
)

// Name is the service name (logs, metrics, env prefix ESRFLOW_VALIDATE).
const Name = "validate"

// Config configures a validate instance.
type Config struct {
	// Brokers are the Kafka seed brokers; ClientOpts are added to every
	// Kafka client (TLS, SASL ...).
	Brokers    []string
	ClientOpts []kgo.Opt
	// RegistryURL is the schema registry (Confluent REST API). Ignored when
	// Deps.Registry is set.
	RegistryURL string
	// InstanceID is stable across restarts of this instance (e.g. the pod
	// name); it forms the transactional id with the group.
	InstanceID string
	// MaxPollRecords bounds the records per transaction (0: stage default).
	MaxPollRecords int
	// Tenants gives each tenant's feeds' missing mode, which decides what a
	// full file does to the known people and positions, and its validation
	// overrides, compiled at start (nil: defaults and the baseline rules).
	Tenants *tenant.Set
	// StateDir holds the instance's state store (pebble) and its
	// checkpoint, so a restart catches up from the changelog instead of
	// replaying it. Empty: a temporary directory, restored in full at every
	// start. One directory per instance.
	StateDir string

	brokers     config.StringList
	tenantFlags tenant.Flags
}

// RegisterFlags adds validate's flags: --kafka.brokers, --registry.url,
// --instance, --max-poll-records, --tenants, --tenants.file.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.brokers = config.StringList{"127.0.0.1:9092"}
	host, _ := os.Hostname()
	fs.Var(&c.brokers, "kafka.brokers", "comma-separated Kafka bootstrap brokers")
	fs.StringVar(&c.RegistryURL, "registry.url", "http://127.0.0.1:8081", "schema registry URL")
	fs.StringVar(&c.InstanceID, "instance", host, "instance id, stable across restarts (forms the transactional id)")
	fs.IntVar(&c.MaxPollRecords, "max-poll-records", 0, fmt.Sprintf("records per transaction (0: the stage default, %d)", stage.DefaultMaxPollRecords))
	c.tenantFlags.Register(fs, "feeds' missing mode and validation overrides")
	fs.StringVar(&c.StateDir, "state.dir", "", "directory of this instance's state store and checkpoint (empty: a temporary one, restored in full at each start)")
}

// fromFlags completes a Config filled by RegisterFlags.
func (c *Config) fromFlags() error {
	c.Brokers = c.brokers
	set, err := c.tenantFlags.Load()
	if err != nil {
		return err
	}
	c.Tenants = set
	return nil
}

// Deps are the service's collaborators.
type Deps struct {
	Log     *zap.Logger
	Metrics prometheus.Registerer
	// Registry, when set, is used instead of a client for Config.RegistryURL.
	Registry *sr.Client
	// Now is the clock for quarantined_at (default time.Now).
	Now func() time.Time
	// Tracing exports the stage's spans (nil: none).
	Tracing trace.TracerProvider
}

// Service is a running validate stage.
type Service struct {
	runner *stage.Runner
	store  *statestore.Store
}

// New builds the service; it does not connect to anything until Run.
func New(cfg Config, deps Deps) (*Service, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("validate: no Kafka brokers")
	}
	if cfg.InstanceID == "" {
		return nil, errors.New("validate: instance id is empty")
	}
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	cl := deps.Registry
	if cl == nil {
		if cfg.RegistryURL == "" {
			return nil, errors.New("validate: no schema registry URL")
		}
		var err error
		if cl, err = sr.NewClient(sr.URLs(cfg.RegistryURL)); err != nil {
			return nil, err
		}
	}
	m, err := NewMetrics(deps.Metrics)
	if err != nil {
		return nil, err
	}
	store, err := statestore.Open(statestore.Options{Dir: cfg.StateDir, Log: deps.Log})
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	proc, err := NewProcessor(ProcessorDeps{Registry: cl, Metrics: m, Log: deps.Log, Now: deps.Now, Tenants: cfg.Tenants, Store: store, Tracing: deps.Tracing})
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	runner, err := stage.New(stage.Config{
		Name:           Name,
		Group:          Group,
		InstanceID:     cfg.InstanceID,
		Input:          schemas.TopicNormalised,
		Changelog:      Changelog,
		Brokers:        cfg.Brokers,
		ClientOpts:     cfg.ClientOpts,
		MaxPollRecords: cfg.MaxPollRecords,
		Store:          store,
		Partitioner:    tenantpart.Partitioner(cfg.Tenants, schemas.TenantKeyedTopics...),
	}, proc, stage.Deps{Log: deps.Log, Metrics: deps.Metrics})
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	return &Service{runner: runner, store: store}, nil
}

// Run registers the output schemas (the processor's Init, called by the
// runner), then consumes until ctx ends or processing fails, and closes the
// state store.
func (s *Service) Run(ctx context.Context) error {
	err := s.runner.Run(ctx)
	if cerr := s.store.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("validate: closing the state store: %w", cerr)
	}
	return err
}

// Ready reports whether the schemas are registered, the stage has joined
// its group and its state is restored.
func (s *Service) Ready() error { return s.runner.Ready() }

// Spec describes the validate binary.
func Spec() service.Spec {
	var cfg Config
	return service.Spec{
		Name:            Name,
		DefaultHTTPAddr: ":8080",
		MemoryLimit:     service.DefaultMemoryLimit,
		RegisterFlags:   cfg.RegisterFlags,
		Build: func(ctx context.Context, env service.Env) (service.Built, error) {
			if err := cfg.fromFlags(); err != nil {
				return service.Built{}, err
			}
			svc, err := New(cfg, Deps{Log: env.Log, Metrics: env.Metrics, Tracing: env.Tracing})
			if err != nil {
				return service.Built{}, err
			}
			env.Ready.Add(Name, svc.Ready)
			return service.Built{Parts: []lifecycle.Part{lifecycle.Named(Name, lifecycle.Func(svc.Run))}}, nil
		},
	}
}
