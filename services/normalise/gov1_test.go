package normalise_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/esrflow/esrflow/esr/format"
	"github.com/esrflow/esrflow/esr/rules"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/normalise"
)

// GO v1 rows from ESR-FORMATS §3.1 (synthetic values).
const (
	v1PER  = `PER,20990417,31004581,"Ms.","Okafor","Adaeze","Ngozi","","Female",19880214,JT482913C,20240311,,Yes,"14 Orchard Row","","Northtown","Northshire","NT7 1AB","GB","","","","07700 900417","adaeze.okafor@example.nhs.uk","","",,"",""`
	v1ASG  = `ASG,41877120,31004581,20240311,,"Active Assignment",Contracted,"412 Monthly","Calendar Month","Riverside Wing","Hospital Lane","Northtown","NSH","NT4 2QX","GB",0,30977120,30977120,"Mensah, Mr. Kwame","AfC Annual Leave Accrual 1 NHS",FT,"Permanent",1,37.5,"Week",37.5,,,"","","","Availability Schedule","412 Cardiology Outpatients",RXX,"5102277|Staff Nurse|N6A|Cardiology|","Staff Nurse","N6A","412 z 0231 Ward 7 Admin","NHS|XR05|Review Body Band 5","Nursing and Midwifery Registered|Staff Nurse","412 z 0231 Ward 7|Standard User||","GTA||",,"",""`
	v1PER2 = `PER,20110032,30977120,"Mr.","Mensah","Kwame","","","Male",19750630,NW551207A,20080901,20240329,No,"3 Mill Court","","Eastby","Northshire","NT2 8PL","GB","","","","","kwame.mensah@example.nhs.uk","","",,"",""`
	v1ASG2 = `ASG,41000219,30977120,20080901,20240329,"Terminated",Contracted,"412 Monthly","Calendar Month","Riverside Wing","Hospital Lane","Northtown","NSH","NT4 2QX","GB",1,,,"","",FT,"Permanent",1,37.5,"Week",37.5,,,"","","","Availability Schedule","412  cardiology OUTPATIENTS",RXX,"5100981|Ward Manager|N6C|Cardiology|","Ward Manager","N6C","412 z 0231 Ward 7 Admin","NHS|XR07|Review Body Band 7","Nursing and Midwifery Registered|Ward Manager","412 z 0231 Ward 7|||","GTA||",,"",""`
)

var v1File = internalv1.FileInfo{Name: "GO_412_ASG_20240311_Change_00000052.DAT", Sha256: strings.Repeat("cd", 32),
	Dialect: normalise.DialectGOv1, Kind: internalv1.FileKindChange, Sequence: 52, RunDate: day(2024, 3, 11), Size: 999}

// v1Raw builds the RawRecord ingest sends for a GO v1 line.
func v1Raw(line string, no int64, file internalv1.FileInfo) internalv1.RawRecord {
	f, bad, _ := format.SplitQuoted(line, ',', nil)
	if bad >= 0 {
		panic("bad quoting in " + line)
	}
	return internalv1.RawRecord{Kind: internalv1.RawKindRecord, Tenant: "RXX", Vpd: "412", File: file, Line: no,
		RecordType: f[0], Fields: f[1:], Problems: []internalv1.Problem{}}
}

func TestMapGOv1Person(t *testing.T) {
	out := normalise.MapRow(v1Raw(v1PER, 2, v1File), tenant.Mapping{})
	if out.Kind != normalise.KindEntity || out.EntityKind != internalv1.EntityKindPerson || out.LinkV1 || len(out.Derived) != 0 {
		t.Fatalf("PER: %+v", out)
	}
	want := internalv1.Person{Vpd: "412", PersonID: 20990417, EffectiveStart: day(2024, 3, 11), EmployeeNumber: "31004581",
		Title: "Ms.", LastName: "Okafor", FirstName: "Adaeze", MiddleNames: "Ngozi", Gender: "F",
		DateOfBirth: dayp(1988, 2, 14), NiNumber: "JT482913C", HireDate: dayp(2024, 3, 11),
		SystemPersonType: "EMP", UserPersonType: "Employee", OfficeEmail: "adaeze.okafor@example.nhs.uk"}
	if got := out.Entity.(internalv1.Person); !reflect.DeepEqual(got, want) {
		t.Errorf("PER mapped to\n%+v\nwant\n%+v", got, want)
	}
	// A leaver: terminated, no longer a current employee; v1 has no reason.
	p := normalise.MapRow(v1Raw(v1PER2, 4, v1File), tenant.Mapping{}).Entity.(internalv1.Person)
	if p.SystemPersonType != "EX_EMP" || p.Gender != "M" || !reflect.DeepEqual(p.ActualTerminationDate, dayp(2024, 3, 29)) || p.LeavingReason != "" {
		t.Errorf("leaver PER: %+v", p)
	}
}

