package avrojson_test

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/esrflow/esrflow/services/api/avrojson"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from the current decoder")

const goldenFile = "testdata/golden.json"

type golden struct {
	Schema  string `json:"schema"`
	Version int    `json:"version"`
	Payload string `json:"payload"` // Avro binary, hex
	JSON    string `json:"json"`    // what Decode must print, byte for byte
}

// TestGolden decodes fixed payloads of every schema version in schemas/ (and
// of the exotic schema) and wants exactly the JSON recorded for them. The
// expected JSON was first written by the hand-written decoder this package
// had before it used hamba/avro.
func TestGolden(t *testing.T) {
	const perSchema = 6
	cases := allSchemas(t)
	if *update {
		var out []golden
		for _, c := range cases {
			g := newGen(uint64(len(c.name)*100 + c.version))
			for range perSchema {
				p := g.payload(c.schema)
				v, err := avrojson.Decode(c.schema, p)
				if err != nil {
					t.Fatal(err)
				}
				j, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, golden{c.name, c.version, hex.EncodeToString(p), string(j)})
			}
		}
		b, err := json.MarshalIndent(out, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	var want []golden
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, w := range want {
		seen[fmt.Sprintf("%s v%d", w.Schema, w.Version)]++
	}
	for _, c := range cases {
		if k := fmt.Sprintf("%s v%d", c.name, c.version); seen[k] < perSchema {
			t.Errorf("%s has %d golden values, want %d: run go test -run TestGolden -update", k, seen[k], perSchema)
		}
	}
	for i, w := range want {
		var c *schemaCase
		for j := range cases {
			if cases[j].name == w.Schema && cases[j].version == w.Version {
				c = &cases[j]
			}
		}
		if c == nil {
			t.Errorf("golden #%d: no schema %s v%d", i, w.Schema, w.Version)
			continue
		}
		p, err := hex.DecodeString(w.Payload)
		if err != nil {
			t.Fatal(err)
		}
		v, err := avrojson.Decode(c.schema, p)
		if err != nil {
			t.Errorf("golden #%d %s v%d: %v", i, w.Schema, w.Version, err)
			continue
		}
		got, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != w.JSON {
			t.Errorf("golden #%d %s v%d\ngot  %s\nwant %s", i, w.Schema, w.Version, got, w.JSON)
		}
		if _, err := avrojson.Decode(c.schema, p[:len(p)-1]); err == nil {
			t.Errorf("golden #%d %s v%d: decoding a truncated payload succeeded", i, w.Schema, w.Version)
		}
		if _, err := avrojson.Decode(c.schema, append(p, 0)); err == nil {
			t.Errorf("golden #%d %s v%d: decoding a payload with a trailing byte succeeded", i, w.Schema, w.Version)
		}
	}
}
