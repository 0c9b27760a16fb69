package validate_test

import (
	"context"
	"flag"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/esrflow/esrflow/platform/obs"
	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/services/validate"
)

func TestSpecWiresFlags(t *testing.T) {
	spec := validate.Spec()
	if spec.Name != "validate" {
		t.Fatalf("name %q", spec.Name)
	}
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	spec.RegisterFlags(fs)
	for _, name := range []string{"kafka.brokers", "registry.url", "instance", "max-poll-records"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag --%s missing", name)
		}
	}
	if err := fs.Parse([]string{"--kafka.brokers", "127.0.0.1:1", "--instance", "n-0"}); err != nil {
		t.Fatal(err)
	}
	ready := &obs.Readiness{}
	built, err := spec.Build(context.Background(), service.Env{Log: zaptest.NewLogger(t), Metrics: prometheus.NewRegistry(), Ready: ready})
	if err != nil {
		t.Fatal(err)
	}
	if len(built.Parts) != 1 || built.Parts[0].Name != "validate" {
		t.Errorf("parts %+v", built.Parts)
	}
	if ready.Check() == nil {
		t.Error("ready before running")
	}
}
