package ingest_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// TestTenantIgnoredTypesAreDroppedAtIngest: a tenant whose mapping ignores
// a record type the model does keep (POA here) gets its rows dropped at
// ingest too, with the segments the model never keeps; FILE_END counts
// every dropped row by type, and the rows written keep their line numbers.
func TestTenantIgnoredTypesAreDroppedAtIngest(t *testing.T) {
	st := newStack(t)
	cfg := st.config(t, "a")
	set, err := tenant.New(tenant.Tenant{Code: "RXX", VPDs: []string{"412"},
		Mapping: tenant.Mapping{IgnoreRecordTypes: []string{"POA"}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tenants = set
	svc := st.start(t, cfg)
	sink, res := generate(t, gen.Config{Tenant: "RXX", VPD: "412", Staff: 30, Days: 0, Seed: 17})
	fi := res.Files[0]
	data := sink.Bytes(fi.Name)
	waitGone(t, st.drop(t, "RXX", fi.Name, data))

	// What the file's text says: the type of each data line, by line number.
	drop := map[string]bool{"POA": true}
	maps.Copy(drop, unmodelled)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	typeAt := map[int64]string{}
	wantIgnored := map[string]int64{}
	for i, ln := range lines[1 : len(lines)-1] {
		typ, _, _ := strings.Cut(ln, "~")
		typeAt[int64(i+2)] = typ
		if drop[typ] {
			wantIgnored[typ]++
		}
	}
	if wantIgnored["POA"] == 0 || wantIgnored["PHA"] == 0 || wantIgnored["COA"] == 0 {
		t.Fatalf("the file has too few rows to drop: %v", wantIgnored)
	}

	recs := st.rawRecords(t)
	var written int64
	var end *internalv1.RawRecord
	for i, r := range recs {
		switch r.Kind {
		case internalv1.RawKindRecord:
			written++
			if drop[r.RecordType] {
				t.Errorf("line %d: a %s row on esr.raw.v1", r.Line, r.RecordType)
			}
			if typeAt[r.Line] != r.RecordType {
				t.Errorf("line %d: record type %s, the file has %s there", r.Line, r.RecordType, typeAt[r.Line])
			}
		case internalv1.RawKindFileEnd:
			end = &recs[i]
		}
	}
	if end == nil || end.Counts == nil {
		t.Fatal("no FILE_END with counts")
	}
	var ignored int64
	for _, n := range wantIgnored {
		ignored += n
	}
	c := end.Counts
	if c.IgnoredRows != ignored || !maps.Equal(c.IgnoredByType, wantIgnored) || c.Rows != written ||
		c.Rows+c.IgnoredRows != int64(fi.Rows) || c.RowsByType["POA"] != 0 {
		t.Errorf("FILE_END counts rows %d (by type %v), ignored %d (by type %v); want %d written, %d ignored (%v), %d in all",
			c.Rows, c.RowsByType, c.IgnoredRows, c.IgnoredByType, written, ignored, wantIgnored, fi.Rows)
	}
	if v := counter(t, svc.metrics, "esrflow_ingest_rows_ignored_total", "tenant", "RXX"); v != float64(ignored) {
		t.Errorf("rows ignored metric = %v, want %d", v, ignored)
	}
}
