package avrojson

// The hand-written decoder this package used before it decoded with hamba/avro.
// Kept only while the new decoder is compared against it; deleted afterwards.

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/hamba/avro/v2"
)

// Decode reads one value of schema from payload (the Avro body, without the
// Confluent header) and returns it as JSON-ready Go values: Object, []any,
// map[string]any, string, bool, int32/int64, float32/float64 or nil. Trailing
// bytes are an error: the schema must account for the whole payload.
func decodeLegacy(schema avro.Schema, payload []byte) (any, error) {
	r := &reader{b: payload}
	v, err := r.value(schema)
	if err != nil {
		return nil, err
	}
	if r.i != len(r.b) {
		return nil, fmt.Errorf("avrojson: %d trailing bytes after the value", len(r.b)-r.i)
	}
	return v, nil
}

type reader struct {
	b []byte
	i int
}

func (r *reader) long() (int64, error) {
	v, n := binary.Varint(r.b[r.i:])
	if n <= 0 {
		return 0, ErrShort
	}
	r.i += n
	return v, nil
}

func (r *reader) take(n int64) ([]byte, error) {
	if n < 0 || n > int64(len(r.b)-r.i) {
		return nil, ErrShort
	}
	out := r.b[r.i : r.i+int(n)]
	r.i += int(n)
	return out, nil
}

func (r *reader) value(s avro.Schema) (any, error) {
	switch s := s.(type) {
	case *avro.NullSchema:
		return nil, nil
	case *avro.RefSchema:
		return r.value(s.Schema())
	case *avro.PrimitiveSchema:
		return r.primitive(s)
	case *avro.RecordSchema:
		obj := make(Object, 0, len(s.Fields()))
		for _, f := range s.Fields() {
			v, err := r.value(f.Type())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name(), err)
			}
			obj = append(obj, Field{Name: f.Name(), Value: v})
		}
		return obj, nil
	case *avro.EnumSchema:
		i, err := r.long()
		if err != nil {
			return nil, err
		}
		sym, ok := s.Symbol(int(i))
		if !ok {
			return nil, fmt.Errorf("avrojson: enum %s has no symbol %d", s.FullName(), i)
		}
		return sym, nil
	case *avro.UnionSchema:
		i, err := r.long()
		if err != nil {
			return nil, err
		}
		if i < 0 || int(i) >= len(s.Types()) {
			return nil, fmt.Errorf("avrojson: union branch %d out of range", i)
		}
		return r.value(s.Types()[i])
	case *avro.ArraySchema:
		out := []any{}
		err := r.blocks(func() error {
			v, err := r.value(s.Items())
			out = append(out, v)
			return err
		})
		return out, err
	case *avro.MapSchema:
		out := map[string]any{}
		err := r.blocks(func() error {
			k, err := r.str()
			if err != nil {
				return err
			}
			v, err := r.value(s.Values())
			out[k] = v
			return err
		})
		return out, err
	case *avro.FixedSchema:
		return r.take(int64(s.Size()))
	}
	return nil, fmt.Errorf("avrojson: unsupported schema %T", s)
}

// blocks reads Avro's blocked array and map encoding, calling item per item.
func (r *reader) blocks(item func() error) error {
	for {
		n, err := r.long()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if n < 0 { // a negative count is followed by the block's byte size
			n = -n
			if _, err := r.long(); err != nil {
				return err
			}
		}
		for ; n > 0; n-- {
			if err := item(); err != nil {
				return err
			}
		}
	}
}

func (r *reader) str() (string, error) {
	n, err := r.long()
	if err != nil {
		return "", err
	}
	b, err := r.take(n)
	return string(b), err
}

func (r *reader) primitive(s *avro.PrimitiveSchema) (any, error) {
	var logical avro.LogicalType
	if l := s.Logical(); l != nil {
		logical = l.Type()
	}
	switch s.Type() {
	case avro.Null:
		return nil, nil
	case avro.Boolean:
		b, err := r.take(1)
		if err != nil {
			return nil, err
		}
		return b[0] != 0, nil
	case avro.Int, avro.Long:
		v, err := r.long()
		if err != nil {
			return nil, err
		}
		switch logical {
		case avro.Date:
			return time.Unix(v*86400, 0).UTC().Format(time.DateOnly), nil
		case avro.TimestampMillis:
			return time.UnixMilli(v).UTC().Format(time.RFC3339Nano), nil
		case avro.TimestampMicros:
			return time.UnixMicro(v).UTC().Format(time.RFC3339Nano), nil
		case avro.LocalTimestampMillis:
			return time.UnixMilli(v).UTC().Format("2006-01-02T15:04:05.999999999"), nil
		case avro.LocalTimestampMicros:
			return time.UnixMicro(v).UTC().Format("2006-01-02T15:04:05.999999999"), nil
		}
		if s.Type() == avro.Int {
			return int32(v), nil
		}
		return v, nil
	case avro.Float:
		b, err := r.take(4)
		if err != nil {
			return nil, err
		}
		return math.Float32frombits(binary.LittleEndian.Uint32(b)), nil
	case avro.Double:
		b, err := r.take(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	case avro.Bytes:
		n, err := r.long()
		if err != nil {
			return nil, err
		}
		return r.take(n)
	case avro.String:
		return r.str()
	}
	return nil, fmt.Errorf("avrojson: unsupported primitive %s", s.Type())
}
