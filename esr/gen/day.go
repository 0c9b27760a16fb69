package gen

import (
	"slices"
	"strconv"
)

// simulateDay applies one day of ESR activity for change file s.file. The
// order matters only for determinism; each person takes part in at most one
// action per file (see touch), so the truth of a file never depends on how
// actions would interleave.
func (s *sim) simulateDay() {
	s.touched = s.touched[:0]
	s.fileLocs, s.fileOrgs, s.filePoss = s.fileLocs[:0], s.fileOrgs[:0], s.filePoss[:0]
	s.deletes = s.deletes[:0]
	s.badDels = 0
	s.fileLeavers, s.budget = 0, s.leaverBudget()

	s.processDue()
	s.runDeletes()
	s.titleChanges()
	s.progressApplicants()
	for i := s.quota(1, 2); i > 0; i-- {
		s.seedApplicant()
	}
	s.starters()
	s.rehires()
	s.transfersIn()
	// Scenarios that must happen today come before the random leavers, so
	// the leaver budget never starves them.
	s.transfersOut()
	s.lastPostEnds()
	s.leavers()
	s.suspendedLeavers()
	s.assignmentLeavers()
	s.withdrawOrRedate()
	s.moves()
	s.addSecondaries()
	s.endSecondaries()
	s.firstPostEnds()
	s.suspensions()
	s.detailChanges()
	s.erroneousRows()
	s.erroneousEntities()
	s.referenceRefresh()
	if s.cfg.Faults {
		s.plantFaults()
	}
	s.res.Stats.MaxFileLeavers = max(s.res.Stats.MaxFileLeavers, s.fileLeavers)
}

// nextDay moves the simulation to change file k.
func (s *sim) nextDay(k int) {
	s.file = k
	s.run = s.start + date(k)
}

// leaverBudget is the most leavers (immediate, future-dated and re-dated)
// one change file may carry, so that publish's default leaver guard
// ({max 100, 5 %, min 10}) never holds generated data: under 10 for trusts
// below 10,000 staff, else 4 % of those employed, at most 100.
func (s *sim) leaverBudget() int {
	if s.cfg.Staff < 10_000 {
		return 9
	}
	n := 0
	for _, p := range s.people {
		if p.life == lcEmployed || p.life == lcPendingLeave {
			n++
		}
	}
	return min(100, n*4/100)
}

// leaverRoom says whether today's file can take one more leaver.
func (s *sim) leaverRoom() bool { return s.file == 0 || s.fileLeavers < s.budget }

// processDue moves the clock: held leavers whose date has come are now gone
// (the event fired on its due date; ESR sends no new row for that), locked
// people whose erroneous assignment was deleted are released, and suspended
// people whose absence ends return to active (a row, but no event).
func (s *sim) processDue() {
	keep := s.pending[:0]
	for _, p := range s.pending {
		if p.life != lcPendingLeave {
			continue
		}
		if p.term > s.run {
			keep = append(keep, p)
			continue
		}
		// ESR sends no row when the date passes, and the generator does not
		// model one: the person's rows stay as last written, so a later full
		// file re-sends them unchanged and nothing fires twice.
		p.life, p.leftOn, p.pendingIdx, p.pendingOff = lcLeft, p.term, -1, -1
	}
	s.pending = keep

	lk := s.locked[:0]
	for _, p := range s.locked {
		if p.unlockAt > 0 && p.unlockAt <= s.file {
			p.locked = false
			continue
		}
		lk = append(lk, p)
	}
	s.locked = lk

	sk := s.suspended[:0]
	for _, p := range s.suspended {
		if p.suspendTill == 0 || p.life != lcEmployed {
			continue // left while suspended
		}
		if p.suspendTill != s.file {
			sk = append(sk, p)
			continue
		}
		upd := s.recent()
		for _, a := range p.asgs {
			if a.status == asSuspended {
				a.status, a.userStatus, a.effStart, a.updated = asActive, "Active Assignment", s.run, upd
			}
		}
		p.suspendTill = 0
		s.touch(p)
		s.res.Stats.Returns++
	}
	s.suspended = sk
}

