package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
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

var keyNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// APIKey is a key kept in the database, as the api lists it. The key itself
// is in Key only in the answer to its creation: the database holds its
// SHA-256 alone.
type APIKey struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Tenants   []string `json:"tenants"`
	Scopes    []string `json:"scopes"`
	CreatedAt string   `json:"created_at"`
	CreatedBy string   `json:"created_by"`
	ExpiresAt *string  `json:"expires_at"`
	RevokedAt *string  `json:"revoked_at"`
	RevokedBy *string  `json:"revoked_by"`
	Key       string   `json:"key,omitempty"`
}

// newKey returns a fresh key and its id.
func newAPIKey() (key, id string, err error) {
	b := make([]byte, 32+8)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:32]), "k" + hex.EncodeToString(b[32:]), nil
}

const keyColumns = `id, name, key_sha256, tenants, scopes, created_at, created_by, expires_at, revoked_at, revoked_by`

// storedKey is an api_keys row.
type storedKey struct {
	APIKey
	hash      string
	expiresMS int64 // 0: never
	revoked   bool
}

func scanKey(row rowScanner) (*storedKey, error) {
	var (
		k                  storedKey
		tenants, scopes    string
		created            int64
		expires, revokedAt sql.NullInt64
		revokedBy          sql.NullString
	)
	err := row.Scan(&k.ID, &k.Name, &k.hash, &tenants, &scopes, &created, &k.CreatedBy, &expires, &revokedAt, &revokedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tenants), &k.Tenants); err != nil {
		return nil, fmt.Errorf("api key %s tenants: %w", k.ID, err)
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return nil, fmt.Errorf("api key %s scopes: %w", k.ID, err)
	}
	k.CreatedAt = millisRFC3339(created)
	if expires.Valid {
		k.expiresMS = expires.Int64
		k.ExpiresAt = ptr(millisRFC3339(expires.Int64))
	}
	if revokedAt.Valid {
		k.revoked = true
		k.RevokedAt = ptr(millisRFC3339(revokedAt.Int64))
	}
	k.RevokedBy = nullable(revokedBy)
	return &k, nil
}

func (s *store) queryKeys(ctx context.Context, where string, args ...any) ([]*storedKey, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT `+keyColumns+` FROM api_keys `+where), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*storedKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

var errKeyNameTaken = errors.New("name taken")

// createKey stores a key (its hash), unless a key, even a revoked one, has
// its name: the access log, the audit and webhook subscriptions name keys,
// so a name never passes to another key.
func (s *store) createKey(ctx context.Context, k *storedKey, createdMS int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var n int
	if err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM api_keys WHERE name = ?`), k.Name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errKeyNameTaken
	}
	tenants, _ := json.Marshal(k.Tenants)
	scopes, _ := json.Marshal(k.Scopes)
	var expires sql.NullInt64
	if k.expiresMS != 0 {
		expires = sql.NullInt64{Int64: k.expiresMS, Valid: true}
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO api_keys (id, name, key_sha256, tenants, scopes, created_at, created_by, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), k.ID, k.Name, k.hash, string(tenants), string(scopes), createdMS, k.CreatedBy, expires); err != nil {
		return err
	}
	return tx.Commit()
}

