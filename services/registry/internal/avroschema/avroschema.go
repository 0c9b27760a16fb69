// Package avroschema parses Avro schemas the way the registry needs them:
// with references resolved, normalised for identity, and checked for
// compatibility with hamba/avro.
package avroschema

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hamba/avro/v2"

	"github.com/esrflow/esrflow/services/registry/internal/store"
)

// maxReferenceDepth stops reference cycles and absurd chains.
const maxReferenceDepth = 32

// Lookup finds a referenced subject version's schema.
type Lookup func(subject string, version int) (store.Schema, bool)

// Parse parses text as an Avro schema. Referenced schemas are looked up and
// parsed first into the same name cache, so the named types they define can
// be used by name in text.
//
// Each parse gets a fresh cache: avro.Parse's global cache would let a schema
// use a type it never defines just because some earlier schema did.
func Parse(text string, refs []store.Reference, lookup Lookup) (avro.Schema, error) {
	cache := &avro.SchemaCache{}
	if err := loadRefs(refs, lookup, cache, 0, map[string]bool{}); err != nil {
		return nil, err
	}
	s, err := avro.ParseWithCache(text, "", cache)
	if err != nil {
		return nil, fmt.Errorf("invalid avro schema: %w", err)
	}
	return s, nil
}

func loadRefs(refs []store.Reference, lookup Lookup, cache *avro.SchemaCache, depth int, seen map[string]bool) error {
	if len(refs) == 0 {
		return nil
	}
	if depth >= maxReferenceDepth {
		return errors.New("schema references nest too deeply")
	}
	for _, r := range refs {
		id := fmt.Sprintf("%s/%d", r.Subject, r.Version)
		if seen[id] {
			continue
		}
		seen[id] = true
		if lookup == nil {
			return fmt.Errorf("reference %q: references cannot be resolved here", r.Name)
		}
		ref, ok := lookup(r.Subject, r.Version)
		if !ok {
			return fmt.Errorf("reference %q: subject %q version %d not found", r.Name, r.Subject, r.Version)
		}
		if ref.Type != "" && ref.Type != "AVRO" {
			return fmt.Errorf("reference %q: subject %q version %d is %s, not AVRO", r.Name, r.Subject, r.Version, ref.Type)
		}
		if err := loadRefs(ref.References, lookup, cache, depth+1, seen); err != nil {
			return err
		}
		if _, err := avro.ParseWithCache(ref.Text, "", cache); err != nil {
			return fmt.Errorf("reference %q: invalid avro schema: %w", r.Name, err)
		}
	}
	return nil
}

// Fingerprint identifies a schema for deduplication: the same fingerprint
// means the same id.
//
// It hashes hamba's full JSON form rather than the Parsing Canonical Form
// (Schema.String): both normalise whitespace, key order and names, but the
// canonical form drops defaults, docs and aliases, and defaults decide
// compatibility, so two schemas differing only in a default must not share an id.
func Fingerprint(s avro.Schema, refs []store.Reference) (string, error) {
	full, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("normalising schema: %w", err)
	}
	refJSON, err := json.Marshal(refs)
	if err != nil {
		return "", fmt.Errorf("normalising references: %w", err)
	}
	h := sha256.New()
	h.Write([]byte("AVRO\x00"))
	h.Write(full)
	h.Write([]byte{0})
	h.Write(refJSON)
	return hex.EncodeToString(h.Sum(nil)), nil
}