// runDeletes writes the delete rows scheduled for today and removes the
// entities from state. A person whose erroneous assignment is deleted stays
// out of other scenarios until the next file, so the delete row (which comes
// after all person groups) never shares a file with a change to that person.
func (s *sim) runDeletes() {
	for _, d := range takeDue(&s.scheduled, func(d scheduledDelete) bool { return d.file == s.file }) {
		p := d.p
		switch d.tag {
		case "ASD":
			p.asgs = slices.DeleteFunc(p.asgs, func(a *assignment) bool { return a == d.asg })
			s.deletes = append(s.deletes, d)
			p.costs = slices.DeleteFunc(p.costs, func(c *costing) bool {
				if c.asg == d.asg {
					s.deletes = append(s.deletes, scheduledDelete{tag: "COD", id: c.id})
					return true
				}
				return false
			})
			p.unlockAt = s.file + 1
		case "PHD":
			p.phones = slices.DeleteFunc(p.phones, func(x *phone) bool { return x.id == d.id })
			s.deletes = append(s.deletes, d)
		case "ADD":
			p.addrs = slices.DeleteFunc(p.addrs, func(x *address) bool { return x.id == d.id })
			s.deletes = append(s.deletes, d)
		case "COD":
			p.costs = slices.DeleteFunc(p.costs, func(x *costing) bool { return x.id == d.id })
			s.deletes = append(s.deletes, d)
		case "POD":
			s.errPoss = slices.DeleteFunc(s.errPoss, func(x *position) bool { return x == d.pos })
			s.deletes = append(s.deletes, d)
		case "PRD":
			// an applicant created in error: its assignment, then the person
			s.deletes = append(s.deletes, scheduledDelete{tag: "ASD", id: d.asg.id}, d)
			p.life = lcDeleted
			s.people = slices.DeleteFunc(s.people, func(x *person) bool { return x == p })
		case "ORD":
			s.errOrgs = slices.DeleteFunc(s.errOrgs, func(x *organisation) bool { return x == d.org })
			s.deletes = append(s.deletes, d)
		case "LCD":
			s.errLocs = slices.DeleteFunc(s.errLocs, func(x *location) bool { return x == d.loc })
			s.deletes = append(s.deletes, d)
		}
	}
}

func (s *sim) event(p *person, in intent) {
	p.intents = append(p.intents, in)
	if in.kind == KindEvent && in.typ == TypeLeaver && s.file > 0 {
		s.fileLeavers++
	}
	s.touch(p)
}

// titleChanges renames a position. ESR re-sends the POA row and every
// incumbent (the position name composite on their ASA rows changes), so each
// live incumbent assignment gets one ATTRIBUTES_CHANGED at its ASA row.
func (s *sim) titleChanges() {
	n := s.quota(0.3, 2)
	if n == 0 {
		return
	}
	held := s.incumbents()
	for ; n > 0; n-- {
		for try := 0; try < 12; try++ {
			pos := s.regularPosition()
			inc := held.of(pos)
			ok := len(inc) > 0
			for _, p := range inc {
				ok = ok && s.free(p)
			}
			if !ok {
				continue
			}
			base := jobs[pos.job].title
			variants := []string{base + " - " + areas[pos.area], "Lead " + base, base + " (Rotational)", base}
			title := pos.title
			for title == pos.title {
				title = pick(s, variants)
			}
			upd := s.recent()
			pos.title, pos.from, pos.updated = title, s.run, upd
			s.filePoss = append(s.filePoss, pos)
			for _, p := range inc {
				for _, a := range p.asgs {
					if a.pos == pos && a.live() {
						a.effStart, a.updated = s.run, upd
						s.event(p, intent{kind: KindEvent, typ: TypePosition, change: ChangeAttributes, asg: a, eff: s.run})
					}
				}
			}
			s.res.Stats.TitleChanges++
			break
		}
	}
}

