package gen

import (
	"math/rand/v2"
	"slices"
	"strconv"
)

// hierarchyVersion is the ORA hierarchy version id; one hierarchy per trust.
const hierarchyVersion = 60021

// intent is an expected truth line raised by an action, waiting for the
// line number of the row that carries it. asg == nil means the PRA row.
type intent struct {
	kind      string // KindEvent or KindWithdrawn
	typ       string
	change    string
	asg       *assignment
	eff       date
	lwd       date
	reason    string
	daysLate  int
	held      bool // future-dated leaver: due = eff
	scheduled bool
	rehire    bool
	xferFrom  string // starter: the trust the person transferred from
	xferTo    string // leaver: the trust the person transferred to
}

type truthRec struct {
	file  int
	dead  bool    // replaced (re-dated) or withdrawn held leaver
	owner *person // a held leaver: the person whose pendingIdx names it
	t     TruthLine
}

type scheduledDelete struct {
	file int
	p    *person
	tag  string
	id   int
	asg  *assignment
	pos  *position
	org  *organisation
	loc  *location
}

// followUp is the second half of a two-step scenario: on file `file` the
// last live assignment of p ends (the first one ended on an earlier file).
type followUp struct {
	file int
	p    *person
}

// transferIn is a person arriving from another trust of the region: the
// same human (NHS Unique ID, NI number, date of birth) with a new person id
// and employee number, starting the day after the old trust's leaving date.
type transferIn struct {
	file  int // change file of the receiving trust that records the starter
	from  string
	old   *person
	start date
}

type sim struct {
	cfg Config
	rng *rand.Rand
	// frng and nextFault serve only the fault injector, so that a run with
	// --faults simulates exactly the same trust as one without.
	frng      *rand.Rand
	nextFault int
	vpd       string
	file      int  // 0 = the full file, k = change file k
	run       date // run date of the file being simulated
	seq       int

	start          date
	hierFrom       date
	payrollMonthly string
	payrollWeekly  string

	locs     []*location
	orgs     []*organisation // all, parents before children
	depts    []*organisation // organisations that hold positions
	poss     []*position     // regular (non-bank) positions open to assignments
	bankPoss []*position
	people   []*person

	nextPerson, nextEmp, nextAsg, nextPhone, nextAddr, nextCost int
	nextPos, nextPosNum, nextOrg, nextLoc                       int
	identN                                                      int
	niUsed                                                      niSet            // shared by a region's trusts
	niCounted                                                   bool             // NI numbers from the identity counter (niFor)
	idEnds                                                      [len(idSeqs)]int // sized layout: where each of the trust's blocks ends
	nhsOff, crsOff                                              int64

	// work lists for the file being built
	fileLocs []*location
	fileOrgs []*organisation
	filePoss []*position
	touched  []*person
	deletes  []scheduledDelete
	badDels  int // --faults: non-numeric delete rows to write
	// posFaults are today's position-level fault kinds (--faults)
	posFaults []faultKind

	scheduled  []scheduledDelete
	followUps  []followUp
	errOrgs    []*organisation // created in error, awaiting ORD
	errLocs    []*location     // created in error, awaiting LCD
	errPoss    []*position     // created in error, awaiting POD
	pending    []*person       // held future leavers
	suspended  []*person
	applicants []*person
	locked     []*person
	allPoss    []*position // every valid position in creation order, for the full file

	// leaver guard: leavers recorded in the file being built and the most a
	// file may carry (see leaverBudget)
	fileLeavers, budget int

	// region only: the trust's place in the region, today's planned
	// transfers out (destination tenant, "" = leaving the region) and the
	// transfers in waiting for their day
	reg      *region
	xferPlan []string
	inbox    []transferIn

	truth []truthRec
	// spool (region only) takes each file's truth once written; spoolErr
	// keeps a failed strike-out for the end of the run.
	spool    *truthSpool
	spoolErr error
	res      Result
	buf      []byte
	name     string
	path     string // sink name of the file being written
}

