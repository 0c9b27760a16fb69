package sftpd

import (
	"net"
	"runtime"
	"sync"
	"time"
)

// Password guessing costs the server a bcrypt comparison (tens of
// milliseconds of CPU) per try, and SSH allows several tries per
// connection. passwordGate bounds that cost: bcrypt runs for at most one
// login per core at once, and an address that has failed maxPasswordFails
// times within passwordFailWindow is refused without one until the window
// passes.
const (
	maxPasswordFails   = 20
	passwordFailWindow = time.Minute
	// passwordSlotWait is how long a login waits for a bcrypt slot before
	// it is refused as busy.
	passwordSlotWait = 2 * time.Second
	// maxTrackedAddrs bounds the failure table; past it, windows that have
	// ended are swept.
	maxTrackedAddrs = 10000
)

type passwordGate struct {
	slots chan struct{}

	mu    sync.Mutex
	fails map[string]*failWindow
}

type failWindow struct {
	n     int
	since time.Time
}

func newPasswordGate() *passwordGate {
	return &passwordGate{slots: make(chan struct{}, max(1, runtime.NumCPU())), fails: map[string]*failWindow{}}
}

// addrKey is the address a login is counted against: its IP, without port.
func addrKey(a net.Addr) string {
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

// blocked reports whether addr has failed too often lately.
func (g *passwordGate) blocked(addr string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.fails[addr]
	if f == nil || now.Sub(f.since) >= passwordFailWindow {
		return false
	}
	return f.n >= maxPasswordFails
}

// failed counts a failed password login from addr.
func (g *passwordGate) failed(addr string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.fails[addr]
	if f == nil || now.Sub(f.since) >= passwordFailWindow {
		if len(g.fails) >= maxTrackedAddrs {
			for a, w := range g.fails {
				if now.Sub(w.since) >= passwordFailWindow {
					delete(g.fails, a)
				}
			}
		}
		f = &failWindow{since: now}
		g.fails[addr] = f
	}
	f.n++
}

// acquire takes a bcrypt slot, waiting at most passwordSlotWait.
func (g *passwordGate) acquire() bool {
	t := time.NewTimer(passwordSlotWait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

func (g *passwordGate) release() { <-g.slots }
