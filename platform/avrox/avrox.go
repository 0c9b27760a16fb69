// Package avrox encodes and decodes Avro values in the Confluent wire format
// (magic byte 0, 4-byte big-endian schema id, Avro binary) against a
// Confluent-compatible schema registry, using hamba/avro as the codec.
//
// Producers register their schema once under the topic's subject and encode
// with the id the registry gave. Consumers decode any id they meet: the writer
// schema is fetched from the registry by id (and cached), and when it differs
// from the reader's schema the two are resolved, so a consumer built against
// version N reads records written with any version the registry accepted as
// compatible.
package avrox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// Errors a consumer must treat as permanent for the record at hand (send it to
// a dead-letter or quarantine topic); anything else from Decode is transient.
var (
	// ErrNotFramed: the bytes do not start with the Confluent magic byte and id.
	ErrNotFramed = errors.New("avrox: value is not in the Confluent wire format")
	// ErrIncompatible: the writer schema cannot be read with the reader schema.
	ErrIncompatible = errors.New("avrox: writer schema incompatible with reader schema")
)

// headerLen is the Confluent framing: magic byte plus 4-byte schema id.
const headerLen = 5

// AppendHeader appends the Confluent framing for schema id to dst.
func AppendHeader(dst []byte, id int) []byte {
	return binary.BigEndian.AppendUint32(append(dst, 0), uint32(id))
}

// SplitHeader returns the schema id and the Avro payload of a framed value.
func SplitHeader(b []byte) (id int, payload []byte, err error) {
	if len(b) < headerLen || b[0] != 0 {
		return 0, nil, ErrNotFramed
	}
	return int(binary.BigEndian.Uint32(b[1:headerLen])), b[headerLen:], nil
}

// Writer is a registered schema a producer encodes with.
type Writer struct {
	ID     int
	Schema avro.Schema
	api    avro.API
}

// Encode appends the framed encoding of v to dst.
func (w Writer) Encode(dst []byte, v any) ([]byte, error) {
	dst = AppendHeader(dst, w.ID)
	b, err := w.api.Marshal(w.Schema, v)
	if err != nil {
		return nil, fmt.Errorf("avrox: encoding with schema id %d: %w", w.ID, err)
	}
	return append(dst, b...), nil
}

// Serde registers schemas and decodes framed values, caching what it learns
// from the registry. It is safe for concurrent use.
type Serde struct {
	cl  *sr.Client
	api avro.API

	mu       sync.Mutex
	writers  map[int]avro.Schema        // writer schema by registry id
	resolved map[resolveKey]avro.Schema // reader+writer composite schemas
}

type resolveKey struct {
	reader avro.Schema
	id     int
}

// New returns a Serde on a registry client. api carries any type
// registrations the generated Go types need (e.g. for unions); nil uses
// hamba's default configuration.
func New(cl *sr.Client, api avro.API) *Serde {
	if api == nil {
		api = avro.DefaultConfig
	}
	return &Serde{cl: cl, api: api, writers: map[int]avro.Schema{}, resolved: map[resolveKey]avro.Schema{}}
}

// Register registers schema text under subject (idempotent: an identical
// schema keeps its id) and returns the writer to encode with.
func (s *Serde) Register(ctx context.Context, subject, schemaText string) (Writer, error) {
	schema, err := avro.ParseWithCache(schemaText, "", &avro.SchemaCache{})
	if err != nil {
		return Writer{}, fmt.Errorf("avrox: parsing schema for %s: %w", subject, err)
	}
	// RegisterSchema, not CreateSchema: CreateSchema then fetches every
	// subject-version using the id, and every tenant's event topics share
	// their schemas' ids, so onboarding the n-th tenant cost n-1 lookups.
	id, err := s.cl.RegisterSchema(ctx, subject, sr.Schema{Schema: schemaText, Type: sr.TypeAvro}, -1, -1)
	if err != nil {
		return Writer{}, fmt.Errorf("avrox: registering schema under %s: %w", subject, err)
	}
	s.mu.Lock()
	s.writers[id] = schema
	s.mu.Unlock()
	return Writer{ID: id, Schema: schema, api: s.api}, nil
}

// Decode decodes a framed value into v, read through the reader schema, and
// returns the writer's schema id.
func (s *Serde) Decode(ctx context.Context, b []byte, reader avro.Schema, v any) (int, error) {
	id, payload, err := SplitHeader(b)
	if err != nil {
		return 0, err
	}
	schema, err := s.readSchema(ctx, reader, id)
	if err != nil {
		return id, err
	}
	if err := s.api.Unmarshal(schema, payload, v); err != nil {
		return id, fmt.Errorf("avrox: decoding value with schema id %d: %w", id, err)
	}
	return id, nil
}

// readSchema returns the schema to decode id's payloads into reader's shape.
func (s *Serde) readSchema(ctx context.Context, reader avro.Schema, id int) (avro.Schema, error) {
	key := resolveKey{reader: reader, id: id}
	s.mu.Lock()
	if r, ok := s.resolved[key]; ok {
		s.mu.Unlock()
		return r, nil
	}
	writer, ok := s.writers[id]
	s.mu.Unlock()
	if !ok {
		ss, err := s.cl.SchemaByID(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("avrox: fetching schema id %d: %w", id, err)
		}
		if writer, err = avro.ParseWithCache(ss.Schema, "", &avro.SchemaCache{}); err != nil {
			return nil, fmt.Errorf("avrox: parsing schema id %d: %w", id, err)
		}
	}
	resolved := writer
	if writer.String() != reader.String() || writer.Fingerprint() != reader.Fingerprint() {
		// A fresh checker each time: hamba caches compatibility results by
		// canonical fingerprint, which ignores defaults, so a cached answer
		// could be wrong for two schemas that differ only in a default.
		r, err := avro.NewSchemaCompatibility().Resolve(reader, writer)
		if err != nil {
			return nil, fmt.Errorf("%w: schema id %d: %v", ErrIncompatible, id, err)
		}
		resolved = r
	}
	s.mu.Lock()
	s.writers[id] = writer
	s.resolved[key] = resolved
	s.mu.Unlock()
	return resolved, nil
}
