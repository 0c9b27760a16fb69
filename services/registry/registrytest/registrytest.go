// Package registrytest starts a real esrflow schema registry for tests in
// other modules: the production handler over HTTP, storing schemas in the
// given Kafka cluster, optionally with schemas pre-registered.
package registrytest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/schemas/registrar"
	"github.com/esrflow/esrflow/services/registry"
)

// Start runs a registry on seeds until the test ends, registers every
// version of the schemas bound to topics (internal topic names or concrete
// event topics), and returns its URL.
func Start(t testing.TB, seeds []string, topics ...string) string {
	t.Helper()
	reg, err := registry.New(registry.Config{DefaultCompatibility: "BACKWARD_TRANSITIVE"},
		registry.Deps{Brokers: seeds, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatalf("new registry: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := reg.Start(ctx); err != nil {
		reg.Close()
		t.Fatalf("start registry: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = reg.Run(runCtx) }()
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() {
		srv.Close()
		stop()
		<-done
		reg.Close()
	})
	if len(topics) > 0 {
		cl, err := sr.NewClient(sr.URLs(srv.URL))
		if err != nil {
			t.Fatalf("sr client: %v", err)
		}
		if _, err := registrar.RegisterTopics(ctx, cl, topics...); err != nil {
			t.Fatalf("registering schemas: %v", err)
		}
	}
	return srv.URL
}
