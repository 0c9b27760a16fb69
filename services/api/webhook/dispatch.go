package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Event is one feed item to deliver: its place in the tenant's feed, who it
// is about (for per-person ordering), and the JSON body (the feed item).
type Event struct {
	Seq      int64
	ID       string
	PersonID string
	Type     string
	Body     []byte
}

// Source reads a tenant's feed.
type Source interface {
	// Events returns up to limit events after seq, in feed order,
	// of the given types (none: all).
	Events(ctx context.Context, tenant string, after int64, types []string, limit int) ([]Event, error)
	// Event returns one event of the tenant.
	Event(ctx context.Context, tenant, id string) (Event, error)
	// Changed returns a channel closed when the tenant's feed next grows
	// in this process.
	Changed(tenant string) <-chan struct{}
}

// Config tunes delivery.
type Config struct {
	// MaxAttempts per event before it is dead-lettered; zero means 8.
	MaxAttempts int
	// Backoff before attempt n+1 is BaseBackoff·2^(n-1), capped at
	// MaxBackoff, with jitter (a random point in its upper half). Zero
	// means 1s and 5m.
	BaseBackoff, MaxBackoff time.Duration
	// Timeout bounds one attempt (connect, send, answer); zero means 10s.
	Timeout time.Duration
	// Poll is how often the feed is re-read without a wake-up (events
	// committed by another instance); zero means 1s.
	Poll time.Duration
	// AllowPrivate lets subscriptions reach loopback, private, link-local
	// and other non-public addresses. Off, such a URL is refused at
	// creation and a name that resolves to one is refused when dialled.
	AllowPrivate bool
	// Minimise, when set, rewrites a body for a subscription without
	// Sensitive (the api's field minimisation), so a webhook never carries
	// more than its owner could read from the feed.
	Minimise func([]byte) []byte
	// Owner, when set, says whether a subscription's owner may still
	// receive the tenant's events (its key not revoked or expired, still
	// holding the tenant and the read scope) and whether it holds the
	// sensitive scope now. A subscription whose owner may not is paused
	// (its position kept); its sensitivity follows the owner's scopes.
	Owner func(ctx context.Context, client, tenant string) (ok, sensitive bool, err error)
}

func (c Config) withDefaults() Config {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Minute
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	return c
}

// Backoff is the wait after failed attempt n (1-based): exponential from
// base, capped at max, with jitter in [d/2, d] so receivers recovering
// from an outage are not hit by every sender at once.
func Backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + rand.N(d/2+1)
}

// Dispatcher runs one delivery loop per live subscription.
type Dispatcher struct {
	cfg    Config
	store  *Store
	src    Source
	log    *zap.Logger
	client *http.Client
	kick   chan struct{}
}

// NewDispatcher returns a dispatcher; Run starts it.
func NewDispatcher(cfg Config, store *Store, src Source, log *zap.Logger) *Dispatcher {
	cfg = cfg.withDefaults()
	dialer := &net.Dialer{Timeout: cfg.Timeout}
	if !cfg.AllowPrivate {
		// Checked on the address actually dialled, after DNS, so a public
		// name that resolves (or is re-pointed) to an internal address is
		// refused too.
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			if !public(ap.Addr()) {
				return fmt.Errorf("webhook: %s is not a public address (see --webhook.allow-private)", ap.Addr())
			}
			return nil
		}
	}
	return &Dispatcher{
		cfg: cfg, store: store, src: src, log: log, kick: make(chan struct{}, 1),
		client: &http.Client{
			Timeout:   cfg.Timeout,
			Transport: &http.Transport{DialContext: dialer.DialContext, Proxy: nil, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute},
			// A redirect is a failure: following it would send signed
			// events to a URL nobody subscribed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// public reports whether an address is on the public internet.
func public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	// IPv6 forms that carry an IPv4 address (NAT64, 6to4) reach it: judge
	// the address they carry.
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			return public(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixToFour.Contains(a):
			return public(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	return true
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	// nonPublic are IANA special-purpose ranges (RFC 6890 and its
	// successors) that IsGlobalUnicast still admits and that are not the
	// public Internet.
	nonPublic = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),       // this network
		netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
		netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
		netip.MustParsePrefix("192.0.2.0/24"),    // documentation
		netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
		netip.MustParsePrefix("198.51.100.0/24"), // documentation
		netip.MustParsePrefix("203.0.113.0/24"),  // documentation
		netip.MustParsePrefix("240.0.0.0/4"),     // reserved
		netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
		netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
		netip.MustParsePrefix("100::/64"),        // discard-only
		netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo, ORCHID ...)
		netip.MustParsePrefix("2001:db8::/32"),   // documentation
		netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
	}
)

