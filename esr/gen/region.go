package gen

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Trust is one trust of a region.
type Trust struct {
	Tenant string // ODS code
	VPD    string // ESR VPD number
	Staff  int    // approximate number of people in its first full file
	// Group, when every trust of the region has one (an ICS), confines
	// transfers to trusts of the same group, and lets the generator keep
	// one group's simulations in memory at a time instead of the region's.
	Group string
}

// RegionConfig describes several trusts simulated together, between which
// staff transfer (TUPE, mergers).
type RegionConfig struct {
	Trusts    []Trust
	Days      int       // daily change files after each trust's full file
	Seed      uint64    // one seed for the region; each trust draws from its own stream
	Start     time.Time // run date of the full files; zero = DefaultStart
	Faults    bool      // as Config.Faults, in every trust
	FullEvery int       // as Config.FullEvery, in every trust
	// TransfersPerDay is the number of moves between two trusts of the
	// region planned each day (except the last, whose arrivals would fall
	// after the run). With any, one person also leaves the region for a trust
	// outside it every third day. Zero means no transfers at all.
	TransfersPerDay int
}

// RegionResult is what GenerateRegion produced, one Result per trust in
// RegionConfig.Trusts order.
type RegionResult struct {
	Trusts []Result
	Rows   int64
}

// region links the trusts' simulations so a transfer out of one becomes a
// starter in another.
type region struct {
	byTenant map[string]*sim
}

func (r *region) deliver(to string, t transferIn) {
	s := r.byTenant[to]
	s.inbox = append(s.inbox, t)
}

// check validates rc and returns the sized id layout, or nil when the
// region fits the legacy one (see ranges.go).
func (rc RegionConfig) check() (*regionLayout, error) {
	switch {
	case len(rc.Trusts) == 0 || len(rc.Trusts) > regionMaxTrusts:
		return nil, fmt.Errorf("region of %d trusts: want 1..%d", len(rc.Trusts), regionMaxTrusts)
	case rc.TransfersPerDay < 0 || rc.TransfersPerDay > 100:
		return nil, fmt.Errorf("transfers per day %d: want 0..100", rc.TransfersPerDay)
	case rc.TransfersPerDay > 0 && len(rc.Trusts) < 2:
		return nil, errors.New("transfers need at least two trusts")
	}
	tenants, vpds, groups := map[string]bool{}, map[string]bool{}, map[string]int{}
	for _, t := range rc.Trusts {
		if tenants[t.Tenant] || vpds[t.VPD] {
			return nil, fmt.Errorf("trust %s/%s: tenants and VPDs must be unique in a region", t.Tenant, t.VPD)
		}
		tenants[t.Tenant], vpds[t.VPD] = true, true
		if (t.Group == "") != (rc.Trusts[0].Group == "") {
			return nil, fmt.Errorf("trust %s: give every trust of a region a group, or none", t.Tenant)
		}
		groups[t.Group]++
	}
	for g, n := range groups {
		if g != "" && n < 2 && rc.TransfersPerDay > 0 {
			return nil, fmt.Errorf("group %s has one trust: transfers need at least two in each group", g)
		}
	}
	if legacyLayout(rc.Trusts, rc.Days) {
		return nil, nil
	}
	return sizedLayout(rc.Trusts, rc.Days)
}