func TestMapGOv1Assignment(t *testing.T) {
	out := normalise.MapRow(v1Raw(v1ASG, 3, v1File), tenant.Mapping{})
	if out.Kind != normalise.KindEntity || out.EntityKind != internalv1.EntityKindAssignment || !out.LinkV1 {
		t.Fatalf("ASG: %+v", out)
	}
	org := normalise.RefID(internalv1.EntityKindOrganisation, "412", "412 Cardiology Outpatients")
	loc := normalise.RefID(internalv1.EntityKindLocation, "412", "412 z 0231 Ward 7 Admin")
	want := internalv1.Assignment{Vpd: "412", AssignmentID: 41877120, EffectiveStart: day(2024, 3, 11),
		EarliestStart: dayp(2024, 3, 11), AssignmentType: "E", AssignmentNumber: "31004581",
		Status: internalv1.AssignmentStatusActiveAssign, UserStatus: "Active Assignment", Primary: true, Category: "Permanent",
		EmployeeCategory: "FT", Hours: fp(37.5), OrganisationID: org, LocationID: loc,
		Position:   internalv1.PositionRef{Number: "5102277", Title: "Staff Nurse", OccupationCode: "N6A", Area: "Cardiology"},
		Grade:      internalv1.Grade{Owner: "NHS", Code: "XR05", Description: "Review Body Band 5"},
		StaffGroup: "Nursing and Midwifery Registered", JobRole: "Staff Nurse", SupervisorAssignmentNumber: "30977120"}
	if got := out.Entity.(internalv1.Assignment); !reflect.DeepEqual(got, want) {
		t.Errorf("ASG mapped to\n%+v\nwant\n%+v", got, want)
	}
	wantDerived := []normalise.Derived{
		{Kind: internalv1.EntityKindOrganisation, ID: org, Entity: internalv1.Organisation{Vpd: "412", OrganisationID: org,
			Name: "412 Cardiology Outpatients", EffectiveFrom: day(2024, 3, 11), NacsCode: "RXX"}},
		{Kind: internalv1.EntityKindLocation, ID: loc, Entity: internalv1.Location{Vpd: "412", LocationID: loc,
			Code: "412 z 0231 Ward 7 Admin", Description: "412 z 0231 Ward 7 Admin", Town: "Northtown", Postcode: "NT4 2QX"}},
	}
	if !reflect.DeepEqual(out.Derived, wantDerived) {
		t.Errorf("derived\n%+v\nwant\n%+v", out.Derived, wantDerived)
	}
	// Statuses by text: terminated with its final end; an applicant is type A.
	a := normalise.MapRow(v1Raw(v1ASG2, 5, v1File), tenant.Mapping{}).Entity.(internalv1.Assignment)
	if a.Status != internalv1.AssignmentStatusTermAssign || a.AssignmentType != "E" || !reflect.DeepEqual(a.FinalAssignmentEndDate, dayp(2024, 3, 29)) {
		t.Errorf("terminated ASG: %+v", a)
	}
	for text, st := range map[string]internalv1.AssignmentStatus{
		"Offer Accepted": internalv1.AssignmentStatusAccepted, "Active Application": internalv1.AssignmentStatusActiveApl,
		"Maternity": internalv1.AssignmentStatusSuspAssign, "Career  break": internalv1.AssignmentStatusSuspAssign,
		"Something Local": internalv1.AssignmentStatusUnknown,
	} {
		a := normalise.MapRow(v1Raw(strings.Replace(v1ASG, `"Active Assignment"`, `"`+text+`"`, 1), 3, v1File), tenant.Mapping{}).Entity.(internalv1.Assignment)
		wantType := "E"
		if st == internalv1.AssignmentStatusAccepted || st == internalv1.AssignmentStatusActiveApl {
			wantType = "A"
		}
		if a.Status != st || a.AssignmentType != wantType {
			t.Errorf("status %q: %s type %s, want %s type %s", text, a.Status, a.AssignmentType, st, wantType)
		}
	}
}

// TestRefIDStable: the key of a name is the same whatever its case and
// blanks, differs by VPD and kind, and is clear of ESR surrogate ids.
func TestRefIDStable(t *testing.T) {
	org := internalv1.EntityKindOrganisation
	a := normalise.RefID(org, "412", "412 Cardiology Outpatients")
	if a != normalise.RefID(org, "412", " 412  cardiology OUTPATIENTS ") {
		t.Error("case and blanks change the key")
	}
	if a == normalise.RefID(org, "413", "412 Cardiology Outpatients") || a == normalise.RefID(internalv1.EntityKindLocation, "412", "412 Cardiology Outpatients") {
		t.Error("VPD or kind do not change the key")
	}
	if a < 1<<52 || a == normalise.RefID(org, "412", "412 Cardiology Inpatients") {
		t.Errorf("key %d: want >= 2^52 and distinct per name", a)
	}
	if normalise.RefID(org, "412", "  ") != 0 {
		t.Error("an empty name has a key")
	}
}

