package service_test

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"testing"
	"time"

	"github.com/esrflow/esrflow/platform/lifecycle"
	"github.com/esrflow/esrflow/platform/service"
	"github.com/esrflow/esrflow/platform/testkit"
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
	if got, ok := service.MemoryLimit(spec, ""); !ok || got != 320<<20 {
		t.Errorf("no GOMEMLIMIT: %d %v, want the spec's 320 MiB", got, ok)
	}
	if got, ok := service.MemoryLimit(spec, "1GiB"); ok {
		t.Errorf("GOMEMLIMIT=1GiB: the spec's limit %d would override the operator's", got)
	}
	if got, ok := service.MemoryLimit(service.Spec{Name: "api"}, ""); ok {
		t.Errorf("a spec without a limit set one: %d", got)
	}
}

// statusOf GETs url until the service answers, and returns the status.
func statusOf(t *testing.T, url string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return resp.StatusCode
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProfilesAreServedOnlyWhenAskedAndOnlyBesideMetrics: -debug.pprof
// serves /debug/pprof/ on the port of /metrics, never on an api's own port,
// and nothing is served without it.
func TestProfilesAreServedOnlyWhenAskedAndOnlyBesideMetrics(t *testing.T) {
	waiting := func(ctx context.Context, _ service.Env) (service.Built, error) {
		return service.Built{Parts: []lifecycle.Part{lifecycle.Named("wait", lifecycle.Func(func(ctx context.Context) error {
			<-ctx.Done()
			return nil
		}))}}, nil
	}
	run := func(t *testing.T, spec service.Spec, args ...string) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- service.Run(ctx, spec, append([]string{"-log.level", "error"}, args...)) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	heap := func(addr string) string { return "http://" + addr + "/debug/pprof/heap" }

	t.Run("one port", func(t *testing.T) {
		on, off := testkit.FreeAddr(t), testkit.FreeAddr(t)
		spec := service.Spec{Name: "demo", Build: waiting}
		run(t, spec, "-http.addr", on, "-debug.pprof")
		run(t, spec, "-http.addr", off)
		if got := statusOf(t, heap(on)); got != http.StatusOK {
			t.Errorf("-debug.pprof: heap profile %d, want 200", got)
		}
		if got := statusOf(t, heap(off)); got != http.StatusNotFound {
			t.Errorf("without -debug.pprof: heap profile %d, want 404", got)
		}
	})
	t.Run("an api's ports", func(t *testing.T) {
		apiAddr, metricsAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
		spec := service.Spec{Name: "demo", DefaultMetricsAddr: "127.0.0.1:0", Build: waiting}
		run(t, spec, "-http.addr", apiAddr, "-metrics.addr", metricsAddr, "-debug.pprof")
		if got := statusOf(t, heap(metricsAddr)); got != http.StatusOK {
			t.Errorf("metrics port: heap profile %d, want 200", got)
		}
		if got := statusOf(t, heap(apiAddr)); got != http.StatusNotFound {
			t.Errorf("api port: heap profile %d, want 404: profiles must not reach the api's callers", got)
		}
	})
}

// EnvNames lists exactly the variables Run reads: the common flags (the
// api's metrics.addr only for a service with its own API) and the spec's.
func TestEnvNamesAreTheFlagsRunReads(t *testing.T) {
	spec := service.Spec{Name: "demo", DefaultHTTPAddr: ":8080", RegisterFlags: func(fs *flag.FlagSet) { fs.String("state.dir", "", "") }}
	got := spec.EnvNames()
	for env, flagName := range map[string]string{"ESRFLOW_DEMO_HTTP_ADDR": "http.addr", "ESRFLOW_DEMO_LOG_LEVEL": "log.level", "ESRFLOW_DEMO_STATE_DIR": "state.dir", "ESRFLOW_DEMO_DEBUG_PPROF": "debug.pprof"} {
		if got[env] != flagName {
			t.Errorf("%s = %q, want %q", env, got[env], flagName)
		}
	}
	if _, ok := got["ESRFLOW_DEMO_METRICS_ADDR"]; ok {
		t.Errorf("a service without its own API has no metrics.addr")
	}
	spec.DefaultMetricsAddr = ":9464"
	if spec.EnvNames()["ESRFLOW_DEMO_METRICS_ADDR"] != "metrics.addr" {
		t.Errorf("a service with its own API takes metrics.addr")
	}
}
