package publish

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/schemas/gen/eventsv1"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

const tenantRXX = "RXX"

// baseline feeds the full file every rule test starts from (run 2024-04-01)
// and returns what it produced.
//
//	20000001 employed since 2020              -> nothing (history)
//	20000002 starts 2024-04-05                -> starter, scheduled
//	20000003 starts 2024-04-01                -> starter
//	20000004 leaves 2024-04-01                -> leaver now
//	20000005 leaves 2024-04-10                -> held
//	20000006 left 2023 (NHS 1000006)          -> nothing (history)
//	20000010 two assignments                  -> nothing
//	20000030 applicant                        -> nothing
func baseline(h *harness) (*file, []got) {
	f, recs := baselineRecords()
	return f, h.events(h.feed(recs...))
}

func baselineRecords() (*file, []internalv1.EntityRecord) {
	f := newFile(tenantRXX, "2024-04-01", 1)
	return f, []internalv1.EntityRecord{f.start(),
		f.org(7001, "412 Cardiology"), f.org(7002, "412 Bank Staff"), // 2, 3
		f.loc(9001, "Ward 7"), f.loc(9002, "Bank Office"), // 4, 5
		f.person(P{ID: 20000001, NHS: "1000001"}), f.asg(A{Person: 20000001, ID: 40000001}), // 6, 7
		f.person(P{ID: 20000002, NHS: "1000002"}), f.asg(A{Person: 20000002, ID: 40000002, Start: "2024-04-05"}), // 8, 9
		f.person(P{ID: 20000003, NHS: "1000003"}), f.asg(A{Person: 20000003, ID: 40000003, Start: "2024-04-01"}), // 10, 11
		f.person(P{ID: 20000004, NHS: "1000004", Term: "2024-04-01", Reason: "Voluntary Resignation - Relocation"}), // 12
		f.asg(A{Person: 20000004, ID: 40000004, LWD: "2024-03-29", End: "2024-04-01"}),                              // 13
		f.person(P{ID: 20000005, NHS: "1000005", Term: "2024-04-10", Reason: "Retirement Age"}),                     // 14
		f.asg(A{Person: 20000005, ID: 40000005, LWD: "2024-04-09", End: "2024-04-10"}),                              // 15
		f.person(P{ID: 20000006, NHS: "1000006", Term: "2023-01-31", Reason: "Retirement Age"}),                     // 16
		f.asg(A{Person: 20000006, ID: 40000006, Status: "TERM_ASSIGN", End: "2023-01-31"}),                          // 17
		f.person(P{ID: 20000010, NHS: "1000010"}), f.asg(A{Person: 20000010, ID: 40000010}),                         // 18, 19
		f.asg(A{Person: 20000010, ID: 40000011, Number: "30000010-2", Org: 7002, Loc: 9002, Pos: "5100002", Title: "Bank Nurse", Occ: "N6B"}), // 20
		f.person(P{ID: 20000030, NHS: "1000030"}), f.asg(A{Person: 20000030, ID: 40000030, Type: "A", Status: "ACTIVE_APL", Start: "2024-03-20"}), // 21, 22
		f.end()}
}

