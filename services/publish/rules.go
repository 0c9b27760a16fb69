package publish

import (
	"maps"
	"slices"
	"time"
)

// This file holds the truth rules of docs/generator.md over the publish
// state: pure functions from (state before a person group, state after it,
// the group's rows, the run date) to what must happen. Dates are ISO
// "YYYY-MM-DD" strings ("" = no date), so they compare as the rules read.

// Event names (the <event> part of esr.<tenant>.<event>.v1).
const (
	eventStarter  = "starter-created"
	eventLeaver   = "leaver-confirmed"
	eventPosition = "position-updated"
	eventReversed = "leaver-reversed"
)

// Reversals: why a confirmed leaver no longer stands.
const (
	reversalWithdrawn = "WITHDRAWN" // ESR cleared the termination
	reversalRedated   = "REDATED"   // ESR moved it past the run date of the file that says so
)

// Position-updated changes.
const (
	changeAdded      = "ASSIGNMENT_ADDED"
	changeEnded      = "ASSIGNMENT_ENDED"
	changeAttributes = "ATTRIBUTES_CHANGED"
)

// ESR system assignment statuses that decide the rules.
const (
	statusActive    = "ACTIVE_ASSIGN"
	statusSuspended = "SUSP_ASSIGN"
)

// attrs is an assignment's attribute tuple: a difference in any of these is
// ATTRIBUTES_CHANGED. The grade is the whole owner|code|description
// composite.
type attrs struct {
	PositionNumber string `json:"pn,omitempty"`
	PositionTitle  string `json:"pt,omitempty"`
	OccupationCode string `json:"oc,omitempty"`
	OrganisationID int64  `json:"org,omitempty"`
	GradeOwner     string `json:"go,omitempty"`
	GradeCode      string `json:"gc,omitempty"`
	GradeDesc      string `json:"gd,omitempty"`
	StaffGroup     string `json:"sg,omitempty"`
	JobRole        string `json:"jr,omitempty"`
	LocationID     int64  `json:"loc,omitempty"`
}

// assignment is what publish keeps of an ASA row.
type assignment struct {
	Type     string `json:"type"`
	Status   string `json:"status"`
	Number   string `json:"number"`
	Start    string `json:"start,omitempty"`    // effective start (col 3)
	Earliest string `json:"earliest,omitempty"` // earliest assignment start (col 5)
	LastDay  string `json:"lwd,omitempty"`      // last working day (col 45)
	End      string `json:"end,omitempty"`      // final assignment end date (col 48)
	Attrs    attrs  `json:"attrs"`
	// PositionID is the post the assignment holds (ASA col 28), so a
	// re-titled post (a POA row alone) reaches its holders.
	PositionID int64 `json:"pos_id,omitempty"`
}

// live: an employee assignment that is active or suspended.
func (a *assignment) live() bool {
	return a != nil && a.Type == "E" && (a.Status == statusActive || a.Status == statusSuspended)
}

// person is what publish keeps of a person: no names, no NI number, nothing
// special-category.
type person struct {
	ID             string                 `json:"id"`
	EmployeeNumber string                 `json:"emp,omitempty"`
	NHSUniqueID    string                 `json:"nhs,omitempty"`
	Termination    string                 `json:"term,omitempty"`
	LeavingReason  string                 `json:"reason,omitempty"`
	Assignments    map[string]*assignment `json:"asgs,omitempty"` // by assignment id
	// Match is a salted digest of NI number and date of birth, to recognise
	// a rehire without an NHS Unique ID; the values themselves are not kept.
	Match string `json:"match,omitempty"`
	// Seen is the number (Files) of the last full file that listed the
	// person, so a full file's omissions can be found at its end.
	Seen int64 `json:"seen,omitempty"`
	// Left is the leaver-confirmed published for the person's current
	// employment end, until a starter (a new employment) or a
	// leaver-reversed clears it. While it stands no second leaver is
	// published for the person, whatever the clock and the file order.
	Left *leftRecord `json:"left,omitempty"`
}

// leftRecord is what a reversal needs of a published leaver.
type leftRecord struct {
	EventID string `json:"id"`
	Date    string `json:"date"`
	Reason  string `json:"reason,omitempty"`
}

