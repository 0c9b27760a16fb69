package publish

import (
	"testing"
)

// A post re-titled by a POA row alone reaches every live holder as a
// position-updated, dated and sourced on the position row; a holder whose
// ASA row in the same file carries the new post is told once, from that
// row; a leaver and another post's holders are not told; the same row
// again changes nothing.
func TestPostChangedByAPositionRowAlone(t *testing.T) {
	h := newHarness(t, newEnv(t))
	f := newFile(tenantRXX, "2024-04-01", 1)
	h.feed(f.start(), f.org(7001, "412 Cardiology"), f.loc(9001, "Ward 7"),
		f.post(8101, "5100001", "Staff Nurse", "N6A", "2019-04-01"), f.post(8102, "5100002", "Bank Nurse", "N6B", "2019-04-01"),
		f.person(P{ID: 20000001, NHS: "1000001"}), f.asg(A{Person: 20000001, ID: 40000001, PosID: 8101}),
		f.person(P{ID: 20000002, NHS: "1000002"}), f.asg(A{Person: 20000002, ID: 40000002, PosID: 8101}),
		f.person(P{ID: 20000003, NHS: "1000003"}), f.asg(A{Person: 20000003, ID: 40000003, PosID: 8102, Pos: "5100002", Title: "Bank Nurse", Occ: "N6B"}),
		f.person(P{ID: 20000004, NHS: "1000004", Term: "2023-01-31", Reason: "Retirement Age"}),
		f.asg(A{Person: 20000004, ID: 40000004, PosID: 8101, Status: "TERM_ASSIGN", End: "2023-01-31"}),
		f.end())

	f2 := newFile(tenantRXX, "2024-04-03", 2)
	out := h.feed(f2.start(), f2.post(8101, "5100001", "Senior Staff Nurse", "N6B", "2024-04-02"), // line 2
		// 20000002's ASA is re-sent with the new post: told once, from it.
		f2.person(P{ID: 20000002, NHS: "1000002"}), // 3
		f2.asg(A{Person: 20000002, ID: 40000002, PosID: 8101, Start: "2024-04-02", Pos: "5100001", Title: "Senior Staff Nurse", Occ: "N6B"}), // 4
		f2.end())
	d := h.decode(out)
	var ev []decoded
	for _, x := range d {
		if x.position != nil {
			ev = append(ev, x)
		}
	}
	if len(ev) != 2 {
		t.Fatalf("want 2 position-updated, got %v", h.events(out))
	}
	byPerson := map[string]decoded{}
	for _, x := range ev {
		byPerson[x.got.PersonID] = x
	}
	a, b := byPerson["20000001"], byPerson["20000002"]
	if a.position == nil || a.got.Line != 2 || a.got.Effective != "2024-04-02" || a.got.Change != changeAttributes ||
		a.position.Before.PositionTitle != "Staff Nurse" || a.position.After.PositionTitle != "Senior Staff Nurse" ||
		a.position.Before.OccupationCode != "N6A" || a.position.After.OccupationCode != "N6B" ||
		a.position.After.Organisation != "412 Cardiology" || a.position.After.Location != "Ward 7" || a.got.AssignmentNumber != "30000001" {
		t.Errorf("the holder told by the position row: %+v %+v", a.got, a.position)
	}
	if b.position == nil || b.got.Line != 4 {
		t.Errorf("the holder whose ASA came too: %+v", b.got)
	}
	if reps := h.reports(out); len(reps) != 1 || reps[0].EventsEmitted[eventPosition] != 2 {
		t.Errorf("report %+v", reps)
	}
	// The same post again, in a later file: nothing.
	f3 := newFile(tenantRXX, "2024-04-04", 3)
	if ev := h.events(h.feed(f3.start(), f3.post(8101, "5100001", "Senior Staff Nurse", "N6B", "2024-04-02"), f3.end())); len(ev) != 0 {
		t.Fatalf("the unchanged post sent %v", ev)
	}
	// And it survives a restart: the holders index comes back with the people.
	r := h.restored()
	f4 := newFile(tenantRXX, "2024-04-05", 4)
	if ev := r.events(r.feed(f4.start(), f4.post(8101, "5100001", "Charge Nurse", "N6B", "2024-04-05"), f4.end())); len(ev) != 2 {
		t.Fatalf("after a restore, a re-titled post sent %v", ev)
	}
}