// CheckURL validates a subscription URL: http or https, a host, no user
// info, and (unless private addresses are allowed) not a literal
// non-public address or localhost.
func (d *Dispatcher) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("url must be an absolute http or https URL")
	}
	if u.User != nil {
		return errors.New("url must not carry user info")
	}
	if d.cfg.AllowPrivate {
		return nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return errors.New("url must not be a private address (this api does not allow them)")
	}
	if a, err := netip.ParseAddr(host); err == nil && !public(a) {
		return errors.New("url must not be a private address (this api does not allow them)")
	}
	// Numeric hosts net/netip does not read but resolvers do (127.1,
	// 2130706433, 0x7f.1): an address must be written in full.
	if numericHost(host) {
		if _, err := netip.ParseAddr(host); err != nil {
			return errors.New("url host must be a name or a full IP address")
		}
	}
	return nil
}

// numericHost reports a host every label of which is a number (decimal,
// or 0x hex), the way inet_aton reads 127.1 or 2130706433.
func numericHost(host string) bool {
	for label := range strings.SplitSeq(host, ".") {
		digits, hex := label, false
		if len(label) > 2 && (label[:2] == "0x" || label[:2] == "0X") {
			digits, hex = label[2:], true
		}
		if digits == "" {
			return false
		}
		for _, c := range digits {
			isHex := (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
			if !(c >= '0' && c <= '9') && !(hex && isHex) {
				return false
			}
		}
	}
	return true
}

// Kick makes the dispatcher look for new subscriptions and replays now.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends: it keeps one loop per live subscription,
// starting loops for new ones (on Kick, and every Poll) and ending those
// of deleted ones.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	running := map[string]context.CancelFunc{}
	sensitive := map[string]bool{} // of the running loops
	defer func() {
		for _, cancel := range running {
			cancel()
		}
	}()
	kicks := map[string]chan struct{}{}
	tick := time.NewTicker(d.cfg.Poll)
	defer tick.Stop()
	for {
		subs, err := d.store.Active(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("webhook: reading subscriptions failed", zap.Error(err))
		}
		live := map[string]bool{}
		for _, s := range subs {
			if d.cfg.Owner != nil {
				ok, sens, oerr := d.cfg.Owner(ctx, s.Client, s.Tenant)
				if oerr != nil {
					err = oerr // keep what runs; decide on the next round
					if _, running := running[s.ID]; running {
						live[s.ID] = true
					}
					continue
				}
				if !ok {
					continue // paused: not live, its loop ends below
				}
				s.Sensitive = s.Sensitive && sens
				if cancel, ok := running[s.ID]; ok && sensitive[s.ID] != s.Sensitive {
					cancel() // the owner's scopes changed: restart with them
					delete(running, s.ID)
					delete(kicks, s.ID)
				}
			}
			live[s.ID] = true
			if _, ok := running[s.ID]; ok {
				select {
				case kicks[s.ID] <- struct{}{}:
				default:
				}
				continue
			}
			sctx, cancel := context.WithCancel(ctx)
			k := make(chan struct{}, 1)
			running[s.ID], kicks[s.ID], sensitive[s.ID] = cancel, k, s.Sensitive
			wg.Go(func() { d.loop(sctx, s, k) })
		}
		if err == nil {
			for id, cancel := range running {
				if !live[id] {
					cancel()
					delete(running, id)
					delete(kicks, id)
					delete(sensitive, id)
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.kick:
		case <-tick.C:
		}
	}
}

// page is how many events one read of the feed takes.
const page = 100

// loop delivers one subscription's events in feed order: replays first,
// then the feed after the subscription's position.
func (d *Dispatcher) loop(ctx context.Context, s Subscription, kick <-chan struct{}) {
	log := d.log.With(zap.String("subscription", s.ID), zap.String("tenant", s.Tenant))
	backoff := d.cfg.BaseBackoff
	for ctx.Err() == nil {
		changed := d.src.Changed(s.Tenant) // before reading: no commit slips between
		if d.cfg.Owner != nil {
			// Checked before every round, not only when Run looks: a
			// revoked or expired owner is sent nothing more.
			ok, sens, err := d.cfg.Owner(ctx, s.Client, s.Tenant)
			switch {
			case err == nil && !ok:
				log.Info("webhook: paused, its owner may no longer read the tenant's events")
				d.Kick()
				return
			case err == nil && s.Sensitive && !sens:
				s.Sensitive = false
			}
		}
		busy, err := d.round(ctx, &s)
		if err != nil && ctx.Err() == nil {
			// The database, not the receiver: try again later.
			log.Warn("webhook: delivery round failed", zap.Error(err))
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, d.cfg.MaxBackoff)
			continue
		}
		backoff = d.cfg.BaseBackoff
		if busy {
			continue
		}
		select {
		case <-ctx.Done():
		case <-changed:
		case <-kick:
		case <-time.After(d.cfg.Poll):
		}
	}
}

// round delivers pending replays and then one page of the feed; busy says
// there may be more to do at once.
func (d *Dispatcher) round(ctx context.Context, s *Subscription) (bool, error) {
	replays, err := d.store.DeadLetters(ctx, s.ID, StatusReplaying, 0, page)
	if err != nil {
		return false, err
	}
	// Replays in feed order; once a person's replay fails again, that
	// person's later ones wait (dead again) so the person's order holds.
	failed := map[string]bool{}
	for _, dl := range replays {
		if failed[dl.PersonID] {
			if err := d.store.settle(ctx, s.ID, dl.EventID, StatusDead, 0, "held: an earlier event of this person failed its replay", time.Now()); err != nil {
				return false, err
			}
			continue
		}
		ev, err := d.src.Event(ctx, s.Tenant, dl.EventID)
		if err != nil {
			return false, err
		}
		ok, attempts, lastErr := d.deliver(ctx, s, ev, true)
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		status := StatusDelivered
		if !ok {
			status, failed[dl.PersonID] = StatusDead, true
		}
		if err := d.store.settle(ctx, s.ID, dl.EventID, status, attempts, lastErr, time.Now()); err != nil {
			return false, err
		}
	}
	evs, err := d.src.Events(ctx, s.Tenant, s.AfterSeq, s.Types, page)
	if err != nil {
		return false, err
	}
	for _, ev := range evs {
		var dead *DeadLetter
		held, err := d.store.personDead(ctx, s.ID, ev.PersonID)
		if err != nil {
			return false, err
		}
		if held {
			// Not attempted: delivering it before the person's dead
			// letter would break their order. A replay sends both.
			dead = &DeadLetter{EventID: ev.ID, Seq: ev.Seq, PersonID: ev.PersonID,
				LastError: "held: an earlier event of this person is dead-lettered", DeadAt: time.Now()}
		} else if ok, attempts, lastErr := d.deliver(ctx, s, ev, false); !ok {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			dead = &DeadLetter{EventID: ev.ID, Seq: ev.Seq, PersonID: ev.PersonID, Attempts: attempts, LastError: lastErr, DeadAt: time.Now()}
			d.log.Warn("webhook: event dead-lettered", zap.String("subscription", s.ID), zap.String("event_id", ev.ID), zap.Int("attempts", attempts))
		}
		if err := d.store.advance(ctx, s.ID, ev.Seq, dead); err != nil {
			return false, err
		}
		s.AfterSeq = ev.Seq
	}
	return len(evs) == page || len(replays) == page, nil
}

// errTimeout: an attempt took longer than Config.Timeout.
var errTimeout = errors.New("timeout")

// errorClass is what the delivery log and dead letters say of a failed
// attempt: a fixed class, never the error's text, which can name internal
// addresses and resolvers to the subscriber who reads the log.
func errorClass(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.Is(err, errTimeout):
		return err.Error() // "timeout after 10s": the api's own words
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return "timeout"
	case strings.Contains(err.Error(), "not a public address"):
		return "address not allowed"
	case errors.As(err, &dnsErr):
		return "name not resolved"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "connection failed"
	case strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:"):
		return "TLS failed"
	}
	return "request failed"
}

