// Package stack runs the whole platform in one process on embedded defaults:
// a persistent kfake broker, the schema registry, the five pipeline services
// and the api. `esrflow up`, the end-to-end tests and the benchmark all start
// it the same way, so what the tests prove is what a newcomer runs.
//
// Every service is built with its own constructor and explicit
// configuration, exactly as its own binary builds it; they talk to each
// other only through Kafka topics and the registry, never in memory.
package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/kafka/embedded"
	"github.com/esrflow/esrflow/platform/lifecycle"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/platform/obs"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/schemas/registrar"
	"github.com/esrflow/esrflow/services/api"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/ingest/sftpd"
	"github.com/esrflow/esrflow/services/publish"
	"github.com/esrflow/esrflow/services/registry"
)

// Config configures an in-process stack.
type Config struct {
	// DataDir holds everything: kafka/, drop/<TENANT>/, archive/, api.db.
	DataDir string
	// KafkaPort, RegistryAddr and APIAddr: 0 / ":0" pick free ports.
	KafkaPort    int
	RegistryAddr string
	APIAddr      string
	// MetricsAddr serves /metrics, /healthz and /readyz for the whole
	// process; empty disables it.
	MetricsAddr string
	// Partitions of each internal topic, applied on first start.
	Partitions int
	// TopicPartitions overrides Partitions topic by topic, and sizes the
	// ops topics (default schemas.DefaultOpsPartitions).
	TopicPartitions Partitions
	// Tenants are the configured trusts.
	Tenants *tenant.Set
	// Settle and Poll tune how quickly ingest picks up a dropped file.
	Settle, Poll time.Duration
	// IncompleteAfter is how long an ESR file without its trailer is waited
	// for (ingest's --incomplete-after); 0 = ingest's default.
	IncompleteAfter time.Duration
	// SyncWrites makes the embedded broker fsync (durable against power
	// loss, slower).
	SyncWrites bool
	// Without lists services not to start in-process (a test runs one as a
	// separate process instead): "ingest", "normalise", "validate",
	// "publish", "api".
	Without []string
	Log     *zap.Logger
	// Now is publish's clock: it stamps events and decides when a held
	// leaver is due. nil = time.Now; tests inject a clock they move.
	Now func() time.Time
	// DisableClock leaves held leavers to files alone (publish's
	// --schedule.disable-clock): for loading old files, where today's clock
	// would confirm every old leaver at once.
	DisableClock bool
	// TickInterval is how often publish checks its clock for due leavers
	// (0 = publish's default, 1s); tests use a short one.
	TickInterval time.Duration
	// APIClients may call the api's authenticated endpoints (releasing or
	// rejecting a held batch).
	APIClients []auth.Client
	// ConsoleSecret seals the api console's session cookies; empty: a
	// random secret per start.
	ConsoleSecret []byte
	// SFTPAddr runs ingest's built-in SFTP server there; empty = off.
	// Its accounts are SFTPCredentials (default DataDir/sftp-accounts.yaml,
	// re-read when it changes), its host key DataDir/sftp-host-key, and
	// each tenant's outbound folder DataDir/outbound/<TENANT>.
	SFTPAddr        string
	SFTPCredentials string
	// ArchiveRetention deletes archived originals this long after ingest
	// archived them (ingest's --archive.retention); 0 keeps them forever.
	ArchiveRetention time.Duration
}

