package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// KnownTenants lists, sorted, every tenant the database holds anything for:
// a file report (a duplicate's too), a held batch, a quarantined row or an
// event. Each table is read by a loose index scan (the next tenant above
// the last, through the index every table leads with tenant), so the cost
// is a few index probes per tenant, not a scan of the events.
func (s *Store) KnownTenants(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	for _, table := range []string{"file_reports", "file_duplicates", "held_batches", "quarantine", "events"} {
		// The recursive step stops at NULL: MIN over no rows.
		rows, err := s.queryRead(ctx, `WITH RECURSIVE t(tenant) AS (
			SELECT MIN(tenant) FROM `+table+`
			UNION ALL SELECT (SELECT MIN(tenant) FROM `+table+` WHERE tenant > t.tenant) FROM t WHERE t.tenant IS NOT NULL)
			SELECT tenant FROM t WHERE tenant IS NOT NULL`)
		if err != nil {
			return nil, fmt.Errorf("tenants of %s: %w", table, err)
		}
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return nil, err
			}
			seen[t] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	slices.Sort(out)
	return out, nil
}

// AcceptedFile is a tenant's newest accepted file, as the overview shows it.
type AcceptedFile struct {
	Name       string `json:"name"`
	SHA256     string `json:"sha256"`
	RunDate    string `json:"run_date"`
	ReportedAt string `json:"reported_at"`
	// ReportedAtMS is ReportedAt in epoch milliseconds, for the age.
	ReportedAtMS int64 `json:"-"`
}

// DayTotals sums the file reports of one day.
type DayTotals struct {
	// Files are the files whose current report falls on the day, whatever
	// its status; Rejected those of them REJECTED.
	Files    int64
	Rejected int64
	// RowsRead and Quarantined sum those reports' counts.
	RowsRead    int64
	Quarantined int64
}

// TenantSummary is one tenant's counts for the region overview (GET
// /v1/tenants): no personal data, only file names, hashes and counts.
type TenantSummary struct {
	Tenant string
	// LastAccepted is nil when no file of the tenant was ever accepted.
	LastAccepted *AcceptedFile
	// FilesHeld counts the files whose current report is HELD.
	FilesHeld int64
	// HeldBatches counts the leaver batches still HELD.
	HeldBatches int64
	// Day sums the reports of [from, until).
	Day DayTotals
}

// lastAcceptedScan bounds how many of a tenant's newest ACCEPTED reports
// are looked through for one that is not a replay batch.
const lastAcceptedScan = 100

// TenantSummary returns tenant's overview, its day's totals over the file
// reports whose reported_at is in [from, until). Replay batches (reports
// with a replay_id) are left out of both the last accepted file and the
// day: they re-read rows of files already counted, and are not deliveries
// from ESR, so they must neither refresh a tenant nor count its rows twice.
// Duplicate deliveries are left out too: nothing of them is read.
func (s *Store) TenantSummary(ctx context.Context, tenant string, from, until time.Time) (TenantSummary, error) {
	out := TenantSummary{Tenant: tenant}
	accepted := string(internalv1.FileStatusAccepted)
	rows, err := s.queryRead(ctx, `SELECT reported_at, report FROM file_reports WHERE tenant = ? AND status = ?
		ORDER BY reported_at DESC, sha256 LIMIT ?`, tenant, accepted, lastAcceptedScan)
	if err != nil {
		return out, fmt.Errorf("last accepted file: %w", err)
	}
	for rows.Next() && out.LastAccepted == nil {
		var at int64
		var report string
		if err := rows.Scan(&at, &report); err != nil {
			rows.Close()
			return out, err
		}
		r, err := parseSummaryReport(report)
		if err != nil {
			rows.Close()
			return out, err
		}
		if r.ReplayID == nil {
			out.LastAccepted = &AcceptedFile{Name: r.File.Name, SHA256: r.File.SHA256, RunDate: r.File.RunDate,
				ReportedAt: MillisRFC3339(at), ReportedAtMS: at}
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return out, err
	}
	if err := s.queryRowRead(ctx, `SELECT COUNT(*) FROM file_reports WHERE tenant = ? AND status = ?`,
		tenant, string(internalv1.FileStatusHeld)).Scan(&out.FilesHeld); err != nil {
		return out, fmt.Errorf("held files: %w", err)
	}
	if err := s.queryRowRead(ctx, `SELECT COUNT(*) FROM held_batches WHERE tenant = ? AND status = ?`,
		tenant, string(internalv1.HeldBatchStatusHeld)).Scan(&out.HeldBatches); err != nil {
		return out, fmt.Errorf("held batches: %w", err)
	}
	// The day's reports are summed here rather than in SQL: the counts are
	// inside the report JSON, whose functions differ between the engines,
	// and a tenant has a handful of files a day.
	rows, err = s.queryRead(ctx, `SELECT status, report FROM file_reports WHERE tenant = ? AND reported_at >= ? AND reported_at < ?`,
		tenant, from.UnixMilli(), until.UnixMilli())
	if err != nil {
		return out, fmt.Errorf("the day's file reports: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status, report string
		if err := rows.Scan(&status, &report); err != nil {
			return out, err
		}
		r, err := parseSummaryReport(report)
		if err != nil {
			return out, err
		}
		if r.ReplayID != nil {
			continue
		}
		out.Day.Files++
		if status == string(internalv1.FileStatusRejected) {
			out.Day.Rejected++
		}
		out.Day.RowsRead += r.RowsRead
		out.Day.Quarantined += r.Quarantined
	}
	return out, rows.Err()
}

// summaryReport is what the overview reads of a stored report.
type summaryReport struct {
	File struct {
		Name    string `json:"name"`
		SHA256  string `json:"sha256"`
		RunDate string `json:"run_date"`
	} `json:"file"`
	RowsRead    int64   `json:"rows_read"`
	Quarantined int64   `json:"quarantined"`
	ReplayID    *string `json:"replay_id"`
}

func parseSummaryReport(report string) (summaryReport, error) {
	var r summaryReport
	if err := json.Unmarshal([]byte(report), &r); err != nil {
		return r, fmt.Errorf("reading a stored file report: %w", err)
	}
	return r, nil
}
