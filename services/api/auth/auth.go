package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/esrflow/esrflow/services/api/store"
	"go.yaml.in/yaml/v3"
)

// Scopes an API client may hold. Each endpoint needs one of them (see
// docs/api.md); operate, files:write and admin are the ones that change
// anything. The names are resource:verb; the older verb:resource names are
// still accepted (ScopeAliases).
const (
	ScopeReadPeople  = "people:read"
	ScopeReadEvents  = "events:read"
	ScopeReadFiles   = "files:read"
	ScopeReadBatches = "batches:read"
	// ScopeQuarantineRead lists quarantined records and replays, with
	// personal values redacted.
	ScopeQuarantineRead = "quarantine:read"
	// ScopePeopleSensitive adds the personal values every other scope
	// leaves out (docs/api.md, Field minimisation): date of birth, NI number,
	// home address, personal contact details, special-category data, and a
	// quarantined row's personal columns and canonical entity. It grants no
	// endpoint by itself.
	ScopePeopleSensitive = "people:sensitive"
	// ScopePersonalRead is the former name of people:sensitive.
	ScopePersonalRead = ScopePeopleSensitive
	ScopeOperate      = "operate"
	// ScopeFilesWrite uploads files into a tenant's drop folder (POST
	// /v1/tenants/{tenant}/files), and nothing else: what a trust's own
	// upload job needs, without operate's decisions.
	ScopeFilesWrite = "files:write"
	// ScopeAdmin implies every other scope, and alone manages API keys
	// (/v1/keys) and reads the access log (/v1/access-log). A platform
	// team's key, not a vendor's.
	ScopeAdmin = "admin"
)

// Scopes lists every scope, in the order docs/api.md gives them.
var Scopes = []string{ScopeReadPeople, ScopePeopleSensitive, ScopeReadEvents, ScopeReadFiles, ScopeReadBatches, ScopeQuarantineRead, ScopeOperate, ScopeFilesWrite, ScopeAdmin}

// ScopeAliases maps the scope names clients files used before the
// resource:verb names to the scope each now means. They stay accepted
// wherever a scope is given (clients file, esrflow keys create).
var ScopeAliases = map[string]string{
	"read:people":   ScopeReadPeople,
	"read:events":   ScopeReadEvents,
	"read:files":    ScopeReadFiles,
	"read:batches":  ScopeReadBatches,
	"personal:read": ScopePeopleSensitive,
}

// CanonicalScope returns the scope a name means (an alias resolved), and
// whether the name is known at all.
func CanonicalScope(name string) (string, bool) {
	if a, ok := ScopeAliases[name]; ok {
		return a, true
	}
	return name, slices.Contains(Scopes, name)
}

// scopeNames lists the accepted names for an error message.
func ScopeNames() string {
	names := slices.Clone(Scopes)
	for a := range ScopeAliases {
		names = append(names, a)
	}
	slices.Sort(names[len(Scopes):])
	return strings.Join(names, ", ")
}

// AllTenants in a client's tenants grants every tenant.
const AllTenants = "*"

// Anonymous is the client name the access log records for a request that
// presented no valid key.
const Anonymous = "anonymous"

// Client is an API client: who it is, the SHA-256 of its key (the key itself
// is never stored), and which tenants and scopes it may use.
type Client struct {
	Name      string   `yaml:"name"`
	KeySHA256 string   `yaml:"key_sha256"`
	Tenants   []string `yaml:"tenants"`
	Scopes    []string `yaml:"scopes"`
}

// HashKey returns the lower-hex SHA-256 of an API key: the form a clients
// file holds. A key is 32 random bytes, so a plain (unsalted, fast) hash is
// enough: there is no dictionary to search.
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// clientsFile is the YAML layout of a clients file.
type clientsFile struct {
	Clients []Client `yaml:"clients"`
}

// LoadClients reads a YAML clients file:
//
//	clients:
//	  - name: rostering-vendor
//	    key_sha256: 3f1c…(64 hex digits)
//	    tenants: [RXX, RYY]     # or ["*"] for every tenant
//	    scopes: [people:read, events:read]   # or the former names (ScopeAliases)
//
// Unknown fields, unknown scopes, malformed hashes and duplicate names or keys
// are errors, and so is a file with no clients: a typo must not silently turn
// authentication off.
func LoadClients(path string) ([]Client, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f clientsFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(f.Clients) == 0 {
		return nil, fmt.Errorf("%s: no clients defined", path)
	}
	if _, err := New(f.Clients); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f.Clients, nil
}

