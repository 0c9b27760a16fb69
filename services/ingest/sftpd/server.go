// Package sftpd is esrflow's built-in SFTP server: trusts deliver ESR files
// to it directly instead of to a separate SFTP server writing into the drop
// folder. Each account belongs to one tenant and sees only that tenant's
// inbound folder (the drop folder's <TENANT>/ that ingest watches) and its
// outbound folder; paths are resolved by this package inside those folders,
// never by a chroot. Uploads are written under a name ingest ignores and
// renamed into place when the client closes the file, so ingest never reads
// half an upload. docs/ingest.md ("SFTP") describes accounts, confinement,
// the host key, logs and metrics.
package sftpd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"

	"github.com/esrflow/esrflow/esr/tenant"
)

// Config configures the server.
type Config struct {
	// Addr to listen on; empty turns the server off.
	Addr string
	// Credentials is the YAML accounts file, re-read when it changes.
	Credentials string
	// HostKey is the server's private key file, generated on first start.
	HostKey string
	// Drop is ingest's drop folder: an account writes to <Drop>/<TENANT>.
	Drop string
	// Outbound holds <Outbound>/<TENANT>, readable by the tenant's accounts.
	Outbound string
	// Tenants are the configured tenants; an account of another is refused.
	Tenants *tenant.Set
}

// RegisterFlags adds the sftp.* flags (Drop and Tenants come from ingest).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "sftp.addr", "", "listen address of the built-in SFTP server (empty: off)")
	fs.StringVar(&c.Credentials, "sftp.credentials", "sftp-accounts.yaml", "YAML file of SFTP accounts, re-read when it changes (docs/ingest.md, SFTP)")
	fs.StringVar(&c.HostKey, "sftp.host-key", "sftp-host-key", "SFTP host key file; an ed25519 key is generated there on first start")
	fs.StringVar(&c.Outbound, "sftp.outbound", "outbound", "outbound folder: <folder>/<TENANT>/ is readable by the tenant's SFTP accounts")
}

// handshakeTimeout bounds a connection that never finishes logging in.
const handshakeTimeout = 30 * time.Second

type metrics struct {
	logins      *prometheus.CounterVec
	uploads     *prometheus.CounterVec
	uploadBytes *prometheus.CounterVec
	refusals    *prometheus.CounterVec
	reloads     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_sftp_logins_total",
			Help: "SFTP logins by tenant (empty for an unknown account) and outcome (ok, bad-password, bad-key, unknown-account, no-password, no-auth).",
		}, []string{"tenant", "outcome"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_sftp_uploads_total",
			Help: "Files delivered over SFTP into a tenant's inbound folder.",
		}, []string{"tenant"}),
		uploadBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_sftp_upload_bytes_total",
			Help: "Bytes of files delivered over SFTP, by tenant.",
		}, []string{"tenant"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_sftp_refusals_total",
			Help: "SFTP operations refused, by tenant and reason (outside, subfolder, read-only, write-only, name, exists, symlink, unsupported, incomplete).",
		}, []string{"tenant", "reason"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_sftp_credentials_reloads_total",
			Help: "Reads of the SFTP credentials file after it changed, by outcome (ok, error: the previous accounts stay).",
		}, []string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{m.logins, m.uploads, m.uploadBytes, m.refusals, m.reloads} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Server is a listening SFTP server.
