// Package obs serves the operational HTTP endpoints every esrflow service
// exposes: /metrics (Prometheus), /healthz (the process is alive) and /readyz
// (the service has caught up and should receive work).
package obs

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors, so every service reports memory and goroutines the same way.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Readiness tracks named checks; the service is ready when every check passes.
// A check returns nil when ready, or an error saying what it is waiting for.
type Readiness struct {
	mu     sync.Mutex
	checks map[string]func() error
}

// Add registers a named readiness check.
func (r *Readiness) Add(name string, check func() error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checks == nil {
		r.checks = map[string]func() error{}
	}
	r.checks[name] = check
}

// Check returns the first failing check, naming it.
func (r *Readiness) Check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, c := range r.checks {
		if err := c(); err != nil {
			return errors.New(name + ": " + err.Error())
		}
	}
	return nil
}

// Handler serves /metrics (unless reg is nil), /healthz and /readyz, and
// mounts extra under "/" when it is not nil (a service's own API shares the
// port; such a service passes a nil reg and serves its metrics elsewhere).
func Handler(reg *prometheus.Registry, ready *Readiness, extra http.Handler) http.Handler {
	mux := http.NewServeMux()
	if reg != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil {
			if err := ready.Check(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if extra != nil {
		mux.Handle("/", extra)
	}
	return mux
}

// Server is an HTTP server bound to a listener, stopped gracefully when its
// context ends.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Listen binds addr (":0" picks a free port) so the caller knows the address
// before serving starts. Each wrap, in order, wraps the listener (e.g. to
// watch the connections).
func Listen(addr string, h http.Handler, wrap ...func(net.Listener) net.Listener) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	for _, w := range wrap {
		ln = w(ln)
	}
	return &Server{ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: IdleTimeout}}, nil
}

// IdleTimeout closes a keep-alive connection that has sent no request for
// this long, so idle connections (which need no key) cannot pile up until
// the process runs out of file descriptors.
const IdleTimeout = 2 * time.Minute

// Addr is the bound address, e.g. 127.0.0.1:8081.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the http URL of the bound address.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Run serves until ctx ends, then shuts down, giving in-flight requests five
// seconds to finish.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(shutdownCtx); err != nil {
		// A request still running after the grace period (a long poll, or
		// a handler waiting on a dependency that is itself stopping) must
		// not turn a requested stop into a failure: cut it off.
		_ = s.srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
