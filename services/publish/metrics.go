package publish

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/esrflow/esrflow/platform/obs"
)

type metrics struct {
	scheduled   *prometheus.GaugeVec   // tenant
	events      *prometheus.CounterVec // tenant, event
	files       *prometheus.CounterVec // tenant
	withdrawn   *prometheus.CounterVec // tenant
	heldBatches *prometheus.GaugeVec   // tenant
	fired       *prometheus.CounterVec // tenant, trigger
	commands    *prometheus.CounterVec // tenant, action, outcome
	superseded  *prometheus.CounterVec // tenant
	undecodable prometheus.Counter
	// leaverLatency is esrflow_publish_leaver_latency_seconds (tenant,
	// via): observed only for committed leavers (processor.TxEnded).
	leaverLatency *prometheus.HistogramVec
}

// LeaverLatencyBuckets are the upper bounds, in seconds, of
// esrflow_publish_leaver_latency_seconds: minutes to a week. 86400 (a
// day) is the bound EsrflowLeaverLatencyHigh alerts on
// (deploy/prometheus/alerts.yml; cmd/esrflow's compose test checks that
// every le the alerts name is a bound here).
func LeaverLatencyBuckets() []float64 { return slices.Clone(leaverLatencyBuckets) }

var leaverLatencyBuckets = []float64{
	5 * 60, 15 * 60, 30 * 60, // minutes: a leaver confirmed by the clock at its London midnight
	3600, 2 * 3600, 4 * 3600, 6 * 3600, 8 * 3600, 12 * 3600, 18 * 3600, // a file's run date to its arrival
	86400, 2 * 86400, 3 * 86400, 5 * 86400, 7 * 86400, // a day late or more
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		scheduled: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "esrflow_publish_scheduled_leavers",
			Help: "Future-dated leavers held until a file of the tenant reaches their leaving date."}, []string{"tenant"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_publish_events_total",
			Help: "Events produced, by tenant and event (counted when queued; an aborted transaction is retried)."}, []string{"tenant", "event"}),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_publish_files_total",
			Help: "Files started, by tenant."}, []string{"tenant"}),
		withdrawn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_publish_withdrawn_leavers_total",
			Help: "Held leavers withdrawn before their date."}, []string{"tenant"}),
		heldBatches: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "esrflow_publish_held_batches",
			Help: "Leaver-guard batches awaiting an operator's release or rejection."}, []string{"tenant"}),
		fired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_publish_scheduled_leavers_fired_total",
			Help: "Held leavers confirmed, by what confirmed them: a file's run date, the clock, or an operator's release."}, []string{"tenant", "trigger"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_publish_operator_commands_total",
			Help: "Operator decisions on held batches, applied or ignored (unknown or already decided batch)."}, []string{"tenant", "action", "outcome"}),
		superseded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_publish_superseded_held_leavers_total",
			Help: "Leavers in a held batch dropped because a later file spoke about the person before an operator decided."}, []string{"tenant"}),
		undecodable: prometheus.NewCounter(prometheus.CounterOpts{Name: "esrflow_publish_skipped_records_total",
			Help: "Records skipped because they could not be decoded or carried no tenant: of esr.validated.v1, or operator commands on esr.ops.commands.v1."}),
		leaverLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "esrflow_publish_leaver_latency_seconds",
			Help: "Seconds from the later of the run date (00:00 Europe/London) of the file that caused a leaver-confirmed event " +
				"and the London midnight of its leaving day (future-dated leavers) to the commit of the transaction that published it, " +
				"by tenant and by what published it (via: file, schedule, release, replay). Committed events only.",
			Buckets: leaverLatencyBuckets}, []string{"tenant", "via"}),
	}
	var err error
	if m.scheduled, err = obs.Register(reg, m.scheduled); err != nil {
		return nil, err
	}
	if m.events, err = obs.Register(reg, m.events); err != nil {
		return nil, err
	}
	if m.files, err = obs.Register(reg, m.files); err != nil {
		return nil, err
	}
	if m.withdrawn, err = obs.Register(reg, m.withdrawn); err != nil {
		return nil, err
	}
	if m.heldBatches, err = obs.Register(reg, m.heldBatches); err != nil {
		return nil, err
	}
	for _, c := range []**prometheus.CounterVec{&m.fired, &m.commands, &m.superseded} {
		if *c, err = obs.Register(reg, *c); err != nil {
			return nil, err
		}
	}
	if m.undecodable, err = obs.Register(reg, m.undecodable); err != nil {
		return nil, err
	}
	if m.leaverLatency, err = obs.Register(reg, m.leaverLatency); err != nil {
		return nil, err
	}
	return m, nil
}
