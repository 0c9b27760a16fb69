package validate_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkValidateFiles runs the validate processor alone (decode, rules,
// buffering with its changelog writes, FILE_END verdict, encode) over a
// synthetic trust's normalised files; records/s is the figure.
func BenchmarkValidateFiles(b *testing.B) {
	cfg := truthCfg
	cfg.Days, cfg.Faults = 3, true
	g := generate(b, cfg)
	h := newHarness(b)
	inputs := h.run(flatten(g.files)).normalised
	b.ResetTimer()
	n := 0
	for b.Loop() {
		p := h.newValidate()
		for _, r := range inputs {
			step(b, p, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
		}
		n += len(inputs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
