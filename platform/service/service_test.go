package service_test

import (
	"context"
	"errors"
	"flag"
	"testing"

	"github.com/esrflow/esrflow/platform/lifecycle"
	"github.com/esrflow/esrflow/platform/service"
)

func TestRunWiresFlagsEnvAndParts(t *testing.T) {
	t.Setenv("ESRFLOW_DEMO_GREETING", "from-env")
	var greeting string
	ran := false
	spec := service.Spec{
		Name:            "demo",
		DefaultHTTPAddr: "127.0.0.1:0",
		RegisterFlags:   func(fs *flag.FlagSet) { fs.StringVar(&greeting, "greeting", "default", "") },
		Build: func(ctx context.Context, env service.Env) (service.Built, error) {
			if greeting != "from-env" {
				return service.Built{}, errors.New("greeting not read from env: " + greeting)
			}
			return service.Built{Parts: []lifecycle.Part{lifecycle.Named("once", lifecycle.Func(func(context.Context) error {
				ran = true
				return errors.New("done")
			}))}}, nil
		},
	}
	err := service.Run(context.Background(), spec, []string{"-log.level", "error"})
	if err == nil || err.Error() != "once: done" {
		t.Fatalf("Run = %v, want the part's error", err)
	}
	if !ran {
		t.Fatal("part did not run")
	}
}

func TestBuildErrorIsReported(t *testing.T) {
	spec := service.Spec{Name: "demo", DefaultHTTPAddr: "127.0.0.1:0",
		Build: func(context.Context, service.Env) (service.Built, error) {
			return service.Built{}, errors.New("bad config")
		}}
	if err := service.Run(context.Background(), spec, []string{"-log.level", "error"}); err == nil {
		t.Fatal("want error")
	}
}

func TestMemoryLimitIsTheSpecsUnlessGOMEMLIMITIsSet(t *testing.T) {
	spec := service.Spec{Name: "validate", MemoryLimit: service.DefaultMemoryLimit}
	if got, ok := service.MemoryLimit(spec, ""); !ok || got != 384<<20 {
		t.Errorf("no GOMEMLIMIT: %d %v, want the spec's 384 MiB", got, ok)
	}
	if got, ok := service.MemoryLimit(spec, "1GiB"); ok {
		t.Errorf("GOMEMLIMIT=1GiB: the spec's limit %d would override the operator's", got)
	}
	if got, ok := service.MemoryLimit(service.Spec{Name: "api"}, ""); ok {
		t.Errorf("a spec without a limit set one: %d", got)
	}
}
