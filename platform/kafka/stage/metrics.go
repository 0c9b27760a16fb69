package stage

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/esrflow/esrflow/platform/obs"
)

type metrics struct {
	consumed       prometheus.Counter
	produced       prometheus.Counter
	txns           *prometheus.CounterVec
	ticks          *prometheus.CounterVec
	lag            *prometheus.GaugeVec
	restoreSeconds prometheus.Observer
	restores       *prometheus.CounterVec
	restoreRecords prometheus.Counter
}

// newMetrics registers the stage metrics, labelled by stage so several
// stages can share one registry (esrflow up runs them in one process).
func newMetrics(reg prometheus.Registerer, stage string) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	labels := prometheus.Labels{"stage": stage}
	consumed := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_stage_records_consumed_total", Help: "Input records processed."}, []string{"stage"})
	produced := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_stage_records_produced_total", Help: "Output records produced (changelog excluded)."}, []string{"stage"})
	txns := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_stage_transactions_total", Help: "Transactions by outcome: committed, aborted (rebalance or processing error), failed."}, []string{"stage", "outcome"})
	ticks := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_stage_ticks_total", Help: "Ticks of a Ticker stage: run (a committed tick transaction) or idle (nothing was due, no transaction)."}, []string{"stage", "outcome"})
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "esrflow_stage_lag_records", Help: "Committed records not yet processed, per input partition."}, []string{"stage", "partition"})
	restore := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "esrflow_stage_restore_seconds", Help: "Time to restore partitions' state from the changelog.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 8)}, []string{"stage"})
	restores := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_stage_state_restores_total", Help: "Partitions whose local state store was brought up to date on assignment, by how: checkpoint (caught up from the store's checkpoint) or full (from the changelog's start: no checkpoint, or one that could not be trusted)."}, []string{"stage", "from"})
	restoreRecords := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esrflow_stage_state_restore_records_total", Help: "Changelog records applied to the local state store while partitions were restored or caught up."}, []string{"stage"})
	var err error
	if restores, err = obs.Register(reg, restores); err != nil {
		return nil, err
	}
	if restoreRecords, err = obs.Register(reg, restoreRecords); err != nil {
		return nil, err
	}
	if consumed, err = obs.Register(reg, consumed); err != nil {
		return nil, err
	}
	if produced, err = obs.Register(reg, produced); err != nil {
		return nil, err
	}
	if txns, err = obs.Register(reg, txns); err != nil {
		return nil, err
	}
	if ticks, err = obs.Register(reg, ticks); err != nil {
		return nil, err
	}
	if lag, err = obs.Register(reg, lag); err != nil {
		return nil, err
	}
	if restore, err = obs.Register(reg, restore); err != nil {
		return nil, err
	}
	return &metrics{
		consumed:       consumed.With(labels),
		produced:       produced.With(labels),
		txns:           txns.MustCurryWith(labels),
		ticks:          ticks.MustCurryWith(labels),
		lag:            lag.MustCurryWith(labels),
		restoreSeconds: restore.With(labels),
		restores:       restores.MustCurryWith(labels),
		restoreRecords: restoreRecords.With(labels),
	}, nil
}
