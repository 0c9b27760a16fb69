package avrojson_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/esrflow/esrflow/schemas"
)

// exotic holds the Avro types and logical types no esrflow schema uses yet,
// so the decoder is pinned for them too.
const exotic = `{"type":"record","name":"Exotic","namespace":"t","fields":[
 {"name":"f","type":"float"},{"name":"d","type":"double"},{"name":"b","type":"bytes"},{"name":"ok","type":"boolean"},
 {"name":"fx","type":{"type":"fixed","name":"F4","size":4}},
 {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
 {"name":"fdec","type":{"type":"fixed","name":"FD","size":6,"logicalType":"decimal","precision":12,"scale":3}},
 {"name":"dur","type":{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}},
 {"name":"tm","type":{"type":"int","logicalType":"time-millis"}},
 {"name":"tu","type":{"type":"long","logicalType":"time-micros"}},
 {"name":"tsu","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"ltm","type":{"type":"long","logicalType":"local-timestamp-millis"}},
 {"name":"ltu","type":{"type":"long","logicalType":"local-timestamp-micros"}},
 {"name":"u","type":{"type":"string","logicalType":"uuid"}},
 {"name":"when","type":["null",{"type":"int","logicalType":"date"},{"type":"long","logicalType":"timestamp-millis"}]},
 {"name":"clock","type":["null",{"type":"int","logicalType":"time-millis"},{"type":"long","logicalType":"time-micros"}]},
 {"name":"mixed","type":["null","int","long","float","double","boolean","bytes","string","F4",{"type":"enum","name":"E","symbols":["A","B"]}]},
 {"name":"local","type":["null",{"type":"long","logicalType":"local-timestamp-millis"}]},
 {"name":"nums","type":["null",{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}]},
 {"name":"arr","type":{"type":"array","items":["null","Exotic2"]}},
 {"name":"m","type":{"type":"map","values":{"type":"array","items":"long"}}}
]}`

const exotic2 = `{"type":"record","name":"Exotic2","namespace":"t","fields":[{"name":"x","type":"int"}]}`

type schemaCase struct {
	name    string
	version int
	schema  avro.Schema
}

// allSchemas is every .avsc version in schemas/ plus the exotic schema.
func allSchemas(t testing.TB) []schemaCase {
	t.Helper()
	var out []schemaCase
	for _, name := range schemas.Names() {
		versions, err := schemas.Versions(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range versions {
			s, _, err := schemas.Version(name, v)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, schemaCase{name, v, s})
		}
	}
	cache := &avro.SchemaCache{} // exotic refers to Exotic2 by name
	if _, err := avro.ParseWithCache(exotic2, "", cache); err != nil {
		t.Fatal(err)
	}
	s, err := avro.ParseWithCache(exotic, "", cache)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, schemaCase{"exotic", 1, s})
}

// gen writes a random value of a schema in Avro binary, straight from the
// schema, so the decoder is tested on bytes no typed Go value shaped.
type gen struct {
	rng *rand.Rand
	w   *avro.Writer
	buf *bytes.Buffer
}

func newGen(seed uint64) *gen {
	buf := &bytes.Buffer{}
	return &gen{rng: rand.New(rand.NewPCG(seed, 7)), w: avro.NewWriter(buf, 64), buf: buf}
}

func (g *gen) payload(s avro.Schema) []byte {
	g.buf.Reset()
	g.value(s, 0)
	if err := g.w.Flush(); err != nil {
		panic(err)
	}
	return bytes.Clone(g.buf.Bytes())
}

var words = []string{"", "a", "RXX", "412", "Nurse – Band 5", "é\"\\\n<tag>&", "GO_412_EXP_GOC_20240311_00000347.DAT"}

func (g *gen) long() int64 {
	switch g.rng.IntN(5) {
	case 0:
		return 0
	case 1:
		return -g.rng.Int64N(1 << 40)
	case 2:
		return g.rng.Int64N(1 << 20)
	default:
		return g.rng.Int64N(1<<45) - 1<<44
	}
}

func (g *gen) int() int32 { return int32(g.rng.Int64N(1<<24) - 1<<23) }

func (g *gen) value(s avro.Schema, depth int) {
	switch s := s.(type) {
	case *avro.RefSchema:
		g.value(s.Schema(), depth)
	case *avro.NullSchema:
	case *avro.PrimitiveSchema:
		switch s.Type() {
		case avro.Boolean:
			g.w.WriteBool(g.rng.IntN(2) == 0)
		case avro.Int:
			if l := s.Logical(); l != nil && l.Type() == avro.Date {
				g.w.WriteInt(int32(g.rng.IntN(80000) - 20000))
			} else {
				g.w.WriteInt(g.int())
			}
		case avro.Long:
			g.w.WriteLong(g.long())
		case avro.Float:
			g.w.WriteFloat(float32(g.rng.NormFloat64() * 1000))
		case avro.Double:
			g.w.WriteDouble(g.rng.NormFloat64() * 1e6)
		case avro.String:
			g.w.WriteString(words[g.rng.IntN(len(words))])
		case avro.Bytes:
			b := make([]byte, g.rng.IntN(6))
			for i := range b {
				b[i] = byte(g.rng.IntN(256))
			}
			if l := s.Logical(); l != nil && l.Type() == avro.Decimal {
				// The shortest two's-complement form, at least one byte: the
				// decoded *big.Rat cannot tell other forms of the same number.
				b = append([]byte{byte(g.rng.IntN(256))}, b...)
				for len(b) > 1 && (b[0] == 0 && b[1]&0x80 == 0 || b[0] == 0xff && b[1]&0x80 != 0) {
					b = b[1:]
				}
			}
			g.w.WriteBytes(b)
		}
	case *avro.RecordSchema:
		for _, f := range s.Fields() {
			g.value(f.Type(), depth+1)
		}
	case *avro.EnumSchema:
		g.w.WriteInt(int32(g.rng.IntN(len(s.Symbols()))))
	case *avro.UnionSchema:
		i := g.rng.IntN(len(s.Types()))
		g.w.WriteInt(int32(i))
		g.value(s.Types()[i], depth+1)
	case *avro.ArraySchema:
		g.blocks(depth, func() { g.value(s.Items(), depth+1) })
	case *avro.MapSchema:
		g.blocks(depth, func() {
			g.w.WriteString(fmt.Sprintf("k%d", g.rng.IntN(1000)))
			g.value(s.Values(), depth+1)
		})
	case *avro.FixedSchema:
		b := make([]byte, s.Size())
		for i := range b {
			b[i] = byte(g.rng.IntN(256))
		}
		g.w.Write(b)
	default:
		panic(fmt.Sprintf("gen: %T", s))
	}
}

// blocks writes 0 to 3 items, sometimes in the counted-and-sized block form.
func (g *gen) blocks(depth int, item func()) {
	n := g.rng.IntN(4)
	if depth > 6 {
		n = 0
	}
	if n > 0 && g.rng.IntN(3) == 0 {
		sub := &gen{rng: g.rng, buf: &bytes.Buffer{}}
		sub.w = avro.NewWriter(sub.buf, 64)
		saved := *g
		*g = *sub
		for range n {
			item()
		}
		_ = g.w.Flush()
		body := g.buf.Bytes()
		*g = saved
		g.w.WriteLong(-int64(n))
		g.w.WriteLong(int64(len(body)))
		g.w.Write(body)
	} else if n > 0 {
		g.w.WriteLong(int64(n))
		for range n {
			item()
		}
	}
	g.w.WriteLong(0)
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }
