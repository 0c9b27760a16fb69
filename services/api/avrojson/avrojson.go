// Package avrojson turns Avro binary values into plain JSON, driven by the
// schema alone: no Go types are needed, so a tool can print any esrflow topic
// decoded with the writer schema the registry holds for its id.
//
// The JSON is the shape a person reads, not Avro's JSON encoding: records keep
// their field order, unions are the bare value of the chosen branch (null for
// the null branch), enums are their symbol, bytes and fixed are base64, dates
// are YYYY-MM-DD and timestamps RFC 3339 in UTC.
//
// The bytes are read by hamba/avro's generic decoding (records become
// map[string]any, unions map[string]any{branch: value}, logical types
// time.Time, time.Duration, *big.Rat ...). This package only shapes those
// values, guided by the schema, into the form above.
package avrojson

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
)

// ErrShort is returned when the payload ends before the schema says it should.
var ErrShort = errors.New("avrojson: payload too short")

// Object is a JSON object that keeps its fields in schema order.
type Object []Field

// Field is one member of an Object.
type Field struct {
	Name  string
	Value any
}

// Get returns the value of the named field, and whether it is present.
func (o Object) Get(name string) (any, bool) {
	for _, f := range o {
		if f.Name == name {
			return f.Value, true
		}
	}
	return nil, false
}

// MarshalJSON writes the fields in order.
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.Name)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.Value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// codec is the hamba/avro configuration used for decoding. Its limits keep a
// corrupt length or count from allocating more than a Kafka record could
// hold: no string, bytes or array in a value is longer than 1 MiB items.
//
// Decoding into `any` gives a union whose branches all have a Go type in
// hamba's resolver (null, primitives, most logical types) as the bare value
// of its branch, and any other union (one with a record, enum, array, map or
// fixed branch) as map[string]any{branch name: value}.
// A bare int.date and a bare timestamp would both be time.Time, and a bare
// time-millis and time-micros both time.Duration, so those two get types of
// their own here to say which branch they came from.
var codec = func() avro.API {
	api := avro.Config{MaxByteSliceSize: 1 << 20, MaxSliceAllocSize: 1 << 20}.Freeze()
	api.Register(string(avro.Int)+"."+string(avro.Date), unionDate{})
	api.Register(string(avro.Int)+"."+string(avro.TimeMillis), unionTimeMillis(0))
	return api
}()

type (
	unionDate       time.Time
	unionTimeMillis time.Duration
)

// readers reuses hamba Readers. avro.Unmarshal is not used because it reports
// a payload that ends inside a varint as success (it drops io.EOF), and it
// cannot tell whether bytes were left over.
var readers = sync.Pool{New: func() any { return avro.NewReader(nil, 0, avro.WithReaderConfig(codec)) }}

// Decode reads one value of schema from payload (the Avro body, without the
// Confluent header) and returns it as JSON-ready Go values: Object, []any,
// map[string]any, string, bool, int32/int64, float32/float64, []byte or nil.
// Trailing bytes are an error: the schema must account for the whole payload.
func Decode(schema avro.Schema, payload []byte) (any, error) {
	r := readers.Get().(*avro.Reader)
	defer func() {
		r.Reset(nil) // keep no payload alive in the pool
		readers.Put(r)
	}()
	r.Reset(payload)
	r.Error = nil
	var generic any
	r.ReadVal(decodingSchema(schema), &generic)
	if err := r.Error; err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %v", ErrShort, err)
		}
		return nil, fmt.Errorf("avrojson: %w", err)
	}
	// Peek sets io.EOF when the payload is used up; anything else means a
	// byte is left over.
	r.Peek()
	if r.Error == nil {
		return nil, errors.New("avrojson: trailing bytes after the value")
	}
	return shape(schema, generic)
}

// localTimestamp matches the local-timestamp logical types in a schema's JSON.
var localTimestamp = regexp.MustCompile(`,"logicalType":"local-timestamp-mi(llis|cros)"`)

// decoded caches decodingSchema's answers by schema fingerprint.
var decoded sync.Map // [32]byte -> avro.Schema

