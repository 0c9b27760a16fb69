// Package store keeps the registry's state in a compacted Kafka topic, using
// Confluent Schema Registry's key/value JSON layout, and rebuilds an in-memory
// view of it by reading the topic.
package store

import (
	"encoding/json"
	"fmt"
)

// KeyType is the "keytype" of a record key.
type KeyType string

// Key types. All but KeyIDWatermark are Confluent's; Confluent's registry logs
// and skips key types it does not know, so the extra one does not stop it from
// reading the topic.
const (
	KeySchema        KeyType = "SCHEMA"
	KeyConfig        KeyType = "CONFIG"
	KeyMode          KeyType = "MODE"
	KeyDeleteSubject KeyType = "DELETE_SUBJECT"
	KeyNoop          KeyType = "NOOP"
	// KeyIDWatermark records the highest id ever assigned. Hard deletes
	// tombstone SCHEMA records and compaction then removes them, so without it
	// a restarted registry could hand out a deleted schema's id again.
	KeyIDWatermark KeyType = "ESRFLOW_ID_WATERMARK"
)

// Key is a decoded record key. Subject is nil for global CONFIG and MODE keys.
type Key struct {
	KeyType KeyType `json:"keytype"`
	Subject *string `json:"subject"`
	Version int     `json:"version"`
	Magic   int     `json:"magic"`
}

// Encode returns the key bytes. Compaction compares key bytes, so each key
// type has one fixed field order (Confluent's): keytype, subject, version, magic.
func (k Key) Encode() []byte {
	var v any
	switch k.KeyType {
	case KeySchema:
		v = struct {
			KeyType KeyType `json:"keytype"`
			Subject string  `json:"subject"`
			Version int     `json:"version"`
			Magic   int     `json:"magic"`
		}{k.KeyType, deref(k.Subject), k.Version, 1}
	case KeyConfig, KeyMode, KeyDeleteSubject:
		v = struct {
			KeyType KeyType `json:"keytype"`
			Subject *string `json:"subject"`
			Magic   int     `json:"magic"`
		}{k.KeyType, k.Subject, 0}
	default:
		v = struct {
			KeyType KeyType `json:"keytype"`
			Magic   int     `json:"magic"`
		}{k.KeyType, 0}
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Only strings and ints are marshalled; this cannot fail.
		panic(fmt.Sprintf("encoding registry key: %v", err))
	}
	return b
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// SchemaKey is the key of one subject version.
func SchemaKey(subject string, version int) Key {
	return Key{KeyType: KeySchema, Subject: &subject, Version: version, Magic: 1}
}

// ConfigKey is the key of a subject's compatibility config; "" is the global one.
func ConfigKey(subject string) Key { return Key{KeyType: KeyConfig, Subject: subjectPtr(subject)} }

// ModeKey is the key of a subject's mode; "" is the global one.
func ModeKey(subject string) Key { return Key{KeyType: KeyMode, Subject: subjectPtr(subject)} }

// DeleteSubjectKey is the key of a subject's soft-delete marker.
func DeleteSubjectKey(subject string) Key {
	return Key{KeyType: KeyDeleteSubject, Subject: &subject}
}

// IDWatermarkKey is the key of the highest-assigned-id record.
func IDWatermarkKey() Key { return Key{KeyType: KeyIDWatermark} }

func subjectPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Reference is a schema reference: a named type defined by another subject's version.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// SchemaValue is the value of a SCHEMA record: one version of one subject.
// Soft delete rewrites the record with Deleted set; hard delete is a tombstone.
type SchemaValue struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted"`
}

// ConfigValue is the value of a CONFIG record.
type ConfigValue struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

// ModeValue is the value of a MODE record.
type ModeValue struct {
	Mode string `json:"mode"`
}

// DeleteSubjectValue soft-deletes every version of Subject up to Version.
type DeleteSubjectValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// IDWatermarkValue is the value of the id watermark record.
type IDWatermarkValue struct {
	MaxID int `json:"maxId"`
}

// Record is one key/value pair to write; a nil Value is a tombstone.
type Record struct {
	Key   Key
	Value any
}

// EncodeValue marshals a record value, keeping nil as nil (a tombstone).
func (r Record) EncodeValue() ([]byte, error) {
	if r.Value == nil {
		return nil, nil
	}
	b, err := json.Marshal(r.Value)
	if err != nil {
		return nil, fmt.Errorf("encoding %s value: %w", r.Key.KeyType, err)
	}
	return b, nil
}