// newSim prepares one trust. slot < 0 is a stand-alone trust; slot i >= 0
// is the i-th trust of a region, whose PRNG streams and id ranges are its own
// so that no id (person, employee number, assignment, NHS Unique ID, ...) is
// shared with another trust of the region.
func newSim(cfg Config, slot int) *sim {
	stream := uint64(0)
	if slot >= 0 {
		stream = uint64(slot+1) << 40
	}
	s := &sim{
		cfg: cfg,
		// PCG with a fixed stream constant: the seed alone decides the output.
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0x45535246_4c4f5721^stream)),
		frng:   rand.New(rand.NewPCG(cfg.Seed, 0x46415554_4c545321^stream)),
		vpd:    cfg.VPD,
		start:  dateOf(cfg.Start),
		seq:    cfg.FirstSeq,
		buf:    make([]byte, 0, 1024),
		niUsed: niSet{},
	}
	s.run = s.start
	s.res.Tenant = cfg.Tenant
	s.nextFault = 95_000_000
	s.hierFrom = mkDate(2015, 4, 1)
	s.payrollMonthly = cfg.VPD + " Monthly"
	s.payrollWeekly = cfg.VPD + " Weekly"
	s.nextPerson = 20000000 + s.rng.IntN(900000)
	s.nextEmp = 30000000 + s.rng.IntN(900000)
	s.nextAsg = 41000000 + s.rng.IntN(900000)
	s.nextPhone = 50000000 + s.rng.IntN(900000)
	s.nextAddr = 60000000 + s.rng.IntN(900000)
	s.nextCost = 70000000 + s.rng.IntN(900000)
	s.nextPos = 8800000 + s.rng.IntN(90000)
	s.nextPosNum = 5100000 + s.rng.IntN(90000)
	s.nextOrg = 7730000 + s.rng.IntN(9000)
	s.nextLoc = 905000 + s.rng.IntN(9000)
	s.nhsOff = s.rng.Int64N(9_000_000)
	s.crsOff = s.rng.Int64N(99_999_999_999)
	return s
}

// legacyRanges is the legacy region layout (see ranges.go): slot i gets its
// own 1M block of every id sequence (a small random start inside it), sized
// for regionLegacyStaff people per trust. NHS Unique IDs and CRS UUIDs come
// from bijections of the identity counter, so disjoint counter blocks with
// the region's shared offsets never collide.
func (s *sim) legacyRanges(slot int) {
	s.nextPerson = 20_000_000 + slot*1_000_000 + s.rng.IntN(100_000)
	s.nextEmp = 30_000_000 + slot*1_000_000 + s.rng.IntN(100_000)
	s.nextAsg = 41_000_000 + slot*1_000_000 + s.rng.IntN(100_000)
	s.nextPhone = 50_000_000 + slot*1_000_000 + s.rng.IntN(100_000)
	s.nextAddr = 60_000_000 + slot*1_000_000 + s.rng.IntN(100_000)
	s.nextCost = 70_000_000 + slot*1_000_000 + s.rng.IntN(100_000)
	s.nextPos = 8_100_000 + slot*200_000 + s.rng.IntN(10_000)
	s.nextPosNum = 4_100_000 + slot*200_000 + s.rng.IntN(10_000)
	s.nextOrg = 7_100_000 + slot*20_000 + s.rng.IntN(1_000)
	s.nextLoc = 900_000 + slot*10_000 + s.rng.IntN(1_000)
	s.nextFault = 95_000_000 + slot*500_000
	s.identN = slot * 1_000_000
}

// Ids grow with small random gaps, like Oracle sequences shared with other
// entities, and never repeat.
func (s *sim) id(next *int) int {
	*next += 1 + s.rng.IntN(7)
	return *next
}

func (s *sim) intn(n int) int {
	if n <= 0 {
		return 0
	}
	return s.rng.IntN(n)
}

func (s *sim) chance(p float64) bool { return s.rng.Float64() < p }

func pick[T any](s *sim, xs []T) T { return xs[s.rng.IntN(len(xs))] }