// decodingSchema is the schema hamba decodes with: the schema itself, or a
// copy with the local-timestamp logical types dropped when it has any. hamba
// reads a local-timestamp through time.Local and cannot give the wall clock
// back exactly where the process zone changes offset, so those values are
// decoded as plain longs and shape formats them. If the copy does not parse
// (a union with both a long and a local-timestamp branch), the schema is used
// as it is.
func decodingSchema(s avro.Schema) avro.Schema {
	key := s.Fingerprint()
	if d, ok := decoded.Load(key); ok {
		return d.(avro.Schema)
	}
	d := s
	if str := s.String(); localTimestamp.MatchString(str) {
		if p, err := avro.ParseWithCache(localTimestamp.ReplaceAllString(str, ""), "", &avro.SchemaCache{}); err == nil {
			d = p
		}
	}
	decoded.Store(key, d)
	return d
}

// shape turns one value decoded by hamba into this package's JSON shape.
func shape(s avro.Schema, v any) (any, error) {
	switch s := s.(type) {
	case *avro.RefSchema:
		return shape(s.Schema(), v)
	case *avro.NullSchema:
		return nil, nil
	case *avro.PrimitiveSchema:
		return primitive(s, v)
	case *avro.RecordSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, mismatch(s, v)
		}
		obj := make(Object, 0, len(s.Fields()))
		for _, f := range s.Fields() {
			fv, err := shape(f.Type(), m[f.Name()])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name(), err)
			}
			obj = append(obj, Field{Name: f.Name(), Value: fv})
		}
		return obj, nil
	case *avro.EnumSchema:
		if _, ok := v.(string); !ok {
			return nil, mismatch(s, v)
		}
		return v, nil
	case *avro.UnionSchema:
		if v == nil { // the null branch
			return nil, nil
		}
		names := bareBranch(v)
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			for name, bv := range m {
				names, v = []string{name}, bv
			}
		}
		for _, t := range s.Types() {
			if slices.Contains(names, branchName(t)) {
				return shape(t, v)
			}
		}
		for _, t := range s.Types() { // a local-timestamp decoded as a long
			if isLocalTimestamp(t) && slices.Contains(names, string(t.Type())) {
				return shape(t, v)
			}
		}
		return nil, mismatch(s, v)
	case *avro.ArraySchema:
		items, ok := v.([]any)
		if !ok {
			return nil, mismatch(s, v)
		}
		out := make([]any, len(items))
		for i, item := range items {
			sv, err := shape(s.Items(), item)
			if err != nil {
				return nil, err
			}
			out[i] = sv
		}
		return out, nil
	case *avro.MapSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, mismatch(s, v)
		}
		for k, mv := range m {
			sv, err := shape(s.Values(), mv)
			if err != nil {
				return nil, err
			}
			m[k] = sv
		}
		return m, nil
	case *avro.FixedSchema:
		return fixed(s, v)
	}
	return nil, fmt.Errorf("avrojson: unsupported schema %T", s)
}

// bareBranch names the union branches a bare value can come from.
func bareBranch(v any) []string {
	switch v.(type) {
	case unionDate:
		return []string{"int.date"}
	case unionTimeMillis:
		return []string{"int.time-millis"}
	case time.Time:
		return []string{"long.timestamp-millis", "long.timestamp-micros"}
	case time.Duration:
		return []string{"long.time-micros"}
	case *big.Rat:
		return []string{"bytes.decimal"}
	case int:
		return []string{"int"}
	case int64:
		return []string{"long"}
	case float32:
		return []string{"float"}
	case float64:
		return []string{"double"}
	case bool:
		return []string{"boolean"}
	case string:
		return []string{"string", "string.uuid"}
	case []byte:
		return []string{"bytes"}
	}
	return nil
}

// branchName is the key hamba gives a union branch in map[string]any: the
// full name of a named type, else the type with its logical type
// ("int.date").
func branchName(s avro.Schema) string {
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	name := string(s.Type())
	if l, ok := s.(avro.LogicalTypeSchema); ok && l.Logical() != nil {
		name += "." + string(l.Logical().Type())
	}
	return name
}

func isLocalTimestamp(s avro.Schema) bool {
	p, ok := s.(*avro.PrimitiveSchema)
	if !ok || p.Logical() == nil {
		return false
	}
	lt := p.Logical().Type()
	return lt == avro.LocalTimestampMillis || lt == avro.LocalTimestampMicros
}

func mismatch(s avro.Schema, v any) error {
	return fmt.Errorf("avrojson: decoded %T for a %s", v, s.Type())
}

// localLayout prints a local-timestamp: the wall clock, with no zone.
const localLayout = "2006-01-02T15:04:05.999999999"

