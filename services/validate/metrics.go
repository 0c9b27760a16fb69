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
	warnings    *prometheus.CounterVec
	rejections  *prometheus.CounterVec
}

// NewMetrics registers validate's metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_validate_records_total",
			Help: "Entity and correction records validated, by tenant, kind (person, assignment, position, organisation, location, correction) and outcome (accepted, quarantined, withheld: a good row of a file rejected over its error budget).",
		}, []string{"tenant", "kind", "outcome"}),
		quarantines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_validate_quarantined_total",
			Help: "Violations of quarantined records, by tenant and rule code (a record with two violations counts twice).",
		}, []string{"tenant", "rule"}),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_validate_files_total",
			Help: "File markers received, by tenant and marker (start, end); a file rejected over its budget passes neither on.",
		}, []string{"tenant", "marker"}),
		warnings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_validate_warnings_total",
			Help: "Warning-severity violations on accepted records (flagged, passed on), by tenant and rule code.",
		}, []string{"tenant", "rule"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_validate_files_rejected_total",
			Help: "Files rejected whole over their error budget (nothing of them published), by tenant.",
		}, []string{"tenant"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	for _, c := range []**prometheus.CounterVec{&m.records, &m.quarantines, &m.files, &m.warnings, &m.rejections} {
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

func (m *Metrics) warned(tenant, rule string) {
	if m != nil {
		m.warnings.WithLabelValues(tenant, rule).Inc()
	}
}

func (m *Metrics) rejected(tenant string) {
	if m != nil {
		m.rejections.WithLabelValues(tenant).Inc()
	}
}
