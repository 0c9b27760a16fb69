// Package registry is esrflow's Confluent-compatible schema registry: Avro
// schemas with real compatibility checks, kept in a compacted Kafka topic
// (_schemas) and served over Confluent's REST API, so franz-go's sr.Client and
// the Confluent clients of other languages work against it unchanged.
//
// Use New, then Start (or Run) to read the topic, and serve Handler.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/services/registry/internal/core"
	"github.com/esrflow/esrflow/services/registry/internal/httpapi"
	"github.com/esrflow/esrflow/services/registry/internal/store"
)

// DefaultTopic is where state lives unless Config.Topic says otherwise.
const DefaultTopic = "_schemas"

// Config configures a Registry.
type Config struct {
	// Topic is the compacted topic holding the registry's state; "_schemas" if empty.
	Topic string
	// DefaultCompatibility is the global level until one is PUT to /config;
	// BACKWARD if empty, as in Confluent.
	DefaultCompatibility string
	// ReplicationFactor is used only when creating the topic; 0 or -1 lets the
	// brokers choose.
	ReplicationFactor int16
	// WriteTimeout bounds one write (catch up, produce, apply); 30s if zero.
	WriteTimeout time.Duration
}

// Deps are the registry's collaborators.
type Deps struct {
	// Brokers are the Kafka seed brokers.
	Brokers []string
	// KafkaOpts are extra client options (TLS, SASL, client id). The registry
	// builds its own client rather than taking a *kgo.Client, because it
	// consumes its topic's partition directly and must not share a consumer.
	KafkaOpts []kgo.Opt
	// Logger is required.
	Logger *zap.Logger
	// Metrics, if set, receives the registry's metrics.
	Metrics prometheus.Registerer
}

// Registry is a running schema registry.
type Registry struct {
	cfg   Config
	log   *zap.Logger
	store *store.Store
	svc   *core.Service
	api   *httpapi.API

	startOnce sync.Once
	startErr  error
}

// New builds a registry. It does not touch Kafka until Start.
func New(cfg Config, deps Deps) (*Registry, error) {
	if deps.Logger == nil {
		return nil, errors.New("registry: a logger is required")
	}
	if len(deps.Brokers) == 0 && len(deps.KafkaOpts) == 0 {
		return nil, errors.New("registry: kafka brokers are required")
	}
	if cfg.Topic == "" {
		cfg.Topic = DefaultTopic
	}
	if cfg.DefaultCompatibility == "" {
		cfg.DefaultCompatibility = "BACKWARD"
	}
	log := deps.Logger.Named("registry")
	opts := deps.KafkaOpts
	if len(deps.Brokers) > 0 {
		opts = append([]kgo.Opt{kgo.SeedBrokers(deps.Brokers...)}, opts...)
	}
	st, err := store.New(store.Config{Topic: cfg.Topic, ReplicationFactor: cfg.ReplicationFactor, WriteTimeout: cfg.WriteTimeout}, opts, log)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	svc, err := core.New(st, cfg.DefaultCompatibility, log)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("registry: %w", err)
	}
	api, err := httpapi.New(svc, log, st.Ready, deps.Metrics)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("registry: %w", err)
	}
	r := &Registry{cfg: cfg, log: log, store: st, svc: svc, api: api}
	if deps.Metrics != nil {
		if err := r.registerMetrics(deps.Metrics); err != nil {
			st.Close()
			return nil, fmt.Errorf("registry: %w", err)
		}
	}
	return r, nil
}

func (r *Registry) registerMetrics(reg prometheus.Registerer) error {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "esrflow", Subsystem: "registry", Name: name, Help: help}, f)
	}
	for _, c := range []prometheus.Collector{
		gauge("subjects", "Subjects with at least one live version.", func() float64 { s, _, _ := r.svc.Stats(); return float64(s) }),
		gauge("schemas", "Distinct schema ids that resolve.", func() float64 { _, s, _ := r.svc.Stats(); return float64(s) }),
		gauge("max_schema_id", "Highest schema id assigned.", func() float64 { _, _, m := r.svc.Stats(); return float64(m) }),
		gauge("ready", "1 once the schemas topic has been read to its end.", func() float64 {
			if r.store.Ready() == nil {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "esrflow", Subsystem: "registry", Name: "bad_records_total",
			Help: "Records in the schemas topic that could not be read and were skipped.",
		}, func() float64 { return float64(r.store.BadRecords()) }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering metrics: %w", err)
		}
	}
	return nil
}

// Start creates the topic if missing and reads it to its end, so ids,
// versions and configs are those the topic holds. The API answers 50003
// until Start has returned successfully.
//
// Start is safe to call more than once (Run calls it too): a caller that
// needs the registry caught up before going on calls Start first, then hands
// Run to its supervisor.
func (r *Registry) Start(ctx context.Context) error {
	r.startOnce.Do(func() {
		if err := r.store.Start(ctx); err != nil {
			r.startErr = fmt.Errorf("registry: %w", err)
		}
	})
	return r.startErr
}

// Run starts the registry and blocks until ctx ends or the topic reader
// stops; it does not Close.
func (r *Registry) Run(ctx context.Context) error {
	if err := r.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case <-r.store.Done():
		return fmt.Errorf("registry: topic reader stopped: %w", r.store.Err())
	}
}

// Ready is nil once the registry has caught up with its topic.
func (r *Registry) Ready() error { return r.store.Ready() }

// Handler serves the Confluent Schema Registry REST API.
func (r *Registry) Handler() http.Handler { return r.api }

// Close stops reading the topic and closes the Kafka client.
func (r *Registry) Close() { r.store.Close() }
