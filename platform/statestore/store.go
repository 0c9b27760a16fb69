// Package statestore is a stateful stage's local copy of its changelog: the
// committed state of the partitions the instance owns, on disk in pebble
// with a bounded block cache, so the state a stage holds does not live on
// the Go heap and does not grow its memory with the population.
//
// The changelog stays the only truth (DESIGN.md: any local store is a cache
// of committed changelog state). The store follows it in two ways:
//   - a transaction's writes go to a Txn (a pebble indexed batch, so the
//     transaction reads its own writes) and reach the store only after the
//     Kafka transaction has committed, together with the changelog offset
//     they bring the partition to (its checkpoint); an aborted transaction
//     is discarded and leaves nothing behind;
//   - on assignment, a partition is caught up from its checkpoint to the
//     changelog's end, or restored from the start when the checkpoint is
//     missing or can no longer be trusted (see the stage runner).
//
// Applying a changelog record is overwriting a key, so replaying records the
// store already holds is harmless: a checkpoint only needs to be no later
// than the state it sits beside, and it never is, because both are written
// in one atomic batch.
package statestore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"
)

// Options configure a Store.
type Options struct {
	// Dir holds the store. Empty: a new temporary directory, removed on
	// Close (the state is off the heap, but every start restores it in
	// full).
	Dir string
	// InMemory keeps the store in memory (processor unit tests only).
	InMemory bool
	// CacheBytes bounds pebble's block cache (default 32 MiB);
	// MemTableBytes the size of a memtable (default 8 MiB; pebble keeps at
	// most a few).
	CacheBytes    int64
	MemTableBytes uint64
	Log           *zap.Logger
}

// Default sizes: together with the memtables, well inside a service's
// memory budget (docs/operations.md, "Memory").
const (
	DefaultCacheBytes    = 32 << 20
	DefaultMemTableBytes = 8 << 20
	lbaseMaxBytes        = 256 << 20
)

// Store is one stage instance's state, by partition.
type Store struct {
	db      *pebble.DB
	dir     string
	tempDir bool
}

// Key layout: data of partition p under 'd' p <changelog key>; the
// checkpoint of partition p under 'c' p. p is big-endian, so a
// partition's keys are one contiguous range.
const (
	tagData       = 'd'
	tagCheckpoint = 'c'
)

func partitionPrefix(tag byte, p int32) []byte {
	b := make([]byte, 5, 5+64)
	b[0] = tag
	binary.BigEndian.PutUint32(b[1:], uint32(p))
	return b
}

func dataKey(p int32, key []byte) []byte { return append(partitionPrefix(tagData, p), key...) }

// Open opens (creating if needed) the store.
func Open(o Options) (*Store, error) {
	if o.CacheBytes <= 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = DefaultMemTableBytes
	}
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	s := &Store{dir: o.Dir}
	opts := &pebble.Options{
		CacheSize:    o.CacheBytes,
		MemTableSize: o.MemTableBytes,
		// A larger base level means fewer levels, so a key is rewritten
		// by fewer compactions: a stage's store is small (hundreds of MiB
		// nationally) and written all the time.
		LBaseMaxBytes: lbaseMaxBytes,
		Logger:        pebbleLogger{log.Named("pebble").Sugar()},
	}
	// No block compression: the store is a local cache of a changelog that
	// is itself compressed, its values are small and mostly distinct, and
	// compressing every block at each compaction and decompressing it at
	// each read was a tenth of a stateful stage's CPU (perf, issue 14).
	opts.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	switch {
	case o.InMemory:
		opts.FS = vfs.NewMem()
		s.dir = "mem"
	case o.Dir == "":
		dir, err := os.MkdirTemp("", "esrflow-state-")
		if err != nil {
			return nil, fmt.Errorf("statestore: %w", err)
		}
		s.dir, s.tempDir = dir, true
	}
	db, err := pebble.Open(s.dir, opts)
	if err != nil {
		if s.tempDir {
			_ = os.RemoveAll(s.dir)
		}
		return nil, fmt.Errorf("statestore: opening %s: %w", s.dir, err)
	}
	s.db = db
	return s, nil
}

// Close closes the store (and removes it if it was temporary).
func (s *Store) Close() error {
	err := s.db.Close()
	if s.tempDir {
		if rerr := os.RemoveAll(s.dir); err == nil {
			err = rerr
		}
	}
	return err
}

