package publish

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/esrflow/esrflow/esr/format/gov2"
	"github.com/esrflow/esrflow/esr/gen"
	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
	"github.com/esrflow/esrflow/services/normalise"
)

// generated is a synthetic trust as the pipeline would hand it to publish:
// one EntityRecord stream per file, built by a small test-only mapper from
// the GO v2 rows (normalise's real mapper is not used here), with the rows
// the truth quarantines and the segments normalise ignores left out.
type generated struct {
	cfg     gen.Config
	files   []gen.FileInfo
	streams [][]internalv1.EntityRecord
	truth   []gen.TruthLine
}

func generate(t *testing.T, cfg gen.Config) *generated { return generateWith(t, cfg, false) }

// generateWith maps rows with normalise.MapRow (the pipeline's real mapper)
// when real is set, else with the test's own mapRow.
func generateWith(t *testing.T, cfg gen.Config, real bool) *generated {
	t.Helper()
	sink := &gen.MemSink{}
	res, err := gen.Generate(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := gen.ReadTruth(bytes.NewReader(sink.Bytes(gen.TruthFile)))
	if err != nil {
		t.Fatal(err)
	}
	type at struct {
		file string
		line int
	}
	quarantined := map[at]bool{}
	for _, l := range truth {
		if l.Kind == gen.KindQuarantine {
			quarantined[at{l.File, l.Line}] = true
		}
	}
	g := &generated{cfg: cfg, files: res.Files, truth: truth}
	for i, fi := range res.Files {
		data := sink.Bytes(fi.Name)
		rd, err := gov2.NewReader(fi.Name, bytes.NewReader(data), gov2.Options{FutureTolerance: -1})
		if err != nil {
			t.Fatalf("%s: %v", fi.Name, err)
		}
		kind := internalv1.FileKindChange
		if i == 0 {
			kind = internalv1.FileKindFull
		}
		f := &file{tenant: cfg.Tenant, vpd: cfg.VPD, info: internalv1.FileInfo{Name: fi.Name, Sha256: fi.SHA256, Dialect: "go-v2",
			Kind: kind, Sequence: int64(fi.Seq), RunDate: day(fi.RunDate), Size: int64(len(data))}}
		recs := []internalv1.EntityRecord{f.start()}
		for {
			row, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", fi.Name, err)
			}
			f.counts.RowsRead++
			if quarantined[at{fi.Name, row.Line}] {
				f.counts.Quarantined++
				continue
			}
			var kind internalv1.EntityRecordKind
			var entity any
			if real {
				o := normalise.MapRow(internalv1.RawRecord{Kind: internalv1.RawKindRecord, Tenant: cfg.Tenant, Vpd: cfg.VPD, File: f.info,
					Line: int64(row.Line), RecordType: row.Type, Fields: slices.Clone(row.Fields[1:])}, tenant.Mapping{})
				switch o.Kind {
				case normalise.KindEntity:
					kind, entity = internalv1.EntityRecordKindEntity, o.Entity
				case normalise.KindCorrection:
					kind, entity = internalv1.EntityRecordKindCorrection, o.Entity
				case normalise.KindQuarantined:
					t.Fatalf("%s:%d: normalise quarantines a row the truth does not: %+v", fi.Name, row.Line, o.Violations)
				}
			} else {
				rec, err := gov2.Decode(row)
				if err != nil {
					t.Fatalf("%s:%d: row the truth does not quarantine fails to decode: %v", fi.Name, row.Line, err)
				}
				kind, entity = mapRow(cfg.VPD, rec)
			}
			if entity == nil {
				f.counts.Ignored++
				continue
			}
			if kind == internalv1.EntityRecordKindCorrection {
				f.counts.Corrections++
			} else {
				f.counts.Entities++
			}
			r := f.rec(kind, int64(row.Line), entity)
			r.Raw = &internalv1.RawRow{RecordType: row.Type, Fields: slices.Clone(row.Fields[1:])}
			recs = append(recs, r)
		}
		recs = append(recs, f.end())
		g.streams = append(g.streams, recs)
	}
	return g
}

func ptrTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// mapRow is the test's stand-in for normalise: a typed GO v2 row to an
// entity or correction; nil for the segments publish never sees.
func mapRow(vpd string, rec gov2.Record) (internalv1.EntityRecordKind, any) {
	ent := internalv1.EntityRecordKindEntity
	switch r := rec.(type) {
	case gov2.LocationRow:
		return ent, internalv1.Location{Vpd: vpd, LocationID: r.LocationID, Code: r.Code, Description: r.Description,
			InactiveDate: ptrTime(r.InactiveDate), SiteCode: r.SiteCode, Town: r.Town, Postcode: r.Postcode, LastUpdate: ptrTime(r.LastUpdate)}
	case gov2.OrganisationRow:
		return ent, internalv1.Organisation{Vpd: vpd, OrganisationID: r.OrganisationID, Name: r.Name, Type: r.Type,
			EffectiveFrom: r.EffectiveFrom, EffectiveTo: ptrTime(r.EffectiveTo), CostCentre: r.DefaultCostCentre,
			ParentOrganisationID: r.ParentOrganisationID, NacsCode: r.NACSCode, LocationID: r.LocationID, LastUpdate: ptrTime(r.LastUpdate)}
	case gov2.PositionRow:
		return ent, internalv1.Position{Vpd: vpd, PositionID: r.PositionID, EffectiveFrom: r.EffectiveFrom, EffectiveTo: ptrTime(r.EffectiveTo),
			Number: r.PositionNumber, Title: r.Name.Title, OccupationCode: r.OccupationCode, Area: r.Name.Area,
			StaffGroup: r.StaffGroup, JobRole: r.JobRole, Payscale: r.Payscale, OrganisationID: r.OrganisationID,
			HiringStatus: r.HiringStatus, WorkplaceOrgCode: r.WorkplaceOrgCode, LastUpdate: ptrTime(r.LastUpdate)}
	case gov2.PersonRow:
		return ent, internalv1.Person{Vpd: vpd, PersonID: r.PersonID, EffectiveStart: r.EffectiveStart, EffectiveEnd: ptrTime(r.EffectiveEnd),
			EmployeeNumber: r.EmployeeNumber, NhsUniqueID: r.NHSUniqueID, CrsUUID: r.NHSCRSUUID, Title: r.Title, LastName: r.LastName,
			FirstName: r.FirstName, Gender: r.Gender, DateOfBirth: ptrTime(r.DateOfBirth), NiNumber: r.NINumber, HireDate: ptrTime(r.HireDate),
			ActualTerminationDate: ptrTime(r.TerminationDate), LeavingReason: r.LeavingReason, SystemPersonType: r.SystemPersonType,
			UserPersonType: r.UserPersonType, LastUpdate: ptrTime(r.LastUpdate)}
	case gov2.AssignmentRow:
		return ent, internalv1.Assignment{Vpd: vpd, PersonID: r.PersonID, AssignmentID: r.AssignmentID, EffectiveStart: r.EffectiveStart,
			EffectiveEnd: ptrTime(r.EffectiveEnd), EarliestStart: ptrTime(r.EarliestAssignmentStart), AssignmentType: r.AssignmentType,
			AssignmentNumber: r.AssignmentNumber, Status: internalv1.AssignmentStatus(r.SystemStatus), UserStatus: r.UserStatus,
			Primary: r.Primary, Category: r.AssignmentCategory, EmployeeCategory: r.EmployeeCategory,
			OrganisationID: r.OrganisationID, LocationID: r.LocationID, PositionID: r.PositionID,
			Position:   internalv1.PositionRef{Number: r.PositionName.Number, Title: r.PositionName.Title, OccupationCode: r.PositionName.OccupationCode, Area: r.PositionName.Area},
			Grade:      internalv1.Grade{Owner: r.Grade.Owner, Code: r.Grade.Code, Description: r.Grade.Description},
			StaffGroup: r.JobName.StaffGroup, JobRole: r.JobName.JobRole, ContractEndDate: ptrTime(r.ContractEndDate),
			LastWorkingDay: ptrTime(r.LastWorkingDay), FinalAssignmentEndDate: ptrTime(r.AssignmentEndDate), LastUpdate: ptrTime(r.LastUpdate)}
	case gov2.DeleteRow:
		kinds := map[string]internalv1.EntityKind{gov2.TypePersonDelete: internalv1.EntityKindPerson, gov2.TypeAssignmentDelete: internalv1.EntityKindAssignment,
			gov2.TypePositionDelete: internalv1.EntityKindPosition, gov2.TypeOrganisationDelete: internalv1.EntityKindOrganisation,
			gov2.TypeLocationDelete: internalv1.EntityKindLocation}
		k, ok := kinds[r.Type]
		if !ok {
			return "", nil // PHD, ADD, COD, VHD: segments publish never sees
		}
		return internalv1.EntityRecordKindCorrection, internalv1.Correction{Vpd: vpd, EntityKind: k, ID: r.ID, RecordType: r.Type}
	}
	return "", nil // PHA, ADA, COA, VHA
}