// authClient is a validated client, ready for lookups.
type Caller struct {
	name       string
	hash       [sha256.Size]byte
	allTenants bool
	tenants    map[string]bool // upper-case ODS codes
	scopes     map[string]bool
	expiresMS  int64 // a database key's expiry (epoch ms); 0: never
}

// HasAny reports whether the client holds one of scopes; admin holds them
// all.
func (c *Caller) HasAny(scopes []string) bool {
	if c.scopes[ScopeAdmin] {
		return true
	}
	for _, s := range scopes {
		if c.scopes[s] {
			return true
		}
	}
	return false
}

// Sensitive reports whether the client may see personal values
// (people:Sensitive, or admin).
func (c *Caller) Sensitive() bool { return c.HasAny([]string{ScopePeopleSensitive}) }

func (c *Caller) Allows(tenant string) bool { return c.allTenants || c.tenants[tenant] }

// Authenticator checks requests against the clients file's clients and the keys in
// the database (keys.go). With neither it is the embedded single-machine
// mode: reads are open, operate is refused.
type Authenticator struct {
	clients []Caller
	keys    *KeyCache // nil: no database keys (LoadClients' check)
}

func New(cs []Client) (*Authenticator, error) {
	a := &Authenticator{}
	names, hashes := map[string]bool{}, map[string]bool{}
	for i, c := range cs {
		if strings.TrimSpace(c.Name) == "" {
			return nil, fmt.Errorf("client %d: name is empty", i+1)
		}
		if names[c.Name] {
			return nil, fmt.Errorf("client %q: defined twice", c.Name)
		}
		names[c.Name] = true
		ac := Caller{name: c.Name, tenants: map[string]bool{}, scopes: map[string]bool{}}
		h, err := hex.DecodeString(c.KeySHA256)
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("client %q: key_sha256 must be 64 hex digits (the SHA-256 of the key, not the key)", c.Name)
		}
		copy(ac.hash[:], h)
		if hashes[string(h)] {
			return nil, fmt.Errorf("client %q: key_sha256 is used by another client", c.Name)
		}
		hashes[string(h)] = true
		if len(c.Tenants) == 0 {
			return nil, fmt.Errorf("client %q: tenants is empty (list ODS codes, or \"*\" for all)", c.Name)
		}
		for _, t := range c.Tenants {
			switch {
			case t == AllTenants:
				ac.allTenants = true
			case store.ValidTenant(t):
				ac.tenants[strings.ToUpper(t)] = true
			default:
				return nil, fmt.Errorf("client %q: tenant %q is not an ODS code or \"*\"", c.Name, t)
			}
		}
		if len(c.Scopes) == 0 {
			return nil, fmt.Errorf("client %q: scopes is empty", c.Name)
		}
		for _, s := range c.Scopes {
			cs, ok := CanonicalScope(s)
			if !ok {
				return nil, fmt.Errorf("client %q: unknown scope %q (want one of %s)", c.Name, s, ScopeNames())
			}
			ac.scopes[cs] = true
		}
		a.clients = append(a.clients, ac)
	}
	return a, nil
}

// Open reports the embedded mode: no clients file and no key in the
// database, ever (an api whose last key expired or was revoked stays
// closed). When the keys cannot be read it answers false: a database
// outage must not Open the port.
func (a *Authenticator) Open() bool {
	if len(a.clients) > 0 {
		return false
	}
	if a.keys == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snap, err := a.keys.get(ctx)
	return err == nil && len(snap.keys) == 0 && !snap.ever
}

