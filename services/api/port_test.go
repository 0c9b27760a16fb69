package api

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/platform/testkit"
	"github.com/esrflow/esrflow/schemas"
	"github.com/esrflow/esrflow/services/api/auth"
)

// httpGet fetches url; a connection error is status 0 with the error as
// body (the port may not be listening yet).
func httpGet(t *testing.T, url, key string) (int, string) {
	t.Helper()
	resp, b, err := send(t, "GET", url, key, "")
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(b)
}

// The api binary serves its metrics, which name every tenant, on the
// metrics port only: the API port answers /metrics with 404 to a caller
// with no key and to one with another tenant's key alike.
func TestMetricsNotOnTheAPIPort(t *testing.T) {
	e := newEnv(t)
	st := starter()
	e.produce(true, e.event("RXX", schemas.EventStarterCreated, 1, st.PersonID, st))

	ryyKey := newKey(t)
	clients := filepath.Join(t.TempDir(), "clients.yaml")
	if err := os.WriteFile(clients, []byte("clients:\n  - name: ryy\n    key_sha256: "+auth.HashKey(ryyKey)+
		"\n    tenants: [RYY]\n    scopes: [read:people, read:events, read:files, read:batches]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apiAddr, metricsAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- service.Run(ctx, Spec(), []string{
			"-kafka.brokers", strings.Join(e.broker.Seeds(), ","), "-registry.url", e.registry,
			"-db.url", "sqlite:" + filepath.Join(t.TempDir(), "api.db"), "-auth.clients", clients,
			"-http.addr", apiAddr, "-metrics.addr", metricsAddr, "-log.level", "error",
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && err != context.Canceled {
			t.Errorf("service.Run: %v", err)
		}
	})

	// The metrics port has the RXX count once the starter is stored.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := httpGet(t, "http://"+metricsAddr+"/metrics", "")
		if code == 200 && strings.Contains(body, `esrflow_api_events_stored_total{tenant="RXX",type="starter-created"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics port: %d %.300s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, key := range []string{"", ryyKey} {
		if code, body := httpGet(t, "http://"+apiAddr+"/metrics", key); code != 404 || strings.Contains(body, "RXX") {
			t.Errorf("GET /metrics on the API port (key %v) = %d %.300s; want 404", key != "", code, body)
		}
	}
	if code, _ := httpGet(t, "http://"+apiAddr+"/healthz", ""); code != 200 {
		t.Errorf("GET /healthz on the API port = %d", code)
	}
	if code, _ := httpGet(t, "http://"+apiAddr+"/v1/tenants/RXX/people/"+st.PersonID, ryyKey); code != 403 {
		t.Errorf("RYY's key reading RXX = %d, want 403", code)
	}

	// /metrics on the API port cannot be configured back.
	for _, args := range [][]string{{"-metrics.addr", ""}, {"-http.addr", apiAddr, "-metrics.addr", apiAddr}} {
		err := service.Run(context.Background(), Spec(), append([]string{"-kafka.brokers", "127.0.0.1:1", "-log.level", "error"}, args...))
		if err == nil || !strings.Contains(err.Error(), "metrics.addr") {
			t.Errorf("service.Run %v = %v, want a metrics.addr error", args, err)
		}
	}
}
