package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/platform/testkit"
)

// TestBinaryServesAPIAndOps runs the binary's wiring against an embedded
// broker: flags, readiness, metrics and the registry API on one port.
func TestBinaryServesAPIAndOps(t *testing.T) {
	b := testkit.Kafka(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- service.Run(ctx, spec(), []string{
			"-http.addr", addr,
			"-kafka.brokers", strings.Join(b.Seeds(), ","),
			"-compatibility", "full_transitive",
			"-log.level", "warn",
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready in time: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	body := func(method, path, in string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(in))
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, got := body(http.MethodGet, "/config", ""); code != 200 || got != `{"compatibilityLevel":"FULL_TRANSITIVE"}` {
		t.Fatalf("/config: %d %s", code, got)
	}
	if code, got := body(http.MethodPost, "/subjects/x/versions", `{"schema":"\"string\""}`); code != 200 || got != `{"id":1}` {
		t.Fatalf("register: %d %s", code, got)
	}
	if code, got := body(http.MethodGet, "/metrics", ""); code != 200 || !strings.Contains(got, "esrflow_registry_max_schema_id 1") || !strings.Contains(got, "esrflow_registry_http_request_duration_seconds") {
		t.Fatalf("/metrics: %d, missing registry metrics", code)
	}
	if code, _ := body(http.MethodGet, "/healthz", ""); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
}