func TestBaseline(t *testing.T) {
	h := newHarness(t, newEnv(t))
	f, events := baseline(h)
	n := f.info.Name
	want := []got{
		{File: n, Line: 9, Type: eventStarter, PersonID: "20000002", EmployeeNumber: "30000002", Effective: "2024-04-05", AssignmentNumber: "30000002", Scheduled: true},
		{File: n, Line: 11, Type: eventStarter, PersonID: "20000003", EmployeeNumber: "30000003", Effective: "2024-04-01", AssignmentNumber: "30000003"},
		{File: n, Line: 12, Type: eventLeaver, PersonID: "20000004", EmployeeNumber: "30000004", Effective: "2024-04-01",
			LeavingReason: "Voluntary Resignation - Relocation", LastWorkingDay: "2024-03-29"},
	}
	assertEvents(t, events, want)

	held := h.p.scheduledLeavers(tenantRXX)
	wantHeld := []HeldLeaver{{Tenant: tenantRXX, PersonID: "20000005", EmployeeNumber: "30000005", Due: day("2024-04-10"),
		LeavingReason: "Retirement Age", LastWorkingDay: dayPtr("2024-04-09"), SourceFile: n, SourceLine: 14,
		EventID: eventID(tenantRXX, eventLeaver, "20000005", "", "", f.info.Sha256, 14)}}
	if !reflect.DeepEqual(held, wantHeld) {
		t.Errorf("held = %+v\nwant %+v", held, wantHeld)
	}
	if v := testutil.ToFloat64(h.p.metrics.scheduled.WithLabelValues(tenantRXX)); v != 1 {
		t.Errorf("esrflow_publish_scheduled_leavers = %v, want 1", v)
	}

	// The starter's full value: names resolved, no personal data beyond ids.
	d := h.decode(h.out)
	var s *eventsv1.StarterCreated
	for _, x := range d {
		if x.starter != nil && x.starter.PersonID == "20000002" {
			s = x.starter
		}
	}
	wantS := &eventsv1.StarterCreated{EventID: eventID(tenantRXX, eventStarter, "20000002", "", "30000002", f.info.Sha256, 9),
		Tenant: tenantRXX, Vpd: "412", PersonID: "20000002", EmployeeNumber: "30000002", EffectiveDate: day("2024-04-05"),
		RecordedAt: s.RecordedAt, Source: eventsv1.Source{FileName: n, FileSha256: f.info.Sha256, Line: 9},
		AssignmentNumber: "30000002", PositionNumber: "5100001", PositionTitle: "Staff Nurse", Organisation: "412 Cardiology",
		StartDate: day("2024-04-05"), Scheduled: true}
	if !reflect.DeepEqual(s, wantS) {
		t.Errorf("starter = %+v\nwant %+v", s, wantS)
	}
	for _, r := range h.out {
		for _, secret := range []string{"QQ123456C", "Testperson", "Alex"} {
			if bytes.Contains(r.Value, []byte(secret)) {
				t.Errorf("%s value carries personal data %q", r.Topic, secret)
			}
		}
	}

	// The report: counts from validate's FILE_END, events per name.
	reps := h.reports(h.out)
	if len(reps) != 1 {
		t.Fatalf("%d reports, want 1", len(reps))
	}
	r := reps[0]
	wantR := &internalv1.FileReport{Tenant: tenantRXX, Vpd: "412", File: f.info, Status: internalv1.FileStatusAccepted,
		RowsRead: 21, EntitiesAccepted: 21, EventsEmitted: map[string]int64{eventStarter: 2, eventLeaver: 1, eventPosition: 0, eventReversed: 0},
		ReportedAt: r.ReportedAt, TopRules: []internalv1.RuleCount{}} // an empty Avro array decodes empty, not nil
	if !reflect.DeepEqual(r, wantR) {
		t.Errorf("report = %+v\nwant %+v", r, wantR)
	}
	if r.ReportedAt.IsZero() {
		t.Error("report has no reported_at")
	}
}

