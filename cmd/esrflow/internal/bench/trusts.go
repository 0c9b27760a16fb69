package bench

import (
	"fmt"
	"io"
	"strings"

	"github.com/esrflow/esrflow/esr/gen"
)

// NationalTrusts is the number of trusts of the national region.
const NationalTrusts = 205

// nationalTrusts is the national region at fraction (gen.National: 205
// trusts in 42 ICSs, about 1.6M staff x fraction), or its first trusts
// when trusts > 0: a smaller run with the national spread (gen.National
// mixes the sizes), whose staff are then fewer than the fraction says.
func nationalTrusts(fraction float64, trusts int) ([]gen.Trust, error) {
	all, err := gen.National(fraction)
	if err != nil {
		return nil, err
	}
	if trusts > len(all) {
		return nil, fmt.Errorf("%d trusts: at most %d", trusts, len(all))
	}
	if trusts > 0 {
		all = all[:trusts]
	}
	return all, nil
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