// Checkpoint is what a partition's state reflects of its changelog.
type Checkpoint struct {
	// Topic and TopicID name the changelog; a recreated topic has a new
	// id, and the state of the old one must not be caught up onto it.
	Topic   string `json:"topic"`
	TopicID string `json:"topic_id,omitempty"`
	// Next is the changelog offset to read next: every record before it is
	// applied.
	Next int64 `json:"next"`
	// SavedMs is when (Unix milliseconds) the checkpoint was written. A
	// checkpoint older than the changelog's delete.retention.ms may have
	// missed a tombstone that compaction has since removed.
	SavedMs int64 `json:"saved_ms"`
}

// Checkpoint returns partition p's checkpoint, if it has one.
func (s *Store) Checkpoint(p int32) (Checkpoint, bool, error) {
	v, closer, err := s.db.Get(partitionPrefix(tagCheckpoint, p))
	if errors.Is(err, pebble.ErrNotFound) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("statestore: %w", err)
	}
	defer closer.Close()
	var c Checkpoint
	if err := json.Unmarshal(v, &c); err != nil {
		return Checkpoint{}, false, fmt.Errorf("statestore: checkpoint of partition %d: %w", p, err)
	}
	return c, true, nil
}

// Reset drops partition p's state and checkpoint, before a full restore.
func (s *Store) Reset(p int32) error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(partitionPrefix(tagData, p), partitionPrefix(tagData, p+1), nil); err != nil {
		return err
	}
	if err := b.Delete(partitionPrefix(tagCheckpoint, p), nil); err != nil {
		return err
	}
	return b.Commit(pebble.NoSync)
}

// Get reads a key of partition p's committed state. The value is a copy.
func (s *Store) Get(p int32, key []byte) ([]byte, bool, error) {
	return get(s.db, p, key)
}

// Scan calls fn for every committed key of partition p under prefix, in
// key order, with the key less the partition; key and value are valid only
// during the call. Scan stops at fn's first error and returns it.
func (s *Store) Scan(p int32, prefix []byte, fn func(key, value []byte) error) error {
	return scan(s.db, p, prefix, fn)
}

// reader is what Get and Scan need of a DB or an indexed batch.
type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

func get(r reader, p int32, key []byte) ([]byte, bool, error) {
	v, closer, err := r.Get(dataKey(p, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("statestore: %w", err)
	}
	out := bytes.Clone(v)
	_ = closer.Close()
	return out, true, nil
}

func scan(r reader, p int32, prefix []byte, fn func(key, value []byte) error) error {
	lower := dataKey(p, prefix)
	upper := prefixEnd(lower)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("statestore: %w", err)
	}
	skip := len(partitionPrefix(tagData, p))
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("statestore: %w", err)
		}
		if err := fn(it.Key()[skip:], v); err != nil {
			_ = it.Close()
			return err
		}
	}
	return it.Close()
}

// prefixEnd is the first key after every key that starts with prefix
// (prefix always starts with a tag byte below 0xff, so it exists).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	panic("statestore: no end for an all-0xff prefix")
}

func putCheckpoint(b *pebble.Batch, p int32, c Checkpoint) error {
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return b.Set(partitionPrefix(tagCheckpoint, p), v, nil)
}

// Prefixes lists the distinct beginnings of partition p's committed keys
// up to (not including) the first sep: the tenants of a partition whose keys
// are <tenant>/..., found with one seek per tenant rather than a scan of
// every key.
func (s *Store) Prefixes(p int32, sep byte) ([]string, error) {
	lower := partitionPrefix(tagData, p)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: partitionPrefix(tagData, p+1)})
	if err != nil {
		return nil, fmt.Errorf("statestore: %w", err)
	}
	var out []string
	for ok := it.First(); ok; {
		k := it.Key()[len(lower):]
		i := bytes.IndexByte(k, sep)
		if i < 0 { // a key without sep is a prefix of its own
			out = append(out, string(k))
			ok = it.Next()
			continue
		}
		out = append(out, string(k[:i]))
		next := append(append(bytes.Clone(lower), k[:i]...), sep+1)
		ok = it.SeekGE(next)
	}
	return out, it.Close()
}
