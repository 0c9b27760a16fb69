package store_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/api/store"
	"github.com/esrflow/esrflow/services/api/store/dbtest"
	"github.com/esrflow/esrflow/services/api/store/storetest"
)

// summaryReport is a stored file report with the counts the overview reads.
func summaryReport(tenant, name, sha string, status internalv1.FileStatus, at time.Time, rows, quarantined int64, replay bool) store.FileReport {
	r := &internalv1.FileReport{Tenant: tenant, Vpd: "412", File: *storetest.FileInfo(name, sha, 1), Status: status,
		RowsRead: rows, Quarantined: quarantined, ReportedAt: at, EventsEmitted: map[string]int64{}}
	if replay {
		r.ReplayID = store.Ptr("rp-00000000000000000001")
	}
	// As the materialiser stores it (avrojson): dates as YYYY-MM-DD.
	var m map[string]any
	b, _ := json.Marshal(r)
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	m["file"].(map[string]any)["run_date"] = r.File.RunDate.Format(time.DateOnly)
	payload, _ := json.Marshal(m)
	return store.FileReport{Report: r, Payload: payload}
}

// Every table's tenants are known, each once and sorted; a tenant's
// summary counts its own held files and batches, its newest accepted file
// that is not a replay batch, and the day's reports only.
func TestTenantSummary(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		s := storetest.Open(t, dbURL)
		ctx := context.Background()
		if got, err := s.KnownTenants(ctx); err != nil || len(got) != 0 {
			t.Fatalf("empty database: tenants %v, %v", got, err)
		}
		from := time.Date(2026, 6, 14, 23, 0, 0, 0, time.UTC) // a London (BST) day
		until := from.Add(24 * time.Hour)
		yesterday, today := from.Add(-time.Hour), from.Add(2*time.Hour)
		const (
			shaA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			shaB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
			shaC = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
			shaD = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
			shaE = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
		)
		held := func(tenant, id, sha string, status internalv1.HeldBatchStatus) *internalv1.HeldBatch {
			return &internalv1.HeldBatch{BatchID: id, Tenant: tenant, Vpd: "412", FileName: "F.DAT", FileSha256: sha,
				RunDate: storetest.Day(2026, 6, 14), Status: status, HeldAt: yesterday, Held: []internalv1.HeldLeaverRef{}}
		}
		quarantined := &internalv1.QuarantineRecord{Stage: internalv1.StageValidate, Vpd: "999",
			Lineage: internalv1.Lineage{Tenant: "RQQ", FileName: "Q.DAT", FileSha256: shaE, Line: 3},
			Raw:     internalv1.RawRow{RecordType: "ASA", Fields: []string{"x"}}, QuarantinedAt: today, File: storetest.FileInfo("Q.DAT", shaE, 1)}
		ev := storetest.Event(storetest.Starter()) // RXX
		ev.Tenant = "REE"
		ryyStarter := storetest.Event(storetest.Starter())
		ryyStarter.ID, ryyStarter.Tenant = "ev-ryy", "RYY"
		b := store.Batch{
			Reports: []store.FileReport{
				summaryReport("RXX", "A.DAT", shaA, internalv1.FileStatusAccepted, yesterday, 100, 1, false),
				summaryReport("RXX", "B.DAT", shaB, internalv1.FileStatusAccepted, today, 200, 10, false),
				summaryReport("RXX", "C.DAT", shaC, internalv1.FileStatusRejected, today.Add(time.Minute), 7, 0, false),
				summaryReport("RXX", "D.DAT", shaD, internalv1.FileStatusHeld, today.Add(2*time.Minute), 0, 0, false),
				// A replay batch: newer than B, yet neither the last accepted file nor counted.
				summaryReport("RXX", "R.DAT", shaE, internalv1.FileStatusAccepted, today.Add(3*time.Minute), 50, 5, true),
				// Tomorrow's report is outside the day.
				summaryReport("RXX", "T.DAT", shaHeld1, internalv1.FileStatusAccepted, until, 1, 1, false),
				summaryReport("RYY", "Y.DAT", shaA, internalv1.FileStatusHeld, today, 0, 0, false),
			},
			HeldBatches: []*internalv1.HeldBatch{
				held("RXX", "hb-1", shaA, internalv1.HeldBatchStatusHeld),
				held("RXX", "hb-2", shaB, internalv1.HeldBatchStatusReleased),
				held("RZZ", "hb-3", shaA, internalv1.HeldBatchStatusHeld),
			},
			Quarantine: []store.Quarantined{{Rec: quarantined, Seq: 1}},
			Events:     []store.PublicEvent{ev, ryyStarter},
		}
		if _, err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		// A duplicate delivery alone makes a tenant known too.
		dup := summaryReport("RDD", "DUP.DAT", shaA, internalv1.FileStatusDuplicate, today, 0, 0, false)
		if _, err := s.Apply(ctx, store.Batch{Reports: []store.FileReport{dup}}); err != nil {
			t.Fatal(err)
		}
		got, err := s.KnownTenants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"RDD", "REE", "RQQ", "RXX", "RYY", "RZZ"}; !slices.Equal(got, want) {
			t.Errorf("known tenants %v, want %v", got, want)
		}

		sum, err := s.TenantSummary(ctx, "RXX", from, until)
		if err != nil {
			t.Fatal(err)
		}
		// T.DAT (tomorrow) is the newest accepted.
		if sum.LastAccepted == nil || sum.LastAccepted.Name != "T.DAT" || sum.LastAccepted.RunDate != "2024-03-11" ||
			sum.LastAccepted.ReportedAtMS != until.UnixMilli() || sum.LastAccepted.ReportedAt != "2026-06-15T23:00:00Z" {
			t.Errorf("last accepted %+v, want T.DAT", sum.LastAccepted)
		}
		if want := (store.DayTotals{Files: 3, Rejected: 1, RowsRead: 207, Quarantined: 10}); sum.Day != want || sum.FilesHeld != 1 || sum.HeldBatches != 1 {
			t.Errorf("RXX: day %+v held files %d held batches %d; want %+v, 1, 1", sum.Day, sum.FilesHeld, sum.HeldBatches, want)
		}
		// The day before holds A.DAT only.
		earlier, err := s.TenantSummary(ctx, "RXX", from.Add(-24*time.Hour), from)
		if err != nil {
			t.Fatal(err)
		}
		if want := (store.DayTotals{Files: 1, RowsRead: 100, Quarantined: 1}); earlier.Day != want {
			t.Errorf("RXX the day before: %+v, want %+v", earlier.Day, want)
		}

		ryy, err := s.TenantSummary(ctx, "RYY", from, until)
		if err != nil {
			t.Fatal(err)
		}
		if ryy.LastAccepted != nil || ryy.FilesHeld != 1 || ryy.HeldBatches != 0 || ryy.Day != (store.DayTotals{Files: 1}) {
			t.Errorf("RYY: %+v", ryy)
		}
		none, err := s.TenantSummary(ctx, "RNN", from, until)
		if err != nil {
			t.Fatal(err)
		}
		if (none != store.TenantSummary{Tenant: "RNN"}) {
			t.Errorf("a tenant with nothing: %+v", none)
		}
	})
}

