package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esrflow/esrflow/services/api/auth"
)

// keys init makes a key and a clients file the api accepts it by; a second
// run keeps both; a clients file without the key is an error, not a silent
// lock-out.
func TestKeysInit(t *testing.T) {
	dir := t.TempDir()
	clients, key := filepath.Join(dir, "auth", "clients.yaml"), filepath.Join(dir, "auth", "operator.key")
	code, out, stderr := runKeysCmd("init", "--clients", clients, "--key-file", key)
	if code != 0 || !strings.Contains(out, "wrote "+clients) {
		t.Fatalf("init: exit %d\n%s%s", code, out, stderr)
	}
	k, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(clients); strings.Contains(string(b), strings.TrimSpace(string(k))) {
		t.Fatalf("the clients file holds the key itself")
	}
	cs, err := auth.LoadClients(clients)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(cs)
	if err != nil {
		t.Fatal(err)
	}
	identify := func(bearer string) (*auth.Caller, error) {
		r := httptest.NewRequest("GET", "/v1/keys", nil)
		r.Header.Set("Authorization", "Bearer "+bearer)
		return a.Identify(r)
	}
	c, err := identify(strings.TrimSpace(string(k)))
	if err != nil {
		t.Fatalf("the api refuses the key init made: %v", err)
	}
	if !c.HasAny([]string{auth.ScopeAdmin}) || !c.HasAny([]string{auth.ScopeOperate}) {
		t.Errorf("the operator cannot administer or operate")
	}
	if _, err := identify("not-the-key"); err == nil {
		t.Errorf("another key is accepted")
	}

	// Again: both kept, byte for byte.
	before, _ := os.ReadFile(clients)
	code, out, stderr = runKeysCmd("init", "--clients", clients, "--key-file", key)
	after, _ := os.ReadFile(clients)
	k2, _ := os.ReadFile(key)
	if code != 0 || !strings.Contains(out, "kept") || string(before) != string(after) || string(k) != string(k2) {
		t.Errorf("second init: exit %d %s%s; clients changed %v, key changed %v", code, out, stderr, string(before) != string(after), string(k) != string(k2))
	}

	// A new key beside an existing clients file that does not hold it.
	code, _, stderr = runKeysCmd("init", "--clients", clients, "--key-file", filepath.Join(dir, "other.key"))
	if code != 1 || !strings.Contains(stderr, "holds no client with the key") {
		t.Errorf("clients file without the key: exit %d %s", code, stderr)
	}
	if code, _, stderr = runKeysCmd("init", "--clients", clients); code != 2 || !strings.Contains(stderr, "both required") {
		t.Errorf("no --key-file: exit %d %s", code, stderr)
	}
}
