package gen

import "strconv"

// Scenarios added for issue 4 (JML semantics): leavers from suspension, two
// posts ending on different files, entities created in error and deleted,
// and moves between the trusts of a region.

// suspendedLeavers terminate people who are on SUSP_ASSIGN (maternity,
// career break): suspended is still employed, so this is an ordinary leaver,
// on the run date or a few days late.
func (s *sim) suspendedLeavers() {
	for n := s.quota(0.3, 3); n > 0 && s.leaverRoom(); n-- {
		p := s.find(func(p *person) bool {
			return p.life == lcEmployed && p.touched != s.file && !p.locked && p.suspendTill != 0 &&
				p.latestStart() < s.run
		})
		if p == nil {
			return
		}
		floor := p.lastActivity() + 1
		for _, a := range p.asgs {
			if a.live() && a.effStart > floor {
				floor = a.effStart
			}
		}
		L := min(max(s.run-date(s.intn(5)), floor), s.run)
		p.suspendTill = 0
		s.recordLeaver(p, L)
		s.res.Stats.SuspendedLeavers++
	}
}

// firstPostEnds ends one of the two live posts of a person (a position-
// updated ASSIGNMENT_ENDED) and books the end of the other for a later file
// (lastPostEnds). The person takes part in nothing else in between.
func (s *sim) firstPostEnds() {
	for n := s.quota(0.3, 3); n > 0; n-- {
		if s.file+1 > s.cfg.Days {
			return
		}
		p := s.find(func(p *person) bool {
			if !s.free(p) || p.liveCount() != 2 {
				return false
			}
			prim := p.primaryAsg()
			return prim != nil && !prim.bank
		})
		if p == nil {
			return
		}
		var a *assignment
		for _, x := range p.asgs {
			if x.live() && !x.primary {
				a = x
			}
		}
		if a == nil {
			return
		}
		L := max(s.run-date(s.intn(3)), a.earliest)
		s.terminate(p, a, L, L, s.recent())
		s.event(p, intent{kind: KindEvent, typ: TypePosition, change: ChangeEnded, asg: a, eff: L})
		p.locked = true
		s.followUps = append(s.followUps, followUp{file: min(s.file+1+s.intn(3), s.cfg.Days), p: p})
	}
}

// lastPostEnds ends the remaining post of people booked by firstPostEnds:
// the person leaves, either through the assignment alone (rule 1.2, no
// termination on the person) or with a termination on the PRA (rule 1.1).
// A file without room for another leaver moves it to the next file.
func (s *sim) lastPostEnds() {
	for i, f := range takeDue(&s.followUps, func(f followUp) bool { return f.file <= s.file }) {
		if !s.leaverRoom() {
			if s.file < s.cfg.Days {
				f.file = s.file + 1
				s.followUps = append(s.followUps, f)
			}
			continue
		}
		p := f.p
		a := p.primaryAsg()
		floor := p.lastActivity() + 1
		L := min(max(s.run-date(s.intn(3)), floor), s.run)
		p.locked = false
		if (s.file+i)%2 == 0 {
			s.terminate(p, a, L, L, s.recent())
			p.life, p.leftOn = lcLeft, L
			s.event(p, intent{kind: KindEvent, typ: TypeLeaver, asg: a, eff: L, lwd: L, reason: p.reason, daysLate: int(s.run - L)})
		} else {
			s.recordLeaver(p, L)
		}
		s.res.Stats.TwoPostLeavers++
	}
}