// Stack is a running platform.
type Stack struct {
	cfg    Config
	broker *embedded.Broker
	regURL string
	apiURL string
	obsURL string
	sftp   *sftpd.Server
	// Publish is the running publish service. RestartPublish replaces it;
	// read it from the goroutine that restarts (or use PublishService).
	Publish  *publish.Service
	API      *api.Service
	Registry *prometheus.Registry
	pub      publishRun
	ready    *obs.Readiness

	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

// InternalTopics are the pipeline's tenant-keyed topics (DESIGN.md): the
// internal topics with partitions each unless p says otherwise, and the ops
// topics. A topic's partition count bounds how many instances of its
// consumer can share the work, and is fixed at creation because changing it
// would move tenants between partitions and break per-tenant order.
func InternalTopics(partitions int32, p Partitions) []embedded.TopicSpec {
	return p.withDefaults(partitions).Topics()
}

// DropDir is the folder ingest watches.
func (c Config) DropDir() string { return filepath.Join(c.DataDir, "drop") }

// OutboundDir holds each tenant's outbound folder, readable over SFTP.
func (c Config) OutboundDir() string { return filepath.Join(c.DataDir, "outbound") }

// SFTPCredentialsFile is the SFTP accounts file in use.
func (c Config) SFTPCredentialsFile() string {
	if c.SFTPCredentials != "" {
		return c.SFTPCredentials
	}
	return filepath.Join(c.DataDir, "sftp-accounts.yaml")
}

func (c Config) without(name string) bool {
	for _, w := range c.Without {
		if w == name {
			return true
		}
	}
	return false
}

// Start starts everything and returns once the services are running. The
// stack runs until ctx ends or Close is called; Wait returns its error.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 6
	}
	if cfg.Tenants == nil {
		cfg.Tenants, _ = tenant.New()
	}
	if cfg.Settle == 0 {
		cfg.Settle = time.Second
	}
	if cfg.Poll == 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.RegistryAddr == "" {
		cfg.RegistryAddr = "127.0.0.1:0"
	}
	if cfg.APIAddr == "" {
		cfg.APIAddr = "127.0.0.1:0"
	}
	for _, dir := range []string{filepath.Join(cfg.DataDir, "kafka"), cfg.DropDir(), filepath.Join(cfg.DataDir, "archive")} {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, err
		}
	}
	for _, code := range cfg.Tenants.Codes() {
		if err := os.MkdirAll(filepath.Join(cfg.DropDir(), code), 0o750); err != nil {
			return nil, err
		}
	}
	log := cfg.Log
	s := &Stack{cfg: cfg, done: make(chan struct{}), Registry: obs.NewRegistry()}
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()

	s.broker, err = embedded.Start(ctx, embedded.Config{
		DataDir: filepath.Join(cfg.DataDir, "kafka"), Port: cfg.KafkaPort, SyncWrites: cfg.SyncWrites,
		Topics: InternalTopics(int32(cfg.Partitions), cfg.TopicPartitions),
	})
	if err != nil {
		return nil, err
	}
	closers = append(closers, s.broker.Close)
	seeds := s.broker.Seeds()
	var hashed []string
	if s.cfg.Tenants, hashed, err = tenantPlacement(ctx, cfg.DataDir, seeds, cfg.Tenants); err != nil {
		return nil, err
	}
	if len(hashed) > 0 {
		log.Info("tenants of a store created before the partition assignment keep their hash placement",
			zap.Strings("tenants", hashed), zap.String("file", filepath.Join(cfg.DataDir, PlacementFile)))
	}

	reg, err := registry.New(registry.Config{DefaultCompatibility: "BACKWARD_TRANSITIVE"},
		registry.Deps{Brokers: seeds, Logger: log.With(logx.Service("registry"))})
	if err != nil {
		return nil, err
	}
	closers = append(closers, reg.Close)
	if err := reg.Start(ctx); err != nil {
		return nil, fmt.Errorf("starting schema registry: %w", err)
	}
	regSrv, err := obs.Listen(cfg.RegistryAddr, reg.Handler())
	if err != nil {
		return nil, fmt.Errorf("schema registry listen: %w", err)
	}
	s.regURL = regSrv.URL()
	// The registry runs first, on its own context: the services register
	// and look up schemas as they start. On the way down the services stop
	// first, so none is cut off mid-request to the registry.
	runCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	closers = append(closers, cancel)
	infraCtx, cancelInfra := context.WithCancel(context.Background())
	infraDone := make(chan error, 1)
	go func() {
		infraDone <- lifecycle.Run(infraCtx, log,
			lifecycle.Named("registry", lifecycle.Func(reg.Run)),
			lifecycle.Named("registry-http", lifecycle.Func(regSrv.Run)))
		cancel() // the services cannot run without it
	}()
	stopInfra := sync.OnceValue(func() error { cancelInfra(); return <-infraDone })
	closers = append(closers, func() { _ = stopInfra() })
	if err := registerInternalSchemas(ctx, s.regURL); err != nil {
		return nil, err
	}

	built, err := s.buildServices(runCtx, seeds)
	if err != nil {
		return nil, err
	}
	closers = append(closers, built.closers...)

	go func() {
		defer close(s.done)
		err := lifecycle.Run(runCtx, log, built.parts...)
		infraErr := stopInfra()
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		if err == nil || errors.Is(err, context.Canceled) {
			err = infraErr
		}
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}()
	return s, nil
}

// Ready reports nil once every service of the stack is ready (what
// /readyz serves), or the first that is not.
func (s *Stack) Ready() error { return s.ready.Check() }

// Seeds are the broker addresses.
func (s *Stack) Seeds() []string { return s.broker.Seeds() }

// KafkaRecovery is what the embedded broker repaired in the data folder
// on start after a crash (transactions left open, aborted with a marker).
func (s *Stack) KafkaRecovery() embedded.Recovery { return s.broker.Recovery() }

// RegistryURL is the schema registry's base URL.
func (s *Stack) RegistryURL() string { return s.regURL }

// APIURL is the api's base URL ("" when the api runs elsewhere).
func (s *Stack) APIURL() string { return s.apiURL }

// MetricsURL serves the process's /metrics ("" when disabled).
func (s *Stack) MetricsURL() string { return s.obsURL }

// DropDir is the folder ingest watches, one sub-folder per tenant.
func (s *Stack) DropDir() string { return s.cfg.DropDir() }

// SFTP is the running SFTP server, nil when off.
func (s *Stack) SFTP() *sftpd.Server { return s.sftp }

// SFTPCredentials is the SFTP accounts file ("" when SFTP is off).
func (s *Stack) SFTPCredentials() string {
	if s.sftp == nil {
		return ""
	}
	return s.cfg.SFTPCredentialsFile()
}

// Close stops everything and waits.
func (s *Stack) Close() error {
	s.cancel()
	return s.Wait()
}

// Wait blocks until the stack stopped and returns why.
func (s *Stack) Wait() error {
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Done is closed when the stack stopped.
func (s *Stack) Done() <-chan struct{} { return s.done }

// registerInternalSchemas puts every version of the internal topics' schemas
// in the registry; it is idempotent across restarts.
func registerInternalSchemas(ctx context.Context, url string) error {
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = registrar.RegisterTopics(ctx, cl,
		schemas.TopicRaw, schemas.TopicNormalised, schemas.TopicValidated, schemas.TopicQuarantine, schemas.TopicFileReports)
	return err
}