// deliver attempts an event up to MaxAttempts times with backoff between
// attempts, logging each; it stops early if the subscription is deleted.
func (d *Dispatcher) deliver(ctx context.Context, s *Subscription, ev Event, replay bool) (ok bool, attempts int, lastErr string) {
	for n := 1; n <= d.cfg.MaxAttempts; n++ {
		code, took, err := d.attempt(ctx, s, ev)
		if ctx.Err() != nil {
			return false, n - 1, "stopped"
		}
		lastErr = ""
		if err != nil {
			lastErr = errorClass(err)
		} else if code < 200 || code > 299 {
			lastErr = "HTTP " + strconv.Itoa(code)
		}
		if lerr := d.store.logDelivery(ctx, s.ID, Delivery{EventID: ev.ID, Seq: ev.Seq, Attempt: n, At: time.Now(), StatusCode: code,
			LatencyMS: float64(took.Microseconds()) / 1000, Error: lastErr, Replay: replay}); lerr != nil {
			d.log.Warn("webhook: writing the delivery log failed", zap.String("subscription", s.ID), zap.Error(lerr))
		}
		if lastErr == "" {
			return true, n, ""
		}
		if n == d.cfg.MaxAttempts || !sleep(ctx, Backoff(n, d.cfg.BaseBackoff, d.cfg.MaxBackoff)) {
			return false, n, lastErr
		}
		if live, err := d.store.live(ctx, s.ID); err == nil && !live {
			return false, n, "subscription deleted"
		}
	}
	return false, d.cfg.MaxAttempts, lastErr
}

// attempt sends one signed request and returns the status code (0 without
// an answer) and how long it took. Errors name the failure, never the body.
func (d *Dispatcher) attempt(ctx context.Context, s *Subscription, ev Event) (int, time.Duration, error) {
	now := time.Now()
	body := ev.Body
	if !s.Sensitive && d.cfg.Minimise != nil {
		body = d.cfg.Minimise(body)
	}
	sig, err := Sign(s.Secret, ev.ID, now, body)
	if err != nil {
		return 0, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "esrflow-webhooks/1")
	req.Header.Set("webhook-id", ev.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := d.client.Do(req)
	took := time.Since(now)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			return 0, took, fmt.Errorf("%w after %s", errTimeout, d.cfg.Timeout)
		}
		if errors.As(err, &ue) {
			return 0, took, ue.Err // without the URL's repetition
		}
		return 0, took, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, took, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
