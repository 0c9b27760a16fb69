package ingest

import "github.com/prometheus/client_golang/prometheus"

// File outcomes, the status label of esrflow_ingest_files_total.
const (
	statusAccepted = "accepted"
	statusRejected = "rejected"
	// statusDuplicate: the same bytes were already accepted; a no-op.
	statusDuplicate = "duplicate"
	// statusHeld: ahead of a missing file of its feed; statusReleased: an
	// operator released a held file; statusDiscarded: a held file dropped
	// (by an operator, or superseded by a full file).
	statusHeld      = "held"
	statusReleased  = "released"
	statusDiscarded = "discarded"
)

type metrics struct {
	files        *prometheus.CounterVec
	rows         *prometheus.CounterVec
	rowsIgnored  *prometheus.CounterVec // counted on FILE_END, not written: their type is ignored
	lastAccepted *prometheus.GaugeVec
	gaps         *prometheus.CounterVec
	rejections   *prometheus.CounterVec
	ignored      *prometheus.CounterVec
	replays      *prometheus.CounterVec
	replayRows   *prometheus.CounterVec
	waiting      *prometheus.GaugeVec
	// archiveDeleted: originals the retention sweep deleted.
	archiveDeleted *prometheus.CounterVec
	// held: files held now; refreshRequests: refresh requests written;
	// decisions: intake decisions read.
	held            *prometheus.GaugeVec
	refreshRequests *prometheus.CounterVec
	decisions       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_ingest_files_total",
			Help: "Files ingested, by tenant and outcome (accepted, rejected, duplicate, held, released, discarded).",
		}, []string{"tenant", "status"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_ingest_rows_total",
			Help: "Data rows read from accepted files, by tenant: written to esr.raw.v1, or counted on FILE_END because their type is ignored (esrflow_ingest_rows_ignored_total).",
		}, []string{"tenant"}),
		rowsIgnored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_ingest_rows_ignored_total",
			Help: "Data rows of accepted files not written to esr.raw.v1 because the tenant's mapping ignores their record type (counted on the file's FILE_END), by tenant; part of esrflow_ingest_rows_total.",
		}, []string{"tenant"}),
		lastAccepted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "esrflow_ingest_last_accepted_timestamp_seconds",
			Help: "Unix time the tenant's last file was accepted (restored from the ledger at start); per-tenant freshness alerts use it.",
		}, []string{"tenant"}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_ingest_sequence_gaps_total",
			Help: "Change files held because their sequence number is more than one after the last accepted file of their feed, by tenant.",
		}, []string{"tenant"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_ingest_rejections_total",
			Help: "Files rejected, by tenant and rule.",
		}, []string{"tenant", "rule"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_ingest_ignored_entries_total",
			Help: "Drop-folder entries that are never ingested (symlink, fifo, directory, dot-name, special, loose-file), each counted once when first seen, by tenant folder (empty: the drop folder itself) and kind.",
		}, []string{"tenant", "kind"}),
		replays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_ingest_replays_total",
			Help: "Replay requests read from esr.ops.replays.v1, by tenant (\"unknown\" for a tenant not configured) and outcome (accepted: written as replay batches; skipped: unusable, logged and passed over).",
		}, []string{"tenant", "outcome"}),
		replayRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_ingest_replay_rows_total",
			Help: "Rows written to esr.raw.v1 in replay batches, by tenant.",
		}, []string{"tenant"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "esrflow_ingest_files_waiting",
			Help: "Files in the tenant's folder the last scan did not read: still arriving (growing, without their trailer, or uploading under a temporary name) or waiting for an earlier file of their feed.",
		}, []string{"tenant"}),
		archiveDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_ingest_archive_deleted_total",
			Help: "Archived originals deleted by the retention sweep (--archive.retention), by tenant folder.",
		}, []string{"tenant"}),
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "esrflow_ingest_files_held",
			Help: "Files held now, by tenant: each is ahead of a missing file of its feed (a sequence gap or a run-window mismatch) and waits for it or for an operator's decision.",
		}, []string{"tenant"}),
		refreshRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_ingest_refresh_requests_total",
			Help: "Refresh requests written to the tenant's outbound folder, by tenant.",
		}, []string{"tenant"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esrflow_ingest_intake_decisions_total",
			Help: "Operators' intake decisions read from esr.ops.intake.v1, by tenant (\"unknown\" when not configured), action (RELEASE, DISCARD) and outcome (applied; ignored: no such held file).",
		}, []string{"tenant", "action", "outcome"}),
	}
	for _, c := range []prometheus.Collector{m.files, m.rows, m.rowsIgnored, m.lastAccepted, m.gaps, m.rejections, m.ignored, m.replays, m.replayRows, m.waiting, m.archiveDeleted,
		m.held, m.refreshRequests, m.decisions} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// initTenant exports zero series for a configured tenant, so rates and
// absence alerts work before its first file.
func (m *metrics) initTenant(t string) {
	m.files.WithLabelValues(t, statusAccepted)
	m.files.WithLabelValues(t, statusRejected)
	m.rows.WithLabelValues(t)
	m.rowsIgnored.WithLabelValues(t)
	m.gaps.WithLabelValues(t)
	m.replays.WithLabelValues(t, replayAccepted)
	m.replayRows.WithLabelValues(t)
	m.archiveDeleted.WithLabelValues(t)
	m.waiting.WithLabelValues(t)
	m.held.WithLabelValues(t)
	m.refreshRequests.WithLabelValues(t)
	m.files.WithLabelValues(t, statusHeld)
}