// incumbency lists, per position, the people holding a non-terminated
// assignment on it, in person order. It is built in one counting pass into
// two flat slices, so a title change never rescans everybody per try.
type incumbency struct {
	start  []int
	people []*person
}

func (ix *incumbency) of(pos *position) []*person {
	return ix.people[ix.start[pos.seq]:ix.start[pos.seq+1]]
}

func (s *sim) incumbents() *incumbency {
	ix := &incumbency{start: make([]int, len(s.allPoss)+1)}
	each := func(f func(p *person, pos *position)) {
		for _, p := range s.people {
			for i, a := range p.asgs {
				if a.status != asTerminated && !a.pos.erroneous && !p.holdsEarlier(i, a.pos) {
					f(p, a.pos)
				}
			}
		}
	}
	each(func(_ *person, pos *position) { ix.start[pos.seq+1]++ })
	for i := 1; i < len(ix.start); i++ {
		ix.start[i] += ix.start[i-1]
	}
	ix.people = make([]*person, ix.start[len(ix.start)-1])
	next := make([]int, len(ix.start))
	copy(next, ix.start)
	each(func(p *person, pos *position) {
		ix.people[next[pos.seq]] = p
		next[pos.seq]++
	})
	return ix
}

// holdsEarlier reports whether an assignment before index i already put p
// on pos, so a person is listed once per position.
func (p *person) holdsEarlier(i int, pos *position) bool {
	for _, a := range p.asgs[:i] {
		if a.pos == pos && a.status != asTerminated {
			return true
		}
	}
	return false
}

// progressApplicants walks applicants through ACTIVE_APL -> OFFER ->
// ACCEPTED over several files (no events) and finally hires them: the
// assignment turns into a type E ACTIVE_ASSIGN one, which is the starter.
func (s *sim) progressApplicants() {
	keep := s.applicants[:0]
	for _, p := range s.applicants {
		if p.life != lcApplicant {
			continue
		}
		if p.aplNext > s.file || p.touched == s.file {
			keep = append(keep, p)
			continue
		}
		a := p.asgs[0]
		upd := s.recent()
		if p.aplStage < 2 {
			p.aplStage++
			a.status, a.userStatus, a.effStart, a.updated = asApplicant+p.aplStage, applicantUserStatus[p.aplStage], s.run, upd
			p.aplNext = s.file + 1 + s.intn(3)
			s.touch(p)
			keep = append(keep, p)
			continue
		}
		start := s.run + date(pick(s, []int{0, 0, 1, 3, 7, 14}))
		a.applicant = false
		a.status, a.userStatus = asActive, "Active Assignment"
		a.earliest, a.effStart, a.gradeStart, a.updated = start, start, start, upd
		p.costs = append(p.costs, &costing{id: s.id(&s.nextCost), asg: a, from: start, to: noDate, cc: a.org.cc, pct: "100", updated: upd})
		p.ptype, p.life = ptEmployee, lcEmployed
		p.hire, p.effStart, p.nhsStart, p.updated = start, start, start, upd
		s.event(p, intent{kind: KindEvent, typ: TypeStarter, asg: a, eff: start, scheduled: start > s.run})
		s.res.Stats.ApplicantHires++
	}
	s.applicants = keep
}

// starters hires new people directly (no applicant stage): some recorded
// after their first day, some on it, some ahead of it (scheduled).
func (s *sim) starters() {
	n := s.quota(2.5, 1)
	for i := 0; i < n; i++ {
		var start date
		switch (s.file + i) % 3 {
		case 0:
			start = s.run - date(1+s.intn(7))
		case 1:
			start = s.run
		default:
			start = s.run + date(1+s.intn(30))
		}
		s.newStarter(start, nil, nil, intent{})
	}
}