func primitive(s *avro.PrimitiveSchema, v any) (any, error) {
	var logical avro.LogicalType
	if l := s.Logical(); l != nil {
		logical = l.Type()
	}
	switch x := v.(type) {
	case nil:
		if s.Type() == avro.Null {
			return nil, nil
		}
	case int64:
		switch logical {
		case avro.LocalTimestampMillis:
			return time.UnixMilli(x).UTC().Format(localLayout), nil
		case avro.LocalTimestampMicros:
			return time.UnixMicro(x).UTC().Format(localLayout), nil
		}
		return v, nil
	case bool, float32, float64, string:
		return v, nil
	case int:
		if s.Type() == avro.Int {
			return int32(x), nil
		}
		return int64(x), nil
	case []byte:
		if x == nil {
			x = []byte{}
		}
		return x, nil
	case unionDate:
		return primitive(s, time.Time(x))
	case unionTimeMillis:
		return primitive(s, time.Duration(x))
	case time.Time:
		switch logical {
		case avro.Date:
			return x.UTC().Format(time.DateOnly), nil
		case avro.TimestampMillis, avro.TimestampMicros:
			return x.UTC().Format(time.RFC3339Nano), nil
		case avro.LocalTimestampMillis, avro.LocalTimestampMicros:
			return localWall(x).Format(localLayout), nil
		}
	case time.Duration: // time-millis (int) and time-micros (long)
		if logical == avro.TimeMillis {
			return int32(x / time.Millisecond), nil
		}
		return int64(x / time.Microsecond), nil
	case *big.Rat: // bytes.decimal: the two's-complement bytes again
		return unscaled(x, s.Logical()).Bytes(), nil
	}
	return nil, mismatch(s, v)
}

// localWall undoes hamba's reading of a local-timestamp: it builds
// time.Unix(v) in time.Local and then subtracts the zone offset at that
// instant, so add back the offset that makes the round trip consistent.
// With the process in UTC (as in the containers) the offset is zero.
func localWall(t time.Time) time.Time {
	_, off := t.Zone()
	for range 2 {
		u := t.Add(time.Duration(off) * time.Second)
		if _, o := u.Zone(); o == off {
			return u.UTC()
		}
		_, off = t.Add(time.Duration(off) * time.Second).Zone()
	}
	return t.Add(time.Duration(off) * time.Second).UTC()
}

// decimalInt is the unscaled integer behind a decimal: r * 10^scale.
type decimalInt struct{ n *big.Int }

func unscaled(r *big.Rat, l avro.LogicalSchema) decimalInt {
	scale := 0
	if d, ok := l.(*avro.DecimalLogicalSchema); ok {
		scale = d.Scale()
	}
	n := new(big.Int).Mul(r.Num(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
	return decimalInt{n.Quo(n, r.Denom())}
}

// Bytes is the shortest big-endian two's-complement form, as Avro writers
// (hamba's included) produce it.
func (d decimalInt) Bytes() []byte {
	n := d.n
	if n.Sign() >= 0 {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// -n-1 in bytes, inverted, is n in two's complement.
	m := new(big.Int).Not(n).Bytes()
	if len(m) == 0 || m[0]&0x80 != 0 {
		m = append([]byte{0}, m...)
	}
	for i := range m {
		m[i] = ^m[i]
	}
	return m
}

// sized is the two's-complement form sign-extended to size bytes.
func (d decimalInt) sized(size int) []byte {
	b := d.Bytes()
	if len(b) >= size {
		return b[len(b)-size:]
	}
	fill := byte(0)
	if d.n.Sign() < 0 {
		fill = 0xff
	}
	return append(bytes.Repeat([]byte{fill}, size-len(b)), b...)
}

func fixed(s *avro.FixedSchema, v any) (any, error) {
	switch x := v.(type) {
	case *big.Rat:
		return unscaled(x, s.Logical()).sized(s.Size()), nil
	case avro.LogicalDuration:
		b := make([]byte, 12)
		binary.LittleEndian.PutUint32(b[0:], x.Months)
		binary.LittleEndian.PutUint32(b[4:], x.Days)
		binary.LittleEndian.PutUint32(b[8:], x.Milliseconds)
		return b, nil
	}
	// Plain fixed decodes to a [size]byte array.
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Array || rv.Type().Elem().Kind() != reflect.Uint8 || rv.Len() != s.Size() {
		return nil, mismatch(s, v)
	}
	b := make([]byte, rv.Len())
	reflect.Copy(reflect.ValueOf(b), rv)
	return b, nil
}
