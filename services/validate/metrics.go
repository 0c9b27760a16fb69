package validate

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/esrflow/esrflow/platform/obs"
)

// Metrics are validate's Prometheus series. Counters move when a record is
// processed; a transaction that aborts and is retried counts its records
// again, so they are rates for dashboards and alerts, not reconciled totals
// (the FILE_END counts are those).
type Metrics struct {
	records     *prometheus.CounterVec
	quarantines *prometheus.CounterVec
	files       *prometheus.CounterVec
}

// NewMetrics registers validate's metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_validate_records_total",
			Help: "Entity and correction records validated, by tenant, kind (person, assignment, position, organisation, location, correction) and outcome (accepted, quarantined).",
		}, []string{"tenant", "kind", "outcome"}),
		quarantines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_validate_quarantined_total",
			Help: "Violations of quarantined records, by tenant and rule (a record with two violations counts twice).",
		}, []string{"tenant", "rule"}),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_validate_files_total",
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

func (m *Metrics) record(tenant, kind, outcome string) {
	if m != nil {
		m.records.WithLabelValues(tenant, kind, outcome).Inc()
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
