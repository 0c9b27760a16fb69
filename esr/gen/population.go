package gen

import "strconv"

// Classes of people in the full file.
const (
	clEmployee = iota
	clBankOnly
	clExEmployee
	clFutureStarter
	clFutureLeaver
	clApplicant
)

// populate builds the trust as it stands on the full file's run date:
// reference data, current staff (several assignments each, some suspended),
// history (ex-employees, the pool for rehires), future-dated starters and
// leavers, and applicants in the pipeline.
func (s *sim) populate() {
	n := s.cfg.Staff
	s.buildReference(n)

	special := func(perMille int) int { return max(1, n*perMille/1000) }
	counts := []struct{ class, n int }{
		{clFutureStarter, special(15)},
		{clFutureLeaver, special(15)},
		{clApplicant, special(15)},
		{clExEmployee, special(60)},
		{clBankOnly, special(40)},
	}
	classes := make([]int, 0, n+8)
	for _, c := range counts {
		for i := 0; i < c.n; i++ {
			classes = append(classes, c.class)
		}
	}
	for len(classes) < n {
		classes = append(classes, clEmployee)
	}
	s.rng.Shuffle(len(classes), func(i, j int) { classes[i], classes[j] = classes[j], classes[i] })
	classes = classes[:n] // tiny trusts keep a random subset of the specials

	for _, c := range classes {
		switch c {
		case clEmployee, clBankOnly:
			s.seedEmployee(c == clBankOnly, false)
		case clExEmployee:
			s.seedExEmployee()
		case clFutureStarter:
			s.seedFutureStarter()
		case clFutureLeaver:
			p := s.seedEmployee(false, true)
			s.recordLeaver(p, s.run+1+date(s.intn(45)))
		case clApplicant:
			s.seedApplicant()
		}
	}

	// A few staff carry an assignment created in error, deleted by ASD in an
	// early change file: the delete must never look like a leaver or an
	// ended assignment.
	if s.cfg.Days > 0 {
		for i := 0; i < max(1, n*3/1000); i++ {
			p := s.find(func(p *person) bool {
				return s.free(p) && !p.asgs[0].bank && p.asgs[0].live()
			})
			if p == nil {
				break
			}
			prim := p.asgs[0]
			a := s.newAsg(p, prim.pos, prim.earliest+date(s.intn(30)), false, s.historic(prim.earliest))
			if a.earliest >= s.run {
				a.earliest, a.effStart, a.gradeStart = s.run-1, s.run-1, s.run-1
			}
			a.erroneous = true
			p.locked = true
			day := 1 + s.intn(min(s.cfg.Days, 4))
			s.scheduled = append(s.scheduled, scheduledDelete{file: day, p: p, tag: "ASD", id: a.id, asg: a})
			s.locked = append(s.locked, p)
		}
	}

	for _, p := range s.people {
		switch p.life {
		case lcEmployed, lcPendingLeave:
			s.res.Stats.Employees++
		case lcLeft:
			s.res.Stats.ExEmployees++
		case lcApplicant:
			s.res.Stats.Applicants++
		}
	}
	s.res.Stats.People = len(s.people)
}

func (s *sim) buildReference(n int) {
	old := mkDate(2015, 4, 1)
	for i := 0; i < 4+n/100; i++ {
		l := &location{
			id:    s.id(&s.nextLoc),
			desc:  siteNames[i%len(siteNames)],
			addr1: pick(s, []string{"Riverside Wing", "North Block", "Main Building", "Community Hub"}),
			addr2: pick(s, streets),
			town:  pick(s, towns), postcode: s.postcode(), tel: s.landline(),
			from: old,
		}
		if i >= len(siteNames) {
			l.desc += " " + strconv.Itoa(i/len(siteNames)+1)
		}
		l.code = s.vpd + " z " + strconv.Itoa(1000+s.intn(9000)) + " " + l.desc
		l.updated = s.historic(old)
		s.locs = append(s.locs, l)
	}
	// Parents are created (and written) before their children, so the
	// generator never relies on ESR's forward references.
	root := &organisation{id: s.id(&s.nextOrg), name: s.vpd + " Northshire Hospitals NHS Trust", area: -1,
		loc: s.locs[0], from: old, ccDesc: "Trust Board"}
	root.cc = s.vpd + "C0001"
	root.updated = s.historic(old)
	s.orgs = append(s.orgs, root)
	var dirs []*organisation
	for i, name := range directorates {
		d := &organisation{id: s.id(&s.nextOrg), parent: root.id, name: s.vpd + " " + name, area: -1,
			loc: pick(s, s.locs), from: old, ccDesc: name}
		d.cc = s.vpd + "C0" + strconv.Itoa(100+i*10)
		d.updated = s.historic(old)
		s.orgs = append(s.orgs, d)
		dirs = append(dirs, d)
	}
	for i := 0; i < 6+n/80; i++ {
		area := s.intn(len(areas))
		unit := pick(s, units)
		d := &organisation{id: s.id(&s.nextOrg), parent: dirs[area%len(dirs)].id, area: area,
			name: s.vpd + " " + areas[area] + " " + unit, loc: pick(s, s.locs), from: old,
			ccDesc: areas[area] + " " + unit}
		d.cc = s.vpd + "C" + strconv.Itoa(2000+i*7)
		d.updated = s.historic(old)
		s.orgs = append(s.orgs, d)
		s.depts = append(s.depts, d)
	}
	for i := 0; i < 10+n*55/100; i++ {
		from := old + date(s.intn(int(s.start-old)))
		s.newPosition(s.weightedJob(false), pick(s, s.depts), from, s.historic(from))
	}
	for i := 0; i < 3+n/150; i++ {
		s.newPosition(s.weightedJob(true), pick(s, s.depts), old, s.historic(old))
	}
}

