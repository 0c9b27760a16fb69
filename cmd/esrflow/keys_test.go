package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/services/api/auth"
	"github.com/esrflow/esrflow/services/api/store"
)

func runKeysCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), append([]string{"keys"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// status answers GET path on the api with key.
func status(t *testing.T, base, key, path string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// `esrflow keys` against a running api: a key created through the CLI works
// at once with its tenant and scopes only, is listed without its secret,
// and is refused as soon as it is revoked; no restart anywhere.
func TestKeysCreateListRevoke(t *testing.T) {
	dir := t.TempDir()
	adminKey, readerKey := "admin-"+strings.Repeat("a", 40), "reader-"+strings.Repeat("b", 40)
	adminFile := filepath.Join(dir, "admin.key")
	if err := os.WriteFile(adminFile, []byte(adminKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startAPI(t, []auth.Client{
		{Name: "platform", KeySHA256: auth.HashKey(adminKey), Tenants: []string{"*"}, Scopes: []string{auth.ScopeAdmin}},
		{Name: "reader", KeySHA256: auth.HashKey(readerKey), Tenants: []string{"RXX"}, Scopes: []string{"read:files"}},
	})
	common := []string{"--api", a.url, "--key-file", adminFile}

	before := time.Now()
	code, stdout, stderr := runKeysCmd(append([]string{"create", "--tenant", "rxx", "--scope", "read:people,events:read", "--scope", "files:read",
		"--name", "rostering", "--expires", "90d"}, common...)...)
	after := time.Now()
	if code != 0 {
		t.Fatalf("create: exit %d %s", code, stderr)
	}
	key := strings.TrimSpace(stdout)
	if !strings.HasPrefix(key, auth.KeyPrefix) || strings.Count(stdout, "\n") != 1 ||
		!strings.Contains(stderr, "(rostering) for RXX with people:read, events:read, files:read; expires ") {
		t.Fatalf("create: stdout %q stderr %q", stdout, stderr)
	}
	for path, want := range map[string]int{"/v1/tenants/RXX/events": 200, "/v1/tenants/RXX/files": 200, "/v1/tenants/RYY/events": 403, "/v1/tenants/RXX/held-batches": 403} {
		if got := status(t, a.url, key, path); got != want {
			t.Errorf("new key GET %s = %d, want %d", path, got, want)
		}
	}

	code, stdout, stderr = runKeysCmd(append([]string{"list", "--format", "json"}, common...)...)
	if code != 0 {
		t.Fatalf("list: exit %d %s", code, stderr)
	}
	var l struct {
		Keys []store.APIKey `json:"keys"`
	}
	if err := json.Unmarshal([]byte(stdout), &l); err != nil || len(l.Keys) != 1 {
		t.Fatalf("list json %q: %v", stdout, err)
	}
	k := l.Keys[0]
	exp, err := time.Parse(time.RFC3339, *k.ExpiresAt)
	if err != nil || k.Name != "rostering" || k.CreatedBy != "platform" || k.Key != "" || strings.Contains(stdout, key) ||
		exp.Before(before.Add(90*24*time.Hour).Truncate(time.Second)) || exp.After(after.Add(90*24*time.Hour)) {
		t.Errorf("listed %+v (%v)", k, err)
	}
	code, stdout, _ = runKeysCmd(append([]string{"list"}, common...)...)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "ID ") ||
		!strings.HasPrefix(lines[1], k.ID+"  rostering  RXX") || !strings.Contains(lines[1], "people:read,events:read,files:read") ||
		!strings.Contains(lines[1], "platform") || !strings.HasSuffix(lines[1], " -") {
		t.Errorf("list table:\n%s", stdout)
	}

	code, stdout, stderr = runKeysCmd(append([]string{"revoke", k.ID}, common...)...)
	if code != 0 || stdout != "revoked key "+k.ID+" (rostering)\n" {
		t.Fatalf("revoke: exit %d %q %q", code, stdout, stderr)
	}
	if got := status(t, a.url, key, "/v1/tenants/RXX/events"); got != 401 {
		t.Errorf("revoked key = %d, want 401", got)
	}
	code, stdout, _ = runKeysCmd(append([]string{"list"}, common...)...)
	if code != 0 || !strings.Contains(stdout, " by platform") {
		t.Errorf("list after revoke:\n%s", stdout)
	}
	code, _, stderr = runKeysCmd(append([]string{"revoke", k.ID}, common...)...)
	if code != 1 || !strings.Contains(stderr, "api: 409 Conflict: key "+k.ID+" is already revoked") {
		t.Errorf("revoke again: exit %d %s", code, stderr)
	}
	// A key without admin is refused by the api: exit 1, its message.
	code, _, stderr = runKeysCmd("list", "--api", a.url, "--key", readerKey)
	if code != 1 || !strings.Contains(stderr, "api: 403 Forbidden: this API key lacks the admin scope") {
		t.Errorf("list as reader: exit %d %s", code, stderr)
	}
}

func TestKeysUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "give create, list, revoke or init"},
		{[]string{"rotate"}, "give create, list, revoke or init"},
		{[]string{"create", "--scope", "people:read"}, "--tenant is required"},
		{[]string{"create", "--tenant", "RXX"}, "--scope is required"},
		{[]string{"create", "--tenant", "RXX", "--scope", "admin", "--expires", "soon"}, `--expires "soon"`},
		{[]string{"create", "--tenant", "RXX", "--scope", "admin", "extra"}, `unexpected argument "extra"`},
		{[]string{"list", "--tenant", "RXX"}, "are for keys create"},
		{[]string{"revoke"}, "give the id of the key to revoke"},
		{[]string{"list", "--format", "yaml"}, `--format "yaml"`},
	} {
		code, _, stderr := runKeysCmd(c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("keys %v: exit %d %q, want 2 %q", c.args, code, stderr, c.want)
		}
	}
}

// upAPI runs `esrflow up` on dir and returns its api URL and a stop.
func upAPI(t *testing.T, dir string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runUp(ctx, []string{"--data", dir, "--kafka.port", "0", "--registry.addr", "127.0.0.1:0", "--api.addr", "127.0.0.1:0",
			"--sftp.addr", "", "--metrics.addr", "", "--partitions", "1", "--log.level", "error"}, &out, &out)
	}()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := apiURL.FindStringSubmatch(out.String()); m != nil {
			return m[1], func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("up: %v", err)
				}
			}
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("up exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("up did not announce its api:\n%s", out.String())
		}
	}
}

