// Package api is the api service: it materialises the public events and the
// ops topics into its own database (SQLite by default, PostgreSQL in
// production) and serves current state, the audit trail, file reports, held
// batches and files, quarantine and replays, the event feed and webhooks over
// a JSON HTTP API (docs/api.md).
//
// This package holds the HTTP handlers and the wiring; the components are
// packages of their own: store (the database and its queries), store/migrate
// (goose migrations), materialise (the Kafka consumer that writes the store),
// auth (scopes, clients and database keys), feed and webhook (the event feed's
// wake-ups and webhook delivery), accesslog, minimise and avrojson.
//
// Operator decisions (a held batch released or rejected, a held file released
// or discarded, quarantined rows replayed) are produced to esr.ops.commands.v1,
// esr.ops.intake.v1 and esr.ops.replays.v1 after the request is recorded; the
// stages that own them apply them once.
package api

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap"

	esrtenant "github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/platform/avrox"
	"github.com/esrflow/esrflow/platform/kafka/kafkax"
	"github.com/esrflow/esrflow/platform/lifecycle"
	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/accesslog"
	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/console"
	"github.com/esrflow/esrflow/services/api/feed"
	"github.com/esrflow/esrflow/services/api/materialise"
	"github.com/esrflow/esrflow/services/api/minimise"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/webhook"
)

// Group is the api's consumer group.
const Group = materialise.Group

// DefaultDBURL is the database used when none is configured.
const DefaultDBURL = "sqlite:esrflow-api.db"

// DefaultAccessLogRetention is how long access log rows are kept: 90 days.
const DefaultAccessLogRetention = 90 * 24 * time.Hour

// Config configures the api service.
type Config struct {
	Kafka       kafkax.Config
	RegistryURL string
	// InstanceID names this instance in the Kafka client id and logs.
	InstanceID string
	// DBURL is sqlite:<path> or postgres://... (see docs/api.md).
	DBURL string
	// Group is the consumer group; empty means esrflow-api.
	Group string
	// TopicRefresh is how often the topic list is re-read, so a new tenant's
	// topics are consumed without a restart; zero means 10s.
	TopicRefresh time.Duration
	// MaxPollRecords caps one batch (one database transaction); zero means 1000.
	MaxPollRecords int
	// Clients are the API clients allowed in. None: the embedded
	// single-machine mode, where reads are open and operate endpoints are
	// refused (401). See auth.LoadClients for the file format.
	Clients []auth.Client
	// KeysRefresh is how long an instance trusts its cached copy of the
	// database's API keys (docs/api.md, Keys); zero means
	// auth.DefaultKeysRefresh. The instance that creates or revokes a key
	// re-reads them at once.
	KeysRefresh time.Duration
	// CommandTimeout bounds how long a release or reject waits for Kafka to
	// accept its command before answering 503; zero means 10s.
	CommandTimeout time.Duration
	// UnauthenticatedRate and UnauthenticatedBurst limit, per remote
	// address, the requests answered 401 (no valid key): past them the
	// answer is 429 and no access log row is written. Zero means 1/s with a
	// burst of 60.
	UnauthenticatedRate  float64
	UnauthenticatedBurst int
	// StallTimeout is how long one batch may keep failing (the database
	// down or refusing every record) before Ready reports the consumer
	// stuck; zero means 2m.
	StallTimeout time.Duration
	// UploadDrop is the drop folder (one sub-folder per tenant) that
	// POST /v1/tenants/{tenant}/files writes into; empty disables upload
	// (501). UploadMaxBytes caps one file; zero means DefaultUploadMaxBytes.
	UploadDrop     string
	UploadMaxBytes int64
	// Archive is ingest's archive folder (<archive>/<TENANT>/<sha256>),
	// read-only: GET …/files/{sha256}/lines reads a file's lines from it.
	// Empty: that endpoint answers 501.
	Archive string
	// Tenants are the tenants' feed settings: with them, HTTP upload also
	// takes a name one of the tenant's CSV staff lists matches
	// (feeds.csv.lists), as ingest would read it. nil (no --tenants.file)
	// takes ESR names only.
	Tenants *esrtenant.Set
	// AccessLog sizes the asynchronous access log writer (queue, batch,
	// flush interval); zero values take its defaults.
	AccessLog accesslog.Config
	// AccessLogRetention deletes access log rows older than this, hourly;
	// zero keeps them forever. Every request is a row (unauthenticated
	// floods included), so the table needs a bound.
	AccessLogRetention time.Duration

	// FeedPoll is how often a long-polling feed reader (and the webhook
	// dispatcher) reads the database again without being woken. Commits
	// wake them at once (this instance's in process, other instances' on
	// PostgreSQL through LISTEN/NOTIFY); polling covers a lost listening
	// connection. Zero means 1s.
	FeedPoll time.Duration
	// Webhooks tunes webhook delivery (docs/api.md, Webhooks); its Poll is
	// FeedPoll.
	Webhooks webhook.Config

	// Console configures the operations console at /console
	// (docs/console.md).
	Console ConsoleConfig
	// Freshness is how long a tenant may go without an accepted file
	// before GET /v1/tenants marks it stale: the window of the
	// EsrflowTenantSilent alert (deploy/prometheus/alerts.yml), so the
	// console and the alert agree. Zero means DefaultFreshness.
	Freshness time.Duration
	// OverviewGroups are the consumer groups whose lag GET /v1/tenants
	// reports as the pipeline, in order (--overview.groups); nil means
	// DefaultPipelineGroups, empty none. A group of stage "api" is always
	// this api's own (Group).
	OverviewGroups []PipelineGroup
	// Now is the api's clock for the overview's "today", a last file's age
	// and how long the pipeline's lag is cached; nil means time.Now. Tests
	// pin it.
	Now func() time.Time

	tenantsFile string // --tenants.file, loaded by New into Tenants
}