type Server struct {
	cfg      Config
	log      *zap.Logger
	metrics  *metrics
	hostKey  ssh.Signer
	accounts *accounts
	ln       net.Listener
	gate     *passwordGate

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// New loads the host key and the accounts and starts listening (so Addr is
// known at once); Run serves.
func New(cfg Config, log *zap.Logger, reg prometheus.Registerer) (*Server, error) {
	switch {
	case cfg.Addr == "":
		return nil, errors.New("sftp: no listen address")
	case cfg.HostKey == "":
		return nil, errors.New("sftp: host key file not set")
	case cfg.Credentials == "":
		return nil, errors.New("sftp: credentials file not set")
	case cfg.Drop == "" || cfg.Outbound == "":
		return nil, errors.New("sftp: drop and outbound folders must be set")
	case cfg.Tenants == nil:
		return nil, errors.New("sftp: no tenants")
	}
	if log == nil {
		log = zap.NewNop()
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	key, err := loadHostKey(cfg.HostKey)
	if err != nil {
		return nil, fmt.Errorf("sftp: %w", err)
	}
	acc := &accounts{path: cfg.Credentials, tenantCode: func(code string) (string, bool) {
		t, ok := cfg.Tenants.Get(code)
		return t.Code, ok
	}}
	// A broken file at start is an error: better to fail now than run with
	// nobody able to log in. Later, a broken edit keeps the last accounts.
	if _, _, err := acc.current(); err != nil {
		return nil, fmt.Errorf("sftp: %w", err)
	}
	for _, code := range cfg.Tenants.Codes() {
		for _, dir := range []string{filepath.Join(cfg.Drop, code), filepath.Join(cfg.Outbound, code)} {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("sftp: %w", err)
			}
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("sftp: %w", err)
	}
	return &Server{cfg: cfg, log: log, metrics: m, hostKey: key, accounts: acc, ln: ln, gate: newPasswordGate(), conns: map[net.Conn]struct{}{}}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// HostKey is the server's public host key (for known_hosts and tests).
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey.PublicKey() }

// Run serves until ctx ends, then closes every connection (uploads still
// open are discarded, never renamed into place) and waits for them.
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("sftp server started", zap.String("addr", s.Addr()), zap.String("host_key", ssh.FingerprintSHA256(s.hostKey.PublicKey())))
	stop := context.AfterFunc(ctx, func() {
		_ = s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	var err error
	backoff := 5 * time.Millisecond
	for {
		var c net.Conn
		c, err = s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				break
			}
			// Out of file descriptors and the like pass: wait a little
			// rather than take ingest down with the listener.
			s.log.Warn("sftp accept failed", zap.Error(err))
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		s.mu.Lock()
		if ctx.Err() != nil {
			s.mu.Unlock()
			_ = c.Close()
			break
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
			}()
			s.serve(c)
		}()
	}
	s.wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("sftp: %w", err)
}

// login is what the auth callbacks learned about one connection.
type login struct {
	tenant, user, failure string
}

func (s *Server) serverConfig(l *login) *ssh.ServerConfig {
	lookup := func(user string) (*account, bool) {
		accs, reloaded, err := s.accounts.current()
		switch {
		case err != nil:
			s.metrics.reloads.WithLabelValues("error").Inc()
			s.log.Error("sftp credentials not reloaded, the previous accounts stay", zap.Error(err))
		case reloaded:
			s.metrics.reloads.WithLabelValues("ok").Inc()
			s.log.Info("sftp credentials loaded", zap.Int("accounts", len(accs)))
		}
		a, ok := accs[user]
		return a, ok
	}
	fail := func(reason string) error {
		l.failure = reason
		return errors.New("sftp login refused")
	}
	ok := func(a *account) (*ssh.Permissions, error) {
		l.tenant, l.user, l.failure = a.tenant, a.user, ""
		return &ssh.Permissions{}, nil
	}
	cfg := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			addr := addrKey(c.RemoteAddr())
			if s.gate.blocked(addr, time.Now()) {
				return nil, fail("rate-limited")
			}
			if !s.gate.acquire() {
				return nil, fail("busy")
			}
			defer s.gate.release()
			a, found := lookup(c.User())
			if !found {
				_ = bcrypt.CompareHashAndPassword(dummyHash(), pw)
				s.gate.failed(addr, time.Now())
				return nil, fail("unknown-account")
			}
			l.tenant, l.user = a.tenant, a.user
			if a.hash == nil {
				return nil, fail("no-password")
			}
			if bcrypt.CompareHashAndPassword(a.hash, pw) != nil {
				s.gate.failed(addr, time.Now())
				return nil, fail("bad-password")
			}
			return ok(a)
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			a, found := lookup(c.User())
			if !found {
				return nil, fail("unknown-account")
			}
			l.tenant, l.user = a.tenant, a.user
			if !a.keys[ssh.FingerprintSHA256(key)] {
				return nil, fail("bad-key")
			}
			return ok(a)
		},
		MaxAuthTries: 6,
	}
	cfg.AddHostKey(s.hostKey)
	return cfg
}

// serve runs one connection: the login, then SFTP sessions (and nothing
// else: no shell, no exec, no forwarding).
func (s *Server) serve(c net.Conn) {
	var l login
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	conn, chans, reqs, err := ssh.NewServerConn(c, s.serverConfig(&l))
	if err != nil {
		reason := l.failure
		if reason == "" {
			// No credentials tried (a port probe or a client that gave
			// up): counted, logged at debug only.
			s.metrics.logins.WithLabelValues("", "no-auth").Inc()
			s.log.Debug("sftp connection closed before login", zap.String("remote", c.RemoteAddr().String()), zap.Error(err))
			return
		}
		s.metrics.logins.WithLabelValues(l.tenant, reason).Inc()
		// The account name is logged only when it is a configured one: a
		// mistyped name may be a person's.
		s.log.Warn("sftp login refused", zap.String("tenant", l.tenant), zap.String("user", l.user),
			zap.String("reason", reason), zap.String("remote", c.RemoteAddr().String()))
		return
	}
	_ = c.SetDeadline(time.Time{})
	defer conn.Close()
	s.metrics.logins.WithLabelValues(l.tenant, "ok").Inc()
	s.log.Info("sftp login", zap.String("tenant", l.tenant), zap.String("user", l.user), zap.String("remote", c.RemoteAddr().String()))
	go ssh.DiscardRequests(reqs)

	sess, err := s.openSession(l)
	if err != nil {
		s.log.Error("sftp session folders", zap.String("tenant", l.tenant), zap.Error(err))
		return
	}
	defer sess.inbound.Close()
	defer sess.outbound.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sftp sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runChannel(sess, ch, chReqs)
		}()
	}
}

func (s *Server) openSession(l login) (*session, error) {
	in, err := os.OpenRoot(filepath.Join(s.cfg.Drop, l.tenant))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(s.cfg.Outbound, l.tenant), 0o750); err != nil {
		in.Close()
		return nil, err
	}
	out, err := os.OpenRoot(filepath.Join(s.cfg.Outbound, l.tenant))
	if err != nil {
		in.Close()
		return nil, err
	}
	return &session{srv: s, user: l.user, tenant: l.tenant, inbound: in, outbound: out}, nil
}

// runChannel answers the "sftp" subsystem request and serves SFTP on the
// channel; shell, exec, pty and the rest are refused.
func (s *Server) runChannel(sess *session, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	started := false
	for req := range reqs {
		isSFTP := !started && req.Type == "subsystem" && len(req.Payload) >= 4 && string(req.Payload[4:]) == "sftp"
		if req.WantReply {
			_ = req.Reply(isSFTP, nil)
		}
		if !isSFTP {
			continue
		}
		started = true
		go ssh.DiscardRequests(reqs)
		h := sftp.Handlers{FileGet: sess, FilePut: sess, FileCmd: sess, FileList: sess}
		srv := sftp.NewRequestServer(ch, h, sftp.WithStartDirectory("/"+dirInbound))
		if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
			s.log.Debug("sftp session ended", zap.String("tenant", sess.tenant), zap.Error(err))
		}
		_ = srv.Close()
		return
	}
}
