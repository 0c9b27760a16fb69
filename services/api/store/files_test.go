package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
	"github.com/esrflow/esrflow/services/api/store/storetest"
)

// Files the report tests hold and release (any 64 hex digits).
const (
	shaHeld1 = "3333333333333333333333333333333333333333333333333333333333333333"
	shaHeld2 = "4444444444444444444444444444444444444444444444444444444444444444"
	shaHeld3 = "6666666666666666666666666666666666666666666666666666666666666666"
	shaRYY   = "5555555555555555555555555555555555555555555555555555555555555555"
)

// A file's state is its latest report, yet the outcome of reading it
// (stamped by publish, whose clock may be pinned behind ingest's) follows
// its hold and release, ACCEPTED is final, and the history keeps each
// report once, in the order read.
func TestFileStateWhateverTheClocks(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		s := storetest.Open(t, dbURL)
		ctx := context.Background()
		t1, t2, t3, t4 := storetest.Recorded1, t0Ingest, t0Ingest.Add(time.Hour), t0Ingest.Add(2*time.Hour)
		offset := int64(0)
		rep := func(sha string, status internalv1.FileStatus, at time.Time) store.FileReport {
			offset++
			r := &internalv1.FileReport{Tenant: "rxx", File: *storetest.FileInfo("F.DAT", sha, 1), Status: status, ReportedAt: at}
			return store.FileReport{Report: r, Payload: json.RawMessage(fmt.Sprintf(`{"status":%q,"at":%q}`, status, at.Format(time.RFC3339))), Offset: offset}
		}
		state := func(sha string) string {
			t.Helper()
			var status string
			var at int64
			if err := s.DB().QueryRow(s.Rebind(`SELECT status, reported_at FROM file_reports WHERE tenant = 'RXX' AND sha256 = ?`), sha).Scan(&status, &at); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := s.DB().QueryRow(s.Rebind(`SELECT COUNT(*) FROM file_report_history WHERE tenant = 'RXX' AND sha256 = ?`), sha).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("%s@%s/%d", status, time.UnixMilli(at).UTC().Format(time.RFC3339), n)
		}
		at := func(x time.Time) string { return x.Format(time.RFC3339) }
		for _, c := range []struct {
			name    string
			reports []store.FileReport
			want    string
		}{
			{"released then rejected on an older clock", []store.FileReport{
				rep(shaHeld1, "HELD", t2), rep(shaHeld1, "RELEASED", t3), rep(shaHeld1, "REJECTED", t1)}, "REJECTED@" + at(t1) + "/3"},
			{"accepted is final", []store.FileReport{
				rep(shaHeld2, "HELD", t2), rep(shaHeld2, "ACCEPTED", t1), rep(shaHeld2, "REJECTED", t4)}, "ACCEPTED@" + at(t1) + "/3"},
			{"rejected bytes delivered again and held", []store.FileReport{
				rep(shaHeld3, "REJECTED", t1), rep(shaHeld3, "HELD", t2)}, "HELD@" + at(t2) + "/2"},
			{"a newer hold replaces an older; an older re-read changes nothing", []store.FileReport{
				rep(shaRYY, "HELD", t3), rep(shaRYY, "HELD", t2), rep(shaRYY, "HELD", t3)}, "HELD@" + at(t3) + "/2"},
		} {
			for _, r := range c.reports {
				if _, err := s.Apply(ctx, store.Batch{Reports: []store.FileReport{r}}); err != nil {
					t.Fatal(err)
				}
			}
			if got := state(c.reports[0].Report.File.Sha256); got != c.want {
				t.Errorf("%s: %s, want %s", c.name, got, c.want)
			}
		}
		// History: newest read first, each report once.
		out, err := s.FileReportJSON(ctx, "RXX", shaHeld1)
		if err != nil {
			t.Fatal(err)
		}
		var f struct{ History []struct{ Status string } }
		if err := json.Unmarshal(out, &f); err != nil {
			t.Fatal(err)
		}
		if len(f.History) != 3 || f.History[0].Status != "REJECTED" || f.History[1].Status != "RELEASED" || f.History[2].Status != "HELD" {
			t.Errorf("history = %s", out)
		}
	})
}

var t0Ingest = time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)

// Migration 6 starts each stored file's history with its current report,
// so a file reported before the upgrade keeps that report in its history.
func TestHistoryStartsFromStoredReports(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		db, d := store.OpenAt(t, dbURL, 5)
		ctx := context.Background()
		if _, err := db.Exec(d.Rebind(`INSERT INTO file_reports (tenant, sha256, file_name, status, reported_at, report) VALUES ('RXX', ?, 'F.DAT', 'HELD', 1000, '{"status":"HELD"}')`), shaHeld1); err != nil {
			t.Fatal(err)
		}
		if err := store.Migrate(ctx, db, d); err != nil {
			t.Fatal(err)
		}
		s := store.Wrap(db, d)
		r := &internalv1.FileReport{Tenant: "RXX", File: *storetest.FileInfo("F.DAT", shaHeld1, 1), Status: internalv1.FileStatusRejected, ReportedAt: time.UnixMilli(2000)}
		if _, err := s.Apply(ctx, store.Batch{Reports: []store.FileReport{{Report: r, Payload: json.RawMessage(`{"status":"REJECTED"}`), Offset: 7}}}); err != nil {
			t.Fatal(err)
		}
		out, err := s.FileReportJSON(ctx, "RXX", shaHeld1)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"status":"REJECTED","history":[{"status":"REJECTED"},{"status":"HELD"}]}`; string(out) != want {
			t.Errorf("file = %s, want %s", out, want)
		}
	})
}
