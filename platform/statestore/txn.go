package statestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Txn is the state one Kafka transaction writes: it reads the store's
// committed state with its own writes over it, and reaches the store only
// by Commit. A Txn is used by one goroutine.
type Txn struct {
	s   *Store
	b   *pebble.Batch
	err error // the first write error: Commit returns it
}

// Begin starts a Txn.
func (s *Store) Begin() *Txn { return &Txn{s: s, b: s.db.NewIndexedBatch()} }

// Get reads a key of partition p as this transaction sees it.
func (t *Txn) Get(p int32, key []byte) ([]byte, bool, error) { return get(t.b, p, key) }

// Scan is Store.Scan as this transaction sees it.
func (t *Txn) Scan(p int32, prefix []byte, fn func(key, value []byte) error) error {
	return scan(t.b, p, prefix, fn)
}

// Set writes a key of partition p; a nil value deletes it.
func (t *Txn) Set(p int32, key, value []byte) {
	if t.err != nil {
		return
	}
	k := dataKey(p, key)
	if value == nil {
		t.err = t.b.Delete(k, nil)
	} else {
		t.err = t.b.Set(k, value, nil)
	}
}

// Changes calls fn for every key the transaction has set and not deleted
// since, with its last value, in key order (partition, then key): one pass
// over the batch alone, not a read of the store per key. Keys it deleted
// are not visited. key and value are valid only during the call.
func (t *Txn) Changes(fn func(p int32, key, value []byte) error) error {
	it, err := t.b.NewBatchOnlyIter(context.Background(), &pebble.IterOptions{LowerBound: []byte{tagData}, UpperBound: []byte{tagData + 1}})
	if err != nil {
		return fmt.Errorf("statestore: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("statestore: %w", err)
		}
		if err := fn(int32(binary.BigEndian.Uint32(k[1:5])), k[5:], v); err != nil {
			_ = it.Close()
			return err
		}
	}
	return it.Close()
}

// Commit applies the transaction to the store with the checkpoints its
// partitions reach, atomically, and ends it. It is called only after the
// Kafka transaction committed. Commit does not sync: a process crash keeps
// what the OS has; a machine crash may lose the tail, with its checkpoint,
// and the next start catches it up again from the changelog.
func (t *Txn) Commit(checkpoints map[int32]Checkpoint) error {
	defer t.Discard()
	if t.err != nil {
		return fmt.Errorf("statestore: %w", t.err)
	}
	for p, c := range checkpoints {
		if err := putCheckpoint(t.b, p, c); err != nil {
			return fmt.Errorf("statestore: %w", err)
		}
	}
	if t.b.Empty() {
		return nil
	}
	if err := t.b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("statestore: commit: %w", err)
	}
	return nil
}

// Discard ends the transaction without applying it. Safe after Commit.
func (t *Txn) Discard() {
	if t.b != nil {
		_ = t.b.Close()
		t.b = nil
	}
}

// Loader writes a partition's changelog records into the store while it is
// restored, in batches, each with the checkpoint it reaches, so a restore
// interrupted half way resumes from where it got to.
type Loader struct {
	s     *Store
	p     int32
	cp    Checkpoint
	b     *pebble.Batch
	bytes int
}

// loaderBatchBytes bounds a Loader's batch: large enough to amortise a
// commit, small enough to keep memory flat whatever the changelog's size.
const loaderBatchBytes = 4 << 20

// Load starts loading partition p from checkpoint c (c.Next is the offset
// the first applied record will have or follow).
func (s *Store) Load(p int32, c Checkpoint) *Loader {
	return &Loader{s: s, p: p, cp: c, b: s.db.NewBatch()}
}

// Apply writes one changelog record at offset (value nil: a tombstone).
// Control records are passed with key and value nil and apply=false, so
// the checkpoint still moves past them.
func (l *Loader) Apply(offset int64, key, value []byte, apply bool) error {
	if apply {
		k := dataKey(l.p, key)
		var err error
		if value == nil {
			err = l.b.Delete(k, nil)
		} else {
			err = l.b.Set(k, value, nil)
		}
		if err != nil {
			return fmt.Errorf("statestore: %w", err)
		}
		l.bytes += len(k) + len(value)
	}
	l.cp.Next = offset + 1
	if l.bytes >= loaderBatchBytes {
		return l.Flush()
	}
	return nil
}

// Flush commits what Apply has written so far with its checkpoint.
func (l *Loader) Flush() error {
	if err := putCheckpoint(l.b, l.p, l.cp); err != nil {
		return err
	}
	if err := l.b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("statestore: %w", err)
	}
	_ = l.b.Close()
	l.b, l.bytes = l.s.db.NewBatch(), 0
	return nil
}

// Close flushes the rest and ends the load.
func (l *Loader) Close() error {
	if l.b == nil {
		return errors.New("statestore: loader closed twice")
	}
	err := l.Flush()
	_ = l.b.Close()
	l.b = nil
	return err
}