// expected splits the truth into the events a run over every file must
// have published and the leavers still held after the last file.
func (g *generated) expected() (events []got, held []HeldLeaver) {
	last := g.files[len(g.files)-1].RunDate
	for _, l := range g.truth {
		if l.Kind != gen.KindEvent {
			continue
		}
		if l.Due != "" && l.Due > last {
			held = append(held, HeldLeaver{Tenant: l.Tenant, PersonID: l.PersonID, EmployeeNumber: l.EmployeeNumber,
				Due: day(l.Due), LeavingReason: l.LeavingReason, LastWorkingDay: dayPtr(l.LastWorkingDay),
				SourceFile: l.File, SourceLine: int64(l.Line)})
			continue
		}
		events = append(events, got{File: l.File, Line: int64(l.Line), Type: l.Type, PersonID: l.PersonID, EmployeeNumber: l.EmployeeNumber,
			Effective: l.EffectiveDate, AssignmentNumber: l.AssignmentNumber, Scheduled: l.Scheduled, Rehire: l.Rehire,
			LeavingReason: l.LeavingReason, LastWorkingDay: l.LastWorkingDay, DaysLate: l.DaysLate, Change: l.Change})
	}
	slices.SortFunc(held, func(a, b HeldLeaver) int { return cmp.Compare(a.PersonID, b.PersonID) })
	return g.sorted(events), held
}

// sorted orders events as truth.jsonl does: by file, then line.
func (g *generated) sorted(ev []got) []got {
	order := map[string]int{}
	for i, f := range g.files {
		order[f.Name] = i
	}
	ev = slices.Clone(ev)
	slices.SortStableFunc(ev, func(a, b got) int {
		return cmp.Or(cmp.Compare(order[a.File], order[b.File]), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Type, b.Type), cmp.Compare(a.AssignmentNumber, b.AssignmentNumber))
	})
	return ev
}

func truthConfig() gen.Config {
	return gen.Config{Tenant: "RXX", VPD: "412", Staff: 2000, Days: 10, Seed: 1, Faults: true}
}

func TestTruth(t *testing.T) {
	t.Run("test-mapper", func(t *testing.T) { checkTruth(t, generate(t, truthConfig())) })
	t.Run("normalise.MapRow", func(t *testing.T) { checkTruth(t, generateWith(t, truthConfig(), true)) })
}