func (p *person) clone() *person {
	if p == nil {
		return nil
	}
	c := *p
	c.Assignments = make(map[string]*assignment, len(p.Assignments))
	for k, v := range p.Assignments {
		a := *v
		c.Assignments[k] = &a
	}
	return &c
}

func (p *person) asg(id string) *assignment {
	if p == nil {
		return nil
	}
	return p.Assignments[id]
}

func (p *person) term() string {
	if p == nil {
		return ""
	}
	return p.Termination
}

// employed: at least one live assignment.
func (p *person) employed() bool {
	if p == nil {
		return false
	}
	for _, a := range p.Assignments {
		if a.live() {
			return true
		}
	}
	return false
}

// earliestLive is S: the earliest col 5 over the live assignments.
func (p *person) earliestLive() string {
	s, found := "", false
	for _, a := range p.Assignments {
		if a.live() && (!found || a.Earliest < s) {
			s, found = a.Earliest, true
		}
	}
	return s
}

// groupRow is one ASA row of a person group: the assignment id and line.
type groupRow struct {
	ID   string `json:"id"`
	Line int64  `json:"line"`
}

// group is an open person group: the PRA line (0 when the group began at an
// ASA), the person as it stands after the rows so far (A), and the ASA rows
// in file order. B is the stored person, untouched until the group closes.
type group struct {
	PersonID string     `json:"pid"`
	PRALine  int64      `json:"pra,omitempty"`
	After    *person    `json:"after"`
	Rows     []groupRow `json:"rows,omitempty"`
	// Src is the file the group's rows were first read from when it is not
	// the open file (a replay batch): its events are sourced from there, so
	// a row replayed twice derives the same event ids.
	Src *source `json:"src,omitempty"`
	// Stamps are the lineage stamps of the group's rows, by line.
	Stamps map[int64]*stamp `json:"stamps,omitempty"`
}

// source is a file an event is sourced from.
type source struct {
	Name   string `json:"name"`
	Sha256 string `json:"sha256"`
}

// snapshot is the position-relevant view of an assignment, names resolved.
type snapshot struct {
	PositionNumber string `json:"pn"`
	PositionTitle  string `json:"pt"`
	Organisation   string `json:"org"`
	Grade          string `json:"grade"`
	StaffGroup     string `json:"sg"`
	JobRole        string `json:"jr"`
	OccupationCode string `json:"oc"`
	Location       string `json:"loc"`
}

// event is one derived event, before it is given a time and encoded. Held
// leavers are stored as this (with Due) in the changelog.
type event struct {
	ID             string `json:"id"`
	Type           string `json:"type"`
	Tenant         string `json:"tenant"`
	VPD            string `json:"vpd"`
	PersonID       string `json:"pid"`
	EmployeeNumber string `json:"emp"`
	Effective      string `json:"eff"`
	FileName       string `json:"file"`
	FileSha256     string `json:"sha"`
	Line           int64  `json:"line"`

	AssignmentNumber string `json:"asg,omitempty"`
	// starter-created
	PositionNumber string `json:"pn,omitempty"`
	PositionTitle  string `json:"pt,omitempty"`
	Organisation   string `json:"org,omitempty"`
	Scheduled      bool   `json:"scheduled,omitempty"`
	Rehire         bool   `json:"rehire,omitempty"`
	TransferFrom   string `json:"from,omitempty"`
	// leaver-confirmed
	LeavingReason  string `json:"reason,omitempty"`
	LastWorkingDay string `json:"lwd,omitempty"`
	FinalEnd       string `json:"final_end,omitempty"`
	DaysLate       int    `json:"days_late,omitempty"`
	Due            string `json:"due,omitempty"` // held leavers only
	TransferTo     string `json:"to,omitempty"`
	// Held leavers only: Pending while the file that decided the leaver is
	// open (the guard decides at its end); Batch once the guard holds it for
	// an operator; PreFile is the person before that file, restored if the
	// operator rejects the batch.
	Pending bool    `json:"pending,omitempty"`
	Batch   string  `json:"batch,omitempty"`
	PreFile *person `json:"pre_file,omitempty"`
	// leaver-reversed: the leaver that no longer stands, why, and the new
	// leaving date of a re-dating
	Reverses     string `json:"reverses,omitempty"`
	ReversedDate string `json:"reversed_date,omitempty"`
	Reversal     string `json:"reversal,omitempty"`
	NewDate      string `json:"new_date,omitempty"`
	// position-updated
	Change string    `json:"change,omitempty"`
	Before *snapshot `json:"before,omitempty"`
	After  *snapshot `json:"after,omitempty"`
	// Stamp is the lineage of the row the event names (esr.ops.lineage.v1);
	// nil when it carried none. Not part of the event's id.
	Stamp *stamp `json:"stamp,omitempty"`
}

