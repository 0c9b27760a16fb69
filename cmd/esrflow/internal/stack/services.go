package stack

import (
	"context"
	"net/http"
	"path/filepath"
	"time"

	"github.com/esrflow/esrflow/platform/kafka/kafkax"
	"github.com/esrflow/esrflow/platform/lifecycle"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/platform/obs"
	"github.com/esrflow/esrflow/services/api"
	"github.com/esrflow/esrflow/services/ingest"
	"github.com/esrflow/esrflow/services/ingest/sftpd"
	"github.com/esrflow/esrflow/services/normalise"
	"github.com/esrflow/esrflow/services/publish"
	"github.com/esrflow/esrflow/services/validate"
)

type builtServices struct {
	parts   []lifecycle.Part
	closers []func()
}

// instance names this process's instance of every service: a restarted
// `up` on the same data folder is the same instance, so its transactional
// ids fence the previous run's.
const instance = "up"

// buildServices constructs each service as its own binary would, with the
// stack's addresses, and readiness checks on the shared /readyz.
func (s *Stack) buildServices(ctx context.Context, seeds []string) (builtServices, error) {
	var b builtServices
	cfg := s.cfg
	ready := &obs.Readiness{}
	s.ready = ready
	add := func(name string, run func(context.Context) error, isReady func() error) {
		b.parts = append(b.parts, lifecycle.Named(name, lifecycle.Func(run)))
		ready.Add(name, isReady)
	}
	if !cfg.without("ingest") {
		tp, err := s.tracerProvider(ctx, "ingest", &b)
		if err != nil {
			return b, err
		}
		svc, err := ingest.New(ingest.Config{
			Drop: cfg.DropDir(), Archive: filepath.Join(cfg.DataDir, "archive"), Outbound: cfg.OutboundDir(), Tenants: cfg.Tenants,
			Retention: ingest.Retention(cfg.ArchiveRetention),
			Brokers:   seeds, RegistryURL: s.regURL, InstanceID: instance, Settle: cfg.Settle, Interval: cfg.Poll,
			IncompleteAfter: cfg.IncompleteAfter,
		}, ingest.Deps{Log: cfg.Log.With(logx.Service("ingest")), Metrics: s.Registry, Tracing: tp})
		if err != nil {
			return b, err
		}
		add("ingest", svc.Run, svc.Ready)
		if cfg.SFTPAddr != "" {
			// Beside ingest, as the ingest binary runs it: trusts
			// upload into the drop folder ingest watches.
			srv, err := sftpd.New(sftpd.Config{
				Addr: cfg.SFTPAddr, Credentials: cfg.SFTPCredentialsFile(), HostKey: filepath.Join(cfg.DataDir, "sftp-host-key"),
				Drop: cfg.DropDir(), Outbound: cfg.OutboundDir(), Tenants: cfg.Tenants,
			}, cfg.Log.With(logx.Service("sftp")), s.Registry)
			if err != nil {
				return b, err
			}
			s.sftp = srv
			b.parts = append(b.parts, lifecycle.Named("sftp", srv))
		}
	}
	if !cfg.without("normalise") {
		tp, err := s.tracerProvider(ctx, "normalise", &b)
		if err != nil {
			return b, err
		}
		svc, err := normalise.New(normalise.Config{Brokers: seeds, RegistryURL: s.regURL, InstanceID: instance, Tenants: cfg.Tenants},
			normalise.Deps{Log: cfg.Log.With(logx.Service("normalise")), Metrics: s.Registry, Tracing: tp})
		if err != nil {
			return b, err
		}
		add("normalise", svc.Run, svc.Ready)
	}
	if !cfg.without("validate") {
		tp, err := s.tracerProvider(ctx, "validate", &b)
		if err != nil {
			return b, err
		}
		svc, err := validate.New(validate.Config{Brokers: seeds, RegistryURL: s.regURL, InstanceID: instance, Tenants: cfg.Tenants,
			StateDir: stateDir(cfg.DataDir, "validate", instance)},
			validate.Deps{Log: cfg.Log.With(logx.Service("validate")), Metrics: s.Registry, Tracing: tp})
		if err != nil {
			return b, err
		}
		add("validate", svc.Run, svc.Ready)
	}
	if !cfg.without("publish") {
		tp, err := s.tracerProvider(ctx, "publish", &b)
		if err != nil {
			return b, err
		}
		s.pub.tracing = tp
		s.pub.cfg = publish.Config{Brokers: seeds, RegistryURL: s.regURL, InstanceID: instance,
			Tenants: cfg.Tenants, Now: cfg.Now, DisableClock: cfg.DisableClock, TickInterval: cfg.TickInterval,
			StateDir: stateDir(cfg.DataDir, "publish", instance)}
		s.pub.next = make(chan struct{})
		svc, err := s.newPublish()
		if err != nil {
			return b, err
		}
		s.Publish = svc
		// runPublish rather than svc.Run, so RestartPublish can replace it.
		add("publish", s.runPublish, s.publishReady)
	}
	if !cfg.without("api") {
		svc, err := api.New(api.Config{
			Kafka: kafkax.Config{Brokers: seeds, ClientID: "esrflow-api"}, RegistryURL: s.regURL, InstanceID: instance,
			DBURL: "sqlite:" + filepath.Join(cfg.DataDir, "api.db"),
			// New tenants appear while the stack runs; pick up their
			// event topics quickly on one machine.
			TopicRefresh: time.Second,
			Clients:      cfg.APIClients,
			// HTTP uploads land in the folder ingest watches, as any
			// other delivery does.
			UploadDrop: cfg.DropDir(), Tenants: cfg.Tenants,
			// The folder ingest archives every original into (above):
			// the api reads a file's lines from it, never writes.
			Archive:            filepath.Join(cfg.DataDir, "archive"),
			AccessLogRetention: api.DefaultAccessLogRetention,
			Console:            api.ConsoleConfig{Secret: cfg.ConsoleSecret},
		}, api.Deps{Log: cfg.Log.With(logx.Service("api")), Metrics: s.Registry})
		if err != nil {
			return b, err
		}
		s.API = svc
		add("api", svc.Run, svc.Ready)
		b.closers = append(b.closers, svc.Close)
		srv, err := obs.Listen(cfg.APIAddr, svc.Handler(), svc.WrapListener)
		if err != nil {
			return b, err
		}
		s.apiURL = srv.URL()
		b.parts = append(b.parts, lifecycle.Named("api-http", lifecycle.Func(srv.Run)))
	}
	if cfg.MetricsAddr != "" {
		srv, err := obs.Listen(cfg.MetricsAddr, obs.Handler(s.Registry, ready, http.NotFoundHandler()))
		if err != nil {
			return b, err
		}
		s.obsURL = srv.URL()
		b.parts = append(b.parts, lifecycle.Named("metrics-http", lifecycle.Func(srv.Run)))
	}
	return b, nil
}

// stateDir is where a stateful stage instance keeps its state store: under
// DataDir/state/, so a restarted stack catches up from its checkpoints.
func stateDir(dataDir, stage, instance string) string {
	return filepath.Join(dataDir, "state", stage+"-"+instance)
}