// On `esrflow up` the operator key (read from the data folder) holds admin:
// a key created with it works at once, survives a restart of the stack (it
// is in the api's database), and is refused once revoked.
func TestKeysOnUp(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	dir := t.TempDir()
	url, stop := upAPI(t, dir)
	code, stdout, stderr := runKeysCmd("create", "--tenant", "RXX", "--scope", "files:read", "--name", "trust-upload-job", "--api", url, "--data", dir)
	if code != 0 {
		t.Fatalf("create: exit %d %s", code, stderr)
	}
	key := strings.TrimSpace(stdout)
	if got := status(t, url, key, "/v1/tenants/RXX/files"); got != 200 {
		t.Errorf("new key files = %d", got)
	}
	if got := status(t, url, key, "/v1/tenants/RXX/people/1"); got != 403 {
		t.Errorf("new key people = %d, want 403", got)
	}
	stop()

	url, stop = upAPI(t, dir)
	defer stop()
	if got := status(t, url, key, "/v1/tenants/RXX/files"); got != 200 {
		t.Errorf("after restart files = %d", got)
	}
	code, stdout, stderr = runKeysCmd("list", "--format", "json", "--api", url, "--data", dir)
	var l struct {
		Keys []store.APIKey `json:"keys"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &l) != nil || len(l.Keys) != 1 || l.Keys[0].CreatedBy != "local-operator" {
		t.Fatalf("list: exit %d %s %s", code, stdout, stderr)
	}
	if code, _, stderr := runKeysCmd("revoke", l.Keys[0].ID, "--api", url, "--data", dir); code != 0 {
		t.Fatalf("revoke: %s", stderr)
	}
	if got := status(t, url, key, "/v1/tenants/RXX/files"); got != 401 {
		t.Errorf("revoked key = %d, want 401", got)
	}
}