// Only the replay batches among the newest accepted: the file before them
// is the last accepted one.
func TestTenantSummarySkipsReplayBatches(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, dbURL string) {
		s := storetest.Open(t, dbURL)
		ctx := context.Background()
		at := time.Date(2026, 6, 15, 1, 0, 0, 0, time.UTC)
		b := store.Batch{Reports: []store.FileReport{
			summaryReport("RXX", "A.DAT", shaHeld1, internalv1.FileStatusAccepted, at, 10, 0, false),
			summaryReport("RXX", "R1.DAT", shaHeld2, internalv1.FileStatusAccepted, at.Add(time.Hour), 1, 0, true),
			summaryReport("RXX", "R2.DAT", shaHeld3, internalv1.FileStatusAccepted, at.Add(2*time.Hour), 1, 0, true),
		}}
		if _, err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		sum, err := s.TenantSummary(ctx, "RXX", at, at.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if sum.LastAccepted == nil || sum.LastAccepted.Name != "A.DAT" || sum.LastAccepted.SHA256 != shaHeld1 {
			t.Errorf("last accepted %+v, want A.DAT", sum.LastAccepted)
		}
		if sum.Day != (store.DayTotals{Files: 1, RowsRead: 10}) {
			t.Errorf("day %+v, want A.DAT's only", sum.Day)
		}
	})
}
