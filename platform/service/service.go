// Package service is the common shape of every esrflow binary: flags with
// environment fallback, a JSON logger, /metrics /healthz /readyz on one HTTP
// port, graceful shutdown on SIGINT/SIGTERM, and a supervisor that stops the
// process when any part fails. A service's main only names itself, registers
// its own flags and builds its parts.
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/esrflow/esrflow/platform/config"
	"github.com/esrflow/esrflow/platform/lifecycle"
	"github.com/esrflow/esrflow/platform/logx"
	"github.com/esrflow/esrflow/platform/obs"
	"github.com/esrflow/esrflow/platform/tracing"
)

// Common holds the settings every service has.
type Common struct {
	HTTPAddr string
	// MetricsAddr serves /metrics (and the probes) apart from HTTPAddr; set
	// only for a service with its own API (Spec.DefaultMetricsAddr).
	MetricsAddr string
	Log         logx.Config
	// Profiles serves Go's runtime profiles (net/http/pprof) beside
	// /metrics: off by default, since they show the process's internals.
	Profiles bool
}

// RegisterFlags adds the common flags.
func (c *Common) RegisterFlags(fs *flag.FlagSet, defaultHTTPAddr string) {
	fs.StringVar(&c.HTTPAddr, "http.addr", defaultHTTPAddr, "listen address for /metrics, /healthz, /readyz and the service's own API")
	fs.StringVar(&c.Log.Level, "log.level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.Log.Format, "log.format", "json", "log format: json or console")
	c.registerProfilesFlag(fs)
}

func (c *Common) registerProfilesFlag(fs *flag.FlagSet) {
	fs.BoolVar(&c.Profiles, "debug.pprof", false, "serve Go's runtime profiles at /debug/pprof/ on the port of /metrics (heap, CPU, goroutines: keep that port off the networks callers reach)")
}

// registerAPIFlags replaces the common http.addr with the pair a service
// with its own API has: the API port, and a separate metrics port.
func (c *Common) registerAPIFlags(fs *flag.FlagSet, defaultHTTPAddr, defaultMetricsAddr string) {
	fs.StringVar(&c.HTTPAddr, "http.addr", defaultHTTPAddr, "listen address for the service's API, /healthz and /readyz (never /metrics)")
	fs.StringVar(&c.MetricsAddr, "metrics.addr", defaultMetricsAddr, "listen address for /metrics, /healthz and /readyz; keep it off the network callers reach")
	fs.StringVar(&c.Log.Level, "log.level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.Log.Format, "log.format", "json", "log format: json or console")
	c.registerProfilesFlag(fs)
}

// Env is what a service's parts are built with.
type Env struct {
	Log     *zap.Logger
	Metrics prometheus.Registerer
	Ready   *obs.Readiness
	// Tracing is the service's own TracerProvider (service.name
	// esrflow-<name>): it exports over OTLP when the OpenTelemetry
	// environment names an endpoint, and is a no-op otherwise
	// (platform/tracing). Never the global one: `esrflow up` runs every
	// service in one process, each under its own name.
	Tracing trace.TracerProvider
}

// Built is what a service hands back: its long-lived parts and, optionally, an
// HTTP handler mounted beside the operational endpoints.
type Built struct {
	Parts   []lifecycle.Part
	Handler http.Handler
	// Middleware, when set, wraps the port's whole handler (the probes
	// and Handler): what must see every request, such as an access log.
	Middleware func(http.Handler) http.Handler
	// WrapListener, when set, wraps the listener Handler is served on (the
	// api logs the answers net/http writes itself, which no handler sees).
	WrapListener func(net.Listener) net.Listener
	Close        func() // releases what the build acquired; may be nil
}

// Spec describes a service binary.
type Spec struct {
	Name            string // e.g. "ingest"; also the env prefix ESRFLOW_INGEST
	DefaultHTTPAddr string
	// DefaultMetricsAddr, for a service that serves its own API to callers
	// (the api), moves /metrics off the API port to --metrics.addr: the
	// metrics name every tenant, and the API port is what callers reach.
	DefaultMetricsAddr string
	// MemoryLimit, when set, is the Go runtime's soft memory limit for the
	// service's own binary (Main; not when it runs inside another process,
	// as in esrflow up), unless GOMEMLIMIT sets one. It bounds the Go heap
	// of a service whose transactions are as large as the files they carry.
	MemoryLimit int64
	// RegisterFlags adds the service's own flags.
	RegisterFlags func(fs *flag.FlagSet)
	// Build validates the parsed config and constructs the service.
	Build func(ctx context.Context, env Env) (Built, error)
}

// DefaultMemoryLimit is the soft memory limit of the pipeline services'
// binaries (Spec.MemoryLimit): the Go heap's share of a 512 MiB budget, the
// rest being the state store's block cache and memtables, which pebble
// allocates outside the Go heap in a cgo build (docs/operations.md,
// "Memory"). With 384 MiB validate peaked at 499 MiB resident nationally:
// the runtime keeps freed pages up to the limit, while its heap profile at
// that peak held 174 MB live.
const DefaultMemoryLimit = 320 << 20

// Main runs a service binary and returns its exit code.
func Main(spec Spec, args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if limit, ok := memoryLimit(spec, os.Getenv("GOMEMLIMIT")); ok {
		debug.SetMemoryLimit(limit)
	}
	if err := Run(ctx, spec, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v\n", spec.Name, err)
		return 1
	}
	return 0
}

// memoryLimit is the soft memory limit Main sets: the spec's, unless the
// GOMEMLIMIT environment variable (gomemlimit) already set one, which the
// Go runtime has applied by itself.
func memoryLimit(spec Spec, gomemlimit string) (int64, bool) {
	if spec.MemoryLimit <= 0 || gomemlimit != "" {
		return 0, false
	}
	return spec.MemoryLimit, true
}

// FlagSet is the binary's whole flag set, the common flags into common:
// what Run parses, and what a test that checks the docs reads.
func (spec Spec) FlagSet(common *Common) *flag.FlagSet {
	fs := flag.NewFlagSet(spec.Name, flag.ContinueOnError)
	if spec.DefaultMetricsAddr != "" {
		common.registerAPIFlags(fs, spec.DefaultHTTPAddr, spec.DefaultMetricsAddr)
	} else {
		common.RegisterFlags(fs, spec.DefaultHTTPAddr)
	}
	if spec.RegisterFlags != nil {
		spec.RegisterFlags(fs)
	}
	return fs
}

// EnvNames maps the environment variable of every flag the binary takes
// (ESRFLOW_<NAME>_<FLAG>) to the flag's name: the variables a deployment
// (docker-compose.yml, the Helm chart) may set. Run ignores any other
// ESRFLOW_ variable, so a misspelt one would change nothing, silently.
func (spec Spec) EnvNames() map[string]string {
	var common Common
	out := map[string]string{}
	spec.FlagSet(&common).VisitAll(func(f *flag.Flag) {
		out[config.EnvName("ESRFLOW_"+spec.Name, f.Name)] = f.Name
	})
	return out
}

// Run parses args and runs the service until ctx ends or a part fails.
func Run(ctx context.Context, spec Spec, args []string) error {
	var common Common
	fs := spec.FlagSet(&common)
	if err := config.Parse(fs, args, "ESRFLOW_"+spec.Name); err != nil {
		return err
	}
	if spec.DefaultMetricsAddr != "" && (common.MetricsAddr == "" || common.MetricsAddr == common.HTTPAddr) {
		return fmt.Errorf("metrics.addr %q: must be set and differ from http.addr: /metrics is never served on the API port", common.MetricsAddr)
	}
	log, err := logx.New(common.Log)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	log = log.With(logx.Service(spec.Name))

	reg := obs.NewRegistry()
	ready := &obs.Readiness{}
	tp, err := tracing.New(ctx, tracing.Options{Service: spec.Name, Standalone: true, Log: log})
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() {
		// Flush the spans not yet exported: the service has stopped.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			log.Warn("flushing spans", zap.Error(err))
		}
	}()
	built, err := spec.Build(ctx, Env{Log: log, Metrics: reg, Ready: ready, Tracing: tp})
	if err != nil {
		return fmt.Errorf("starting: %w", err)
	}
	if built.Close != nil {
		defer built.Close()
	}
	apiReg := reg
	if common.MetricsAddr != "" {
		apiReg = nil // the API port serves the probes and the API only
	}
	var wrap []func(net.Listener) net.Listener
	if built.WrapListener != nil {
		wrap = append(wrap, built.WrapListener)
	}
	handler := obs.Handler(apiReg, ready, built.Handler)
	if common.Profiles && common.MetricsAddr == "" {
		handler = withProfiles(handler)
	}
	if built.Middleware != nil {
		handler = built.Middleware(handler)
	}
	srv, err := obs.Listen(common.HTTPAddr, handler, wrap...)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", common.HTTPAddr, err)
	}
	parts := []lifecycle.Part{lifecycle.Named("http", lifecycle.Func(srv.Run))}
	fields := []zap.Field{zap.String("http", srv.Addr())}
	if common.MetricsAddr != "" {
		mhandler := obs.Handler(reg, ready, nil)
		if common.Profiles {
			mhandler = withProfiles(mhandler)
		}
		msrv, err := obs.Listen(common.MetricsAddr, mhandler)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", common.MetricsAddr, err)
		}
		parts = append(parts, lifecycle.Named("metrics", lifecycle.Func(msrv.Run)))
		fields = append(fields, zap.String("metrics", msrv.Addr()))
	}
	log.Info("service started", fields...)
	parts = append(parts, built.Parts...)
	err = lifecycle.Run(ctx, log, parts...)
	log.Info("service stopped")
	return err
}

// withProfiles serves net/http/pprof's handlers under /debug/pprof/ and
// everything else from next.
func withProfiles(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", next)
	return mux
}