func v1Recs(file internalv1.FileInfo, rows ...internalv1.RawRecord) []internalv1.RawRecord {
	control := func(k internalv1.RawKind) internalv1.RawRecord {
		return internalv1.RawRecord{Kind: k, Tenant: "RXX", Vpd: "412", File: file, Fields: []string{}, Problems: []internalv1.Problem{}}
	}
	end := control(internalv1.RawKindFileEnd)
	end.Counts = &internalv1.RawCounts{Rows: int64(len(rows))}
	return append(append([]internalv1.RawRecord{control(internalv1.RawKindFileStart)}, rows...), end)
}

// v1TestFile: an ASG before any PER, two person groups naming the same
// organisation and location (case and blanks apart), and an ASG whose
// number's stem is the first person's, after the second person's PER.
func v1TestFile(file internalv1.FileInfo) []internalv1.RawRecord {
	return v1Recs(file, v1Raw(v1ASG, 2, file), v1Raw(v1PER, 3, file), v1Raw(v1ASG, 4, file),
		v1Raw(v1PER2, 5, file), v1Raw(v1ASG2, 6, file), v1Raw(v1ASG, 7, file))
}

func TestProcessGOv1File(t *testing.T) {
	e := newEnv(t)
	p := e.processor(nil, nil)
	res := run(t, p, e, v1TestFile(v1File))
	var got []string
	var end internalv1.EntityRecord
	for _, r := range res.normalised {
		rec := e.entityOf(r)
		switch rec.Kind {
		case internalv1.EntityRecordKindEntity:
			s := rules.KindOf(rec.Entity) + ":" + itoa(rec.Lineage.Line)
			if rules.Derived(rec) {
				s += ":derived"
			}
			if a, ok := rec.Entity.(internalv1.Assignment); ok {
				s += ":person=" + itoa(a.PersonID)
			}
			got = append(got, s)
		case internalv1.EntityRecordKindFileEnd:
			end = rec
		}
	}
	want := []string{"person:3", "organisation:4:derived", "location:4:derived", "assignment:4:person=20990417",
		"person:5", "assignment:6:person=20110032"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("normalised\n%v\nwant\n%v", got, want)
	}
	var q []string
	for _, r := range res.quarantined {
		rec := e.quarantineOf(r)
		for _, v := range rec.Violations {
			q = append(q, itoa(rec.Lineage.Line)+" "+rec.Raw.RecordType+" "+v.Rule+"/"+v.Field)
		}
	}
	wantQ := []string{"2 ASG ESR-R009/", "7 ASG ESR-R009/assignment_number"}
	if !reflect.DeepEqual(q, wantQ) {
		t.Errorf("quarantined %v, want %v", q, wantQ)
	}
	wantCounts := internalv1.StageCounts{RowsRead: 6, Entities: 4, Quarantined: 2}
	if end.Counts == nil || *end.Counts != wantCounts || end.RuleCounts["ESR-R009"] != 2 {
		t.Errorf("FILE_END counts %+v %v, want %+v and ESR-R009: 2", end.Counts, end.RuleCounts, wantCounts)
	}
	// Every reference key written mid-file is deleted at its end.
	live := map[string]bool{}
	for _, s := range res.state {
		live[string(s.Key)] = s.Value != nil
	}
	for k, v := range live {
		if v {
			t.Errorf("changelog key %s left behind", k)
		}
	}

	// The next file names the same organisation: the same key, derived
	// again (each file stands on its own).
	next := v1File
	next.Name, next.Sha256, next.Sequence = "GO_412_ASG_20240312_Change_00000053.DAT", strings.Repeat("ef", 32), 53
	res2 := run(t, p, e, v1Recs(next, v1Raw(v1PER2, 2, next), v1Raw(v1ASG2, 3, next)))
	org := e.entityOf(res2.normalised[2]).Entity
	if o, ok := org.(internalv1.Organisation); !ok || o.OrganisationID != normalise.RefID(internalv1.EntityKindOrganisation, "412", "412 Cardiology Outpatients") {
		t.Errorf("second file's organisation: %+v", org)
	}
}

// TestRestoreGOv1MidFile: killed anywhere in a v1 file, a restored
// processor links the same people and derives the same references once.
func TestRestoreGOv1MidFile(t *testing.T) {
	e := newEnv(t)
	recs := v1TestFile(v1File)
	whole := run(t, e.processor(nil, nil), e, recs)
	for cut := 1; cut < len(recs); cut++ {
		first := run(t, e.processor(nil, nil), e, recs[:cut])
		p := e.processor(nil, nil)
		for _, s := range first.state {
			if err := p.Restore(s.Partition, s.Key, s.Value); err != nil {
				t.Fatal(err)
			}
		}
		rest := run(t, p, e, recs[cut:])
		got := append(append([]*kgo.Record{}, first.normalised...), rest.normalised...)
		gotQ := append(append([]*kgo.Record{}, first.quarantined...), rest.quarantined...)
		if !e.sameEntities(got, whole.normalised) || !sameValues(gotQ, whole.quarantined) {
			t.Errorf("cut after %d records: output differs from an uninterrupted run", cut)
		}
	}
}