// stampOn is a last-update timestamp during office hours of day d.
func (s *sim) stampOn(d date) stamp {
	return stamp{day: d, sec: int32(7*3600 + s.rng.IntN(11*3600))}
}

// recent is the last-update stamp of a change recorded for the current run:
// ESR extracts overnight, so changes were keyed in the previous day.
func (s *sim) recent() stamp { return s.stampOn(s.run - 1) }

// historic is a last-update stamp some time between from and the day before
// the full file.
func (s *sim) historic(from date) stamp {
	hi := s.start - 1
	if from > hi {
		return s.stampOn(from - 1)
	}
	return s.stampOn(from + date(s.intn(int(hi-from)+1)))
}

func (s *sim) postcode() string {
	b := []byte("NT")
	b = appendInt(b, 1+s.intn(9))
	b = append(b, ' ')
	b = appendInt(b, s.intn(10))
	const letters = "ABDEFGHJLNPQRSTUWXYZ" // postcode inward letters exclude CIKMOV
	b = append(b, letters[s.intn(len(letters))], letters[s.intn(len(letters))])
	return string(b)
}

func (s *sim) mobile() string {
	return "07700 900" + pad3(s.intn(1000))
}

func (s *sim) landline() string {
	return "01632 960" + pad3(s.intn(1000))
}

func pad3(v int) string {
	return string([]byte{byte('0' + v/100), byte('0' + v/10%10), byte('0' + v%10)})
}

// ni returns a random National Insurance number of the HMRC shape: an
// allocatable two-letter prefix, six digits, suffix A-D. No two humans (of
// the trust, or of the region) share one, so a rehire matched on NI number
// and date of birth is never a coincidence.
func (s *sim) ni() string {
	for {
		n := s.drawNI()
		if s.niUsed.add(n) {
			return n
		}
	}
}

// niSet holds the NI numbers handed out, packed into 4 bytes each (a
// national region draws some 1.7M): prefix letters, six digits, suffix.
type niSet map[uint32]struct{}

// add records n and says whether it was new.
func (m niSet) add(n string) bool {
	k := uint32(n[0]-'A')*26 + uint32(n[1]-'A')
	d, _ := strconv.Atoi(n[2:8])
	k = (k*1_000_000+uint32(d))*4 + uint32(n[8]-'A')
	if _, ok := m[k]; ok {
		return false
	}
	m[k] = struct{}{}
	return true
}

// niFor is the NI number of the n-th human of the trust. In a region with
// the sized id layout (ranges.go) it is a bijection of the identity counter,
// like the NHS Unique ID: unique across the region without a set that grows
// with it. Otherwise it is drawn at random and checked against niUsed, as
// existing seeds expect.
func (s *sim) niFor(n int64) string {
	if !s.niCounted {
		return s.ni()
	}
	m := int64(len(niPrefixes)) * 1_000_000 * 4
	k := (n*1_000_000_007 + s.crsOff) % m
	b := append([]byte(niPrefixes[k/4_000_000]), '0', '0', '0', '0', '0', '0', "ABCD"[k%4])
	d := k / 4 % 1_000_000
	for i := 7; i >= 2; i-- {
		b[i] = byte('0' + d%10)
		d /= 10
	}
	return string(b)
}

// niPrefixes are the allocatable NI prefixes, in a fixed order.
var niPrefixes = func() []string {
	var ps []string
	for i := range len(niFirst) {
		for j := range len(niSecond) {
			p := string([]byte{niFirst[i], niSecond[j]})
			if !slices.Contains(niBadPrefixes, p) {
				ps = append(ps, p)
			}
		}
	}
	return ps
}()

func (s *sim) drawNI() string {
	for {
		p := string([]byte{niFirst[s.intn(len(niFirst))], niSecond[s.intn(len(niSecond))]})
		bad := false
		for _, x := range niBadPrefixes {
			if p == x {
				bad = true
				break
			}
		}
		if bad {
			continue
		}
		b := []byte(p)
		for i := 0; i < 6; i++ {
			b = append(b, byte('0'+s.intn(10)))
		}
		return string(append(b, "ABCD"[s.intn(4)]))
	}
}

