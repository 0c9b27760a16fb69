package bench

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/esrflow/esrflow/esr/gen"
)

// National figures: ESR holds some 1.6 million staff in about 200
// employing organisations across England.
const (
	NationalStaff  = 1_600_000
	NationalTrusts = 205
)

// nationalTiers is the size spread of the national trusts at full scale: a
// few very large trusts, many mid-sized acute and community trusts, some
// small specialist ones.
var nationalTiers = []struct{ trusts, lo, hi int }{
	{6, 15_000, 20_000},
	{24, 10_000, 15_000},
	{140, 4_000, 11_000},
	{35, 1_000, 2_500},
}

// regionMaxTrusts and regionMaxStaff are esr/gen's limits on one region
// (GenerateRegion): the national trusts are generated in regions of at most
// this many trusts.
const (
	regionMaxTrusts = 8
	regionMaxStaff  = 40_000
)

// nationalTrusts is the benchmark's stand-in for the national region until
// the generator has one (`esrflow gen --national`): trusts (all
// NationalTrusts when 0) drawn from the national size spread, with codes
// RAA, RAB, ... and VPDs 100, 101, ..., scaled so their staff sum to
// NationalStaff x fraction. The list depends on its arguments only.
func nationalTrusts(fraction float64, trusts int) ([]gen.Trust, error) {
	if !(fraction > 0 && fraction <= 1) {
		return nil, fmt.Errorf("fraction %v: want more than 0 and at most 1", fraction)
	}
	if trusts <= 0 {
		trusts = NationalTrusts
	}
	if trusts > NationalTrusts {
		return nil, fmt.Errorf("%d trusts: at most %d", trusts, NationalTrusts)
	}
	rng := rand.New(rand.NewPCG(0x4e4154494f4e414c, 14))
	var sizes []int
	for _, t := range nationalTiers {
		for range t.trusts {
			sizes = append(sizes, t.lo+rng.IntN(t.hi-t.lo+1))
		}
	}
	// Mixed, so any first n trusts have the national spread.
	rng.Shuffle(len(sizes), func(i, j int) { sizes[i], sizes[j] = sizes[j], sizes[i] })
	sizes = sizes[:trusts]
	total := 0
	for _, n := range sizes {
		total += n
	}
	scale := NationalStaff * fraction / float64(total)
	out := make([]gen.Trust, trusts)
	for i, n := range sizes {
		out[i] = gen.Trust{
			Tenant: "R" + string(rune('A'+i/26)) + string(rune('A'+i%26)),
			VPD:    fmt.Sprint(100 + i),
			Staff:  max(1, int(math.Round(float64(n)*scale))),
		}
		if out[i].Staff > regionMaxStaff {
			return nil, fmt.Errorf("trust %s would have %d staff, over the generator's %d: more trusts or a smaller fraction",
				out[i].Tenant, out[i].Staff, regionMaxStaff)
		}
	}
	return out, nil
}

// tenantSink writes a generator's files under root, each under its
// tenant's folder, and drops the truth (the benchmark checks counts, not
// events, and one truth per region would overwrite the last).
type tenantSink struct {
	root   string
	prefix string // "<TENANT>/" for a single trust's Generate; "" for a region, whose names carry it
}

func (s tenantSink) Create(name string) (io.WriteCloser, error) {
	if !strings.Contains(s.prefix+name, "/") || strings.HasSuffix(name, "truth.jsonl") {
		return gen.DiscardSink{}.Create(name)
	}
	return gen.DirSink(s.root).Create(s.prefix + name)
}
