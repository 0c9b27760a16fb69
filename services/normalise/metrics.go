package normalise

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/esrflow/esrflow/platform/obs"
)

// Metrics are normalise's Prometheus series. Counters move when a record is
// processed; a transaction that aborts and is retried counts its records
// again, so they are rates for dashboards and alerts, not reconciled totals
// (the FILE_END counts are those).
type Metrics struct {
	records     *prometheus.CounterVec
	quarantines *prometheus.CounterVec
	files       *prometheus.CounterVec
}

// NewMetrics registers normalise's metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_normalise_records_total",
			Help: "Raw rows normalised, by tenant and outcome kind (person, assignment, position, organisation, location, correction, ignored, quarantined).",
		}, []string{"tenant", "kind"}),
		quarantines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_normalise_quarantined_total",
			Help: "Violations of quarantined rows, by tenant and rule (a row with two problems counts twice).",
		}, []string{"tenant", "rule"}),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_normalise_files_total",
			Help: "File markers passed on, by tenant and marker (start, end).",
		}, []string{"tenant", "marker"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	for _, c := range []**prometheus.CounterVec{&m.records, &m.quarantines, &m.files} {
		if *c, err = obs.Register(reg, *c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) record(tenant, kind string) {
	if m != nil {
		m.records.WithLabelValues(tenant, kind).Inc()
	}
}

// recordMany counts n rows of a kind at once: the rows ingest counted on
// FILE_END instead of writing.
func (m *Metrics) recordMany(tenant, kind string, n int64) {
	if m != nil {
		m.records.WithLabelValues(tenant, kind).Add(float64(n))
	}
}

func (m *Metrics) quarantined(tenant, rule string) {
	if m != nil {
		m.quarantines.WithLabelValues(tenant, rule).Inc()
	}
}

func (m *Metrics) file(tenant, marker string) {
	if m != nil {
		m.files.WithLabelValues(tenant, marker).Inc()
	}
}
