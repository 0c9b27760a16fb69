package auth_test

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
	"github.com/esrflow/esrflow/services/api/store/storetest"
)

// Keys stored in the database authenticate with their tenants and scopes
// (an alias stored before the rename counts as its new name); a revoked key
// stops at once on the instance told of it, and an expired one is refused
// as expired. Once the database has held a key the api is never open again.
func TestKeysFromTheDatabase(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		st := storetest.Open(t, dbURL)
		ctx := t.Context()
		now := time.Now()
		create := func(name string, tenants, scopes []string, expires time.Time) string {
			t.Helper()
			key, id, err := auth.NewKey()
			if err != nil {
				t.Fatal(err)
			}
			k := &store.StoredKey{APIKey: store.APIKey{ID: id, Name: name, Tenants: tenants, Scopes: scopes, CreatedBy: "test"},
				Hash: auth.HashKey(key)}
			if !expires.IsZero() {
				k.ExpiresMS = expires.UnixMilli()
			}
			if err := st.CreateKey(ctx, k, now.UnixMilli()); err != nil {
				t.Fatal(err)
			}
			return key
		}
		a, err := auth.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		a.UseKeys(auth.NewKeyCache(st, time.Hour))
		if !a.Open() {
			t.Fatal("no clients and no keys: want the open mode")
		}
		reader := create("rostering", []string{"RXX"}, []string{"personal:read"}, time.Time{})
		expired := create("old", []string{"*"}, []string{auth.ScopeAdmin}, now.Add(time.Second))
		a.KeysChanged()
		identify := func(key string) (*auth.Caller, error) {
			r := httptest.NewRequest("GET", "/v1/tenants/RXX/people", nil)
			r.Header.Set("Authorization", "Bearer "+key)
			return a.Identify(r)
		}
		c, err := identify(reader)
		if err != nil || c.Name() != "rostering" || !c.Allows("RXX") || c.Allows("RYY") || !c.Sensitive() || c.HasAny([]string{auth.ScopeOperate}) {
			t.Fatalf("reader key = %+v, %v: want rostering, RXX only, people:sensitive only", c, err)
		}
		if _, err := identify(auth.KeyPrefix + "unknown"); !errors.Is(err, auth.ErrBadKey) {
			t.Errorf("unknown key: %v, want ErrBadKey", err)
		}
		time.Sleep(time.Until(now.Add(1100 * time.Millisecond)))
		if _, err := identify(expired); !errors.Is(err, auth.ErrExpiredKey) {
			t.Errorf("expired key: %v, want ErrExpiredKey", err)
		}
		if ok, err := st.RevokeKey(ctx, mustID(t, st, "rostering"), "test", time.Now().UnixMilli()); err != nil || !ok {
			t.Fatalf("revoke: %v %v", ok, err)
		}
		a.KeysChanged()
		if _, err := identify(reader); !errors.Is(err, auth.ErrBadKey) {
			t.Errorf("revoked key: %v, want ErrBadKey", err)
		}
		if a.Open() {
			t.Error("every key revoked or expired: the api opened again")
		}
	})
}

func mustID(t *testing.T, st *store.Store, name string) string {
	t.Helper()
	keys, err := st.QueryKeys(t.Context(), `WHERE name = ?`, name)
	if err != nil || len(keys) != 1 {
		t.Fatalf("key %s: %v %v", name, keys, err)
	}
	return keys[0].ID
}