// ConsoleConfig configures the operations console the api serves.
type ConsoleConfig struct {
	// Disabled leaves /console out (404).
	Disabled bool
	// Secret seals the console's session cookies; every instance behind
	// one address needs the same. Empty: a random secret per process.
	Secret []byte
	// SecureCookies marks the session cookie Secure on plain HTTP too,
	// for a console behind a proxy that terminates TLS.
	SecureCookies bool
	// SessionTTL is how long a sign-in lasts; zero means 8h.
	SessionTTL time.Duration
}

// DefaultFreshness is 26 hours: ESR sends every tenant a file daily, plus
// slack for a late run (the EsrflowTenantSilent alert's window).
const DefaultFreshness = 26 * time.Hour

// RegisterFlags adds the api's flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Kafka.RegisterFlags(fs, "esrflow-api")
	host, _ := os.Hostname()
	fs.StringVar(&c.RegistryURL, "registry.url", "http://127.0.0.1:8081", "schema registry URL (Confluent REST API)")
	fs.StringVar(&c.InstanceID, "instance", host, "instance id, stable across restarts (defaults to the host name)")
	fs.StringVar(&c.DBURL, "db.url", DefaultDBURL, "database: sqlite:<path> or postgres://user:pass@host:5432/db?sslmode=...")
	fs.DurationVar(&c.TopicRefresh, "kafka.topic-refresh", 10*time.Second, "how often to look for new tenants' event topics")
	fs.IntVar(&c.MaxPollRecords, "kafka.max-poll-records", 1000, "records per batch (one database transaction)")
	fs.DurationVar(&c.CommandTimeout, "kafka.command-timeout", 10*time.Second, "how long a release/reject waits for Kafka before answering 503")
	fs.Float64Var(&c.UnauthenticatedRate, "auth.unauthenticated-rate", DefaultUnauthenticatedRate, "requests per second, per remote address, answered 401 before further ones get 429")
	fs.IntVar(&c.UnauthenticatedBurst, "auth.unauthenticated-burst", DefaultUnauthenticatedBurst, "burst of requests, per remote address, answered 401 before the rate applies")
	fs.DurationVar(&c.StallTimeout, "kafka.stall-timeout", 2*time.Minute, "how long one batch may keep failing before /readyz reports the consumer stuck")
	fs.StringVar(&c.UploadDrop, "upload.drop", "", "drop folder (one sub-folder per tenant) that HTTP uploads write into; empty: upload disabled")
	fs.StringVar(&c.Archive, "archive", "", "ingest's archive folder (<archive>/<TENANT>/<sha256>), read-only: serves a file's raw lines; empty: 501")
	fs.Int64Var(&c.UploadMaxBytes, "upload.max-bytes", DefaultUploadMaxBytes, "largest file accepted by HTTP upload, in bytes")
	fs.DurationVar(&c.AccessLogRetention, "access-log.retention", DefaultAccessLogRetention, "delete access log rows older than this, hourly (0: keep them forever)")
	fs.DurationVar(&c.FeedPoll, "feed.poll", time.Second, "how often feed long-polls and webhook deliveries look again for new events without being woken (a fallback: commits wake them at once)")
	fs.IntVar(&c.Webhooks.MaxAttempts, "webhook.max-attempts", 8, "delivery attempts per event before it goes to the subscription's dead letters")
	fs.DurationVar(&c.Webhooks.BaseBackoff, "webhook.backoff", time.Second, "wait after a webhook's first failed attempt; doubled after each further one, with jitter")
	fs.DurationVar(&c.Webhooks.MaxBackoff, "webhook.max-backoff", 5*time.Minute, "longest wait between two attempts of one webhook delivery")
	fs.DurationVar(&c.Webhooks.Timeout, "webhook.timeout", 10*time.Second, "how long one webhook attempt may take (connect, send, answer)")
	fs.BoolVar(&c.Webhooks.AllowPrivate, "webhook.allow-private", false, "let webhook URLs reach loopback, private and link-local addresses (off: refused, against SSRF)")
	fs.DurationVar(&c.Freshness, "console.freshness", DefaultFreshness, "how long a tenant may go without an accepted file before GET /v1/tenants marks it stale (keep it the EsrflowTenantSilent alert's window)")
	c.OverviewGroups = append([]PipelineGroup(nil), DefaultPipelineGroups...)
	fs.Var((*pipelineGroupsFlag)(&c.OverviewGroups), "overview.groups", "consumer groups whose lag GET /v1/tenants reports, comma-separated stage=group (a trailing ? lists the group only once it has committed offsets; the api stage is always this api's own group); empty: none")
	fs.StringVar(&c.tenantsFile, "tenants.file", "", "YAML tenants file: HTTP upload then also takes the names of each tenant's CSV staff lists (feeds.csv.lists); unset: ESR names only")
	fs.BoolFunc("console.disable", "do not serve the operations console at /console", func(string) error {
		c.Console.Disabled = true
		return nil
	})
	fs.Func("console.secret-file", "file whose contents seal the console's session cookies (the same file on every instance); unset: a random secret, sessions end at restart", func(path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(b)) < 16 {
			return fmt.Errorf("console.secret-file %s: want at least 16 bytes of secret", path)
		}
		c.Console.Secret = bytes.TrimSpace(b)
		return nil
	})
	fs.BoolVar(&c.Console.SecureCookies, "console.secure-cookies", false, "mark the console's session cookie Secure on plain HTTP too (behind a proxy that terminates TLS); over TLS it always is")
	fs.DurationVar(&c.Console.SessionTTL, "console.session-ttl", console.DefaultSessionTTL, "how long a console sign-in lasts (never longer than its key)")
	// The file is read when the flag (or ESRFLOW_API_AUTH_CLIENTS) is
	// parsed, so a bad clients file stops the service before it starts.
	fs.Func("auth.clients", "YAML file of API clients (name, key_sha256, tenants, scopes); unset: reads open, operate refused", func(path string) error {
		cs, err := auth.LoadClients(path)
		if err != nil {
			return err
		}
		c.Clients = cs
		return nil
	})
}

