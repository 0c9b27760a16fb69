package ingest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

func replayRow(vpd, dialect string, line int64, recordType string, fields ...string) internalv1.ReplayRow {
	return internalv1.ReplayRow{Lineage: internalv1.Lineage{Tenant: "RXX", FileName: "F_" + vpd, FileSha256: "sha-" + vpd, Line: line},
		Vpd: vpd, File: internalv1.FileInfo{Name: "F_" + vpd, Dialect: dialect, RunDate: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)},
		Raw: internalv1.RawRow{RecordType: recordType, Fields: fields}}
}

func rxx(t *testing.T) tenant.Tenant {
	t.Helper()
	s, err := tenant.Parse("RXX=412+413")
	if err != nil {
		t.Fatal(err)
	}
	x, _ := s.Get("RXX")
	return x
}

// A request whose rows change VPD or dialect becomes one batch per run of
// rows, in order; each batch's run date is its VPD's last in the ledger, or
// its rows' own when the ledger has none.
func TestReplayBatchesSplitByDialectAndVPD(t *testing.T) {
	l := newLedger()
	l.add(entry{Tenant: "RXX", SHA256: "a", Name: "F_412", VPD: "412", RunDate: "2024-03-05"})
	req := &internalv1.ReplayRequest{ReplayID: "rp-3", Tenant: "RXX", Rows: []internalv1.ReplayRow{
		replayRow("412", "go-v2", 7, "XXX"),
		replayRow("412", "go-v2", 9, "XXX"),
		replayRow("413", "go-v2", 4, "XXX"),
		replayRow("413", "go-v1", 5, "XXX"),
	}}
	// A row quarantined with its raw hash keeps it through the replay.
	hash := strings.Repeat("9f", 32)
	req.Rows[1].RawSha256 = &hash
	recs, err := replayBatches(req, rxx(t), l)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		s := fmt.Sprintf("%s %s %s %s %s line=%d", r.Kind, r.File.Name, r.Vpd, r.File.Dialect, r.File.RunDate.Format(time.DateOnly), r.Line)
		if r.Origin != nil {
			s += fmt.Sprintf(" origin=%s:%d", r.Origin.FileName, r.Origin.Line)
		}
		if r.RawSha256 != nil {
			s += " raw=" + (*r.RawSha256)[:4]
		}
		if r.ReplayID == nil || *r.ReplayID != "rp-3" {
			t.Errorf("%s: replay_id %v", s, r.ReplayID)
		}
		if r.Kind == internalv1.RawKindRecord && (len(r.Problems) != 1 || r.Problems[0].Rule != "record-type") {
			t.Errorf("%s: problems %+v, want the unknown record type found again", s, r.Problems)
		}
		got = append(got, s)
	}
	want := []string{
		"FILE_START REPLAY_rp-3 412 go-v2 2024-03-05 line=0",
		"RECORD REPLAY_rp-3 412 go-v2 2024-03-05 line=1 origin=F_412:7",
		"RECORD REPLAY_rp-3 412 go-v2 2024-03-05 line=2 origin=F_412:9 raw=9f9f",
		"FILE_END REPLAY_rp-3 412 go-v2 2024-03-05 line=0",
		"FILE_START REPLAY_rp-3_2 413 go-v2 2024-03-01 line=0",
		"RECORD REPLAY_rp-3_2 413 go-v2 2024-03-01 line=1 origin=F_413:4",
		"FILE_END REPLAY_rp-3_2 413 go-v2 2024-03-01 line=0",
		"FILE_START REPLAY_rp-3_3 413 go-v1 2024-03-01 line=0",
		"RECORD REPLAY_rp-3_3 413 go-v1 2024-03-01 line=1 origin=F_413:5",
		"FILE_END REPLAY_rp-3_3 413 go-v1 2024-03-01 line=0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("batches:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c := recs[3].Counts; c == nil || c.Rows != 2 || c.Lines != 2 || c.RowsByType["XXX"] != 2 {
		t.Errorf("first batch's counts %+v", c)
	}
}

func TestReplayRequestsThatCannotBecomeABatch(t *testing.T) {
	good := replayRow("412", "go-v2", 7, "XXX")
	other := good
	other.Lineage.Tenant = "RYY"
	for name, req := range map[string]*internalv1.ReplayRequest{
		"no id":          {Tenant: "RXX", Rows: []internalv1.ReplayRow{good}},
		"no rows":        {ReplayID: "rp-4", Tenant: "RXX"},
		"another tenant": {ReplayID: "rp-5", Tenant: "RXX", Rows: []internalv1.ReplayRow{good, other}},
	} {
		_, err := replayBatches(req, rxx(t), newLedger())
		var sk *errSkip
		if !errors.As(err, &sk) {
			t.Errorf("%s: error %v, want a skip", name, err)
		}
	}
}