// newStarter creates a person employed from start. With old set it is the
// same human as old (a rehire, or a transfer from another trust): a NEW
// person id and employee number. in carries the starter's flags.
func (s *sim) newStarter(start date, id *identity, old *person, in intent) *person {
	var pos *position
	upd := s.recent()
	if s.chance(0.15) {
		pos = s.newPosition(s.weightedJob(false), pick(s, s.depts), s.run, upd)
		s.filePoss = append(s.filePoss, pos)
		s.res.Stats.NewPositions++
	} else {
		pos = s.regularPosition()
	}
	if id == nil {
		id = s.newIdentity(noDate)
		id.dob = s.dobFor(start)
	}
	p := s.newPerson(id, jobs[pos.job].medical)
	p.hire, p.effStart, p.ptype, p.life, p.updated = start, start, ptEmployee, lcEmployed, upd
	p.nhsStart = start
	if old != nil {
		p.last, p.title, p.maiden, p.nhsStart = old.last, old.title, old.maiden, old.nhsStart
	}
	s.addContacts(p, start, upd)
	a := s.newAsg(p, pos, start, true, upd)
	if s.chance(0.15) {
		s.newAsg(p, s.bankPosition(), start+date(s.intn(10)), false, upd)
	}
	in.kind, in.typ, in.asg, in.eff, in.scheduled = KindEvent, TypeStarter, a, start, start > s.run
	s.event(p, in)
	return p
}

// rehires bring back someone who left earlier (from the full file's history
// or from an earlier change file).
// About a third come back on a record keyed without an NHS Unique ID: the
// pipeline recognises them by NI number and date of birth. Humans who moved
// between trusts, or left with a transfer reason, are never rehired, so a
// starter is never both a rehire and a transfer.
func (s *sim) rehires() {
	for n := s.quota(0.4, 2); n > 0; n-- {
		old := s.find(func(p *person) bool {
			return p.life == lcLeft && !p.rehired && p.leftOn < s.run && !p.id0.xfer && !transferReason(p.reason)
		})
		if old == nil {
			return
		}
		old.rehired = true
		p := s.newStarter(s.run+date(s.intn(15)), old.id0, old, intent{rehire: true})
		if (s.file+n)%3 == 0 {
			p.noNHS = true
			s.res.Stats.NoNHSRehires++
		}
	}
}

// recordLeaver records a termination with leaving date L on the PRA row.
// A date after the run date is held by the pipeline until L (ESR keeps the
// person EMP and the assignments active, with the final dates filled in);
// otherwise the person is terminated now, possibly days late.
func (s *sim) recordLeaver(p *person, L date) {
	reason := pick(s, leavingReasons)
	for p.id0.xfer && transferReason(reason) {
		reason = pick(s, leavingReasons) // see identity.xfer
	}
	s.recordLeaverFor(p, L, reason, "")
}

// recordLeaverFor records a leaver with the given reason; to is the trust
// the person moves to (transfer_to_tenant), if any.
func (s *sim) recordLeaverFor(p *person, L date, reason, to string) {
	ls := p.lastActivity()
	lwd := L
	if s.chance(0.3) {
		lwd = max(L-date(1+s.intn(3)), ls)
	}
	upd := s.recent()
	if s.file == 0 {
		upd = s.stampOn(s.run - 1 - date(s.intn(10)))
	}
	p.term, p.reason, p.updated = L, reason, upd
	in := intent{kind: KindEvent, typ: TypeLeaver, eff: L, lwd: lwd, reason: reason, xferTo: to}
	if L > s.run {
		for _, a := range p.asgs {
			if a.live() {
				a.end, a.lwd, a.updated = L, lwd, upd
			}
		}
		p.life = lcPendingLeave
		s.pending = append(s.pending, p)
		in.held = true
	} else {
		for _, a := range p.asgs {
			if a.live() {
				s.terminate(p, a, L, lwd, upd)
			}
		}
		p.ptype, p.effStart, p.life, p.leftOn = ptExEmployee, L, lcLeft, L
		in.daysLate = int(s.run - L)
	}
	s.event(p, in)
}

func (s *sim) leavers() {
	n := s.quota(2.5, 1)
	for i := 0; i < n && s.leaverRoom(); i++ {
		p := s.find(s.free)
		if p == nil {
			return
		}
		ls := p.lastActivity()
		var L date
		switch (s.file + i) % 3 {
		case 0:
			L = s.run
		case 1:
			L = max(s.run-date(1+s.intn(14)), ls+1)
		default:
			L = s.run + date(1+s.intn(45))
		}
		s.recordLeaver(p, L)
	}
}