// erroneousEntities create, by mistake, an applicant (PRA APL + ASA type A,
// no contact details yet), deleted 1-3 files later by ASD + PRD; and every
// fourth file an organisation and a location, deleted by ORD and LCD. No
// assignment or position ever points at them. None of this is an event.
func (s *sim) erroneousEntities() {
	if s.file >= s.cfg.Days {
		return // the delete would fall after the last file
	}
	for n := s.quota(0.15, 3); n > 0; n-- {
		day := min(s.file+1+s.intn(3), s.cfg.Days)
		pos := s.regularPosition()
		p := s.newPerson(s.newIdentity(noDate), jobs[pos.job].medical)
		p.id0.dob = s.dobFor(s.run)
		p.ptype, p.life = ptApplicant, lcApplicant
		p.effStart = s.run
		p.updated = s.recent()
		a := s.newAsg(p, pos, s.run, true, p.updated)
		p.costs = p.costs[:0]
		a.applicant, a.status, a.userStatus = true, asApplicant, applicantUserStatus[0]
		a.projHire = s.run + date(10+s.intn(30))
		s.touch(p)
		s.scheduled = append(s.scheduled, scheduledDelete{file: day, p: p, tag: "PRD", id: p.id, asg: a})
		s.res.Stats.ErroneousPeople++
	}
	if s.file%4 != 3 {
		return
	}
	day := min(s.file+1+s.intn(3), s.cfg.Days)
	upd := s.recent()
	l := &location{id: s.id(&s.nextLoc), desc: pick(s, siteNames) + " Annexe", addr1: "Temporary Building",
		addr2: pick(s, streets), town: pick(s, towns), postcode: s.postcode(), tel: s.landline(), from: s.run, updated: upd}
	l.code = s.vpd + " z " + strconv.Itoa(1000+s.intn(9000)) + " " + l.desc
	s.errLocs = append(s.errLocs, l)
	s.fileLocs = append(s.fileLocs, l)
	parent := pick(s, s.orgs[1:1+len(directorates)]) // a directorate (see buildReference)
	area := s.intn(len(areas))
	o := &organisation{id: s.id(&s.nextOrg), parent: parent.id, loc: pick(s, s.locs), area: area,
		name: s.vpd + " " + areas[area] + " " + pick(s, units) + " (New)", from: s.run, updated: upd,
		ccDesc: areas[area] + " New Unit"}
	o.cc = s.vpd + "C9" + strconv.Itoa(100+s.intn(900))
	s.errOrgs = append(s.errOrgs, o)
	s.fileOrgs = append(s.fileOrgs, o)
	s.scheduled = append(s.scheduled,
		scheduledDelete{file: day, tag: "ORD", id: o.id, org: o},
		scheduledDelete{file: day, tag: "LCD", id: l.id, loc: l})
	s.res.Stats.ErroneousOrgs++
	s.res.Stats.ErroneousLocations++
}

// transfersOut carries out the transfers the region planned for this trust
// today: an employed person gets a future-dated termination 3-7 days ahead
// with a transfer reason, held by the pipeline like any future leaver. For a
// destination in the region the same human starts there tomorrow (see
// transfersIn); for "" the person leaves the region.
func (s *sim) transfersOut() {
	for _, to := range s.xferPlan {
		if !s.leaverRoom() {
			break
		}
		p := s.find(func(p *person) bool { return s.free(p) && !p.noNHS && !p.id0.xfer })
		if p == nil {
			break
		}
		reason := reasonTransfer
		if to != "" && s.chance(0.25) {
			reason = reasonMerged
		}
		L := s.run + date(3+s.intn(5))
		p.id0.xfer, p.xferOut = true, true
		s.recordLeaverFor(p, L, reason, to)
		if to == "" {
			s.res.Stats.LeftRegion++
			continue
		}
		s.reg.deliver(to, transferIn{file: s.file + 1, from: s.cfg.Tenant, old: p, start: L + 1})
	}
	s.xferPlan = s.xferPlan[:0]
}

// transfersIn records today's arrivals from other trusts: a scheduled
// starter with a new person id and employee number but the same NHS Unique
// ID, NI number and date of birth, starting the day after the leaving date
// in the old trust.
func (s *sim) transfersIn() {
	for _, t := range takeDue(&s.inbox, func(t transferIn) bool { return t.file == s.file }) {
		s.newStarter(t.start, t.old.id0, t.old, intent{xferFrom: t.from})
	}
}

// takeDue removes the items that are due from *list and returns them; the
// others stay, in order.
func takeDue[T any](list *[]T, due func(T) bool) []T {
	var now []T
	keep := (*list)[:0]
	for _, x := range *list {
		if due(x) {
			now = append(now, x)
		} else {
			keep = append(keep, x)
		}
	}
	*list = keep
	return now
}
