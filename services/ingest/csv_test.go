package ingest_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/format/csvfeed"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// csvTenants is RXX with one CSV staff list whose names carry the VPD and
// the run date.
func csvTenants(t *testing.T) *tenant.Set {
	t.Helper()
	set, err := tenant.New(tenant.Tenant{Code: "RXX", VPDs: []string{"412"}, Feeds: tenant.Feeds{CSV: tenant.CSVFeed{
		Lists: []tenant.CSVList{{Config: csvfeed.Config{
			Name: "staff-list", FileNamePattern: `STAFF_(?P<vpd>\d{3})_(?P<date>\d{8})\.csv`,
			Columns: []csvfeed.Column{
				{Header: "Employee Number", Field: "employee_number", Required: true},
				{Header: "Assignment Number", Field: "assignment_number", Required: true},
				{Header: "Status", Field: "assignment_status", Required: true},
				{Header: "Start", Field: "assignment_start", Kind: "date"},
			}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestCSVListAccepted: a file named as the tenant's staff list is read with
// its mapping: a person record on each person's first row, an assignment
// record per row, the run date and VPD from the name, kind FULL.
func TestCSVListAccepted(t *testing.T) {
	st := newStack(t)
	cfg := st.config(t, "a")
	cfg.Tenants = csvTenants(t)
	cfg.Parse.FutureTolerance = -1
	st.start(t, cfg)
	list := "Assignment Number,Employee Number,Status,Start,Unmapped\n" +
		"20000001,20000001,Active Assignment,01/04/2024,x\n" +
		"20000001-2,20000001,Active Assignment,02/04/2024,y\n" +
		"20000002,20000002,Maternity Leave,,z\n"
	waitGone(t, st.drop(t, "RXX", "STAFF_412_20241130.csv", []byte(list)))
	if reps := st.reports(t); len(reps) != 0 {
		t.Fatalf("reports: %+v", reps)
	}
	raws := st.rawRecords(t)
	var got []string
	for _, r := range raws {
		if r.File.Name != "STAFF_412_20241130.csv" || r.File.Dialect != "csv:staff-list" || r.File.Kind != internalv1.FileKindFull ||
			r.File.Sequence != 0 || r.File.RunDate.Format(time.DateOnly) != "2024-11-30" || r.Vpd != "412" || r.Tenant != "RXX" {
			t.Fatalf("raw record file %+v vpd %q", r.File, r.Vpd)
		}
		switch r.Kind {
		case internalv1.RawKindRecord:
			got = append(got, r.RecordType+"@"+itoa(r.Line)+":"+strings.Join(r.Fields, "|"))
		case internalv1.RawKindFileEnd:
			if r.Counts.Rows != 5 || r.Counts.RowsByType["CSV-PER"] != 2 || r.Counts.RowsByType["CSV-ASG"] != 3 {
				t.Errorf("counts %+v", r.Counts)
			}
		}
	}
	want := []string{
		"CSV-PER@2:20000001|20000001|Active Assignment|01/04/2024",
		"CSV-ASG@2:20000001|20000001|Active Assignment|01/04/2024",
		"CSV-ASG@3:20000001|20000001-2|Active Assignment|02/04/2024",
		"CSV-PER@4:20000002|20000002|Maternity Leave|",
		"CSV-ASG@4:20000002|20000002|Maternity Leave|",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("raw rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCSVListNamesRejected: a CSV name no list matches is still rejected
// file-name; one that matches with an impossible run date, or another VPD,
// is rejected naming the list.
func TestCSVListNamesRejected(t *testing.T) {
	st := newStack(t)
	cfg := st.config(t, "a")
	cfg.Tenants = csvTenants(t)
	cfg.Parse.FutureTolerance = -1
	st.start(t, cfg)
	body := []byte("Assignment Number,Employee Number,Status\n20000001,20000001,Active Assignment\n")
	for _, name := range []string{"staff_412_20241130.csv", "STAFF_412_20241331.csv", "STAFF_413_20241130.csv"} {
		waitGone(t, st.drop(t, "RXX", name, body))
		body = append(body, '\n') // new content: not a duplicate
	}
	want := map[string]string{
		"staff_412_20241130.csv": "ESR-F001 staff_412_20241130.csv: ",
		"STAFF_412_20241331.csv": "ESR-F001 STAFF_412_20241331.csv: file-name: list staff-list: run date \"20241331\"",
		"STAFF_413_20241130.csv": "STAFF_413_20241130.csv: unexpected-vpd",
	}
	reps := st.reports(t)
	if len(reps) != 3 {
		t.Fatalf("%d reports: %+v", len(reps), reps)
	}
	for _, r := range reps {
		if r.Status != internalv1.FileStatusRejected || r.Reason == nil || !strings.Contains(*r.Reason, want[r.File.Name]) {
			t.Errorf("%s: %s %v, want REJECTED %q", r.File.Name, r.Status, deref(r.Reason), want[r.File.Name])
		}
	}
	if raws := st.rawRecords(t); len(raws) != 0 {
		t.Errorf("%d raw records from rejected files", len(raws))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestCSVListsInRunDateOrder: lists waiting together are read by the run
// date their names give, not by name (day-first dates here), so none is
// rejected run-date-backwards.
func TestCSVListsInRunDateOrder(t *testing.T) {
	st := newStack(t)
	cfg := st.config(t, "a")
	set, err := tenant.New(tenant.Tenant{Code: "RXX", VPDs: []string{"412"}, Feeds: tenant.Feeds{CSV: tenant.CSVFeed{
		Lists: []tenant.CSVList{{RunDateLayout: "02012006", Config: csvfeed.Config{
			Name: "list", FileNamePattern: `LIST_(?P<date>\d{8})\.csv`,
			Columns: []csvfeed.Column{
				{Header: "Employee Number", Field: "employee_number"},
				{Header: "Assignment Number", Field: "assignment_number"},
				{Header: "Status", Field: "assignment_status"},
			}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tenants, cfg.Parse.FutureTolerance = set, -1
	body := "Employee Number,Assignment Number,Status\n20000001,20000001,Active Assignment\n"
	// Both waiting before ingest starts; by name 01122024 comes first.
	later := st.drop(t, "RXX", "LIST_01122024.csv", []byte(body+"20000002,20000002,Active Assignment\n"))
	earlier := st.drop(t, "RXX", "LIST_30112024.csv", []byte(body))
	st.start(t, cfg)
	waitGone(t, later)
	waitGone(t, earlier)
	if reps := st.reports(t); len(reps) != 0 {
		t.Fatalf("reports: %s %v", reps[0].Status, deref(reps[0].Reason))
	}
	var order []string
	for _, r := range st.rawRecords(t) {
		if r.Kind == internalv1.RawKindFileStart {
			order = append(order, r.File.Name+"@"+r.File.RunDate.Format(time.DateOnly))
		}
	}
	if strings.Join(order, " ") != "LIST_30112024.csv@2024-11-30 LIST_01122024.csv@2024-12-01" {
		t.Fatalf("read in order %v", order)
	}
}

// TestCSVListUploadHoldsBackLaterLists: a list still uploading under a
// temporary name holds back the tenant's later lists; renamed, it is read
// first.
func TestCSVListUploadHoldsBackLaterLists(t *testing.T) {
	st := newStack(t)
	cfg := st.config(t, "a")
	cfg.Tenants, cfg.Parse.FutureTolerance = csvTenants(t), -1
	r := st.start(t, cfg)
	dir := filepath.Join(st.dropRoot, "RXX")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	body := "Assignment Number,Employee Number,Status,Start\n20000001,20000001,Active Assignment,\n"
	part := filepath.Join(dir, ".STAFF_412_20241129.csv.part")
	if err := os.WriteFile(part, []byte(body[:20]), 0o640); err != nil {
		t.Fatal(err)
	}
	later := st.drop(t, "RXX", "STAFF_412_20241130.csv", []byte(body+"20000002,20000002,Active Assignment,\n"))
	deadline := time.Now().Add(20 * time.Second)
	for counter(t, r.metrics, "esrflow_ingest_files_waiting", "tenant", "RXX") != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the later list never waited for the upload")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(later); err != nil {
		t.Fatalf("the later list was taken while the earlier one was uploading: %v", err)
	}
	if err := os.WriteFile(part, []byte(body), 0o640); err != nil {
		t.Fatal(err)
	}
	earlier := filepath.Join(dir, "STAFF_412_20241129.csv")
	if err := os.Rename(part, earlier); err != nil {
		t.Fatal(err)
	}
	waitGone(t, earlier)
	waitGone(t, later)
	if reps := st.reports(t); len(reps) != 0 {
		t.Fatalf("reports: %s %v", reps[0].Status, deref(reps[0].Reason))
	}
	var order []string
	for _, rec := range st.rawRecords(t) {
		if rec.Kind == internalv1.RawKindFileStart {
			order = append(order, rec.File.Name)
		}
	}
	if strings.Join(order, " ") != "STAFF_412_20241129.csv STAFF_412_20241130.csv" {
		t.Fatalf("read in order %v", order)
	}
}