// assignmentLeavers end the only assignment of bank-only staff without a
// termination on the person record: the person leaves because no active
// assignment remains, so the leaver is raised at that ASA row.
func (s *sim) assignmentLeavers() {
	for n := s.quota(0.4, 3); n > 0 && s.leaverRoom(); n-- {
		p := s.find(func(p *person) bool {
			if !s.free(p) || p.liveCount() != 1 {
				return false
			}
			a := p.primaryAsg()
			return a != nil && a.bank
		})
		if p == nil {
			return
		}
		a := p.primaryAsg()
		L := max(s.run-date(s.intn(6)), a.earliest)
		s.terminate(p, a, L, L, s.recent())
		p.life, p.leftOn = lcLeft, L
		s.event(p, intent{kind: KindEvent, typ: TypeLeaver, asg: a, eff: L, lwd: L, reason: p.reason, daysLate: int(s.run - L)})
		s.res.Stats.AssignmentLeavers++
	}
}

// withdrawOrRedate changes held leavers before their date: a withdrawal
// clears the termination (the held event must never fire), a re-date moves it
// (the held event is replaced by one at the new date, sourced from the new
// row). Both happen strictly before the due date.
func (s *sim) withdrawOrRedate() {
	forceW := (s.file-1)%3 == 0
	forceR := (s.file-1)%4 == 1
	wd, rd := 0, 0
	for _, p := range slices.Clone(s.pending) {
		if p.life != lcPendingLeave || p.term <= s.run || p.touched == s.file || !p.heldPending() || p.xferOut {
			continue
		}
		r := s.rng.Float64()
		switch {
		case r < 0.05 || (forceW && wd == 0):
			wd++
			old := p.term
			upd := s.recent()
			p.term, p.reason, p.updated = noDate, "", upd
			for _, a := range p.asgs {
				if a.live() {
					a.end, a.lwd, a.updated = noDate, noDate, upd
				}
			}
			p.life = lcEmployed
			s.killPending(p)
			s.pending = slices.DeleteFunc(s.pending, func(x *person) bool { return x == p })
			s.event(p, intent{kind: KindWithdrawn, eff: old})
			s.res.Stats.WithdrawnLeavers++
		case (r < 0.09 || (forceR && rd == 0)) && s.leaverRoom():
			rd++
			L := p.term + date(1+s.intn(20))
			if s.chance(0.5) && p.term-s.run > 3 {
				L = p.term - date(1+s.intn(int(p.term-s.run)-1))
			}
			upd := s.recent()
			p.term, p.updated = L, upd
			for _, a := range p.asgs {
				if a.live() {
					a.end, a.lwd, a.updated = L, L, upd
				}
			}
			s.killPending(p)
			s.event(p, intent{kind: KindEvent, typ: TypeLeaver, eff: L, lwd: L, reason: p.reason, held: true})
			s.res.Stats.RedatedLeavers++
		}
	}
}

