// Package feed holds what the api's event feed needs beside the database:
// its opaque cursors and the in-process notification that wakes long-polling
// readers and the webhook dispatcher when a tenant's events commit.
package feed

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
)

// cursorPrefix versions the cursor's text, so a later layout (or a cursor
// of another listing) is refused instead of misread.
const cursorPrefix = "feed1:"

// ErrBadCursor is returned for a cursor this package did not make.
var ErrBadCursor = errors.New("bad cursor")

// Cursor encodes a position in a tenant's feed: after the event numbered seq.
// It is opaque to clients (base64url), so its layout may change.
func Cursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(seq, 10)))
}

// ParseCursor returns the seq a cursor made by Cursor holds.
func ParseCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, ErrBadCursor
	}
	rest, ok := strings.CutPrefix(string(b), cursorPrefix)
	if !ok {
		return 0, ErrBadCursor
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n < 0 {
		return 0, ErrBadCursor
	}
	return n, nil
}

// Notifier tells waiters that a tenant's feed has grown. It is a broadcast
// without values: a waiter takes a channel, reads the feed, and if it found
// nothing new waits on the channel, which is closed by the next Notify for
// the tenant. Taking the channel before reading means a commit between the
// read and the wait is never missed.
//
// It only sees commits made by this process; readers of a database shared
// by several api instances also poll (see the callers).
type Notifier struct {
	mu      sync.Mutex
	waiters map[string]chan struct{}
}

// NewNotifier returns a Notifier with no waiters.
func NewNotifier() *Notifier { return &Notifier{waiters: map[string]chan struct{}{}} }

// Changed returns a channel closed at the next Notify for tenant.
func (n *Notifier) Changed(tenant string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	ch, ok := n.waiters[tenant]
	if !ok {
		ch = make(chan struct{})
		n.waiters[tenant] = ch
	}
	return ch
}

// Notify wakes every waiter on tenant.
func (n *Notifier) Notify(tenant string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ch, ok := n.waiters[tenant]; ok {
		close(ch)
		delete(n.waiters, tenant)
	}
}

// Waiting reports whether anyone took a channel for tenant that has not
// been closed yet (tests use it to know a long poll is parked).
func (n *Notifier) Waiting(tenant string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.waiters[tenant]
	return ok
}
