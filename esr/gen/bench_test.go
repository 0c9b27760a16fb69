package gen

import (
	"testing"
)

// BenchmarkGenerate measures end-to-end generation (simulation, rendering,
// hashing, truth) into a discarding sink and reports rows per second.
func BenchmarkGenerate(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"staff20k_days5", Config{Tenant: "RXX", VPD: "412", Staff: 20000, Days: 5, Seed: 1, Faults: true}},
		{"staff2k_days30", Config{Tenant: "RXX", VPD: "412", Staff: 2000, Days: 30, Seed: 1, Faults: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var rows int64
			b.ReportAllocs()
			for b.Loop() {
				res, err := Generate(c.cfg, DiscardSink{})
				if err != nil {
					b.Fatal(err)
				}
				rows += res.Rows
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