// moves change one position-relevant attribute group of one live assignment:
// a move to another position (number, title, org, grade, job follow it), a
// regrade, a move to another organisation, or to another location.
func (s *sim) moves() {
	n := s.quota(4, 1)
	for i := 0; i < n; i++ {
		p := s.find(s.free)
		if p == nil {
			return
		}
		var live []*assignment
		for _, a := range p.asgs {
			if a.live() {
				live = append(live, a)
			}
		}
		a := pick(s, live)
		c := max(s.run-date(s.intn(4)), a.earliest+1)
		upd := s.recent()
		kind := (s.file + i) % 4
		if kind == 1 && (jobs[a.pos.job].medical || a.grade >= gradeBand8b) {
			kind = 3
		}
		switch kind {
		case 0:
			var pos *position
			for try := 0; try < 5 && (pos == nil || pos == a.pos); try++ {
				if a.bank {
					pos = s.bankPosition()
				} else if s.chance(0.2) {
					pos = s.newPosition(s.weightedJob(false), pick(s, s.depts), c, upd)
					s.filePoss = append(s.filePoss, pos)
					s.res.Stats.NewPositions++
				} else {
					pos = s.regularPosition()
				}
			}
			if pos == a.pos {
				pos = s.newPosition(s.weightedJob(a.bank), pick(s, s.depts), c, upd)
				s.filePoss = append(s.filePoss, pos)
				s.res.Stats.NewPositions++
			}
			a.pos, a.org, a.loc = pos, pos.org, pos.org.loc
			a.grade, a.step, a.gradeStart = jobs[pos.job].grade, 1, c
			s.res.Stats.PositionMoves++
		case 1:
			a.grade, a.step, a.gradeStart = a.grade+1, 1, c
			s.res.Stats.GradeChanges++
		case 2:
			o := a.org
			for o == a.org {
				o = pick(s, s.depts)
			}
			a.org = o
			s.res.Stats.OrgChanges++
		default:
			l := a.loc
			for l == a.loc {
				l = pick(s, s.locs)
			}
			a.loc = l
			s.res.Stats.LocationChanges++
		}
		a.effStart, a.updated = c, upd
		for _, co := range p.costs {
			if co.asg == a && co.cc != a.org.cc {
				co.cc, co.updated = a.org.cc, upd
			}
		}
		s.event(p, intent{kind: KindEvent, typ: TypePosition, change: ChangeAttributes, asg: a, eff: c})
	}
}

func (s *sim) addSecondaries() {
	for n := s.quota(1.5, 1); n > 0; n-- {
		p := s.find(func(p *person) bool { return s.free(p) && p.liveCount() < 3 })
		if p == nil {
			return
		}
		start := max(s.run+date(pick(s, []int{-2, 0, 0, 1, 3, 7})), p.latestStart())
		var pos *position
		for try := 0; try < 5; try++ {
			if s.chance(0.6) {
				pos = s.bankPosition()
			} else {
				pos = s.regularPosition()
			}
			if !p.holds(pos) {
				break
			}
		}
		a := s.newAsg(p, pos, start, false, s.recent())
		s.event(p, intent{kind: KindEvent, typ: TypePosition, change: ChangeAdded, asg: a, eff: start})
	}
}

func (p *person) holds(pos *position) bool {
	for _, a := range p.asgs {
		if a.pos == pos && a.live() {
			return true
		}
	}
	return false
}

func (s *sim) endSecondaries() {
	for n := s.quota(1.2, 1); n > 0; n-- {
		p := s.find(func(p *person) bool { return s.free(p) && p.liveCount() >= 2 })
		if p == nil {
			return
		}
		var sec []*assignment
		for _, a := range p.asgs {
			if a.live() && !a.primary {
				sec = append(sec, a)
			}
		}
		if len(sec) == 0 {
			continue
		}
		a := pick(s, sec)
		L := max(s.run-date(s.intn(5)), a.earliest)
		s.terminate(p, a, L, L, s.recent())
		s.event(p, intent{kind: KindEvent, typ: TypePosition, change: ChangeEnded, asg: a, eff: L})
	}
}

// suspensions put a primary assignment on SUSP_ASSIGN (maternity, career
// break, suspension): still employed, so no event either way.
func (s *sim) suspensions() {
	for n := s.quota(0.8, 2); n > 0; n-- {
		p := s.find(func(p *person) bool { return s.free(p) && p.primaryAsg() != nil })
		if p == nil {
			return
		}
		a := p.primaryAsg()
		a.status, a.userStatus = asSuspended, pick(s, suspendStatuses)
		a.effStart, a.updated = max(s.run-date(s.intn(3)), a.earliest+1), s.recent()
		p.suspendTill = s.file + 2 + s.intn(6)
		s.suspended = append(s.suspended, p)
		s.touch(p)
		s.res.Stats.Suspensions++
	}
}