// pastHire picks a hire date before the full file, skewed towards recent
// years like a real workforce.
func (s *sim) pastHire() date {
	years := float64(s.intn(25)) * s.rng.Float64()
	return s.start - 1 - date(int(years*365)+s.intn(365))
}

// seedEmployee adds a current employee; plain ones are never suspended
// (future leavers must stay free of other scenarios).
func (s *sim) seedEmployee(bankOnly, plain bool) *person {
	var pos *position
	if bankOnly {
		pos = s.bankPosition()
	} else {
		pos = s.regularPosition()
	}
	hire := s.pastHire()
	p := s.newPerson(s.newIdentity(noDate), jobs[pos.job].medical)
	p.id0.dob = s.dobFor(hire)
	p.hire, p.effStart, p.ptype, p.life = hire, hire, ptEmployee, lcEmployed
	p.nhsStart = hire - date(s.intn(3)*365)
	p.updated = s.historic(hire)
	s.addContacts(p, hire, p.updated)
	prim := s.newAsg(p, pos, hire, true, s.historic(hire))
	if hire < s.start-400 && s.chance(0.3) {
		// a later date-tracked row: the history of a regrade or move
		prim.effStart = hire + date(s.intn(int(s.start-hire)))
		prim.gradeStart = prim.effStart
	}
	if bankOnly {
		return p
	}
	span := int(s.start - hire)
	if s.chance(0.05) && span > 60 {
		// a secondary post held in the past: history only
		st := hire + date(s.intn(span/2))
		a := s.newAsg(p, s.regularPosition(), st, false, s.historic(st))
		end := st + date(1+s.intn(int(s.start-st)-1))
		s.terminate(p, a, end, end, s.historic(end))
	}
	if s.chance(0.22) {
		st := hire + date(s.intn(span))
		s.newAsg(p, s.bankPosition(), st, false, s.historic(st))
	}
	if s.chance(0.07) {
		st := hire + date(s.intn(span))
		s.newAsg(p, s.regularPosition(), st, false, s.historic(st))
	}
	if !plain && s.chance(0.03) {
		// maternity / career break: absent but employed throughout
		prim.status = asSuspended
		prim.userStatus = pick(s, suspendStatuses)
		prim.effStart = max(prim.effStart, s.start-date(1+s.intn(120)))
		p.suspendTill = 1 + s.intn(s.cfg.Days+10)
		s.suspended = append(s.suspended, p)
	}
	return p
}

func (s *sim) seedExEmployee() {
	pos := s.regularPosition()
	hire := s.pastHire() - 60
	p := s.newPerson(s.newIdentity(noDate), jobs[pos.job].medical)
	p.id0.dob = s.dobFor(hire)
	p.hire, p.ptype, p.life = hire, ptExEmployee, lcLeft
	p.nhsStart = hire
	upd := s.historic(hire)
	s.addContacts(p, hire, upd)
	a := s.newAsg(p, pos, hire, true, upd)
	term := hire + 30 + date(s.intn(int(s.start-hire)-31))
	p.term, p.reason, p.effStart, p.leftOn = term, pick(s, leavingReasons), term, term
	p.updated = s.historic(term)
	s.terminate(p, a, term, term, p.updated)
}

func (s *sim) seedFutureStarter() {
	pos := s.regularPosition()
	start := s.run
	if !s.chance(0.1) {
		start += date(1 + s.intn(40))
	}
	p := s.newPerson(s.newIdentity(noDate), jobs[pos.job].medical)
	p.id0.dob = s.dobFor(start)
	p.hire, p.effStart, p.ptype, p.life = start, start, ptEmployee, lcEmployed
	p.nhsStart = start
	p.updated = s.stampOn(s.run - 1 - date(s.intn(20)))
	s.addContacts(p, start, p.updated)
	a := s.newAsg(p, pos, start, true, p.updated)
	p.intents = append(p.intents, intent{kind: KindEvent, typ: TypeStarter, asg: a, eff: start, scheduled: start > s.run})
}

func (s *sim) seedApplicant() {
	pos := s.regularPosition()
	p := s.newPerson(s.newIdentity(noDate), jobs[pos.job].medical)
	p.id0.dob = s.dobFor(s.run)
	p.ptype, p.life = ptApplicant, lcApplicant
	p.effStart = s.run - date(1+s.intn(30))
	p.updated = s.stampOn(p.effStart)
	s.addContacts(p, p.effStart, p.updated)
	a := s.newAsg(p, pos, p.effStart, true, p.updated)
	p.costs = p.costs[:0] // costing starts at hire
	a.applicant = true
	p.aplStage = s.intn(3)
	a.status = asApplicant + p.aplStage
	a.userStatus = applicantUserStatus[p.aplStage]
	a.projHire = s.run + date(10+s.intn(30))
	p.aplNext = s.file + 1 + s.intn(3)
	s.applicants = append(s.applicants, p)
	if s.file > 0 {
		s.touch(p)
	}
}

var applicantUserStatus = [...]string{"Active Application", "Offer", "Offer Accepted"}