// Deps are the api's collaborators.
type Deps struct {
	Log     *zap.Logger
	Metrics prometheus.Registerer
}

// Service is a running api: a Kafka consumer writing the database, and the
// HTTP handler reading it.
type Service struct {
	cfg   Config
	log   *zap.Logger
	store *store.Store
	// mat consumes the topics into the store.
	mat    *materialise.Materialiser
	m      *metrics
	auth   *auth.Authenticator
	unauth *addrLimiter // requests without a valid key
	// access writes the access log in batches, off the request path.
	access *accesslog.Writer
	// feed wakes long-polling feed readers and the webhook dispatcher when
	// a batch with new events commits.
	feed *feed.Notifier
	// waiters counts the long polls waiting, per client.
	waiters waiters
	// webhooks delivers the feed to subscribers; whStore keeps their
	// subscriptions, delivery log and dead letters.
	webhooks *webhook.Dispatcher
	whStore  *webhook.Store

	// routes are the /v1 endpoints and the contracts; console, when
	// enabled, the operations console that calls them in process.
	routes  http.Handler
	console *console.Console

	// commands produces operator decisions. It registers their schema on
	// first use, so a registry outage at start does not stop the reads.
	commands *commandProducer
	// admin reads the stages' consumer groups for the overview; pipeline
	// caches what it read.
	admin    *kgo.Client
	pipeline *pipelineReader
}