// revokeKey marks a key revoked; false when it already was.
func (s *store) revokeKey(ctx context.Context, id, by string, atMS int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.d.rebind(`UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL`), atMS, by, id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// keySnapshot is one read of the database's active keys, by hash.
type keySnapshot struct {
	keys map[[sha256.Size]byte]*authClient
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
type keyCache struct {
	load func(ctx context.Context) (map[[sha256.Size]byte]*authClient, error)
	// anyKey reports whether the database has ever held a key (nil: only
	// the active keys count).
	anyKey func(ctx context.Context) (bool, error)
	ttl    time.Duration
	gen    atomic.Uint64
	cur    atomic.Pointer[keySnapshot]
	mu     sync.Mutex // one reload at a time
}

func (k *keyCache) get(ctx context.Context) (*keySnapshot, error) {
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

func (k *keyCache) invalidate() { k.gen.Add(1) }

// anyKey reports whether api_keys has a row, revoked or expired ones too.
func (s *store) anyKey(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM api_keys LIMIT 1) k`).Scan(&n); err != nil {
		return false, fmt.Errorf("api keys: %w", err)
	}
	return n > 0, nil
}

// loadKeys reads the keys neither revoked nor expired.
func (s *store) loadKeys(ctx context.Context) (map[[sha256.Size]byte]*authClient, error) {
	list, err := s.queryKeys(ctx, `WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`, time.Now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("api keys: %w", err)
	}
	out := make(map[[sha256.Size]byte]*authClient, len(list))
	for _, k := range list {
		c := &authClient{name: k.Name, tenants: map[string]bool{}, scopes: map[string]bool{}, expiresMS: k.expiresMS}
		h, err := hex.DecodeString(k.hash)
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

// keyRequest is the body of POST /v1/keys.
type keyRequest struct {
	Name      string   `json:"name"`
	Tenants   []string `json:"tenants"`
	Scopes    []string `json:"scopes"`
	ExpiresAt string   `json:"expires_at"`
}

type keyList struct {
	Keys []APIKey `json:"keys"`
}

// visible reports whether caller may see and revoke key k: a caller for
// every tenant sees every key; another sees the keys for its tenants only.
func visible(caller *authClient, tenants []string) bool {
	if caller.allTenants {
		return true
	}
	for _, t := range tenants {
		if t == AllTenants || !caller.tenants[t] {
			return false
		}
	}
	return true
}

// postKey creates a key (POST /v1/keys, scope admin). A caller may give a
// key only tenants it may see itself and scopes it holds (admin holds every
// scope), so an admin for one trust cannot mint a key for another.
func (s *Service) postKey(w http.ResponseWriter, r *http.Request) {
	caller := clientOf(r)
	if caller == nil { // guard refuses admin without clients; never reached
		writeError(w, http.StatusUnauthorized, errAdminNeedsKey)
		return
	}
	var req keyRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.Decode(&struct{}{}) != io.EOF {
		writeError(w, http.StatusBadRequest, `body must be {"tenants": [...], "scopes": [...], "name": "...", "expires_at": "RFC 3339"} (name and expires_at optional)`)
		return
	}
	key, id, err := newAPIKey()
	if err != nil {
		s.internal(w, r, err)
		return
	}
	now := time.Now()
	k := &storedKey{APIKey: APIKey{ID: id, Name: strings.TrimSpace(req.Name), CreatedBy: caller.name}}
	if k.Name == "" {
		k.Name = "key-" + id
	}
	switch {
	case !keyNameRE.MatchString(k.Name):
		writeError(w, http.StatusBadRequest, "name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
		return
	case slices.ContainsFunc(s.auth.clients, func(c authClient) bool { return c.name == k.Name }):
		writeError(w, http.StatusConflict, "name "+k.Name+" is a client of the clients file")
		return
	case strings.EqualFold(k.Name, Anonymous):
		writeError(w, http.StatusConflict, "name "+Anonymous+" is reserved: the access log's name for requests without a key")
		return
	case len(req.Tenants) == 0:
		writeError(w, http.StatusBadRequest, `tenants is required: ODS codes, or ["*"] for every tenant`)
		return
	case len(req.Scopes) == 0:
		writeError(w, http.StatusBadRequest, "scopes is required")
		return
	}
	for _, t := range req.Tenants {
		switch {
		case t == AllTenants && !caller.allTenants:
			writeError(w, http.StatusForbidden, "this API key is not allowed every tenant, so cannot grant \"*\"")
			return
		case t == AllTenants:
		case !tenantRE.MatchString(t):
			writeError(w, http.StatusBadRequest, fmt.Sprintf("tenant %q is not an ODS code or \"*\"", t))
			return
		case !caller.allows(strings.ToUpper(t)):
			writeError(w, http.StatusForbidden, "this API key is not allowed tenant "+strings.ToUpper(t))
			return
		}
		if t != AllTenants {
			t = strings.ToUpper(t)
		}
		if !slices.Contains(k.Tenants, t) {
			k.Tenants = append(k.Tenants, t)
		}
	}
	for _, sc := range req.Scopes {
		cs, ok := CanonicalScope(sc)
		switch {
		case !ok:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown scope %q (want one of %s)", sc, scopeNames()))
			return
		case !caller.hasAny([]string{cs}):
			writeError(w, http.StatusForbidden, "this API key lacks the "+cs+" scope, so cannot grant it")
			return
		}
		if !slices.Contains(k.Scopes, cs) {
			k.Scopes = append(k.Scopes, cs)
		}
	}
	if req.ExpiresAt != "" {
		at, err := time.Parse(time.RFC3339Nano, req.ExpiresAt)
		if err != nil || !at.After(now) {
			writeError(w, http.StatusBadRequest, "expires_at must be an RFC 3339 time in the future")
			return
		}
		k.expiresMS = at.UnixMilli()
	}
	// A key never outlives the key that made it: a leaked short-lived
	// admin key cannot leave a permanent one behind.
	if caller.expiresMS != 0 && (k.expiresMS == 0 || k.expiresMS > caller.expiresMS) {
		k.expiresMS = caller.expiresMS
	}
	if k.expiresMS != 0 {
		k.ExpiresAt = ptr(millisRFC3339(k.expiresMS))
	}
	k.hash = HashKey(key)
	k.CreatedAt = millisRFC3339(now.UnixMilli())
	switch err := s.store.createKey(r.Context(), k, now.UnixMilli()); {
	case errors.Is(err, errKeyNameTaken):
		writeError(w, http.StatusConflict, "a key is already named "+k.Name+" (names are never reused, also after a revocation): choose another name")
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	s.auth.keys.invalidate()
	// The audit of a key's life is its row (created_by, revoked_by); the
	// log line says the same for log-based alerting. Never the key.
	s.log.Info("api key created", zap.String("key_id", k.ID), zap.String("name", k.Name), zap.String("by", caller.name),
		zap.Strings("tenants", k.Tenants), zap.Strings("scopes", k.Scopes))
	out := k.APIKey
	out.Key = key
	writeJSON(w, http.StatusCreated, out)
}

// getKeys lists the keys the caller may see, revoked ones too (GET
// /v1/keys, scope admin), oldest first.
func (s *Service) getKeys(w http.ResponseWriter, r *http.Request) {
	caller := clientOf(r)
	if caller == nil {
		writeError(w, http.StatusUnauthorized, errAdminNeedsKey)
		return
	}
	list, err := s.store.queryKeys(r.Context(), `ORDER BY created_at, id`)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := keyList{Keys: []APIKey{}}
	for _, k := range list {
		if visible(caller, k.Tenants) {
			out.Keys = append(out.Keys, k.APIKey)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteKey revokes a key (DELETE /v1/keys/{id}, scope admin): it is
// refused from the next request on this instance, and on others within
// their refresh time.
func (s *Service) deleteKey(w http.ResponseWriter, r *http.Request) {
	caller := clientOf(r)
	if caller == nil {
		writeError(w, http.StatusUnauthorized, errAdminNeedsKey)
		return
	}
	id := r.PathValue("id")
	if !cleanText(id) {
		writeError(w, http.StatusNotFound, "key not found")
		return
	}
	list, err := s.store.queryKeys(r.Context(), `WHERE id = ?`, id)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if len(list) == 0 || !visible(caller, list[0].Tenants) {
		writeError(w, http.StatusNotFound, "key not found")
		return
	}
	now := time.Now().UnixMilli()
	ok, err := s.store.revokeKey(r.Context(), id, caller.name, now)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.auth.keys.invalidate()
	if !ok {
		writeError(w, http.StatusConflict, "key "+id+" is already revoked")
		return
	}
	s.log.Info("api key revoked", zap.String("key_id", id), zap.String("name", list[0].Name), zap.String("by", caller.name))
	k := list[0].APIKey
	k.RevokedAt, k.RevokedBy = ptr(millisRFC3339(now)), ptr(caller.name)
	writeJSON(w, http.StatusOK, k)
}
