package gen

import "fmt"

// Region id ranges. Every trust of a region draws each id sequence (person
// id, employee number, assignment id, position id and number, NHS Unique ID
// counter, ...) from its own block, so no id is shared between trusts.
//
// Two layouts exist. The legacy one (fixed 1M blocks per slot, at most
// regionLegacyTrusts trusts of regionLegacyStaff staff) is kept because
// existing seeds, tests and truth files depend on it: a region that fits it
// still produces byte-identical output. Larger regions (up to national scale,
// regionMaxTrusts trusts) use the sized layout: each sequence's range is cut
// into blocks in proportion to what each trust will consume, given its staff
// and the number of days, and a region that would overflow a range is
// refused up front rather than producing duplicate or over-long ids.
const (
	regionLegacyTrusts = 8
	regionLegacyStaff  = 40_000
	regionMaxTrusts    = 400

	// Real ids stay below faultBase; fault rows (unknown references) take
	// ids from [faultBase, faultLimit), so they never name a real entity.
	faultBase  = 95_000_000
	faultLimit = 99_000_000
)

// idSeq describes one id sequence of the sized layout: where its range is
// (ids stay within ESR's widths, see docs/generator.md) and how many ids a
// trust of S staff simulated for D days consumes at most: base + perStaff*S
// + perStaffDay*S*D + perDay*D. The figures are measured consumption (ids
// grow with gaps of 1-7, mean 4) with headroom: per staff from trusts of
// 3,000-20,000, per day from trusts of 1-3 staff over a year (where the
// scenarios guaranteed every few days dominate), with --faults.
type idSeq struct {
	name                                string
	from, limit                         int
	base, perStaff, perStaffDay, perDay float64
}

var idSeqs = [...]idSeq{
	{"person id", 20_000_000, faultBase, 100, 5, 0.03, 15},
	{"employee number", 30_000_000, faultBase, 100, 5, 0.03, 15},
	{"assignment id", 41_000_000, faultBase, 100, 6.5, 0.05, 25},
	{"phone id", 50_000_000, faultBase, 100, 6.5, 0.05, 25},
	{"address id", 60_000_000, faultBase, 100, 5, 0.03, 15},
	{"costing id", 70_000_000, faultBase, 100, 6.5, 0.05, 25},
	{"position id", 8_100_000, faultBase, 100, 2.6, 0.01, 5},
	{"position number", 4_100_000, faultBase, 100, 2.6, 0.01, 5},
	{"organisation id", 7_100_000, 9_999_999, 300, 0.1, 0.001, 3},
	{"location id", 900_000, 6_999_999, 200, 0.1, 0.001, 3},
	// identity counter: NHS Unique IDs (7 digits) and CRS UUIDs are
	// bijections of it modulo 9,000,000, so the whole region shares 9M.
	{"NHS Unique ID", 0, 9_000_000, 10, 1.1, 0.01, 4},
	{"fault id", faultBase, faultLimit, 100, 0, 0.001, 60},
}

// Indexes into idSeqs.
const (
	seqPerson = iota
	seqEmp
	seqAsg
	seqPhone
	seqAddr
	seqCost
	seqPos
	seqPosNum
	seqOrg
	seqLoc
	seqIdent
	seqFault
)

func (q idSeq) need(staff, days int) float64 {
	s, d := float64(staff), float64(days)
	return q.base + q.perStaff*s + q.perStaffDay*s*d + q.perDay*d
}

// idBlock is one trust's block of one sequence: ids from first, of which
// the first need are expected to be used.
type idBlock struct{ first, size, need int }

// regionLayout is the sized layout: blocks[seq][slot].
type regionLayout [len(idSeqs)][]idBlock

// legacyLayout says whether the region fits the fixed legacy blocks.
func legacyLayout(trusts []Trust, days int) bool {
	if len(trusts) > regionLegacyTrusts {
		return false
	}
	for _, t := range trusts {
		if t.Staff > regionLegacyStaff || t.Staff*(1000+12*days) > 150_000*1000 {
			return false
		}
	}
	return true
}

// sizedLayout cuts every sequence's range into blocks proportional to each
// trust's need, or says which range the region does not fit.
func sizedLayout(trusts []Trust, days int) (*regionLayout, error) {
	var l regionLayout
	for qi, q := range idSeqs {
		needs := make([]float64, len(trusts))
		total := 0.0
		for i, t := range trusts {
			needs[i] = q.need(t.Staff, days)
			total += needs[i]
		}
		span := float64(q.limit - q.from)
		// 20% headroom: the random start inside each block takes up to half
		// of the block's slack, and the need figures are estimates.
		if total*1.2 > span {
			return nil, fmt.Errorf("a region of %d trusts with %.0f staff in total over %d days does not fit the %s range (%d-%d): fewer staff or days",
				len(trusts), sumStaff(trusts), days, q.name, q.from, q.limit-1)
		}
		at := float64(q.from)
		l[qi] = make([]idBlock, len(trusts))
		for i := range trusts {
			size := span * needs[i] / total
			l[qi][i] = idBlock{first: int(at), size: int(size), need: int(needs[i])}
			at += size
		}
	}
	return &l, nil
}

func sumStaff(trusts []Trust) float64 {
	n := 0.0
	for _, t := range trusts {
		n += float64(t.Staff)
	}
	return n
}

// sizedRanges places the trust in slot of layout l: each sequence starts at
// a random point in the block's slack, like the legacy layout's small random
// start, so trusts do not all begin on round numbers.
func (s *sim) sizedRanges(l *regionLayout, slot int) {
	start := func(seq int) int {
		b := l[seq][slot]
		return b.first + s.intn(max(1, (b.size-b.need)/2))
	}
	s.nextPerson = start(seqPerson)
	s.nextEmp = start(seqEmp)
	s.nextAsg = start(seqAsg)
	s.nextPhone = start(seqPhone)
	s.nextAddr = start(seqAddr)
	s.nextCost = start(seqCost)
	s.nextPos = start(seqPos)
	s.nextPosNum = start(seqPosNum)
	s.nextOrg = start(seqOrg)
	s.nextLoc = start(seqLoc)
	s.identN = l[seqIdent][slot].first
	s.niCounted = true
	s.nextFault = l[seqFault][slot].first
	for q := range idSeqs {
		b := l[q][slot]
		s.idEnds[q] = b.first + b.size
	}
}

// checkRanges says whether the trust stayed inside its blocks of the sized
// layout. The need figures have headroom, but they are estimates: a trust
// that outgrew one would share ids with the next trust, and that must be an
// error, never silent.
func (s *sim) checkRanges() error {
	if !s.niCounted {
		return nil // a stand-alone trust or the legacy layout
	}
	next := [len(idSeqs)]int{s.nextPerson, s.nextEmp, s.nextAsg, s.nextPhone, s.nextAddr, s.nextCost,
		s.nextPos, s.nextPosNum, s.nextOrg, s.nextLoc, s.identN, s.nextFault}
	for q, n := range next {
		if n >= s.idEnds[q] {
			return fmt.Errorf("trust %s outgrew its block of the %s range (reached %d, block ends at %d): please report this with the flags used",
				s.cfg.Tenant, idSeqs[q].name, n, s.idEnds[q])
		}
	}
	return nil
}
