package gen

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Trust is one trust of a region.
type Trust struct {
	Tenant string // ODS code
	VPD    string // ESR VPD number
	Staff  int    // approximate number of people in its first full file
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

func (rc RegionConfig) check() error {
	switch {
	case len(rc.Trusts) == 0 || len(rc.Trusts) > regionMaxTrusts:
		return fmt.Errorf("region of %d trusts: want 1..%d", len(rc.Trusts), regionMaxTrusts)
	case rc.TransfersPerDay < 0 || rc.TransfersPerDay > 100:
		return fmt.Errorf("transfers per day %d: want 0..100", rc.TransfersPerDay)
	case rc.TransfersPerDay > 0 && len(rc.Trusts) < 2:
		return errors.New("transfers need at least two trusts")
	}
	tenants, vpds := map[string]bool{}, map[string]bool{}
	for _, t := range rc.Trusts {
		if tenants[t.Tenant] || vpds[t.VPD] {
			return fmt.Errorf("trust %s/%s: tenants and VPDs must be unique in a region", t.Tenant, t.VPD)
		}
		tenants[t.Tenant], vpds[t.VPD] = true, true
		// Each trust's ids come from a fixed block (see regionRanges).
		if t.Staff > regionMaxStaff || t.Staff*(1000+12*rc.Days) > 150_000*1000 {
			return fmt.Errorf("trust %s: %d staff over %d days does not fit a region trust's id ranges (at most %d staff)",
				t.Tenant, t.Staff, rc.Days, regionMaxStaff)
		}
	}
	return nil
}

// GenerateRegion simulates the trusts of rc together and writes each
// trust's files under <TENANT>/ in out, and one truth.jsonl for the region
// (every line carries its tenant; lines are sorted by day, then tenant,
// then line). Days run in lockstep: every trust's file of day d is made
// before any file of day d+1, which is also the order the truth assumes
// the pipeline processes them in.
func GenerateRegion(rc RegionConfig, out Sink) (RegionResult, error) {
	if err := rc.check(); err != nil {
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
	niUsed := map[string]bool{}
	sims := make([]*sim, len(rc.Trusts))
	for i, t := range rc.Trusts {
		cfg, err := Config{Tenant: t.Tenant, VPD: t.VPD, Staff: t.Staff, Days: rc.Days, Seed: rc.Seed, Start: rc.Start,
			Faults: rc.Faults, FullEvery: rc.FullEvery}.normalised()
		if err != nil {
			return RegionResult{}, fmt.Errorf("trust %d: %w", i+1, err)
		}
		s := newSim(cfg, i)
		s.nhsOff, s.crsOff, s.reg, s.niUsed = nhsOff, crsOff, reg, niUsed
		reg.byTenant[t.Tenant] = s
		sims[i] = s
	}
	result := func() RegionResult {
		var rr RegionResult
		for _, s := range sims {
			rr.Trusts = append(rr.Trusts, s.res)
			rr.Rows += s.res.Rows
		}
		return rr
	}
	for _, s := range sims {
		s.populate()
		if err := s.writeFile(out); err != nil {
			return result(), err
		}
	}
	n := len(sims)
	for k := 1; k <= rc.Days; k++ {
		if k < rc.Days {
			for j := 0; j < rc.TransfersPerDay; j++ {
				a, b := rrng.IntN(n), rrng.IntN(n-1)
				if b >= a {
					b++
				}
				sims[a].xferPlan = append(sims[a].xferPlan, sims[b].cfg.Tenant)
			}
		}
		if rc.TransfersPerDay > 0 && k%3 == 1 {
			a := rrng.IntN(n)
			sims[a].xferPlan = append(sims[a].xferPlan, "")
		}
		for _, s := range sims {
			s.nextDay(k)
			s.simulateDay()
			if err := s.writeFile(out); err != nil {
				return result(), err
			}
		}
	}
	var recs []truthRec
	for _, s := range sims {
		recs = append(recs, s.finishTruth()...)
	}
	slices.SortStableFunc(recs, func(a, b truthRec) int {
		return cmp.Or(cmp.Compare(a.file, b.file), cmp.Compare(a.t.Tenant, b.t.Tenant), cmp.Compare(a.t.Line, b.t.Line))
	})
	if err := writeTruth(out, recs); err != nil {
		return result(), err
	}
	return result(), nil
}
