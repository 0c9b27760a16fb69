package gen

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// National staff and trust numbers: ESR holds some 1.6 million staff in
// about 200 employing organisations across England.
const (
	NationalStaff  = 1_600_000
	NationalTrusts = 205
	// NationalGroups is the number of integrated care systems (ICSs) the
	// national trusts are grouped into: England has 42.
	NationalGroups = 42
)

// nationalTiers is the size distribution of the national region: a few very
// large trusts, many mid-sized acute and community trusts, and some small
// specialist ones. Sizes are drawn uniformly within a tier, then all are
// scaled so the total is NationalStaff x fraction.
var nationalTiers = []struct{ trusts, lo, hi int }{
	{6, 15_000, 20_000},
	{24, 10_000, 15_000},
	{140, 4_000, 11_000},
	{35, 1_000, 2_500},
}

// National returns the synthetic national region: NationalTrusts
// trusts with ODS-like codes RAA, RAB, ... (R, then two letters), VPDs 100,
// 101, ... and staff summing to about NationalStaff x fraction (each trust
// at least one), in NationalGroups groups ICS01 ... ICS42 of 4-5
// consecutive trusts, within which staff transfer. The list is fixed: it
// depends on the fraction only, never on the seed, so runs with different
// seeds simulate the same trusts.
func National(fraction float64) ([]Trust, error) {
	if !(fraction > 0 && fraction <= 1) {
		return nil, fmt.Errorf("national fraction %v: want more than 0 and at most 1", fraction)
	}
	rng := rand.New(rand.NewPCG(0x4e4154494f4e414c, 14)) // fixed: the shape never changes
	var raw []int
	total := 0
	for _, t := range nationalTiers {
		for range t.trusts {
			n := t.lo + rng.IntN(t.hi-t.lo+1)
			raw = append(raw, n)
			total += n
		}
	}
	// Mix the tiers so trust order (which fixes id ranges) is not by size.
	rng.Shuffle(len(raw), func(i, j int) { raw[i], raw[j] = raw[j], raw[i] })
	scale := NationalStaff * fraction / float64(total)
	trusts := make([]Trust, len(raw))
	for i, n := range raw {
		trusts[i] = Trust{
			Tenant: "R" + string(rune('A'+i/26)) + string(rune('A'+i%26)),
			VPD:    fmt.Sprint(100 + i),
			Staff:  max(1, int(math.Round(float64(n)*scale))),
			Group:  fmt.Sprintf("ICS%02d", i*NationalGroups/len(raw)+1),
		}
	}
	return trusts, nil
}
