package publish

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// This file carries a change of a post to the people who hold it. ESR may
// send a re-titled post, or a new occupation code, as a POA row alone,
// without re-sending its holders' assignments; position-based access
// (smartcards, rostering) depends on it, so every current holder gets a
// position-updated ATTRIBUTES_CHANGED with before and after, dated on the
// position row's effective date and sourced from it.
//
// The row is noted when read and applied at the file's end: a holder whose
// ASA row in the same file already carries the new post has its change from
// that row (rule 4), and is not told twice.

// postChange is a position row whose post differs from what a holder holds.
type postChange struct {
	PositionID int64   `json:"id"`
	Line       int64   `json:"line"`
	Effective  string  `json:"eff"`
	Number     string  `json:"pn"`
	Title      string  `json:"pt"`
	Occupation string  `json:"oc"`
	Src        *source `json:"src,omitempty"`   // the row's original file, in a replay batch
	Stamp      *stamp  `json:"stamp,omitempty"` // the row's lineage
}

// withPost is a with the post's own attributes (number, title, occupation
// code); the rest (organisation, grade, staff group, job role, location)
// belongs to the assignment.
func (c *postChange) withPost(a attrs) attrs {
	a.PositionNumber, a.PositionTitle, a.OccupationCode = c.Number, c.Title, c.Occupation
	return a
}

// postRow notes a position row of a change file whose post differs from
// what one of its live holders holds. The baseline sets state only.
func (w *work) postRow(e *internalv1.Position, line int64, src *source, st *stamp) {
	o := w.t.hdr.Open
	if o == nil || o.Baseline {
		return
	}
	c := postChange{PositionID: e.PositionID, Line: line, Effective: isoDate(e.EffectiveFrom),
		Number: e.Number, Title: e.Title, Occupation: e.OccupationCode, Src: src, Stamp: st}
	for _, h := range w.t.heldBy(e.PositionID) {
		if a := w.t.person(h[0]).Assignments[h[1]]; c.withPost(a.Attrs) != a.Attrs {
			o.PostChanges = append(o.PostChanges, c)
			w.saveHeader()
			return
		}
	}
}

// postChanges emits, at the file's end, the position-updated of every live
// holder whose post a position row of the file changed, in (row, person,
// assignment) order, and stores the new post on their assignment.
func (w *work) postChanges() error {
	t, o := w.t, w.t.hdr.Open
	if len(o.PostChanges) == 0 {
		return nil
	}
	for _, c := range o.PostChanges {
		for _, h := range t.heldBy(c.PositionID) {
			pid, id := h[0], h[1]
			p := t.person(pid)
			before := p.Assignments[id].Attrs
			after := c.withPost(before)
			if after == before {
				continue // its ASA row in this file already moved it
			}
			sb, sa := t.snapshotOf(before), t.snapshotOf(after)
			name, sha := o.Name, o.Sha256
			if c.Src != nil {
				name, sha = c.Src.Name, c.Src.Sha256
			}
			e := event{Type: eventPosition, Tenant: t.code, VPD: o.VPD, PersonID: pid, EmployeeNumber: p.EmployeeNumber,
				Effective: c.Effective, FileName: name, FileSha256: sha, Line: c.Line,
				AssignmentNumber: p.Assignments[id].Number, Change: changeAttributes, Before: &sb, After: &sa, Stamp: c.Stamp}
			if err := w.emit(&e, true); err != nil {
				return err
			}
			q := p.clone()
			q.Assignments[id].Attrs = after
			w.putPerson(pid, q)
		}
	}
	o.PostChanges = nil
	return nil
}

// heldBy lists the live assignments naming the position, as (person id,
// assignment id), sorted.
func (t *tenantState) heldBy(positionID int64) [][2]string {
	var out [][2]string
	for _, id := range t.ids(prefixKey(t.code, keyHolder, strconv.FormatInt(positionID, 10))) {
		owner, _ := t.get(stateKey(t.code, keyOwner, id))
		pid := string(owner)
		if p := t.person(pid); p != nil && p.Assignments[id].live() {
			out = append(out, [2]string{pid, id})
		}
	}
	slices.SortFunc(out, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	return out
}