func TestEventRecordShape(t *testing.T) {
	h := newHarness(t, newEnv(t))
	f, _ := baseline(h)
	var starter, report int
	for _, r := range h.out {
		switch r.Topic {
		case "esr.ops.file-reports.v1":
			report++
			if string(r.Key) != tenantRXX {
				t.Errorf("report key %q", r.Key)
			}
			continue
		case "esr.rxx.starter-created.v1":
			starter++
		case "esr.rxx.leaver-confirmed.v1":
		case DefaultLinkIndex, "esr.ops.lineage.v1":
			continue
		default:
			t.Errorf("record on unexpected topic %s", r.Topic)
			continue
		}
		hd := map[string]string{}
		for _, x := range r.Headers {
			hd[x.Key] = string(x.Value)
		}
		d := h.decode([]*kgo.Record{r})[0]
		id, subject := d.got.ID, d.got.PersonID
		if string(r.Key) != subject {
			t.Errorf("key %q, want person id %q", r.Key, subject)
		}
		if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
			t.Errorf("event id %q is not a v5-style UUID", id)
		}
		typ := map[string]string{"esr.rxx.starter-created.v1": "uk.nhs.esr.starter-created.v1", "esr.rxx.leaver-confirmed.v1": "uk.nhs.esr.leaver-confirmed.v1"}[r.Topic]
		var recorded time.Time
		if d.starter != nil {
			recorded = d.starter.RecordedAt
		} else {
			recorded = d.leaver.RecordedAt
		}
		// ce_dataschema is the registry's resource for the id in the
		// value's wire-format header.
		schemaID := binary.BigEndian.Uint32(r.Value[1:5])
		want := map[string]string{
			"ce_specversion": "1.0", "ce_id": id, "ce_type": typ, "ce_source": "esrflow://publish/RXX/412",
			"ce_time": recorded.UTC().Format("2006-01-02T15:04:05.000Z07:00"), "ce_subject": subject, "content-type": "application/avro",
			"ce_dataschema": fmt.Sprintf("%s/schemas/ids/%d", h.env.url, schemaID),
		}
		checkDataSchema(t, hd["ce_dataschema"], map[string]string{"esr.rxx.starter-created.v1": "StarterCreated", "esr.rxx.leaver-confirmed.v1": "LeaverConfirmed"}[r.Topic])
		tp := hd["traceparent"]
		delete(hd, "traceparent")
		if !reflect.DeepEqual(hd, want) {
			t.Errorf("headers = %v\nwant %v", hd, want)
		}
		if !strings.HasPrefix(tp, "00-"+f.info.Sha256[:32]+"-") || !regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`).MatchString(tp) {
			t.Errorf("traceparent %q: want the file's trace %s", tp, f.info.Sha256[:32])
		}
	}
	if starter != 2 || report != 1 {
		t.Errorf("%d starters and %d reports, want 2 and 1", starter, report)
	}
}

// checkDataSchema fetches a ce_dataschema URI as a consumer would and
// requires the registry's schema of the named record.
func checkDataSchema(t *testing.T, uri, record string) {
	t.Helper()
	resp, err := http.Get(uri)
	if err != nil {
		t.Fatalf("ce_dataschema %s: %v", uri, err)
	}
	defer resp.Body.Close()
	var body struct{ Schema string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("ce_dataschema %s: HTTP %d, %v", uri, resp.StatusCode, err)
	}
	var sch struct{ Name string }
	if err := json.Unmarshal([]byte(body.Schema), &sch); err != nil || sch.Name != "uk.nhs.esr."+record {
		t.Errorf("ce_dataschema %s is %+v (%v), want uk.nhs.esr.%s", uri, sch, err, record)
	}
}

func TestHeldLeaverReDatedThenFires(t *testing.T) {
	h := newHarness(t, newEnv(t))
	baseline(h)
	f2 := newFile(tenantRXX, "2024-04-02", 2)
	if ev := h.events(h.feed(f2.start(),
		f2.person(P{ID: 20000005, NHS: "1000005", Term: "2024-04-12", Reason: "Retirement Age"}),
		f2.asg(A{Person: 20000005, ID: 40000005, LWD: "2024-04-11", End: "2024-04-12"}),
		f2.end())); len(ev) != 0 {
		t.Fatalf("re-dating emitted %v", ev)
	}
	held := h.p.scheduledLeavers(tenantRXX)
	if len(held) != 1 || held[0].Due != day("2024-04-12") || held[0].SourceFile != f2.info.Name || held[0].SourceLine != 2 {
		t.Fatalf("held after re-dating = %+v", held)
	}
	id := held[0].EventID

	// 2024-04-11 < due: still held. 2024-04-12: fires at FILE_START.
	f3 := newFile(tenantRXX, "2024-04-11", 3)
	if ev := h.events(h.feed(f3.start(), f3.end())); len(ev) != 0 {
		t.Fatalf("fired early: %v", ev)
	}
	f4 := newFile(tenantRXX, "2024-04-12", 4)
	out := h.feed(f4.start())
	d := h.decode(out)
	if len(d) != 1 || d[0].got.ID != id {
		t.Fatalf("FILE_START produced %d records (want the held leaver with id %s)", len(d), id)
	}
	ev := h.events(out)
	assertEvents(t, ev, []got{{File: f2.info.Name, Line: 2, Type: eventLeaver, PersonID: "20000005", EmployeeNumber: "30000005",
		Effective: "2024-04-12", LeavingReason: "Retirement Age", LastWorkingDay: "2024-04-11"}})
	if held := h.p.scheduledLeavers(tenantRXX); len(held) != 0 {
		t.Errorf("still held after firing: %+v", held)
	}
	reps := h.reports(h.feed(f4.end()))
	if len(reps) != 1 || !reflect.DeepEqual(reps[0].EventsEmitted, map[string]int64{eventStarter: 0, eventLeaver: 1, eventPosition: 0, eventReversed: 0}) {
		t.Errorf("report of the firing file: %+v", reps)
	}
	if v := testutil.ToFloat64(h.p.metrics.scheduled.WithLabelValues(tenantRXX)); v != 0 {
		t.Errorf("esrflow_publish_scheduled_leavers = %v, want 0", v)
	}
}

func TestHeldLeaverWithdrawn(t *testing.T) {
	h := newHarness(t, newEnv(t))
	baseline(h)
	f2 := newFile(tenantRXX, "2024-04-03", 2)
	ev := h.events(h.feed(f2.start(),
		f2.person(P{ID: 20000005, NHS: "1000005"}), f2.asg(A{Person: 20000005, ID: 40000005}), f2.end()))
	if len(ev) != 0 {
		t.Fatalf("withdrawal emitted %v", ev)
	}
	if held := h.p.scheduledLeavers(tenantRXX); len(held) != 0 {
		t.Fatalf("still held after withdrawal: %+v", held)
	}
	f3 := newFile(tenantRXX, "2024-04-30", 3)
	if ev := h.events(h.feed(f3.start(), f3.end())); len(ev) != 0 {
		t.Fatalf("withdrawn leaver fired: %v", ev)
	}
}

func TestLateLeaverFromPersonRecord(t *testing.T) {
	h := newHarness(t, newEnv(t))
	baseline(h)
	f2 := newFile(tenantRXX, "2024-04-05", 2)
	ev := h.events(h.feed(f2.start(),
		f2.person(P{ID: 20000001, NHS: "1000001", Term: "2024-04-01", Reason: "Dismissal"}),
		f2.asg(A{Person: 20000001, ID: 40000001, Status: "TERM_ASSIGN", LWD: "2024-03-31", End: "2024-04-01"}),
		f2.end()))
	assertEvents(t, ev, []got{{File: f2.info.Name, Line: 2, Type: eventLeaver, PersonID: "20000001", EmployeeNumber: "30000001",
		Effective: "2024-04-01", LeavingReason: "Dismissal", LastWorkingDay: "2024-03-31", DaysLate: 4}})
}

func TestLastAssignmentEnds(t *testing.T) {
	h := newHarness(t, newEnv(t))
	baseline(h)
	f2 := newFile(tenantRXX, "2024-04-05", 2)
	out := h.feed(f2.start(),
		f2.person(P{ID: 20000001, NHS: "1000001"}),
		f2.asg(A{Person: 20000001, ID: 40000001, Status: "TERM_ASSIGN", LWD: "2024-04-02", End: "2024-04-03"}),
		f2.end())
	assertEvents(t, h.events(out), []got{{File: f2.info.Name, Line: 3, Type: eventLeaver, PersonID: "20000001", EmployeeNumber: "30000001",
		Effective: "2024-04-03", LastWorkingDay: "2024-04-02", DaysLate: 2}})
	for _, d := range h.decode(out) {
		if d.leaver != nil && d.leaver.FinalAssignmentEndDate != nil {
			t.Errorf("final_assignment_end_date %v set though it equals the leaving date", d.leaver.FinalAssignmentEndDate)
		}
	}
}

func TestAssignmentAddedAndEnded(t *testing.T) {
	h := newHarness(t, newEnv(t))
	baseline(h)
	f2 := newFile(tenantRXX, "2024-04-05", 2)
	out := h.feed(f2.start(),
		f2.person(P{ID: 20000010, NHS: "1000010"}),
		f2.asg(A{Person: 20000010, ID: 40000010}), // unchanged
		f2.asg(A{Person: 20000010, ID: 40000011, Number: "30000010-2", Org: 7002, Loc: 9002, Pos: "5100002", Title: "Bank Nurse", Occ: "N6B",
			Status: "TERM_ASSIGN", End: "2024-04-04"}),
		f2.asg(A{Person: 20000010, ID: 40000012, Number: "30000010-3", Start: "2024-04-05", Pos: "5100003", Title: "Ward Sister", Occ: "N7A", Grade: "XR06"}),
		f2.end())
	n := f2.info.Name
	assertEvents(t, h.events(out), []got{
		{File: n, Line: 4, Type: eventPosition, PersonID: "20000010", EmployeeNumber: "30000010", Effective: "2024-04-04", AssignmentNumber: "30000010-2", Change: changeEnded},
		{File: n, Line: 5, Type: eventPosition, PersonID: "20000010", EmployeeNumber: "30000010", Effective: "2024-04-05", AssignmentNumber: "30000010-3", Change: changeAdded},
	})
	var pu []*eventsv1.PositionUpdated
	for _, d := range h.decode(out) {
		if d.position != nil {
			pu = append(pu, d.position)
		}
	}
	bank := &eventsv1.PositionSnapshot{PositionNumber: "5100002", PositionTitle: "Bank Nurse", Organisation: "412 Bank Staff", Grade: "XR05",
		StaffGroup: "Nursing and Midwifery Registered", JobRole: "Staff Nurse", OccupationCode: "N6B", Location: "Bank Office"}
	sister := &eventsv1.PositionSnapshot{PositionNumber: "5100003", PositionTitle: "Ward Sister", Organisation: "412 Cardiology", Grade: "XR06",
		StaffGroup: "Nursing and Midwifery Registered", JobRole: "Staff Nurse", OccupationCode: "N7A", Location: "Ward 7"}
	if !reflect.DeepEqual(pu[0].Before, bank) || pu[0].After != nil {
		t.Errorf("ended: before %+v after %+v", pu[0].Before, pu[0].After)
	}
	if pu[1].Before != nil || !reflect.DeepEqual(pu[1].After, sister) {
		t.Errorf("added: before %+v after %+v", pu[1].Before, pu[1].After)
	}
}

func TestAttributesChanged(t *testing.T) {
	h := newHarness(t, newEnv(t))
	baseline(h)
	f2 := newFile(tenantRXX, "2024-04-05", 2)
	out := h.feed(f2.start(),
		f2.person(P{ID: 20000010, NHS: "1000010"}),
		f2.asg(A{Person: 20000010, ID: 40000010, Start: "2024-04-03", Earliest: "2020-01-01", Grade: "XR06"}),
		f2.asg(A{Person: 20000010, ID: 40000011, Number: "30000010-2", Org: 7002, Loc: 9002, Pos: "5100002", Title: "Bank Nurse", Occ: "N6B"}), // unchanged
		f2.end())
	assertEvents(t, h.events(out), []got{{File: f2.info.Name, Line: 3, Type: eventPosition, PersonID: "20000010", EmployeeNumber: "30000010",
		Effective: "2024-04-03", AssignmentNumber: "30000010", Change: changeAttributes}})
	for _, d := range h.decode(out) {
		if p := d.position; p != nil {
			if p.Before == nil || p.After == nil || p.Before.Grade != "XR05" || p.After.Grade != "XR06" || p.After.Location != "Ward 7" {
				t.Errorf("before %+v after %+v", p.Before, p.After)
			}
		}
	}
}

func TestSuspensionAndReturnAreSilent(t *testing.T) {
	h := newHarness(t, newEnv(t))
	baseline(h)
	for i, status := range []string{"SUSP_ASSIGN", "ACTIVE_ASSIGN"} {
		f := newFile(tenantRXX, []string{"2024-04-05", "2024-04-06"}[i], int64(2+i))
		ev := h.events(h.feed(f.start(), f.person(P{ID: 20000001, NHS: "1000001"}),
			f.asg(A{Person: 20000001, ID: 40000001, Status: status}), f.end()))
		if len(ev) != 0 {
			t.Errorf("%s emitted %v", status, ev)
		}
	}
}

func TestDeleteRowsFixStateAndNeverEmit(t *testing.T) {
	h := newHarness(t, newEnv(t))
	baseline(h)
	f2 := newFile(tenantRXX, "2024-04-05", 2)
	ev := h.events(h.feed(f2.start(),
		f2.del(internalv1.EntityKindAssignment, 40000011, "ASD"),
		f2.del(internalv1.EntityKindPosition, 8001, "POD"),
		f2.del(internalv1.EntityKindAssignment, 49999999, "ASD"), // unknown: nothing to do
		f2.end()))
	if len(ev) != 0 {
		t.Fatalf("delete rows emitted %v", ev)
	}
	// With 40000011 gone, ending 40000010 ends the employment: a leaver,
	// not an ASSIGNMENT_ENDED.
	f3 := newFile(tenantRXX, "2024-04-07", 3)
	ev = h.events(h.feed(f3.start(), f3.person(P{ID: 20000010, NHS: "1000010"}),
		f3.asg(A{Person: 20000010, ID: 40000010, Status: "TERM_ASSIGN", End: "2024-04-06"}), f3.end()))
	assertEvents(t, ev, []got{{File: f3.info.Name, Line: 3, Type: eventLeaver, PersonID: "20000010", EmployeeNumber: "30000010",
		Effective: "2024-04-06", DaysLate: 1}})

	// The report counts the corrections validate passed on.
	reps := h.reports(h.out)
	if got := reps[1].Corrections; got != 3 {
		t.Errorf("corrections in report = %d, want 3", got)
	}
}

func TestRehireAndApplicantHire(t *testing.T) {
	h := newHarness(t, newEnv(t))
	baseline(h)
	f2 := newFile(tenantRXX, "2024-04-05", 2)
	ev := h.events(h.feed(f2.start(),
		f2.person(P{ID: 20000020, NHS: "1000006"}), f2.asg(A{Person: 20000020, ID: 40000020, Start: "2024-04-08"}), // same NHS id as 20000006
		f2.person(P{ID: 20000021, NHS: "1000021"}), f2.asg(A{Person: 20000021, ID: 40000021, Start: "2024-04-05"}),
		f2.person(P{ID: 20000030, NHS: "1000030"}), f2.asg(A{Person: 20000030, ID: 40000030, Type: "A", Status: "OFFER", Start: "2024-03-20"}),
		f2.end()))
	n := f2.info.Name
	assertEvents(t, ev, []got{
		{File: n, Line: 3, Type: eventStarter, PersonID: "20000020", EmployeeNumber: "30000020", Effective: "2024-04-08", AssignmentNumber: "30000020", Scheduled: true, Rehire: true},
		{File: n, Line: 5, Type: eventStarter, PersonID: "20000021", EmployeeNumber: "30000021", Effective: "2024-04-05", AssignmentNumber: "30000021"},
	})
	f3 := newFile(tenantRXX, "2024-04-10", 3)
	ev = h.events(h.feed(f3.start(), f3.person(P{ID: 20000030, NHS: "1000030"}),
		f3.asg(A{Person: 20000030, ID: 40000030, Start: "2024-04-15"}), f3.end()))
	// (run 2024-04-10 also fires the baseline's held leaver first)
	assertEvents(t, ev, []got{
		{File: "GO_412_EXP_GOF_20240401_00000001.DAT", Line: 14, Type: eventLeaver, PersonID: "20000005", EmployeeNumber: "30000005",
			Effective: "2024-04-10", LeavingReason: "Retirement Age", LastWorkingDay: "2024-04-09"},
		{File: f3.info.Name, Line: 3, Type: eventStarter, PersonID: "20000030", EmployeeNumber: "30000030",
			Effective: "2024-04-15", AssignmentNumber: "30000030", Scheduled: true}})
}

func TestRefeedGivesNoNewEventIDs(t *testing.T) {
	env := newEnv(t)
	h := newHarness(t, env)
	baseline(h)
	f2 := newFile(tenantRXX, "2024-04-05", 2)
	stream := []internalv1.EntityRecord{f2.start(),
		f2.person(P{ID: 20000001, NHS: "1000001", Term: "2024-04-01", Reason: "Dismissal"}),
		f2.asg(A{Person: 20000001, ID: 40000001, Status: "TERM_ASSIGN", LWD: "2024-03-31", End: "2024-04-01"}),
		f2.person(P{ID: 20000021, NHS: "1000021"}), f2.asg(A{Person: 20000021, ID: 40000021, Start: "2024-04-05"}),
		f2.end()}
	first := ids(h.decode(h.feed(stream...)))
	if len(first) != 2 {
		t.Fatalf("%d events, want 2", len(first))
	}
	if again := ids(h.decode(h.feed(stream...))); len(again) != 0 {
		t.Errorf("re-fed file gave events %v", again)
	}
	// A second processor fed the same files gives the same ids.
	h2 := newHarness(t, env)
	baseline(h2)
	if second := ids(h2.decode(h2.feed(stream...))); !slices.Equal(first, second) {
		t.Errorf("ids differ between runs: %v vs %v", first, second)
	}
}

func ids(d []decoded) []string {
	var out []string
	for _, x := range d {
		if x.report == nil {
			out = append(out, x.got.ID)
		}
	}
	return out
}

func assertEvents(t *testing.T, gotEv, want []got) {
	t.Helper()
	if reflect.DeepEqual(gotEv, want) || (len(gotEv) == 0 && len(want) == 0) {
		return
	}
	t.Errorf("events differ:")
	for _, g := range gotEv {
		t.Errorf("  got  %s", g)
	}
	for _, w := range want {
		t.Errorf("  want %s", w)
	}
}
