package api

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/esrflow/esrflow/services/api/store"
	"golang.org/x/time/rate"
)

// MaxLoggedPath is how much of a request's path the access log keeps, in
// bytes; a longer path is cut there and marked with its full length.
const MaxLoggedPath = 256

// maxLoggedMethod bounds the method stored (methods are tokens of any
// length to net/http).
const maxLoggedMethod = 16

// Defaults for Config.UnauthenticatedRate and UnauthenticatedBurst.
const (
	DefaultUnauthenticatedRate  = 1.0 // requests per second, per address
	DefaultUnauthenticatedBurst = 60
)

// capText keeps at most n bytes of s (cut on a UTF-8 boundary), marks a cut
// with the full length, and makes the result storable on every database.
func capText(s string, n int) string {
	if len(s) <= n {
		return store.SafeText(s)
	}
	return store.SafeText(strings.ToValidUTF8(s[:n], "")) + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

// maxTrackedAddrs bounds the addresses the limiter remembers.
const maxTrackedAddrs = 10000

// addrLimiter rate-limits requests per remote address with a token bucket
// each (golang.org/x/time/rate). Memory is bounded: when full, addresses
// whose bucket has refilled (idle callers) are forgotten, which loses
// nothing; if every one is still busy, new addresses share one bucket.
type addrLimiter struct {
	limit rate.Limit
	burst int

	mu       sync.Mutex
	addrs    map[string]*rate.Limiter
	overflow *rate.Limiter
}

func newAddrLimiter(perSecond float64, burst int) *addrLimiter {
	return &addrLimiter{
		limit: rate.Limit(perSecond), burst: burst,
		addrs: map[string]*rate.Limiter{}, overflow: rate.NewLimiter(rate.Limit(perSecond), burst),
	}
}

// allow takes a token for the request's address.
func (l *addrLimiter) allow(r *http.Request) bool {
	addr := r.RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	l.mu.Lock()
	lim, ok := l.addrs[addr]
	if !ok {
		if len(l.addrs) >= maxTrackedAddrs {
			for a, x := range l.addrs {
				if x.Tokens() >= float64(l.burst) {
					delete(l.addrs, a)
				}
			}
		}
		if len(l.addrs) < maxTrackedAddrs {
			lim = rate.NewLimiter(l.limit, l.burst)
			l.addrs[addr] = lim
		} else {
			lim = l.overflow
		}
	}
	l.mu.Unlock()
	return lim.Allow()
}