func checkTruth(t *testing.T, g *generated) {
	env := newEnv(t)
	h := newHarness(t, env)
	var reports []*internalv1.FileReport
	for _, s := range g.streams {
		reports = append(reports, h.reports(h.feed(s...))...)
	}
	gotEv := g.sorted(h.events(h.out))
	wantEv, wantHeld := g.expected()
	compareEvents(t, gotEv, wantEv)
	t.Logf("%d files, %d events published, %d leavers held after the last file", len(g.files), len(gotEv), len(wantHeld))
	if len(wantEv) < 300 || len(wantHeld) == 0 {
		t.Fatalf("truth has %d events and %d held leavers: the scenario is not exercised", len(wantEv), len(wantHeld))
	}

	held := h.p.scheduledLeavers("RXX")
	for i := range held {
		held[i].EventID = "" // not in the truth; checked below
	}
	if !reflect.DeepEqual(held, wantHeld) {
		t.Errorf("held after the last file:\n got  %+v\n want %+v", held, wantHeld)
	}

	// One ACCEPTED report per file, counts reconciling, events per file.
	if len(reports) != len(g.files) {
		t.Fatalf("%d reports for %d files", len(reports), len(g.files))
	}
	perFile := make([]map[string]int64, len(g.files))
	// Held leavers count in the file during which they fire; count the
	// emitted records per report instead of per source.
	idx := 0
	counts := map[string]int64{eventStarter: 0, eventLeaver: 0, eventPosition: 0, eventReversed: 0}
	for _, d := range h.decode(h.out) {
		if d.report != nil {
			perFile[idx] = counts
			idx++
			counts = map[string]int64{eventStarter: 0, eventLeaver: 0, eventPosition: 0, eventReversed: 0}
			continue
		}
		counts[d.got.Type]++
	}
	var total int64
	for i, r := range reports {
		if r.Status != internalv1.FileStatusAccepted || r.File.Name != g.files[i].Name || r.RowsRead != int64(g.files[i].Rows) ||
			r.RowsRead != r.EntitiesAccepted+r.Corrections+r.Ignored+r.Quarantined {
			t.Errorf("report %d: %+v", i, r)
		}
		if !reflect.DeepEqual(r.EventsEmitted, perFile[i]) {
			t.Errorf("report %s: events_emitted %v, want %v", r.File.Name, r.EventsEmitted, perFile[i])
		}
		for _, n := range r.EventsEmitted {
			total += n
		}
	}
	if total != int64(len(wantEv)) {
		t.Errorf("reports count %d events, want %d", total, len(wantEv))
	}

	// Re-delivering the last file gives no new event ids (it gives none).
	last := g.streams[len(g.streams)-1]
	if again := ids(h.decode(h.feed(last...))); len(again) != 0 {
		t.Errorf("re-fed last file produced %d events", len(again))
	}
}

// Every file delivered twice in a row: the second delivery adds nothing and
// the ids are those of a single delivery.
func TestTruthDuplicateDelivery(t *testing.T) {
	g := generate(t, truthConfig())
	env := newEnv(t)
	once, twice := newHarness(t, env), newHarness(t, env)
	for _, s := range g.streams {
		once.feed(s...)
		twice.feed(s...)
		twice.feed(s...)
	}
	a, b := ids(once.decode(once.out)), ids(twice.decode(twice.out))
	if len(a) == 0 || !slices.Equal(a, b) {
		t.Errorf("duplicate delivery changed the event ids: %d once, %d twice", len(a), len(b))
	}
}

func compareEvents(t *testing.T, gotEv, wantEv []got) {
	t.Helper()
	if reflect.DeepEqual(gotEv, wantEv) {
		return
	}
	t.Errorf("events differ from truth: got %d, want %d", len(gotEv), len(wantEv))
	key := func(g got) string { return g.String() }
	gm, wm := map[string]bool{}, map[string]bool{}
	for _, x := range gotEv {
		gm[key(x)] = true
	}
	for _, x := range wantEv {
		wm[key(x)] = true
	}
	n := 0
	for _, x := range wantEv {
		if !gm[key(x)] && n < 15 {
			t.Errorf("  only in truth: %s", x)
			n++
		}
	}
	n = 0
	for _, x := range gotEv {
		if !wm[key(x)] && n < 15 {
			t.Errorf("  only in got:   %s", x)
			n++
		}
	}
}