// New opens and migrates the database and prepares the consumer. It reads no
// globals, flags or environment: `esrflow up` calls it with explicit Config.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Kafka.Validate(); err != nil {
		return nil, err
	}
	if cfg.RegistryURL == "" {
		return nil, errors.New("registry.url is empty")
	}
	if cfg.DBURL == "" {
		cfg.DBURL = DefaultDBURL
	}
	// The served contracts are converted to JSON here, at start, so a
	// broken document stops the service instead of failing a request.
	if err := loadContracts(); err != nil {
		return nil, err
	}
	if cfg.Tenants == nil && cfg.tenantsFile != "" {
		set, err := esrtenant.Load(cfg.tenantsFile)
		if err != nil {
			return nil, fmt.Errorf("tenants.file: %w", err)
		}
		cfg.Tenants = set
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 10 * time.Second
	}
	if cfg.UnauthenticatedRate <= 0 {
		cfg.UnauthenticatedRate = DefaultUnauthenticatedRate
	}
	if cfg.UnauthenticatedBurst <= 0 {
		cfg.UnauthenticatedBurst = DefaultUnauthenticatedBurst
	}
	if cfg.FeedPoll <= 0 {
		cfg.FeedPoll = time.Second
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 2 * time.Minute
	}
	if cfg.Freshness <= 0 {
		cfg.Freshness = DefaultFreshness
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a, err := auth.New(cfg.Clients)
	if err != nil {
		return nil, fmt.Errorf("api clients: %w", err)
	}
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	if deps.Metrics == nil {
		deps.Metrics = prometheus.NewRegistry()
	}
	m, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, err
	}
	srCl, err := sr.NewClient(sr.URLs(cfg.RegistryURL))
	if err != nil {
		return nil, fmt.Errorf("registry client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, cfg.DBURL)
	if err != nil {
		return nil, err
	}
	kcfg := cfg.Kafka
	if cfg.InstanceID != "" && kcfg.ClientID != "" {
		kcfg.ClientID += "-" + cfg.InstanceID
	}
	serde := avrox.New(srCl, internalv1.NewAPI())
	feeds := feed.NewNotifier()
	mat, err := materialise.New(materialise.Config{Kafka: kcfg, Group: cfg.Group, TopicRefresh: cfg.TopicRefresh, MaxPollRecords: cfg.MaxPollRecords},
		materialise.Deps{Log: deps.Log, Metrics: deps.Metrics, Store: st, Serde: serde, Notify: feeds.Notify})
	if err != nil {
		st.Close()
		return nil, err
	}
	commands, err := newCommandProducer(kcfg, cfg.CommandTimeout, cfg.Tenants, srCl, serde)
	if err != nil {
		mat.Close()
		st.Close()
		return nil, err
	}
	akcfg := kcfg
	if akcfg.ClientID != "" {
		akcfg.ClientID += "-admin"
	}
	admin, err := akcfg.NewClient()
	if err != nil {
		commands.close()
		mat.Close()
		st.Close()
		return nil, fmt.Errorf("admin client: %w", err)
	}
	access, err := accesslog.New(cfg.AccessLog, st.LogAccess, deps.Log, deps.Metrics)
	if err != nil {
		admin.Close()
		commands.close()
		mat.Close()
		st.Close()
		return nil, err
	}
	if cfg.KeysRefresh <= 0 {
		cfg.KeysRefresh = auth.DefaultKeysRefresh
	}
	a.UseKeys(auth.NewKeyCache(st, cfg.KeysRefresh))
	deps.Log.Info("api database ready", zap.String("db", st.Dialect().String()), zap.Int("api_clients", len(cfg.Clients)))
	if a.Open() {
		deps.Log.Warn("no API clients configured: reads are open to anyone who can reach the port, operate endpoints are refused")
	}
	s := &Service{
		cfg: cfg, log: deps.Log, store: st, mat: mat, access: access, m: m, auth: a, commands: commands, admin: admin,
		unauth:  newAddrLimiter(cfg.UnauthenticatedRate, cfg.UnauthenticatedBurst),
		feed:    feeds,
		whStore: webhook.NewStore(st.DB(), st.Rebind),
	}
	groups := cfg.OverviewGroups
	if groups == nil {
		groups = DefaultPipelineGroups
	}
	apiGroup := cfg.Group
	if apiGroup == "" {
		apiGroup = Group
	}
	s.pipeline = newPipelineReader(admin, groups, apiGroup, cfg.Now, deps.Log)
	whCfg := cfg.Webhooks
	whCfg.Poll, whCfg.Minimise = cfg.FeedPoll, minimise.JSON
	// A subscription delivers only while its owner's key stands and may
	// read the tenant's events; without people:sensitive now, its bodies
	// are minimised even if it was created with it.
	whCfg.Owner = func(ctx context.Context, client, tenant string) (bool, bool, error) {
		if a.Open() {
			return true, false, nil
		}
		c, err := a.ByName(ctx, client)
		if err != nil || c == nil {
			return false, false, err
		}
		return c.Allows(tenant) && c.HasAny([]string{auth.ScopeReadEvents}), c.Sensitive(), nil
	}
	s.webhooks = webhook.NewDispatcher(whCfg, s.whStore, webhookSource{s}, deps.Log)
	s.routes = s.newRoutes()
	if !cfg.Console.Disabled {
		// The console calls the routes in process, inside the page
		// request: the page is one access log row, under the signed-in
		// key's name, and its calls are checked like any caller's.
		s.console, err = console.New(console.Config{API: s.routes, Secret: cfg.Console.Secret,
			SecureCookies: cfg.Console.SecureCookies, SessionTTL: cfg.Console.SessionTTL, Log: deps.Log.Named("console"), Now: cfg.Now})
		if err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close writes the queued access log, then releases the Kafka client and the
// database. Call it after Run returns and the HTTP server has stopped.
func (s *Service) Close() {
	s.access.Close()
	s.commands.close()
	s.admin.Close()
	s.mat.Close()
	s.store.Close()
}

// Ready reports whether the database and Kafka answer and the consumer is
// not stuck on a batch it keeps failing to write.
func (s *Service) Ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.mat.Ready(ctx, s.cfg.StallTimeout); err != nil {
		return err
	}
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

// Spec describes the api binary.
func Spec() service.Spec {
	var cfg Config
	return service.Spec{
		Name:               "api",
		DefaultHTTPAddr:    ":8080",
		DefaultMetricsAddr: ":9464",
		RegisterFlags:      cfg.RegisterFlags,
		Build: func(_ context.Context, env service.Env) (service.Built, error) {
			s, err := New(cfg, Deps{Log: env.Log, Metrics: env.Metrics})
			if err != nil {
				return service.Built{}, err
			}
			env.Ready.Add("api", s.Ready)
			return service.Built{
				Parts:   []lifecycle.Part{lifecycle.Named("api", lifecycle.Func(s.Run))},
				Handler: s.Handler(),
				// The whole port, probes' mux included, is logged.
				Middleware:   s.LogRequests,
				WrapListener: s.WrapListener,
				Close:        s.Close,
			}, nil
		},
	}
}
