package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store"
	"go.uber.org/zap"
)

// keyRequest is the body of POST /v1/keys.
type keyRequest struct {
	Name      string   `json:"name"`
	Tenants   []string `json:"tenants"`
	Scopes    []string `json:"scopes"`
	ExpiresAt string   `json:"expires_at"`
}

type keyList struct {
	Keys []store.APIKey `json:"keys"`
}

// visible reports whether caller may see and revoke key k: a caller for
// every tenant sees every key; another sees the keys for its tenants only.
func visible(caller *auth.Caller, tenants []string) bool {
	if caller.AllTenants() {
		return true
	}
	for _, t := range tenants {
		if t == auth.AllTenants || !caller.HasTenant(t) {
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
	key, id, err := auth.NewKey()
	if err != nil {
		s.internal(w, r, err)
		return
	}
	now := time.Now()
	k := &store.StoredKey{APIKey: store.APIKey{ID: id, Name: strings.TrimSpace(req.Name), CreatedBy: caller.Name()}}
	if k.Name == "" {
		k.Name = "key-" + id
	}
	switch {
	case !auth.ValidKeyName(k.Name):
		writeError(w, http.StatusBadRequest, "name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
		return
	case s.auth.FileClient(k.Name):
		writeError(w, http.StatusConflict, "name "+k.Name+" is a client of the clients file")
		return
	case strings.EqualFold(k.Name, auth.Anonymous):
		writeError(w, http.StatusConflict, "name "+auth.Anonymous+" is reserved: the access log's name for requests without a key")
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
		case t == auth.AllTenants && !caller.AllTenants():
			writeError(w, http.StatusForbidden, "this API key is not allowed every tenant, so cannot grant \"*\"")
			return
		case t == auth.AllTenants:
		case !store.ValidTenant(t):
			writeError(w, http.StatusBadRequest, fmt.Sprintf("tenant %q is not an ODS code or \"*\"", t))
			return
		case !caller.Allows(strings.ToUpper(t)):
			writeError(w, http.StatusForbidden, "this API key is not allowed tenant "+strings.ToUpper(t))
			return
		}
		if t != auth.AllTenants {
			t = strings.ToUpper(t)
		}
		if !slices.Contains(k.Tenants, t) {
			k.Tenants = append(k.Tenants, t)
		}
	}
	for _, sc := range req.Scopes {
		cs, ok := auth.CanonicalScope(sc)
		switch {
		case !ok:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown scope %q (want one of %s)", sc, auth.ScopeNames()))
			return
		case !caller.HasAny([]string{cs}):
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
		k.ExpiresMS = at.UnixMilli()
	}
	// A key never outlives the key that made it: a leaked short-lived
	// admin key cannot leave a permanent one behind.
	if caller.ExpiresMS() != 0 && (k.ExpiresMS == 0 || k.ExpiresMS > caller.ExpiresMS()) {
		k.ExpiresMS = caller.ExpiresMS()
	}
	if k.ExpiresMS != 0 {
		k.ExpiresAt = store.Ptr(store.MillisRFC3339(k.ExpiresMS))
	}
	k.Hash = auth.HashKey(key)
	k.CreatedAt = store.MillisRFC3339(now.UnixMilli())
	switch err := s.store.CreateKey(r.Context(), k, now.UnixMilli()); {
	case errors.Is(err, store.ErrKeyNameTaken):
		writeError(w, http.StatusConflict, "a key is already named "+k.Name+" (names are never reused, also after a revocation): choose another name")
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	s.auth.KeysChanged()
	// The audit of a key's life is its row (created_by, revoked_by); the
	// log line says the same for log-based alerting. Never the key.
	s.log.Info("api key created", zap.String("key_id", k.ID), zap.String("name", k.Name), zap.String("by", caller.Name()),
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
	list, err := s.store.QueryKeys(r.Context(), `ORDER BY created_at, id`)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := keyList{Keys: []store.APIKey{}}
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
	if !store.CleanText(id) {
		writeError(w, http.StatusNotFound, "key not found")
		return
	}
	list, err := s.store.QueryKeys(r.Context(), `WHERE id = ?`, id)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if len(list) == 0 || !visible(caller, list[0].Tenants) {
		writeError(w, http.StatusNotFound, "key not found")
		return
	}
	now := time.Now().UnixMilli()
	ok, err := s.store.RevokeKey(r.Context(), id, caller.Name(), now)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.auth.KeysChanged()
	if !ok {
		writeError(w, http.StatusConflict, "key "+id+" is already revoked")
		return
	}
	s.log.Info("api key revoked", zap.String("key_id", id), zap.String("name", list[0].Name), zap.String("by", caller.Name()))
	k := list[0].APIKey
	k.RevokedAt, k.RevokedBy = store.Ptr(store.MillisRFC3339(now)), store.Ptr(caller.Name())
	writeJSON(w, http.StatusOK, k)
}
