package api

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/hamba/avro/v2"

	"github.com/esrflow/esrflow/schemas"
)

// The event payload schemas of openapi.yaml (those with x-avro) are the
// JSON form of the latest .avsc, field for field: the same names, all
// required (the api writes every field, null included), and each type the
// one the api's Avro→JSON conversion gives (dates and timestamps as
// formatted strings, enums as their symbols, nullable unions as a null type,
// records as their own x-avro schema).
func TestOpenAPIEventSchemasMatchAvro(t *testing.T) {
	doc := loadOpenAPI(t)
	records := map[string]*avro.RecordSchema{} // x-avro value → record
	var collect func(s avro.Schema)
	collect = func(s avro.Schema) {
		switch s := s.(type) {
		case *avro.RecordSchema:
			if _, ok := records[s.Name()]; ok {
				return
			}
			records[s.Name()] = s
			for _, f := range s.Fields() {
				collect(f.Type())
			}
		case *avro.UnionSchema:
			for _, u := range s.Types() {
				collect(u)
			}
		}
	}
	var events []string
	for _, b := range schemas.Bindings() {
		if b.CEType == "" {
			continue
		}
		s, _, err := schemas.Latest(b.Schema)
		if err != nil {
			t.Fatal(err)
		}
		records[b.Schema] = s.(*avro.RecordSchema)
		collect(s)
		events = append(events, b.Schema)
	}
	byAvro := map[string]string{} // x-avro → component name
	for name, ref := range doc.Components.Schemas {
		if x, ok := ref.Value.Extensions["x-avro"].(string); ok {
			byAvro[x] = name
		}
	}
	for _, e := range events {
		if byAvro[e] == "" {
			t.Errorf("openapi.yaml has no schema with x-avro: %s", e)
		}
	}
	var oneOf []string
	for _, r := range doc.Components.Schemas["EventData"].Value.OneOf {
		oneOf = append(oneOf, r.Value.Extensions["x-avro"].(string))
	}
	sort.Strings(oneOf)
	sort.Strings(events)
	if !slices.Equal(oneOf, events) {
		t.Errorf("EventData is one of %v; the public events are %v", oneOf, events)
	}
	for x, name := range byAvro {
		rec, ok := records[x]
		if !ok {
			t.Errorf("%s: x-avro %s names no record of the public event schemas", name, x)
			continue
		}
		s := doc.Components.Schemas[name].Value
		var avroFields, docFields []string
		for _, f := range rec.Fields() {
			avroFields = append(avroFields, f.Name())
			p, ok := s.Properties[f.Name()]
			if !ok {
				continue
			}
			if got, want := describe(p, byAvro), expect(f.Type()); got != want {
				t.Errorf("%s.%s: openapi.yaml says %s; the Avro %s field is %s", name, f.Name(), got, x, want)
			}
		}
		for p := range s.Properties {
			docFields = append(docFields, p)
		}
		sort.Strings(avroFields)
		sort.Strings(docFields)
		required := slices.Clone(s.Required)
		sort.Strings(required)
		if !slices.Equal(docFields, avroFields) || !slices.Equal(required, avroFields) {
			t.Errorf("%s: properties %v, required %v; the Avro %s fields are %v", name, docFields, required, x, avroFields)
		}
		if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
			t.Errorf("%s: additionalProperties must be false, so a field the document lacks fails the conformance test", name)
		}
	}
}

// expect is the JSON type the api writes for an Avro type, as a string.
func expect(s avro.Schema) string {
	switch s := s.(type) {
	case *avro.UnionSchema:
		var parts []string
		for _, u := range s.Types() {
			parts = append(parts, expect(u))
		}
		sort.Strings(parts)
		return strings.Join(parts, "|")
	case *avro.NullSchema:
		return "null"
	case *avro.RecordSchema:
		return "record " + s.Name()
	case *avro.RefSchema:
		return "record " + s.Schema().(avro.NamedSchema).Name()
	case *avro.EnumSchema:
		return "string enum " + strings.Join(s.Symbols(), ",")
	case *avro.PrimitiveSchema:
		if l := s.Logical(); l != nil {
			switch l.Type() {
			case avro.Date:
				return "string date"
			case avro.TimestampMillis, avro.TimestampMicros:
				return "string date-time"
			}
		}
		switch s.Type() {
		case avro.Int, avro.Long:
			return "integer"
		case avro.Boolean:
			return "boolean"
		case avro.Float, avro.Double:
			return "number"
		case avro.String:
			return "string"
		}
	}
	return "unknown " + string(s.Type())
}

// describe writes a document schema in expect's terms.
func describe(r *openapi3.SchemaRef, byAvro map[string]string) string {
	s := r.Value
	if len(s.OneOf) > 0 {
		var parts []string
		for _, o := range s.OneOf {
			parts = append(parts, describe(o, byAvro))
		}
		sort.Strings(parts)
		return strings.Join(parts, "|")
	}
	if x, ok := s.Extensions["x-avro"].(string); ok {
		return "record " + x
	}
	var parts []string
	for _, typ := range s.Type.Slice() {
		if typ == "null" {
			parts = append(parts, "null")
			continue
		}
		d := typ
		if s.Format != "" {
			d += " " + s.Format
		}
		if len(s.Enum) > 0 {
			var syms []string
			for _, e := range s.Enum {
				syms = append(syms, e.(string))
			}
			d += " enum " + strings.Join(syms, ",")
		}
		parts = append(parts, d)
	}
	sort.Strings(parts)
	return strings.Join(parts, "|")
}
