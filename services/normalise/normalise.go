// Package normalise maps raw ESR rows from esr.raw.v1 to canonical entities
// on esr.normalised.v1, quarantining rows it cannot map on esr.quarantine.v1.
//
// MapRow is the pure mapping (reusable by any tool that holds RawRecords);
// Processor runs it as a stage.Processor with per-file running counts in the
// changelog esr.normalise.changelog.v1; Service wires it to Kafka and the
// schema registry; Spec is the binary. docs/normalise-validate.md documents
// the mapping and the rules.
package normalise

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
	"github.com/esrflow/esrflow/schemas"
)

// Name is the service name (logs, metrics, env prefix ESRFLOW_NORMALISE).
const Name = "normalise"

// Config configures a normalise instance.
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
	// Tenants holds per-tenant mapping overrides; nil or an unknown tenant
	// means the baseline mapping.
	Tenants *tenant.Set
	// MaxPollRecords bounds the records per transaction (0: stage default).
	MaxPollRecords int

	brokers     config.StringList
	tenantFlags tenant.Flags
}

// RegisterFlags adds normalise's flags: --kafka.brokers, --registry.url,
// --instance, --tenants, --tenants.file, --max-poll-records.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.brokers = config.StringList{"127.0.0.1:9092"}
	host, _ := os.Hostname()
	fs.Var(&c.brokers, "kafka.brokers", "comma-separated Kafka bootstrap brokers")
	fs.StringVar(&c.RegistryURL, "registry.url", "http://127.0.0.1:8081", "schema registry URL")
	fs.StringVar(&c.InstanceID, "instance", host, "instance id, stable across restarts (forms the transactional id)")
	c.tenantFlags.Register(fs, "mapping overrides")
	fs.IntVar(&c.MaxPollRecords, "max-poll-records", 0, fmt.Sprintf("records per transaction (0: the stage default, %d)", stage.DefaultMaxPollRecords))
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

// Service is a running normalise stage.
type Service struct {
	runner *stage.Runner
}

// New builds the service; it does not connect to anything until Run.
func New(cfg Config, deps Deps) (*Service, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("normalise: no Kafka brokers")
	}
	if cfg.InstanceID == "" {
		return nil, errors.New("normalise: instance id is empty")
	}
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	cl := deps.Registry
	if cl == nil {
		if cfg.RegistryURL == "" {
			return nil, errors.New("normalise: no schema registry URL")
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
	proc, err := NewProcessor(ProcessorDeps{Registry: cl, Tenants: cfg.Tenants, Metrics: m, Log: deps.Log, Now: deps.Now, Tracing: deps.Tracing})
	if err != nil {
		return nil, err
	}
	runner, err := stage.New(stage.Config{
		Name:           Name,
		Group:          Group,
		InstanceID:     cfg.InstanceID,
		Input:          schemas.TopicRaw,
		Changelog:      Changelog,
		Brokers:        cfg.Brokers,
		ClientOpts:     cfg.ClientOpts,
		MaxPollRecords: cfg.MaxPollRecords,
		Partitioner:    tenantpart.Partitioner(cfg.Tenants, schemas.TenantKeyedTopics...),
	}, proc, stage.Deps{Log: deps.Log, Metrics: deps.Metrics})
	if err != nil {
		return nil, err
	}
	return &Service{runner: runner}, nil
}

// Run registers the output schemas (the processor's Init, called by the
// runner), then consumes until ctx ends or processing fails.
func (s *Service) Run(ctx context.Context) error { return s.runner.Run(ctx) }

// Ready reports whether the schemas are registered, the stage has joined
// its group and its state is restored.
func (s *Service) Ready() error { return s.runner.Ready() }

// Spec describes the normalise binary.
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