// GenerateRegion simulates the trusts of rc together and writes each
// trust's files under <TENANT>/ in out, and one truth.jsonl for the region
// (every line carries its tenant; lines are sorted by day, then tenant,
// then line).
//
// With transfers, days run in lockstep: every trust's file of day d is made
// before any file of day d+1 (a transfer out of one trust is a starter in
// another the next day), which is also the order the truth assumes the
// pipeline processes them in; every trust's simulation is live throughout.
// Without transfers the trusts are independent, so each is simulated to its
// last day and dropped before the next starts: memory holds one trust's
// simulation, whatever the size of the region. Either way each trust's
// truth goes to a spool on disk as its files are written, and the spools are
// merged into truth.jsonl at the end (see spool.go).
func GenerateRegion(rc RegionConfig, out Sink) (RegionResult, error) {
	layout, err := rc.check()
	if err != nil {
		return RegionResult{}, err
	}
	if out == nil {
		return RegionResult{}, errors.New("gen: nil sink")
	}
	// The region's own stream plans transfers and fixes the NHS Unique ID
	// and CRS offsets the trusts share (their identity counters are disjoint).
	rrng := rand.New(rand.NewPCG(rc.Seed, 0x52454749_4f4e5321))
	nhsOff, crsOff := rrng.Int64N(9_000_000), rrng.Int64N(99_999_999_999)
	reg := &region{byTenant: map[string]*sim{}}
	niUsed := niSet{}
	sims := make([]*sim, len(rc.Trusts))
	defer func() {
		for _, s := range sims {
			if s != nil && s.spool != nil {
				s.spool.close()
			}
		}
	}()
	start := func(i int) (*sim, error) {
		t := rc.Trusts[i]
		cfg, err := Config{Tenant: t.Tenant, VPD: t.VPD, Staff: t.Staff, Days: rc.Days, Seed: rc.Seed, Start: rc.Start,
			Faults: rc.Faults, FullEvery: rc.FullEvery}.normalised()
		if err != nil {
			return nil, fmt.Errorf("trust %d: %w", i+1, err)
		}
		s := newSim(cfg, i)
		if layout == nil {
			s.legacyRanges(i)
		} else {
			s.sizedRanges(layout, i)
		}
		s.nhsOff, s.crsOff, s.reg, s.niUsed = nhsOff, crsOff, reg, niUsed
		if s.spool, err = newTruthSpool(); err != nil {
			return nil, err
		}
		reg.byTenant[t.Tenant] = s
		sims[i] = s
		return s, nil
	}
	result := func() RegionResult {
		var rr RegionResult
		for _, s := range sims {
			if s != nil {
				rr.Trusts = append(rr.Trusts, s.res)
				rr.Rows += s.res.Rows
			}
		}
		return rr
	}
	write := func(s *sim) error {
		if err := s.writeFile(out); err != nil {
			return err
		}
		if err := s.flushTruth(); err != nil {
			return err
		}
		return s.checkRanges()
	}

	// Trusts simulated together in lockstep, each unit dropped before the
	// next starts: without transfers every trust alone; with transfers and
	// groups each group (an ICS), planned from its own stream; with
	// transfers and no groups the whole region, planned from the region's.
	for _, u := range rc.units(rrng) {
		for _, i := range u.trusts {
			if _, err := start(i); err != nil {
				return result(), err
			}
		}
		if err := runUnit(sims, u, rc, write); err != nil {
			return result(), err
		}
		for _, i := range u.trusts {
			s := sims[i]
			if s.spoolErr != nil {
				return result(), s.spoolErr
			}
			// Keep what the merge and the result need; drop the simulation.
			s.spool.done()
			sims[i] = &sim{cfg: s.cfg, res: s.res, spool: s.spool}
			delete(reg.byTenant, s.cfg.Tenant)
		}
	}
	if err := mergeSpools(out, sims); err != nil {
		return result(), err
	}
	return result(), nil
}

// unit is trusts of a region simulated together, days in lockstep, with
// the stream that plans their transfers.
type unit struct {
	trusts []int
	plan   *rand.Rand
}

func (rc RegionConfig) units(regionRNG *rand.Rand) []unit {
	var us []unit
	switch {
	case rc.TransfersPerDay == 0:
		for i := range rc.Trusts {
			us = append(us, unit{trusts: []int{i}})
		}
	case rc.Trusts[0].Group == "":
		all := make([]int, len(rc.Trusts))
		for i := range all {
			all[i] = i
		}
		us = append(us, unit{trusts: all, plan: regionRNG})
	default:
		at := map[string]int{}
		for i, t := range rc.Trusts {
			g, ok := at[t.Group]
			if !ok {
				g = len(us)
				at[t.Group] = g
				us = append(us, unit{plan: rand.New(rand.NewPCG(rc.Seed, 0x52454749_4f4e5321^uint64(g+1)<<40))})
			}
			us[g].trusts = append(us[g].trusts, i)
		}
	}
	return us
}

// runUnit simulates the unit's trusts from their full files to the last
// day, every trust's file of day d before any of day d+1.
func runUnit(all []*sim, u unit, rc RegionConfig, write func(*sim) error) error {
	sims := make([]*sim, len(u.trusts))
	for j, i := range u.trusts {
		sims[j] = all[i]
	}
	for _, s := range sims {
		s.populate()
		if err := write(s); err != nil {
			return err
		}
	}
	n := len(sims)
	for k := 1; k <= rc.Days; k++ {
		if rc.TransfersPerDay > 0 && k < rc.Days {
			for j := 0; j < rc.TransfersPerDay; j++ {
				a, b := u.plan.IntN(n), u.plan.IntN(n-1)
				if b >= a {
					b++
				}
				sims[a].xferPlan = append(sims[a].xferPlan, sims[b].cfg.Tenant)
			}
		}
		if rc.TransfersPerDay > 0 && k%3 == 1 {
			a := u.plan.IntN(n)
			sims[a].xferPlan = append(sims[a].xferPlan, "")
		}
		for _, s := range sims {
			s.nextDay(k)
			s.simulateDay()
			if err := write(s); err != nil {
				return err
			}
		}
	}
	return nil
}
