package statestore_test

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/esrflow/esrflow/platform/statestore"
)

func open(t *testing.T, dir string) *statestore.Store {
	t.Helper()
	s, err := statestore.Open(statestore.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func scanAll(t *testing.T, scan func(p int32, prefix []byte, fn func(k, v []byte) error) error, p int32, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := scan(p, []byte(prefix), func(k, v []byte) error { out[string(k)] = string(v); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTxnReadsItsOwnWritesAndCommitsWithCheckpoints(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	s := open(t, dir)
	txn := s.Begin()
	txn.Set(0, []byte("RXX/p/1"), []byte("a"))
	txn.Set(0, []byte("RXX/p/2"), []byte("b"))
	txn.Set(1, []byte("RYY/p/1"), []byte("c"))
	if v, ok, _ := txn.Get(0, []byte("RXX/p/1")); !ok || string(v) != "a" {
		t.Fatalf("txn Get = %q %v", v, ok)
	}
	if _, ok, _ := s.Get(0, []byte("RXX/p/1")); ok {
		t.Fatal("an uncommitted write is visible in the store")
	}
	txn.Set(0, []byte("RXX/p/2"), nil)
	if got := scanAll(t, txn.Scan, 0, "RXX/p/"); !reflect.DeepEqual(got, map[string]string{"RXX/p/1": "a"}) {
		t.Fatalf("txn Scan = %v", got)
	}
	if err := txn.Commit(map[int32]statestore.Checkpoint{0: {Topic: "cl", Next: 7}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir) // reopened: what was committed is there
	defer s.Close()
	if got := scanAll(t, s.Scan, 0, ""); !reflect.DeepEqual(got, map[string]string{"RXX/p/1": "a"}) {
		t.Fatalf("partition 0 = %v", got)
	}
	if got := scanAll(t, s.Scan, 1, ""); !reflect.DeepEqual(got, map[string]string{"RYY/p/1": "c"}) {
		t.Fatalf("partition 1 = %v", got)
	}
	if cp, ok, err := s.Checkpoint(0); err != nil || !ok || cp.Next != 7 || cp.Topic != "cl" {
		t.Fatalf("checkpoint 0 = %+v %v %v", cp, ok, err)
	}
	if _, ok, _ := s.Checkpoint(1); ok {
		t.Fatal("partition 1 has a checkpoint it was not given")
	}
}

func TestDiscardLeavesNothingAndResetDropsOnePartition(t *testing.T) {
	s := open(t, "")
	defer s.Close()
	txn := s.Begin()
	txn.Set(2, []byte("k"), []byte("v"))
	txn.Discard()
	if got := scanAll(t, s.Scan, 2, ""); len(got) != 0 {
		t.Fatalf("after Discard: %v", got)
	}
	l := s.Load(2, statestore.Checkpoint{Topic: "cl"})
	for i, k := range []string{"a", "b", "c"} {
		if err := l.Apply(int64(i), []byte(k), []byte(k), true); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Apply(3, []byte("b"), nil, true); err != nil { // a tombstone
		t.Fatal(err)
	}
	if err := l.Apply(4, nil, nil, false); err != nil { // a commit marker
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	txn = s.Begin()
	txn.Set(3, []byte("a"), []byte("other partition"))
	if err := txn.Commit(nil); err != nil {
		t.Fatal(err)
	}
	if got := scanAll(t, s.Scan, 2, ""); !reflect.DeepEqual(got, map[string]string{"a": "a", "c": "c"}) {
		t.Fatalf("loaded = %v", got)
	}
	if cp, _, _ := s.Checkpoint(2); cp.Next != 5 {
		t.Fatalf("checkpoint after offset 4 = %d, want 5", cp.Next)
	}
	if err := s.Reset(2); err != nil {
		t.Fatal(err)
	}
	if got := scanAll(t, s.Scan, 2, ""); len(got) != 0 {
		t.Fatalf("after Reset: %v", got)
	}
	if _, ok, _ := s.Checkpoint(2); ok {
		t.Fatal("Reset kept the checkpoint")
	}
	if v, ok, _ := s.Get(3, []byte("a")); !ok || string(v) != "other partition" {
		t.Fatalf("Reset(2) touched partition 3: %q %v", v, ok)
	}
}

func TestPrefixesListsEachTenantOnce(t *testing.T) {
	s := open(t, "")
	defer s.Close()
	txn := s.Begin()
	for _, k := range []string{"RXX/p/1", "RXX/p/2", "RXX/t", "RXX1/t", "RYY/h/9", "lone"} {
		txn.Set(4, []byte(k), []byte("v"))
	}
	txn.Set(5, []byte("RZZ/t"), []byte("v"))
	if err := txn.Commit(nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Prefixes(4, '/')
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"RXX", "RXX1", "RYY", "lone"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Prefixes = %v, want %v", got, want)
	}
}

func TestTxnChangesAreEachKeysLastValueLessDeletions(t *testing.T) {
	s := open(t, "")
	defer s.Close()
	committed := s.Begin()
	committed.Set(0, []byte("old"), []byte("kept"))
	if err := committed.Commit(nil); err != nil {
		t.Fatal(err)
	}
	txn := s.Begin()
	defer txn.Discard()
	txn.Set(0, []byte("g"), []byte("1"))
	txn.Set(0, []byte("g"), []byte("2")) // rewritten: only the last value
	txn.Set(1, []byte("gone"), []byte("x"))
	txn.Set(1, []byte("gone"), nil) // set then deleted: not visited
	txn.Set(3, []byte("back"), []byte("a"))
	txn.Set(3, []byte("back"), nil)
	txn.Set(3, []byte("back"), []byte("b")) // deleted then set again
	txn.Set(0, []byte("old"), nil)          // a committed key deleted: not visited
	type change struct {
		p    int32
		k, v string
	}
	var got []change
	if err := txn.Changes(func(p int32, k, v []byte) error {
		got = append(got, change{p, string(k), string(v)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []change{{0, "g", "2"}, {3, "back", "b"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Changes = %v, want %v", got, want)
	}
}
