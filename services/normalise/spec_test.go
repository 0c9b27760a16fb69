package normalise_test

import (
	"context"
	"flag"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/obs"
	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/services/normalise"
)

func TestSpecWiresFlags(t *testing.T) {
	spec := normalise.Spec()
	if spec.Name != "normalise" {
		t.Fatalf("name %q", spec.Name)
	}
	fs := flag.NewFlagSet("normalise", flag.ContinueOnError)
	spec.RegisterFlags(fs)
	for _, name := range []string{"kafka.brokers", "registry.url", "instance", "tenants", "tenants.file", "max-poll-records"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag --%s missing", name)
		}
	}
	if err := fs.Parse([]string{"--kafka.brokers", "127.0.0.1:1", "--instance", "n-0", "--tenants", "RXX=412"}); err != nil {
		t.Fatal(err)
	}
	ready := &obs.Readiness{}
	built, err := spec.Build(context.Background(), service.Env{Log: zaptest.NewLogger(t), Metrics: prometheus.NewRegistry(), Ready: ready})
	if err != nil {
		t.Fatal(err)
	}
	if len(built.Parts) != 1 || built.Parts[0].Name != "normalise" {
		t.Errorf("parts %+v", built.Parts)
	}
	if ready.Check() == nil {
		t.Error("ready before running")
	}

	bad := normalise.Spec()
	fs = flag.NewFlagSet("normalise", flag.ContinueOnError)
	bad.RegisterFlags(fs)
	if err := fs.Parse([]string{"--tenants", "RXX"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Build(context.Background(), service.Env{Log: zaptest.NewLogger(t), Metrics: prometheus.NewRegistry(), Ready: &obs.Readiness{}}); err == nil {
		t.Error("a malformed --tenants was accepted")
	}
}