// fileCtx is what the rules need to know about the file being processed.
type fileCtx struct {
	tenant, vpd  string
	name, sha256 string
	run          string // run date
	baseline     bool
	rehire       func(p *person) bool   // another person id of the tenant is p (NHS Unique ID, else NI + DOB)
	transferFrom func(p *person) string // the tenant p transferred from, if any
	names        func(a attrs) snapshot // resolves organisation and location names
	orgName      func(id int64) string  //
	hasHeld      func(pid string) bool  // a held leaver exists for the person
}

// outcome is what closing one group does besides storing A.
type outcome struct {
	emit      []event // fire now
	hold      *event  // new held leaver (replaces any held one)
	dropHeld  bool    // the person's held leaver is removed (re-dated, fired or withdrawn)
	withdrawn bool    // the held leaver was withdrawn (rule 2)
	clearLeft bool    // the person's confirmed leaver no longer stands (a reversal or a new employment)
}

// derive applies the truth rules to one closed group. B is the stored
// person before the group (nil for a new person id), g.After is A.
func derive(f *fileCtx, B *person, g *group) outcome {
	A := g.After
	var out outcome
	base := event{Tenant: f.tenant, VPD: f.vpd, PersonID: A.ID, EmployeeNumber: A.EmployeeNumber,
		FileName: f.name, FileSha256: f.sha256}

	starter := func() {
		s := A.earliestLive()
		e := base
		e.Type, e.Effective, e.Line = eventStarter, s, g.PRALine
		var chosen *assignment
		for _, r := range g.Rows {
			if a := A.asg(r.ID); a.live() && a.Earliest == s {
				chosen, e.Line = a, r.Line
				break
			}
		}
		if chosen == nil { // not in this group's rows (cannot happen in ESR files): lowest id
			for _, id := range slices.Sorted(maps.Keys(A.Assignments)) {
				if a := A.Assignments[id]; a.live() && a.Earliest == s {
					chosen = a
					break
				}
			}
		}
		if chosen != nil {
			e.AssignmentNumber = chosen.Number
			e.PositionNumber, e.PositionTitle = chosen.Attrs.PositionNumber, chosen.Attrs.PositionTitle
			e.Organisation = f.orgName(chosen.Attrs.OrganisationID)
		}
		e.Scheduled, e.Rehire, e.TransferFrom = s > f.run, f.rehire(A), f.transferFrom(A)
		out.emit = append(out.emit, e)
	}

	// lastWorkingDay and finalEnd look at the group's ASA rows whose
	// assignment is live in A or was live in B.
	counted := func(id string) bool { return A.asg(id).live() || B.asg(id).live() }
	lastWorkingDay := func() string {
		best := ""
		for _, r := range g.Rows {
			if a := A.asg(r.ID); a != nil && counted(r.ID) && a.LastDay > best {
				best = a.LastDay
			}
		}
		return best
	}
	finalEnd := func() string {
		best := ""
		for _, r := range g.Rows {
			if a := A.asg(r.ID); a != nil && counted(r.ID) && a.End > best {
				best = a.End
			}
		}
		return best
	}
	leaver := func(line int64, l string) {
		e := base
		e.Type, e.Line, e.Effective = eventLeaver, line, l
		e.LeavingReason, e.LastWorkingDay = A.LeavingReason, lastWorkingDay()
		if fe := finalEnd(); fe != l {
			e.FinalEnd = fe
		}
		if f.hasHeld(A.ID) {
			out.dropHeld = true // re-dated: the newest record replaces the held one
		}
		if l > f.run {
			e.Due = l
			out.hold = &e
			return
		}
		e.DaysLate = max(0, daysBetween(l, f.run))
		out.emit = append(out.emit, e)
	}

	if f.baseline {
		if A.employed() && A.earliestLive() >= f.run {
			starter()
		}
		if t := A.Termination; t != "" && t >= f.run {
			leaver(g.PRALine, t)
		}
		return out
	}

	empB, empA := B.employed(), A.employed()
	termB := B.term()
	// endingRows is rule 1.2's source: the last row of the group whose
	// assignment was live in B and is not in A, and the latest final end
	// date among those assignments.
	endingRows := func() (line int64, l string) {
		for _, r := range g.Rows {
			if B.asg(r.ID).live() && !A.asg(r.ID).live() {
				line = r.Line
				if a := A.asg(r.ID); a != nil && a.End > l {
					l = a.End
				}
			}
		}
		return line, l
	}
	left := B.confirmedLeaver()
	switch {
	case left != nil && !empB && empA:
		// A new employment after a confirmed leaver: a starter (rule 3,
		// a rehire whatever the ids), which ends the old leaver's standing.
	case left != nil && empA && A.Termination == "":
		// The termination was withdrawn after its leaver was published.
		out.emit = append(out.emit, reversal(base, left, g.PRALine, reversalWithdrawn, ""))
		out.clearLeft = true
	case left != nil:
		// At most one leaver per employment end: a re-sent, re-dated or
		// completed termination is no second leaver. Only a new date after
		// the file's run date means the person is employed after all: the
		// published leaver is reversed and the new date is held as usual.
		line, l := g.PRALine, A.Termination
		if l == "" && empB && !empA {
			line, l = endingRows()
		}
		if empB && l != "" && l != left.Date && l > f.run {
			out.emit = append(out.emit, reversal(base, left, line, reversalRedated, l))
			out.clearLeft = true
			leaver(line, l)
		}
	case empB && A.Termination != "" && A.Termination != termB: // rule 1.1
		leaver(g.PRALine, A.Termination)
	case empB && !empA && (A.Termination == "" || A.Termination != termB): // rule 1.2
		// (A.T = B.T set: rule 1.1 decided this leaving on an earlier file;
		// ESR re-sending the person terminated after the date is no second
		// leaver.)
		leaver(endingRows())
	}
	if termB != "" && A.Termination == "" && f.hasHeld(A.ID) { // rule 2
		out.dropHeld, out.withdrawn = true, true
	}
	if !empB && empA { // rule 3
		starter()
		if left != nil || termB != "" {
			// The same person id returning after they left (new numbers,
			// or the termination reversed once the assignments had ended)
			// is a rehire, whatever the other records say.
			out.emit[len(out.emit)-1].Rehire = true
		}
		out.clearLeft = true
	}
	if empB && empA { // rule 4
		seen := map[string]bool{}
		for _, r := range g.Rows {
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			a, b := A.asg(r.ID), B.asg(r.ID)
			if a == nil {
				continue
			}
			e := base
			e.Type, e.Line, e.AssignmentNumber = eventPosition, r.Line, a.Number
			switch {
			case !b.live() && a.live() && a.Status == statusActive:
				e.Change, e.Effective = changeAdded, a.Earliest
				s := f.names(a.Attrs)
				e.After = &s
			case b.live() && !a.live():
				e.Change, e.Effective = changeEnded, a.End
				s := f.names(b.Attrs)
				e.Before = &s
			case b.live() && a.live() && a.Attrs != b.Attrs:
				e.Change, e.Effective = changeAttributes, a.Start
				sb, sa := f.names(b.Attrs), f.names(a.Attrs)
				e.Before, e.After = &sb, &sa
			default:
				continue
			}
			out.emit = append(out.emit, e)
		}
	}
	return out
}

// confirmedLeaver is the published leaver that stands for the person, if any.
func (p *person) confirmedLeaver() *leftRecord {
	if p == nil {
		return nil
	}
	return p.Left
}

// reversal is the leaver-reversed of a published leaver, caused by the
// record at line of the file in base.
func reversal(base event, left *leftRecord, line int64, why, newDate string) event {
	e := base
	e.Type, e.Line, e.Effective = eventReversed, line, left.Date
	e.Reverses, e.ReversedDate, e.Reversal, e.NewDate, e.LeavingReason = left.EventID, left.Date, why, newDate, left.Reason
	return e
}

// daysBetween is to - from in whole days.
func daysBetween(from, to string) int {
	a, err1 := time.Parse(time.DateOnly, from)
	b, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil {
		return 0
	}
	return int(b.Sub(a).Hours() / 24)
}