// detailChanges re-send people whose personal details changed: rows that
// must not produce any event.
func (s *sim) detailChanges() {
	n := s.quota(3, 1)
	for i := 0; i < n; i++ {
		p := s.find(s.free)
		if p == nil {
			return
		}
		upd := s.recent()
		switch (s.file + i) % 4 {
		case 0:
			ph := p.phones[0]
			ph.number, ph.from, ph.updated = s.mobile(), s.run, upd
		case 1:
			ad := p.addrs[0]
			ad.line1 = strconv.Itoa(1+s.intn(120)) + " " + pick(s, streets)
			ad.town, ad.postcode, ad.from, ad.updated = pick(s, towns), s.postcode(), s.run, upd
		case 2:
			if p.id0.female && p.maiden == "" {
				p.maiden, p.last = p.last, pick(s, surnames)
				p.title = "Mrs."
			} else {
				p.preferred = p.id0.first[:min(3, len(p.id0.first))]
			}
			p.updated = upd
		default:
			p.phones = append(p.phones, &phone{id: s.id(&s.nextPhone), typ: "H1", number: s.landline(), from: s.run, updated: upd})
		}
		s.touch(p)
		s.res.Stats.DetailChanges++
	}
}

// erroneousRows add a phone, address or costing row by mistake, deleted
// again by PHD/ADD/COD a few files later; every fifth file also creates a
// position in error and deletes it with POD. None of this is an event.
func (s *sim) erroneousRows() {
	n := s.quota(0.5, 2)
	for i := 0; i < n; i++ {
		p := s.find(s.free)
		if p == nil {
			break
		}
		upd := s.recent()
		day := s.file + 1 + s.intn(3)
		d := scheduledDelete{file: day, p: p}
		switch (s.file + i) % 3 {
		case 0:
			ph := &phone{id: s.id(&s.nextPhone), typ: "W1", number: s.landline(), from: s.run, updated: upd, erroneous: true}
			p.phones = append(p.phones, ph)
			d.tag, d.id = "PHD", ph.id
		case 1:
			ad := &address{id: s.id(&s.nextAddr), line1: "1 " + pick(s, streets), town: pick(s, towns),
				postcode: s.postcode(), from: s.run, updated: upd, erroneous: true}
			p.addrs = append(p.addrs, ad)
			d.tag, d.id = "ADD", ad.id
		default:
			a := p.primaryAsg()
			if a == nil {
				continue
			}
			c := &costing{id: s.id(&s.nextCost), asg: a, from: s.run, to: noDate, cc: pick(s, s.depts).cc, pct: "100", updated: upd, erroneous: true}
			p.costs = append(p.costs, c)
			d.tag, d.id = "COD", c.id
		}
		if day <= s.cfg.Days {
			s.scheduled = append(s.scheduled, d)
		}
		s.touch(p)
		s.res.Stats.ErroneousRows++
	}
	if s.file%5 == 1 {
		org := pick(s, s.depts)
		pos := &position{id: s.id(&s.nextPos), number: s.id(&s.nextPosNum), job: s.weightedJob(false), area: org.area,
			org: org, fte: "1", from: s.run, updated: s.recent(), erroneous: true}
		pos.title = jobs[pos.job].title
		s.filePoss = append(s.filePoss, pos)
		if day := s.file + 2; day <= s.cfg.Days {
			s.scheduled = append(s.scheduled, scheduledDelete{file: day, tag: "POD", id: pos.id, pos: pos})
		}
		s.errPoss = append(s.errPoss, pos)
		s.res.Stats.ErroneousRows++
	}
}

// referenceRefresh re-sends an organisation and a location with cosmetic
// changes (cost centre description, telephone): rows, no event.
func (s *sim) referenceRefresh() {
	if s.file%3 != 2 {
		return
	}
	upd := s.recent()
	o := pick(s, s.depts)
	o.ccDesc, o.updated = areas[o.area]+" Services", upd
	s.fileOrgs = append(s.fileOrgs, o)
	l := pick(s, s.locs)
	l.tel, l.updated = s.landline(), upd
	s.fileLocs = append(s.fileLocs, l)
	s.res.Stats.ReferenceRefreshes += 2
}