// newIdentity makes a human. NHS Unique IDs and CRS UUIDs come from an affine
// bijection of a counter, so they are unique without a lookup table.
func (s *sim) newIdentity(age0 date) *identity {
	n := int64(s.identN)
	s.identN++
	id := &identity{
		female:      s.chance(0.77), // roughly the NHS workforce split
		dob:         age0,
		ni:          s.niFor(n),
		nhsID:       int(1_000_000 + (n*7919+s.nhsOff)%9_000_000),
		crs:         700_000_000_000 + (n*1_000_003+s.crsOff)%99_999_999_999,
		nationality: pick(s, nationalities),
		surname:     pick(s, surnames),
	}
	if id.female {
		id.first = pick(s, femaleFirst)
		if s.chance(0.4) {
			id.middle = pick(s, femaleFirst)
		}
	} else {
		id.first = pick(s, maleFirst)
		if s.chance(0.4) {
			id.middle = pick(s, maleFirst)
		}
	}
	return id
}

func (s *sim) newPerson(id *identity, medical bool) *person {
	p := &person{
		id:         s.id(&s.nextPerson),
		empNo:      s.id(&s.nextEmp),
		id0:        id,
		last:       id.surname,
		term:       noDate,
		hire:       noDate,
		nhsStart:   noDate,
		touched:    -1,
		pendingIdx: -1,
		pendingOff: -1,
	}
	switch {
	case medical:
		p.title = "Dr."
	case id.female:
		p.title = pick(s, []string{"Ms.", "Mrs.", "Miss", "Ms."})
	default:
		p.title = "Mr."
	}
	s.people = append(s.people, p)
	return p
}

// dobFor picks a date of birth so the person was at least 18 at the given
// date and is at most 66 on the full file's run date.
func (s *sim) dobFor(at date) date {
	lo := s.start - 66*365
	hi := at - 18*365 - 1
	if hi <= lo {
		hi = lo + 1
	}
	return lo + date(s.intn(int(hi-lo)))
}

func (s *sim) addContacts(p *person, from date, upd stamp) {
	p.phones = append(p.phones, &phone{id: s.id(&s.nextPhone), typ: "M", number: s.mobile(), from: from, updated: upd})
	if s.chance(0.3) {
		p.phones = append(p.phones, &phone{id: s.id(&s.nextPhone), typ: "H1", number: s.landline(), from: from, updated: upd})
	}
	p.addrs = append(p.addrs, &address{
		id: s.id(&s.nextAddr), primary: true, from: from, updated: upd,
		line1: strconv.Itoa(1+s.intn(120)) + " " + pick(s, streets), town: pick(s, towns), postcode: s.postcode(),
	})
}

// newAsg gives p a new assignment on pos starting on start. Costing follows
// the assignment so COA rows always refer to a real assignment.
func (s *sim) newAsg(p *person, pos *position, start date, primary bool, upd stamp) *assignment {
	j := &jobs[pos.job]
	p.maxSuffix++
	a := &assignment{
		id:         s.id(&s.nextAsg),
		suffix:     p.maxSuffix,
		status:     asActive,
		userStatus: "Active Assignment",
		effStart:   start,
		earliest:   start,
		loc:        pos.org.loc,
		org:        pos.org,
		pos:        pos,
		grade:      j.grade,
		step:       1 + s.intn(4),
		gradeStart: start,
		primary:    primary,
		bank:       j.bank,
		lwd:        noDate,
		end:        noDate,
		projHire:   noDate,
		contract:   noDate,
		updated:    upd,
	}
	if s.chance(0.2) {
		a.loc = pick(s, s.locs)
	}
	switch {
	case a.bank:
		a.category, a.hours, a.fte = "Bank", "7.5", "0.2"
	case s.chance(0.12):
		a.category = "Fixed Term Temp"
		a.contract = start + date(365+s.intn(365))
	default:
		a.category = "Permanent"
	}
	if !a.bank {
		if j.medical {
			a.fullTime, a.hours, a.fte = true, "40", "1"
		} else if s.chance(0.7) {
			a.fullTime, a.hours, a.fte = true, "37.5", "1"
		} else {
			a.hours, a.fte = pick(s, []string{"30", "22.5", "15"}), ""
			switch a.hours {
			case "30":
				a.fte = "0.8"
			case "22.5":
				a.fte = "0.6"
			default:
				a.fte = "0.4"
			}
		}
	}
	p.asgs = append(p.asgs, a)
	p.costs = append(p.costs, &costing{id: s.id(&s.nextCost), asg: a, from: start, to: noDate, cc: a.org.cc, pct: "100", updated: upd})
	return a
}

