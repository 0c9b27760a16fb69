package obs_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/esrflow/esrflow/platform/obs"
)

func TestRegisterReusesTheSameSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	newVec := func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_test_total", Help: "t"}, []string{"tenant"})
	}
	first, err := obs.Register(reg, newVec())
	if err != nil {
		t.Fatal(err)
	}
	second, err := obs.Register(reg, newVec())
	if err != nil {
		t.Fatal(err)
	}
	first.WithLabelValues("RXX").Inc()
	second.WithLabelValues("RXX").Inc()
	if got := testutil.ToFloat64(first.WithLabelValues("RXX")); got != 2 {
		t.Fatalf("shared series = %v, want 2", got)
	}
	// A different shape under the same name is still an error.
	other := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "esrflow_test_total", Help: "t"}, []string{"tenant"})
	if _, err := obs.Register(reg, other); err == nil {
		t.Fatal("a gauge under a counter's name was accepted")
	}
}