// ByName returns the client named name as it stands now: a clients-file
// client, or a database key neither revoked nor expired; nil when there is
// none (any more).
func (a *Authenticator) ByName(ctx context.Context, name string) (*Caller, error) {
	for i := range a.clients {
		if a.clients[i].name == name {
			return &a.clients[i], nil
		}
	}
	if a.keys == nil {
		return nil, nil
	}
	snap, err := a.keys.get(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixMilli()
	for _, c := range snap.keys {
		if c.name == name && (c.expiresMS == 0 || now < c.expiresMS) {
			return c, nil
		}
	}
	return nil, nil
}

var (
	ErrNoKey      = errors.New("an API key is required: send Authorization: Bearer <key>")
	ErrBadKey     = errors.New("invalid API key")
	ErrExpiredKey = errors.New("this API key has expired")
	// errKeysUnavailable: the database's keys could not be read (503).
	ErrKeysUnavailable = errors.New("API keys cannot be checked now (the api's database does not answer): retry")
)

// Identify returns the client whose key the request bears. Every client's
// hash is compared, in constant time, whether or not an earlier one matched,
// so the time taken says nothing about which hashes exist.
func (a *Authenticator) Identify(r *http.Request) (*Caller, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, ErrNoKey
	}
	scheme, key, ok := strings.Cut(h, " ")
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return nil, ErrNoKey
	}
	sum := sha256.Sum256([]byte(key))
	var found *Caller
	for i := range a.clients {
		if subtle.ConstantTimeCompare(sum[:], a.clients[i].hash[:]) == 1 {
			found = &a.clients[i]
		}
	}
	if found != nil || a.keys == nil {
		if found == nil {
			return nil, ErrBadKey
		}
		return found, nil
	}
	// Then the database's keys. A map lookup by hash is not constant-time,
	// but the hash of a 256-bit random key gives a caller nothing to search.
	snap, err := a.keys.get(r.Context())
	if err != nil {
		return nil, ErrKeysUnavailable
	}
	c := snap.keys[sum]
	switch {
	case c == nil:
		return nil, ErrBadKey
	case c.expiresMS != 0 && time.Now().UnixMilli() >= c.expiresMS:
		return nil, ErrExpiredKey
	}
	return c, nil
}

// UseKeys makes the database's keys (through k) valid beside the clients
// file's clients.
func (a *Authenticator) UseKeys(k *KeyCache) { a.keys = k }

// KeysChanged drops the cached keys after this instance created or revoked
// one, so the change holds here at once.
func (a *Authenticator) KeysChanged() {
	if a.keys != nil {
		a.keys.Invalidate()
	}
}

// FileClient reports whether the clients file names a client name.
func (a *Authenticator) FileClient(name string) bool {
	for _, c := range a.clients {
		if c.name == name {
			return true
		}
	}
	return false
}

// Name is the client's name: the clients file's, or the key's.
func (c *Caller) Name() string { return c.name }

// AllTenants reports whether the client may read every tenant ("*").
func (c *Caller) AllTenants() bool { return c.allTenants }

// HasTenant reports whether the client was given tenant by name (not
// through "*").
func (c *Caller) HasTenant(tenant string) bool { return c.tenants[tenant] }

// ExpiresMS is a database key's expiry (epoch ms); 0: never.
func (c *Caller) ExpiresMS() int64 { return c.expiresMS }

// Tenants lists the tenants the client was given by name, sorted; with
// AllTenants it may read every other tenant too.
func (c *Caller) Tenants() []string {
	out := make([]string, 0, len(c.tenants))
	for t := range c.tenants {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Scopes lists the scopes the client was granted, by their canonical
// names, in Scopes' order: admin is listed as itself, not expanded
// (EffectiveScopes expands it).
func (c *Caller) Scopes() []string {
	var out []string
	for _, s := range Scopes {
		if c.scopes[s] {
			out = append(out, s)
		}
	}
	return out
}

// EffectiveScopes lists every scope the client acts with, in Scopes'
// order: those granted and, with admin, every other one.
func (c *Caller) EffectiveScopes() []string {
	var out []string
	for _, s := range Scopes {
		if c.HasAny([]string{s}) {
			out = append(out, s)
		}
	}
	return out
}

// Identity is who a request's key says the caller is: GET /v1/whoami
// (docs/api.md, Who am I), and what the console keeps of a sign-in. Never
// the key or its hash.
type Identity struct {
	Name string `json:"name"`
	// Tenants are the key's tenants, sorted, or ["*"] for every tenant.
	Tenants []string `json:"tenants"`
	// Scopes are the scopes the key was granted (canonical names);
	// EffectiveScopes what it acts with: admin's implied scopes added.
	Scopes          []string `json:"scopes"`
	EffectiveScopes []string `json:"effective_scopes"`
	ExpiresAt       *string  `json:"expires_at"`
	// Open is the open mode: no clients configured, the caller anonymous.
	Open bool `json:"open"`
}