// terminate ends one assignment on day end (ESR: the TERM_ASSIGN row is
// effective from the day after the final date).
func (s *sim) terminate(p *person, a *assignment, end, lwd date, upd stamp) {
	a.status = asTerminated
	a.userStatus = "Terminated"
	a.end = end
	a.lwd = lwd
	a.effStart = end + 1
	a.updated = upd
	for _, c := range p.costs {
		if c.asg == a {
			c.to = end
			c.updated = upd
		}
	}
}

func (s *sim) regularPosition() *position { return pick(s, s.poss) }
func (s *sim) bankPosition() *position    { return pick(s, s.bankPoss) }

func (s *sim) newPosition(jobIdx int, org *organisation, from date, upd stamp) *position {
	p := &position{
		id: s.id(&s.nextPos), number: s.id(&s.nextPosNum), job: jobIdx, title: jobs[jobIdx].title,
		area: org.area, org: org, fte: "1", from: from, updated: upd,
	}
	if s.chance(0.2) {
		p.fte = "0.8"
	}
	p.seq = len(s.allPoss)
	s.allPoss = append(s.allPoss, p)
	if jobs[jobIdx].bank {
		s.bankPoss = append(s.bankPoss, p)
	} else {
		s.poss = append(s.poss, p)
	}
	return p
}

// weightedJob draws a job, regular or bank, by the table weights.
func (s *sim) weightedJob(bank bool) int {
	total := 0
	for _, j := range jobs {
		if j.bank == bank {
			total += j.weight
		}
	}
	r := s.intn(total)
	for i, j := range jobs {
		if j.bank != bank {
			continue
		}
		if r < j.weight {
			return i
		}
		r -= j.weight
	}
	return 0
}

// touch puts p into the file being built. Each person is touched by at most
// one scenario action per file, which keeps every event unambiguous.
func (s *sim) touch(p *person) {
	if p.touched != s.file {
		p.touched = s.file
		s.touched = append(s.touched, p)
	}
}

// free says whether p may take part in a new scenario action today: employed,
// not yet touched in this file, not suspended, not holding an erroneous
// assignment awaiting deletion, and with every assignment already started.
func (s *sim) free(p *person) bool {
	return p.life == lcEmployed && p.touched != s.file && !p.locked && p.suspendTill == 0 &&
		p.latestStart() < s.run
}

// find returns a person satisfying ok, scanning from a random offset so the
// choice is random but always succeeds when anyone qualifies.
func (s *sim) find(ok func(*person) bool) *person {
	n := len(s.people)
	if n == 0 {
		return nil
	}
	off := s.intn(n)
	for i := 0; i < n; i++ {
		if p := s.people[(off+i)%n]; ok(p) {
			return p
		}
	}
	return nil
}

// quota turns a rate per thousand staff per day into a count for today. A
// non-zero every guarantees at least one occurrence every that many files,
// so even small trusts show each scenario.
func (s *sim) quota(perMille float64, every int) int {
	x := perMille * float64(s.cfg.Staff) / 1000
	n := int(x)
	if s.chance(x - float64(n)) {
		n++
	}
	if n == 0 && every > 0 && (s.file-1)%every == 0 {
		n = 1
	}
	return n
}
