package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The key cache never trusts a read that started before an invalidate.
func TestKeyCacheInvalidate(t *testing.T) {
	loads := 0
	c := &KeyCache{ttl: time.Hour, load: func(context.Context) (map[[sha256.Size]byte]*Caller, error) {
		loads++
		return nil, nil
	}}
	for range 3 {
		if _, err := c.get(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	c.Invalidate()
	if _, err := c.get(t.Context()); err != nil {
		t.Fatal(err)
	}
	if loads != 2 {
		t.Errorf("loads = %d, want 2 (one, then one after invalidate)", loads)
	}
}

// When the database's keys cannot be read, a key not in the clients file
// is answered 503 (not 401: it may be valid), the clients file still works,
// and an api without clients does not fall open. (A loader that fails
// stands in for the database: closing the real one would stop the service
// under test.)
func TestKeysUnreadableFailClosed(t *testing.T) {
	fileKey, _, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	a, err := New([]Client{{Name: "platform", KeySHA256: HashKey(fileKey), Tenants: []string{"*"}, Scopes: []string{ScopeAdmin}}})
	if err != nil {
		t.Fatal(err)
	}
	down := &KeyCache{ttl: time.Hour, load: func(context.Context) (map[[sha256.Size]byte]*Caller, error) {
		return nil, errors.New("database down")
	}}
	a.keys = down
	req := func(key string) *http.Request {
		r := httptest.NewRequest("GET", "/v1/tenants/RXX/events", nil)
		r.Header.Set("Authorization", "Bearer "+key)
		return r
	}
	if _, err := a.Identify(req(KeyPrefix + "unknown")); !errors.Is(err, ErrKeysUnavailable) {
		t.Errorf("database key while unreadable: %v, want ErrKeysUnavailable", err)
	}
	if c, err := a.Identify(req(fileKey)); err != nil || c.Name() != "platform" {
		t.Errorf("clients-file key while unreadable: %v %v", c, err)
	}
	if (&Authenticator{keys: down}).Open() {
		t.Error("no clients and unreadable keys: open mode, want closed")
	}
	if !(&Authenticator{keys: &KeyCache{ttl: time.Hour, load: func(context.Context) (map[[sha256.Size]byte]*Caller, error) { return nil, nil }}}).Open() {
		t.Error("no clients and no keys: want the open mode")
	}
}
