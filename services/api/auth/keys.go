package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/esrflow/esrflow/services/api/store"
)

// KeyPrefix starts every key the api creates, so a key pasted into a
// ticket, a log or a repository is recognisable (and secret scanners can
// be taught it). The rest is 32 random bytes, base64url: 256 bits.
const KeyPrefix = "esrk_"

// DefaultKeysRefresh is how long an api instance trusts its cached copy of
// the database's keys. The instance that creates or revokes a key drops its
// copy at once; other instances sharing the database see the change within
// this time.
const DefaultKeysRefresh = 5 * time.Second

var keyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// newKey returns a fresh key and its id.
func NewKey() (key, id string, err error) {
	b := make([]byte, 32+8)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:32]), "k" + hex.EncodeToString(b[32:]), nil
}

// keySnapshot is one read of the database's active keys, by hash.
type keySnapshot struct {
	keys map[[sha256.Size]byte]*Caller
	// ever: the database has held a key, active or not. An api that has
	// had keys is never open again when the last one expires or is
	// revoked: running on database keys alone is a decision, not a phase.
	ever bool
	at   time.Time
	gen  uint64
}

// keyCache keeps the active database keys in memory, so a request costs a
// map lookup rather than a query. It is re-read when older than ttl, and at
// once after invalidate (a key created or revoked through this instance).
// A read that started before an invalidate is not trusted after it (gen),
// so a revocation is never undone by a slow reload.
type KeyCache struct {
	load func(ctx context.Context) (map[[sha256.Size]byte]*Caller, error)
	// anyKey reports whether the database has ever held a key (nil: only
	// the active keys count).
	anyKey func(ctx context.Context) (bool, error)
	ttl    time.Duration
	gen    atomic.Uint64
	cur    atomic.Pointer[keySnapshot]
	mu     sync.Mutex // one reload at a time
}

func (k *KeyCache) get(ctx context.Context) (*keySnapshot, error) {
	if s := k.cur.Load(); s != nil && s.gen == k.gen.Load() && time.Since(s.at) < k.ttl {
		return s, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	g := k.gen.Load()
	if s := k.cur.Load(); s != nil && s.gen == g && time.Since(s.at) < k.ttl {
		return s, nil
	}
	m, err := k.load(ctx)
	if err != nil {
		return nil, err
	}
	ever := len(m) > 0
	if !ever && k.anyKey != nil {
		if ever, err = k.anyKey(ctx); err != nil {
			return nil, err
		}
	}
	s := &keySnapshot{keys: m, ever: ever, at: time.Now(), gen: g}
	k.cur.Store(s)
	return s, nil
}

func (k *KeyCache) Invalidate() { k.gen.Add(1) }

// loadKeys reads the keys neither revoked nor expired.
func loadKeys(ctx context.Context, st *store.Store) (map[[sha256.Size]byte]*Caller, error) {
	list, err := st.QueryKeys(ctx, `WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`, time.Now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("api keys: %w", err)
	}
	out := make(map[[sha256.Size]byte]*Caller, len(list))
	for _, k := range list {
		c := &Caller{name: k.Name, tenants: map[string]bool{}, scopes: map[string]bool{}, expiresMS: k.ExpiresMS}
		h, err := hex.DecodeString(k.Hash)
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("api key %s: stored hash is not a SHA-256", k.ID)
		}
		copy(c.hash[:], h)
		for _, t := range k.Tenants {
			if t == AllTenants {
				c.allTenants = true
			} else {
				c.tenants[t] = true
			}
		}
		for _, sc := range k.Scopes {
			if cs, ok := CanonicalScope(sc); ok {
				c.scopes[cs] = true
			}
		}
		out[c.hash] = c
	}
	return out, nil
}

// NewKeyCache reads st's active keys through a cache trusted for ttl.
func NewKeyCache(st *store.Store, ttl time.Duration) *KeyCache {
	return &KeyCache{load: func(ctx context.Context) (map[[sha256.Size]byte]*Caller, error) { return loadKeys(ctx, st) },
		anyKey: st.AnyKey, ttl: ttl}
}

// ValidKeyName reports whether name may name a key: 1 to 64 letters,
// digits, '.', '_' and '-', starting with a letter or digit.
func ValidKeyName(name string) bool { return keyName.MatchString(name) }
