package avrojson_test

import (
	"encoding/json"
	"testing"

	"github.com/esrflow/esrflow/services/api/avrojson"
)

// TestNewMatchesLegacy decodes random payloads of every schema with both
// decoders and wants the same JSON, and the same verdict on broken payloads.
func TestNewMatchesLegacy(t *testing.T) {
	for _, c := range allSchemas(t) {
		g := newGen(uint64(len(c.name)*1000 + c.version))
		for i := range 300 {
			p := g.payload(c.schema)
			want, werr := avrojson.DecodeLegacy(c.schema, p)
			got, gerr := avrojson.Decode(c.schema, p)
			if werr != nil || gerr != nil {
				t.Fatalf("%s v%d #%d: legacy err %v, new err %v", c.name, c.version, i, werr, gerr)
			}
			wj, _ := json.Marshal(want)
			gj, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if string(wj) != string(gj) {
				t.Fatalf("%s v%d #%d payload %s\nlegacy %s\nnew    %s", c.name, c.version, i, hexOf(p), wj, gj)
			}
			for cut := range len(p) * min(1, max(0, 25-i)) {
				_, lerr := avrojson.DecodeLegacy(c.schema, p[:cut])
				_, nerr := avrojson.Decode(c.schema, p[:cut])
				if (lerr == nil) != (nerr == nil) {
					t.Fatalf("%s v%d #%d cut at %d of %s: legacy err %v, new err %v", c.name, c.version, i, cut, hexOf(p), lerr, nerr)
				}
			}
			if _, err := avrojson.Decode(c.schema, append(p, 0)); err == nil {
				t.Fatalf("%s v%d #%d: a trailing byte decoded", c.name, c.version, i)
			}
		}
	}
}
